//! The dashboard at `/dashboard`: static assets built from `dashboard/src` into
//! `dashboard/dist` (committed; CI checks it is a build of the sources) and embedded in the
//! binary, so serving it needs neither Node nor files beside the binary. The page is one more
//! client of the Platform API on the same origin.

use axum::http::header;
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

pub fn router() -> Router {
    Router::new()
        .route("/dashboard", get(|| async { Redirect::permanent("/dashboard/") }))
        .route("/dashboard/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route("/dashboard/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
}
