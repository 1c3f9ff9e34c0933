//! The dashboard at `/dashboard`: static assets built from `dashboard/src` into
//! `dashboard/dist` (committed; CI checks it is a build of the sources) and embedded in the
//! binary, so serving it needs neither Node nor files beside the binary. The page is one more
//! client of the Platform API on the same origin.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../../dashboard/dist/index.html");
const APP_JS: &str = include_str!("../../../dashboard/dist/app.js");
const APP_CSS: &str = include_str!("../../../dashboard/dist/app.css");

/// Nothing but this origin: no CDN, fonts or analytics (and no framing).
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The script, gzipped once when first asked for (a third of its size) to a browser that
/// takes gzip; as it is to one that does not.
fn script(headers: HeaderMap) -> axum::response::Response {
    static GZIPPED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let takes_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !takes_gzip {
        return asset("text/javascript; charset=utf-8", APP_JS).into_response();
    }
    let body = GZIPPED.get_or_init(|| {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(APP_JS.as_bytes()).expect("gzip into memory");
        encoder.finish().expect("gzip into memory")
    });
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CONTENT_ENCODING, "gzip"),
            (header::VARY, "accept-encoding"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.as_slice(),
    )
        .into_response()
}

pub fn router() -> Router {
    Router::new()
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/dashboard/app.js", get(|headers: HeaderMap| async move { script(headers) }))
        .route("/dashboard/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
}
