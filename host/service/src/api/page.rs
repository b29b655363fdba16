//! The upload page: one static HTML file (no build step) compiled into the binary.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("page.html");

pub(super) async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is inline; uploads and results are same-origin here, on S3 (https) in AWS.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self' https:; img-src 'self' https: blob: data:; media-src 'self' https:",
            ),
        ],
        PAGE,
    )
}
