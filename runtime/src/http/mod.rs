//! The HTTP API (axum): the session endpoint chat clients call, per app
//! (`/v1/apps/{app}/sessions`, and `/v1/sessions` for the first app), and a health check;
//! `serve` adds the Platform API (`crate::platform`) beside them. `router` is separate from
//! `serve` so handlers can be tested without a socket.

mod error;
mod sessions;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

use crate::session::Sessions;

/// The apps a server hosts, by name; the first one is the default.
pub struct Apps {
    default: Arc<Sessions>,
    by_name: HashMap<String, Arc<Sessions>>,
}

impl Apps {
    /// `apps` must not be empty.
    pub fn new(apps: Vec<(String, Arc<Sessions>)>) -> Apps {
        let default = apps.first().expect("at least one app").1.clone();
        Apps { default, by_name: apps.into_iter().collect() }
    }

    pub fn single(sessions: Arc<Sessions>) -> Apps {
        Apps::new(vec![("app".into(), sessions)])
    }

    fn largest_body_limit(&self) -> usize {
        self.by_name.values().map(|s| s.body_limit()).max().unwrap_or(0)
    }
}

pub fn router(apps: Arc<Apps>) -> Router {
    // Each app's own body limit is checked in its handler, which answers 413 after reading the
    // whole body (a server that answers before reading can have its answer lost to a reset
    // connection). This layer stops bodies far past every app's limit without reading them.
    let limit = apps.largest_body_limit().saturating_mul(4).min(64 << 20);
    Router::new()
        .route("/v1/sessions", post(sessions::start_default_app_session))
        .route("/v1/apps/{app}/sessions", post(sessions::start_session))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(apps)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    apps: Arc<Apps>,
    platform: Arc<crate::platform::Platform>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(apps).merge(crate::platform::router(platform)).layer(axum::middleware::map_response(error::json_errors));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
