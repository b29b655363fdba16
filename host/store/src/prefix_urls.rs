//! Prefix-signed file URLs: one token opens every object under a directory of the blob store.
//!
//! A result that is several files (an HLS master playlist, its rendition playlists and their
//! segments) refers to its parts by relative paths. A URL signed per object, in its query,
//! loses its signature the moment a player resolves `v0/index.m3u8` against it. So the token
//! sits in the path, in front of the object key, and covers the key's first four segments:
//!
//! ```text
//! {public_url}/r/{token}/outputs/{branch}/{assembly_id}/{step}/{path…}      a result
//! {public_url}/r/{token}/uploads/{branch}/{assembly_id}/{upload_id}/{name}  an original
//!                        └──────────── signed prefix ────────────┘
//! ```
//!
//! Every relative reference beneath the step's directory resolves to a URL with the same token
//! and the same prefix, and so inherits the signature; a reference out of the directory (or a
//! token moved onto another step or assembly) names another prefix and is refused.
//!
//! The token, URL-safe base64 without padding of 41 bytes:
//!
//! ```text
//! byte 0       version, 1
//! bytes 1..9   expiry, seconds since the Unix epoch, big-endian u64
//! bytes 9..41  HMAC-SHA256(signing key, "transflow-prefix-url" 0x00 version expiry prefix)
//! ```
//!
//! The MAC input starts with a label and a NUL, which no blob key contains, so a prefix token
//! can never pass for the local store's per-object signatures made with the same key, nor the
//! other way round.

use crate::backends::{BackendError, BackendResult, unix_seconds};
use crate::keys::{OUTPUTS_PREFIX, UPLOADS_PREFIX};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::SystemTime;

/// The token format this code writes and reads.
const VERSION: u8 = 1;
/// Separates prefix tokens from every other MAC made with the signing key.
const LABEL: &[u8] = b"transflow-prefix-url\0";
/// Bytes of a decoded token: version, expiry, MAC.
const TOKEN_BYTES: usize = 1 + 8 + 32;
/// Key segments a token covers: `{outputs|uploads}/{branch}/{assembly_id}/{step|upload_id}`.
const PREFIX_SEGMENTS: usize = 4;
/// The top-level directories whose objects may be served.
const SERVED_TREES: [&str; 2] = [OUTPUTS_PREFIX, UPLOADS_PREFIX];
/// Longest key served; as the local store allows.
const MAX_KEY_BYTES: usize = 1024;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this format: bad base64, wrong length or version.
    #[error("the URL's token is malformed")]
    Malformed,
    /// The MAC does not match: the token is for another directory, was altered, or was signed
    /// with another key.
    #[error("the URL's token does not open this file")]
    BadSignature,
    /// The token's time is up.
    #[error("the URL's token expired")]
    Expired,
}

/// Why the path after `/r/` names no file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the path after the token must be a file key like `outputs/{{branch}}/{{assembly}}/{{step}}/{{name}}`: {0}"
)]
pub struct PathError(String);

/// Signs and checks prefix tokens with the server's signing key.
#[derive(Clone)]
pub struct PrefixSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for PrefixSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrefixSigner { key: <redacted> }")
    }
}

impl PrefixSigner {
    /// A signer with `key`.
    pub fn new(key: &[u8]) -> PrefixSigner {
        PrefixSigner { key: key.to_vec() }
    }

    /// A token opening every key under `prefix` until `expires` (seconds since the epoch).
    pub fn sign(&self, prefix: &str, expires: u64) -> String {
        let mut token = Vec::with_capacity(TOKEN_BYTES);
        token.push(VERSION);
        token.extend_from_slice(&expires.to_be_bytes());
        token.extend_from_slice(&self.mac(prefix, expires).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Checks that `token` opens `key` at `now`. The MAC is compared in constant time and
    /// before the expiry, so a forged token learns nothing.
    pub fn verify(&self, token: &str, key: &str, now: SystemTime) -> Result<(), TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
        if bytes.len() != TOKEN_BYTES || bytes[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let expires = u64::from_be_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let prefix = signed_prefix(key).ok_or(TokenError::BadSignature)?;
        self.mac(prefix, expires).verify_slice(&bytes[9..]).map_err(|_| TokenError::BadSignature)?;
        if unix_seconds(now) > expires {
            return Err(TokenError::Expired);
        }
        Ok(())
    }

    fn mac(&self, prefix: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(LABEL);
        mac.update(&[VERSION]);
        mac.update(&expires.to_be_bytes());
        mac.update(prefix.as_bytes());
        mac
    }
}

/// Where workers point file URLs when a server answers `/r/…`: its public base and the key
/// it checks tokens with.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    base: String,
    signer: PrefixSigner,
}

impl PublicUrls {
    /// URLs under `base` (e.g. `https://media.example.com`) signed by `signer`.
    pub fn new(base: &str, signer: PrefixSigner) -> PublicUrls {
        PublicUrls { base: base.trim_end_matches('/').to_owned(), signer }
    }

    /// The URL of `key` valid until `expires`; its token opens the key's whole directory.
    pub fn url(&self, key: &str, expires: SystemTime) -> BackendResult<String> {
        let prefix = signed_prefix(key).ok_or_else(|| {
            BackendError::Rejected(format!("`{key}` is not under a directory prefix URLs can sign"))
        })?;
        let token = self.signer.sign(prefix, unix_seconds(expires));
        Ok(format!("{}/r/{token}/{}", self.base, encode_key(key)))
    }
}

/// The directory prefix a token for `key` covers, e.g. `outputs/main/{id}/hls/` — `None` for
/// keys outside the served trees or without a file name below the prefix.
pub fn signed_prefix(key: &str) -> Option<&str> {
    let (tree, _) = key.split_once('/')?;
    if !SERVED_TREES.contains(&tree) {
        return None;
    }
    let end = key.match_indices('/').nth(PREFIX_SEGMENTS - 1)?.0 + 1;
    (end < key.len()).then(|| &key[..end])
}

/// Splits the raw (still percent-encoded) path after `/r/` into the token and the object key.
///
/// Each segment is decoded on its own and must not decode to a `/` or `\`, so an encoded
/// slash cannot move a segment boundary past the check; empty, `.` and `..` segments are
/// refused outright rather than resolved.
pub fn parse_file_path(raw: &str) -> Result<(&str, String), PathError> {
    let (token, raw_key) =
        raw.split_once('/').ok_or_else(|| PathError("there is no key after the token".into()))?;
    let mut segments = Vec::new();
    for raw_segment in raw_key.split('/') {
        let segment = percent_encoding::percent_decode_str(raw_segment)
            .decode_utf8()
            .map_err(|_| PathError("a segment is not UTF-8".into()))?;
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(PathError("empty, `.` and `..` segments are refused".into()));
        }
        if segment.contains(['/', '\\', '\0']) {
            return Err(PathError("encoded slashes, backslashes and NUL are refused".into()));
        }
        segments.push(segment);
    }
    let key = segments.join("/");
    if key.len() > MAX_KEY_BYTES {
        return Err(PathError(format!("longer than {MAX_KEY_BYTES} bytes")));
    }
    if signed_prefix(&key).is_none() {
        return Err(PathError("it names no file under `outputs/` or `uploads/`".into()));
    }
    Ok((token, key))
}

/// Percent-encodes each segment of a key for a URL path.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| {
            url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const STEP_KEY: &str = "outputs/main/abc/hls/clip/master.m3u8";

    fn signer() -> PrefixSigner {
        PrefixSigner::new(b"test signing key")
    }

    fn in_an_hour() -> u64 {
        unix_seconds(SystemTime::now()) + 3600
    }

    #[test]
    fn the_token_is_version_expiry_and_mac_in_url_safe_base64() {
        let token = signer().sign("outputs/main/abc/hls/", 0x0102_0304_0506_0708);
        assert_eq!(token.len(), 55, "41 bytes without padding");
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1..9], [1, 2, 3, 4, 5, 6, 7, 8]);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"test signing key").unwrap();
        mac.update(b"transflow-prefix-url\0\x01\x01\x02\x03\x04\x05\x06\x07\x08outputs/main/abc/hls/");
        assert_eq!(bytes[9..], mac.finalize().into_bytes()[..]);
    }

    #[test]
    fn a_token_opens_every_key_under_its_prefix_and_nothing_else() {
        let token = signer().sign("outputs/main/abc/hls/", in_an_hour());
        let now = SystemTime::now();
        for key in [STEP_KEY, "outputs/main/abc/hls/clip/v0/index.m3u8", "outputs/main/abc/hls/x"] {
            assert_eq!(signer().verify(&token, key, now), Ok(()), "{key}");
        }
        for key in [
            "outputs/main/abc/thumbnails/1.jpg",
            "outputs/main/abd/hls/clip/master.m3u8",
            "outputs/other/abc/hls/clip/master.m3u8",
            "uploads/main/abc/hls/clip.mp4",
            "outputs/main/abc/hlsx/clip/master.m3u8",
        ] {
            assert_eq!(signer().verify(&token, key, now), Err(TokenError::BadSignature), "{key}");
        }
    }

    #[test]
    fn altered_expired_foreign_and_malformed_tokens_are_refused() {
        let now = SystemTime::now();
        let token = signer().sign("outputs/main/abc/hls/", in_an_hour());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[8] ^= 1;
        let stretched = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(signer().verify(&stretched, STEP_KEY, now), Err(TokenError::BadSignature));
        let foreign = PrefixSigner::new(b"another key");
        assert_eq!(foreign.verify(&token, STEP_KEY, now), Err(TokenError::BadSignature));
        let later = now + Duration::from_secs(7200);
        assert_eq!(signer().verify(&token, STEP_KEY, later), Err(TokenError::Expired));
        let expired = signer().sign("outputs/main/abc/hls/", unix_seconds(now) - 1);
        assert_eq!(signer().verify(&expired, STEP_KEY, now), Err(TokenError::Expired));
        bytes[0] = 2;
        let other_version = URL_SAFE_NO_PAD.encode(&bytes);
        for bad in ["", "not base64!", &token[..54], &other_version] {
            assert_eq!(signer().verify(bad, STEP_KEY, now), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn prefixes_are_the_first_four_segments_of_served_keys() {
        assert_eq!(signed_prefix(STEP_KEY), Some("outputs/main/abc/hls/"));
        assert_eq!(signed_prefix("uploads/main/abc/u1/clip.mp4"), Some("uploads/main/abc/u1/"));
        for key in
            ["outputs/main/abc/hls/", "outputs/main/abc/hls", "status/main/abc/x/y", "templates/a/b/c/d"]
        {
            assert_eq!(signed_prefix(key), None, "{key}");
        }
    }

    #[test]
    fn urls_carry_the_token_and_the_encoded_key() {
        let urls = PublicUrls::new("https://media.example.com/", signer());
        let expires = SystemTime::now() + Duration::from_secs(60);
        let url = urls.url("uploads/main/abc/u1/50% off.mp4", expires).unwrap();
        let rest = url.strip_prefix("https://media.example.com/r/").unwrap();
        let (token, key) = parse_file_path(rest).unwrap();
        assert_eq!(key, "uploads/main/abc/u1/50% off.mp4");
        assert!(rest.ends_with("/uploads/main/abc/u1/50%25%20off.mp4"), "{rest}");
        signer().verify(token, &key, SystemTime::now()).unwrap();
        assert!(urls.url("status/main/abc/record.json", expires).is_err());
    }

    #[test]
    fn paths_with_dot_segments_empty_segments_or_encoded_slashes_are_refused() {
        for raw in [
            "T/outputs/main/abc/hls/../thumbnails/1.jpg",
            "T/outputs/main/abc/hls/%2e%2e/thumbnails/1.jpg",
            "T/outputs/main/abc/hls/./x",
            "T/outputs/main/abc/hls//x",
            "T/outputs/main/abc/hls%2F..%2Fthumbnails/1.jpg",
            "T/outputs/main/abc/hls/a%5Cb",
            "T/outputs/main/abc/hls/a%00",
            "T/outputs/main/abc/hls/%FF",
            "T/outputs/main/abc/hls/",
            "T/status/main/abc/x/y",
            "T",
        ] {
            assert!(parse_file_path(raw).is_err(), "{raw}");
        }
        assert_eq!(
            parse_file_path("T/outputs/main/abc/hls/a%20b+c").unwrap(),
            ("T", "outputs/main/abc/hls/a b+c".to_owned())
        );
    }
}
