//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>).
//!
//! The receiver must be able to tell that a notification came from us and was not replayed
//! later, so every request carries `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. Following the
//! standard (rather than a scheme of our own) lets receivers use its published libraries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// The prefix Standard Webhooks puts before the base64 key, so a secret is recognisable as one.
const PREFIX: &str = "whsec_";

/// Header carrying the message id; the same on every retry so receivers can deduplicate.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix time of the attempt; signed, so a captured request cannot be
/// replayed once it falls outside the receiver's tolerance.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying one or more space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A shared webhook signing secret (`whsec_<base64 key>`).
///
/// The key is what lets a receiver trust our notifications, so it never appears in `Debug`
/// output, logs or errors; [`WebhookSecret::expose`] is the one deliberate way to show it.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    /// Keyed once when the secret is made, so signing cannot fail later.
    mac: HmacSha256,
}

/// Why a string is not a usable webhook secret. Never carries the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The string does not start with `whsec_`.
    #[error("a webhook secret must start with \"whsec_\" followed by the base64 key")]
    MissingPrefix,
    /// The part after `whsec_` is not standard base64.
    #[error("the part of the webhook secret after \"whsec_\" is not valid base64")]
    NotBase64,
    /// The decoded key is empty.
    #[error("the webhook secret's key is empty")]
    Empty,
}

impl WebhookSecret {
    /// Makes a fresh random 32-byte secret, for a template or assembly that asks for one.
    pub fn generate() -> Self {
        // ThreadRng is a CSPRNG reseeded from the operating system.
        let key: [u8; 32] = rand::random();
        Self::from_key(key.to_vec())
    }

    fn from_key(key: Vec<u8>) -> Self {
        // HMAC's own key preparation (RFC 2104 §2): a key longer than the hash's block is
        // hashed first, a shorter one is zero-padded to the block. Doing it here lets us use the
        // infallible fixed-size constructor instead of `new_from_slice`, whose error can never
        // happen for HMAC but would still need handling.
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        if key.len() > block.len() {
            let digest = Sha256::digest(&key);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..key.len()].copy_from_slice(&key);
        }
        WebhookSecret { key, mac: <HmacSha256 as KeyInit>::new(&block) }
    }

    /// The secret in its `whsec_…` form, to hand to the receiver once. Anything that prints
    /// this string leaks the key, which is why it is a named method and not `Display`.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", BASE64.encode(&self.key))
    }

    /// The `webhook-signature` value for one request: `v1,<base64 HMAC-SHA256>` over
    /// `"{id}.{timestamp}.{body}"`, exactly as Standard Webhooks defines it.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac_for(id, &timestamp.to_string(), body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    fn mac_for(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Checks a received webhook: the three headers must be present, the timestamp within
    /// `tolerance` of now (either way, so old captures cannot be replayed and clock-skewed
    /// future ones are not trusted forever), and one of the `v1` signatures must match.
    /// Several signatures are accepted because senders list old and new ones while rotating.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], tolerance: Duration) -> Result<(), VerifyError> {
        self.verify_at(headers, body, tolerance, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        tolerance: Duration,
        now: i64,
    ) -> Result<(), VerifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .ok_or(VerifyError::MissingHeader(name))?
                .to_str()
                .map_err(|_| VerifyError::MissingHeader(name))
        };
        let id = header(HEADER_ID)?;
        let timestamp = header(HEADER_TIMESTAMP)?;
        let signatures = header(HEADER_SIGNATURE)?;

        let sent: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
        let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(sent).saturating_abs() > tolerance {
            return Err(VerifyError::OutsideTolerance);
        }

        let expected = self.mac_for(id, timestamp.trim(), body);
        let matched = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|sig| BASE64.decode(sig).ok())
            // `verify_slice` compares in constant time, so timing does not leak the right MAC.
            .any(|sig| expected.clone().verify_slice(&sig).is_ok());
        if matched { Ok(()) } else { Err(VerifyError::NoMatchingSignature) }
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;

    /// Parses `whsec_<base64 key>`.
    fn from_str(s: &str) -> Result<Self, SecretError> {
        let encoded = s.trim().strip_prefix(PREFIX).ok_or(SecretError::MissingPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self::from_key(key))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_***)")
    }
}

/// Why a received webhook was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or not text.
    #[error("the {0} header is missing or not text")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer number of seconds.
    #[error("the webhook-timestamp header is not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is too far from now: a replay, or a badly skewed clock.
    #[error("the webhook timestamp is outside the allowed tolerance")]
    OutsideTolerance,
    /// No `v1` signature matches the body.
    #[error("no webhook signature matches")]
    NoMatchingSignature,
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    // Both vectors were computed with Python's `hmac`/`hashlib`/`base64`, an implementation
    // independent of this one; the first is also the Standard Webhooks reference vector.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const OUR_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OUR_BODY: &[u8] = br#"{"ok":"ASSEMBLY_COMPLETED","assembly_id":"a1b2c3"}"#;
    const OUR_SIGNATURE: &str = "v1,Haq11sqIcF16w3p5W4P1s9SNyDK7baWfCPQl3r2n/XM=";
    const LONG_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==";
    const LONG_SIGNATURE: &str = "v1,XwD0zKdK1Z3khVnKs9qzQHPv5ILMFVF9RMjF6yWWWzk=";

    fn secret(s: &str) -> WebhookSecret {
        s.parse().expect("valid secret")
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER_ID, HeaderValue::from_str(id).expect("header"));
        h.insert(HEADER_TIMESTAMP, HeaderValue::from_str(timestamp).expect("header"));
        h.insert(HEADER_SIGNATURE, HeaderValue::from_str(signature).expect("header"));
        h
    }

    #[test]
    fn sign_matches_independent_vectors() {
        let spec = secret(SPEC_SECRET);
        assert_eq!(
            spec.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
            SPEC_SIGNATURE
        );
        let ours = secret(OUR_SECRET);
        assert_eq!(ours.key, (0u8..32).collect::<Vec<_>>());
        assert_eq!(ours.sign("a1b2c3-assembly-done", 1700000000, OUR_BODY), OUR_SIGNATURE);
        // A key longer than SHA-256's 64-byte block takes HMAC's hash-the-key path.
        let long = secret(LONG_SECRET);
        assert_eq!(long.key.len(), 100);
        assert_eq!(long.sign("long-key", 1700000000, b"{}"), LONG_SIGNATURE);
    }

    #[test]
    fn verify_checks_signature_and_timestamp() {
        let s = secret(OUR_SECRET);
        let tolerance = Duration::from_secs(300);
        let ok = headers("a1b2c3-assembly-done", "1700000000", OUR_SIGNATURE);
        assert_eq!(s.verify_at(&ok, OUR_BODY, tolerance, 1700000000), Ok(()));
        assert_eq!(s.verify_at(&ok, OUR_BODY, tolerance, 1700000300), Ok(()));
        assert_eq!(s.verify_at(&ok, OUR_BODY, tolerance, 1700000301), Err(VerifyError::OutsideTolerance));
        assert_eq!(s.verify_at(&ok, OUR_BODY, tolerance, 1699999699), Err(VerifyError::OutsideTolerance));
        assert_eq!(
            s.verify_at(&ok, b"{\"ok\":\"tampered\"}", tolerance, 1700000000),
            Err(VerifyError::NoMatchingSignature)
        );

        // Several signatures (key rotation): any matching one is enough; unknown versions are skipped.
        let rotated = format!("v1a,AAAA v1,bm90LWl0 {OUR_SIGNATURE}");
        let many = headers("a1b2c3-assembly-done", "1700000000", &rotated);
        assert_eq!(s.verify_at(&many, OUR_BODY, tolerance, 1700000000), Ok(()));

        let other = WebhookSecret::generate();
        assert_eq!(
            other.verify_at(&ok, OUR_BODY, tolerance, 1700000000),
            Err(VerifyError::NoMatchingSignature)
        );

        let bad_time = headers("a1b2c3-assembly-done", "yesterday", OUR_SIGNATURE);
        assert_eq!(s.verify_at(&bad_time, OUR_BODY, tolerance, 1700000000), Err(VerifyError::BadTimestamp));
        let mut missing = ok.clone();
        missing.remove(HEADER_SIGNATURE);
        assert_eq!(
            s.verify(&missing, OUR_BODY, tolerance),
            Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
        );
    }

    #[test]
    fn verify_accepts_a_fresh_signature() {
        let s = WebhookSecret::generate();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sig = s.sign("id-1", now, b"{}");
        let h = headers("id-1", &now.to_string(), &sig);
        assert_eq!(s.verify(&h, b"{}", Duration::from_secs(300)), Ok(()));
    }

    #[test]
    fn parse_errors_are_clear_and_generate_round_trips() {
        let error = |s: &str| s.parse::<WebhookSecret>().err();
        assert_eq!(error("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Some(SecretError::MissingPrefix));
        assert_eq!(error("whsec_not base64!"), Some(SecretError::NotBase64));
        assert_eq!(error("whsec_"), Some(SecretError::Empty));
        assert!(SecretError::MissingPrefix.to_string().contains("whsec_"));

        let generated = WebhookSecret::generate();
        assert_eq!(generated.key.len(), 32);
        assert_ne!(generated.key, WebhookSecret::generate().key);
        assert_eq!(secret(&generated.expose()).key, generated.key);
    }

    #[test]
    fn debug_hides_the_key() {
        let s = secret(OUR_SECRET);
        let shown = format!("{s:?} {:?}", Some(&s));
        assert!(!shown.contains("AAECAwQF"), "{shown}");
        assert!(!shown.contains("0, 1, 2, 3"), "{shown}");
        assert_eq!(format!("{s:?}"), "WebhookSecret(whsec_***)");
    }
}
