//! API tokens: JWT HS256 with the configured secret; the user comes from a configurable claim.

use super::ApiError;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The user requests are made as when authentication is turned off.
pub const ANONYMOUS: &str = "anonymous";

/// How requests prove who they are.
#[derive(Clone)]
pub enum Auth {
    /// Bearer JWTs signed with this secret; the user id is in `user_claim`.
    Jwt {
        /// HS256 secret.
        secret: Vec<u8>,
        /// Claim holding the user id.
        user_claim: String,
    },
    /// No authentication: everyone is [`ANONYMOUS`]. Only when the config says so.
    Disabled,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Jwt { user_claim, .. } => write!(f, "Jwt {{ user_claim: {user_claim:?} }}"),
            Auth::Disabled => f.write_str("Disabled"),
        }
    }
}

impl Auth {
    /// The user a request is made by, or 401.
    pub fn user(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let (secret, user_claim) = match self {
            Auth::Disabled => return Ok(ANONYMOUS.into()),
            Auth::Jwt { secret, user_claim } => (secret, user_claim),
        };
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token.trim(),
            &DecodingKey::from_secret(secret),
            &validation,
        )
        .map_err(|e| ApiError::unauthorized(&format!("the token is not valid: {e}")))?
        .claims;
        match claims.get(user_claim) {
            Some(serde_json::Value::String(user)) if !user.is_empty() && user.len() <= 256 => {
                Ok(user.clone())
            }
            _ => {
                Err(ApiError::unauthorized(&format!("the token has no `{user_claim}` claim naming the user")))
            }
        }
    }

    /// A token for `user`, valid for `ttl` (what `transflow dev` prints).
    pub fn token_for(&self, user: &str, ttl: Duration) -> Option<String> {
        let Auth::Jwt { secret, user_claim } = self else { return None };
        let exp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + ttl.as_secs();
        let claims = serde_json::json!({ user_claim.as_str(): user, "exp": exp });
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth() -> Auth {
        Auth::Jwt { secret: b"0123456789abcdef0123".to_vec(), user_claim: "sub".into() }
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
        let other = Auth::Jwt { secret: b"another secret, 20+ chars".to_vec(), user_claim: "sub".into() };
        let foreign = other.token_for("mallory", Duration::from_secs(60)).unwrap();
        assert!(auth().user(&bearer(&foreign)).is_err());
        let claims = serde_json::json!({ "sub": "bob", "exp": 1_000_000 });
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert!(auth().user(&bearer(&expired)).unwrap_err().message.contains("xpired"));
        let claims = serde_json::json!({ "name": "bob", "exp": u32::MAX });
        let no_user = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert!(auth().user(&bearer(&no_user)).unwrap_err().message.contains("`sub`"));
    }

    #[test]
    fn disabled_auth_is_anonymous_and_debug_hides_the_secret() {
        assert_eq!(Auth::Disabled.user(&HeaderMap::new()).unwrap(), ANONYMOUS);
        assert!(!format!("{:?}", auth()).contains("0123456789"));
    }
}
