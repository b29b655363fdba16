//! `GET`/`HEAD /r/{token}/{key}`: results and originals behind prefix-signed URLs (see
//! [`transflow_store::prefix_urls`]), with single byte ranges for seeking players.
//!
//! Both stacks answer the route from their blob store: the embedded one from its directory,
//! `transflow serve` from S3. Serve streams every file rather than redirecting to a pre-signed
//! S3 GET. A redirect cannot be used for playlists: ffmpeg's HLS demuxer (like browsers)
//! resolves relative references against the URL after redirects, which would send every
//! rendition and segment request to S3 without a signature. Redirecting only the other files
//! would save the server bandwidth, but then the same URL would behave in two ways, lose the
//! headers below, and live only as long as the server's (often temporary) credentials. Heavy
//! delivery belongs to a CDN in front of the route, or to CloudFront signed cookies (see
//! `docs/deploy.md`).

use super::{ApiError, ApiState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::SystemTime;
use tokio_util::io::ReaderStream;
use transflow_store::backends::BlobStore;
use transflow_store::prefix_urls::{TokenError, parse_file_path};

/// Serves the file a prefix-signed URL names.
pub(super) async fn file(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(signer) = &state.file_tokens else {
        return Err(ApiError::not_found(
            "FILE_URLS_DISABLED",
            "this server answers no file URLs: set `server.signing_key` (the workers' key)",
        ));
    };
    let raw = uri.path().strip_prefix("/r/").unwrap_or_default();
    let (token, key) =
        parse_file_path(raw).map_err(|error| ApiError::bad_request("INVALID_PATH", error.to_string()))?;
    signer.verify(token, &key, SystemTime::now()).map_err(|error| {
        let (code, message) = match error {
            TokenError::Expired => {
                ("TOKEN_EXPIRED", "the URL expired; fetch the status again for fresh URLs")
            }
            TokenError::Malformed | TokenError::BadSignature => (
                "TOKEN_INVALID",
                "the URL's token does not open this file; use a URL from the status as given",
            ),
        };
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    })?;
    send_blob(state.backends.blobs.as_ref(), &key, &method, &headers).await
}

/// Answers `GET` or `HEAD` for a blob whose URL was checked: the whole file, or the single
/// byte range the request asks for, with the stored content type.
pub(super) async fn send_blob(
    blobs: &dyn BlobStore,
    key: &str,
    method: &Method,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = request.get(header::RANGE).and_then(|value| value.to_str().ok());
    if *method == Method::GET && wanted.is_none() {
        let (info, stream) = blobs.open(key).await?;
        let headers = file_headers(&info.content_type, info.size);
        return Ok((headers, Body::from_stream(ReaderStream::new(stream))).into_response());
    }
    let info =
        blobs.head(key).await?.ok_or_else(|| ApiError::not_found("NOT_FOUND", "no file at this URL"))?;
    let range = match wanted.map(|value| ByteRange::parse(value, info.size)) {
        None | Some(Parsed::Ignored) => None,
        Some(Parsed::Range(range)) => Some(range),
        Some(Parsed::Unsatisfiable) => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_NOT_SATISFIABLE",
                format!("the file has {} bytes", info.size),
            )
            .into_response();
            let content_range = HeaderValue::from_str(&format!("bytes */{}", info.size)).expect("ASCII");
            response.headers_mut().insert(header::CONTENT_RANGE, content_range);
            return Ok(response);
        }
    };
    let length = range.map_or(info.size, |range| range.length);
    let mut headers = file_headers(&info.content_type, length);
    let status = match range {
        Some(range) => {
            let last = range.start + range.length - 1;
            let content_range = format!("bytes {}-{last}/{}", range.start, info.size);
            headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ASCII"));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    let body = match (method, range) {
        (&Method::HEAD, _) => Body::empty(),
        (_, Some(range)) => {
            Body::from_stream(ReaderStream::new(blobs.open_range(key, range.start, range.length).await?))
        }
        (_, None) => Body::from_stream(ReaderStream::new(blobs.open(key).await?.1)),
    };
    Ok((status, headers, body).into_response())
}

fn file_headers(content_type: &str, length: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Media is served from the API's origin: it must never run as a page there.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    headers
}

/// One satisfiable byte range of a file: never empty, never past its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteRange {
    start: u64,
    length: u64,
}

/// What a `Range` header asks of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    /// One range within the file.
    Range(ByteRange),
    /// A single range that starts past the end (or any range of an empty file): 416.
    Unsatisfiable,
    /// Not a single `bytes` range (other units, several ranges, bad syntax): HTTP lets a
    /// server ignore it and send the whole file, which every client handles.
    Ignored,
}

impl ByteRange {
    /// Reads `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `size` bytes (RFC 9110
    /// §14.1.2): the last position is clamped to the end, a suffix longer than the file means
    /// all of it.
    fn parse(header: &str, size: u64) -> Parsed {
        let Some(spec) = header.trim().strip_prefix("bytes=") else { return Parsed::Ignored };
        if spec.contains(',') {
            return Parsed::Ignored;
        }
        let Some((first, last)) = spec.split_once('-') else { return Parsed::Ignored };
        let (first, last) = (first.trim(), last.trim());
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        // A position too long for a u64 lies past the end of any file.
        let position = |text: &str| text.parse::<u64>().unwrap_or(u64::MAX);
        let (start, end) = if digits(first) {
            let start = position(first);
            if last.is_empty() {
                (start, size)
            } else if digits(last) && position(last) >= start {
                (start, position(last).saturating_add(1).min(size))
            } else {
                return Parsed::Ignored;
            }
        } else if first.is_empty() && digits(last) {
            match position(last) {
                0 => return Parsed::Unsatisfiable,
                suffix => (size.saturating_sub(suffix), size),
            }
        } else {
            return Parsed::Ignored;
        };
        if start >= size {
            return Parsed::Unsatisfiable;
        }
        Parsed::Range(ByteRange { start, length: end - start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, length: u64) -> Parsed {
        Parsed::Range(ByteRange { start, length })
    }

    #[test]
    fn single_byte_ranges_are_read_and_clamped_to_the_file() {
        assert_eq!(ByteRange::parse("bytes=0-9", 100), range(0, 10));
        assert_eq!(ByteRange::parse("bytes=90-200", 100), range(90, 10));
        assert_eq!(ByteRange::parse("bytes=99-", 100), range(99, 1));
        assert_eq!(ByteRange::parse("bytes=-10", 100), range(90, 10));
        assert_eq!(ByteRange::parse("bytes=-1000", 100), range(0, 100));
        assert_eq!(ByteRange::parse(" bytes=5-5 ", 100), range(5, 1));
        assert_eq!(ByteRange::parse("bytes=0-99999999999999999999999", 100), range(0, 100));
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable_and_others_ignored() {
        assert_eq!(ByteRange::parse("bytes=100-", 100), Parsed::Unsatisfiable);
        assert_eq!(ByteRange::parse("bytes=100-200", 100), Parsed::Unsatisfiable);
        assert_eq!(ByteRange::parse("bytes=-0", 100), Parsed::Unsatisfiable);
        assert_eq!(ByteRange::parse("bytes=0-", 0), Parsed::Unsatisfiable);
        assert_eq!(ByteRange::parse("bytes=99999999999999999999999-", 100), Parsed::Unsatisfiable);
        for ignored in
            ["items=0-9", "bytes=0-9,20-29", "bytes=9-0", "bytes=a-b", "bytes=-", "bytes=5", "bytes=+1-2"]
        {
            assert_eq!(ByteRange::parse(ignored, 100), Parsed::Ignored, "{ignored}");
        }
    }
}
