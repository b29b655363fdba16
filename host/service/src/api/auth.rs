//! API tokens: JWT HS256 with the configured secret; the user comes from a configurable claim.
//!
//! Claims: the user claim (`sub` unless `auth.user_claim` says otherwise; 1 to 256 characters)
//! and `exp` are required; `nbf` is checked when present; others are ignored. `exp` and `nbf`
//! are allowed [`LEEWAY_SECS`] of clock difference between the issuer and this server.

use super::ApiError;
use crate::config::AuthConfig;
use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds a token is still accepted after its `exp`, and already accepted before its `nbf`:
/// the clocks of whoever issues tokens and of this server are never quite the same.
pub const LEEWAY_SECS: u64 = 30;

/// The user requests are made as when authentication is turned off.
pub const ANONYMOUS: &str = "anonymous";

/// How requests prove who they are.
#[derive(Clone)]
pub enum Auth {
    /// Bearer JWTs signed with one HS256 secret.
    Jwt(Box<JwtKeys>),
    /// No authentication: everyone is [`ANONYMOUS`]. Only when the config says so.
    Disabled,
}

/// What checking and issuing tokens takes, prepared once rather than per request: every
/// request of the API is checked with the same key and rules.
#[derive(Clone)]
pub struct JwtKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    /// Claim holding the user id.
    user_claim: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Jwt(keys) => write!(f, "Jwt {{ user_claim: {:?} }}", keys.user_claim),
            Auth::Disabled => f.write_str("Disabled"),
        }
    }
}

impl Auth {
    /// Bearer JWTs signed with the HS256 `secret`, naming the user in `user_claim`.
    pub fn jwt(secret: &[u8], user_claim: &str) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        Auth::Jwt(Box::new(JwtKeys {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
            user_claim: user_claim.to_owned(),
        }))
    }

    /// What `[auth]` asks for. `unset_secret` supplies the HS256 secret when `auth.jwt_secret`
    /// is not set; it is not called otherwise, nor when authentication is disabled.
    pub fn from_config<E>(
        config: &AuthConfig,
        unset_secret: impl FnOnce() -> Result<String, E>,
    ) -> Result<Auth, E> {
        if config.disabled {
            return Ok(Auth::Disabled);
        }
        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => unset_secret()?,
        };
        Ok(Auth::jwt(secret.as_bytes(), &config.user_claim))
    }

    /// The user a request is made by, or 401.
    pub fn user(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let keys = match self {
            Auth::Disabled => return Ok(ANONYMOUS.into()),
            Auth::Jwt(keys) => keys,
        };
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token.trim(),
            &keys.decoding,
            &keys.validation,
        )
        .map_err(|e| {
            ApiError::unauthorized(&match e.kind() {
                ErrorKind::ExpiredSignature => "the token expired (`exp`); get a new one".to_owned(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
                _ => format!("the token is not valid: {e}"),
            })
        })?
        .claims;
        let user_claim = &keys.user_claim;
        match claims.get(user_claim) {
            Some(serde_json::Value::String(user)) if !user.is_empty() && user.len() <= 256 => {
                Ok(user.clone())
            }
            _ => {
                Err(ApiError::unauthorized(&format!("the token has no `{user_claim}` claim naming the user")))
            }
        }
    }

    /// A token for `user`, valid for `ttl` (what `transflow dev` and `transflow token` print);
    /// `None` when authentication is disabled.
    pub fn token_for(&self, user: &str, ttl: Duration) -> Option<String> {
        let Auth::Jwt(keys) = self else { return None };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims =
            serde_json::json!({ keys.user_claim.as_str(): user, "iat": now, "exp": now + ttl.as_secs() });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth() -> Auth {
        Auth::jwt(b"0123456789abcdef0123", "sub")
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        headers
    }

    #[test]
    fn tokens_round_trip_and_name_the_user() {
        let token = auth().token_for("alice", Duration::from_secs(60)).unwrap();
        assert_eq!(auth().user(&bearer(&token)).unwrap(), "alice");
    }

    #[test]
    fn bad_missing_foreign_and_expired_tokens_are_refused() {
        assert_eq!(auth().user(&HeaderMap::new()).unwrap_err().status.as_u16(), 401);
        assert!(auth().user(&bearer("not.a.jwt")).is_err());
        let other = Auth::jwt(b"another secret, 20+ chars", "sub");
        let foreign = other.token_for("mallory", Duration::from_secs(60)).unwrap();
        assert!(auth().user(&bearer(&foreign)).is_err());
        let claims = serde_json::json!({ "sub": "bob", "exp": 1_000_000 });
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert!(auth().user(&bearer(&expired)).unwrap_err().message.contains("expired (`exp`)"));
        let claims = serde_json::json!({ "name": "bob", "exp": u32::MAX });
        let no_user = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert!(auth().user(&bearer(&no_user)).unwrap_err().message.contains("`sub`"));
    }

    fn signed(claims: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(b"0123456789abcdef0123");
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    }

    #[test]
    fn not_before_is_checked_with_the_leeway() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let exp = now + 7200;
        let later = signed(serde_json::json!({ "sub": "bob", "nbf": now + 3600, "exp": exp }));
        let refused = auth().user(&bearer(&later)).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.message.as_str()),
            (401, "the token is not valid yet (`nbf`)")
        );
        // A clock a few seconds ahead of ours is within the leeway.
        let skewed = signed(serde_json::json!({ "sub": "bob", "nbf": now + LEEWAY_SECS / 2, "exp": exp }));
        assert_eq!(auth().user(&bearer(&skewed)).unwrap(), "bob");
        let past = signed(serde_json::json!({ "sub": "bob", "nbf": now - 60, "exp": exp }));
        assert_eq!(auth().user(&bearer(&past)).unwrap(), "bob");
        let no_exp = signed(serde_json::json!({ "sub": "bob" }));
        assert_eq!(auth().user(&bearer(&no_exp)).unwrap_err().message, "the token has no `exp` claim");
    }

    #[test]
    fn the_config_decides_between_its_secret_the_fallback_and_no_auth() {
        let mut config = AuthConfig::default();
        let unset = || Ok::<_, String>("fallback secret 0123456789".to_owned());
        let fallback = Auth::from_config(&config, unset).unwrap();
        let token = Auth::jwt(b"fallback secret 0123456789", "sub").token_for("ann", Duration::from_secs(60));
        assert_eq!(fallback.user(&bearer(&token.unwrap())).unwrap(), "ann");
        config.jwt_secret = Some("configured secret 0123456789".into());
        config.user_claim = "uid".into();
        let configured = Auth::from_config(&config, || Err("not asked")).unwrap();
        let token =
            Auth::jwt(b"configured secret 0123456789", "uid").token_for("ben", Duration::from_secs(60));
        assert_eq!(configured.user(&bearer(&token.unwrap())).unwrap(), "ben");
        let fallback_token = fallback.token_for("ann", Duration::from_secs(60)).unwrap();
        assert!(configured.user(&bearer(&fallback_token)).is_err(), "another secret and claim");
        config.disabled = true;
        assert!(matches!(Auth::from_config(&config, || Err("not asked")), Ok(Auth::Disabled)));
    }

    #[test]
    fn disabled_auth_is_anonymous_and_debug_hides_the_secret() {
        assert_eq!(Auth::Disabled.user(&HeaderMap::new()).unwrap(), ANONYMOUS);
        assert!(!format!("{:?}", auth()).contains("0123456789"));
    }
}
