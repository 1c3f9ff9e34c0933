//! The HTTP API (axum): the session endpoint chat clients call, and a health check. The
//! Platform API will join it here. `router` is separate from `serve` so handlers can be tested
//! without a socket.

mod error;
mod sessions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

use crate::session::Sessions;

/// `body_limit`: the app's `[limits] body_kb`; a start-session body is a name and a token.
pub fn router(sessions: Arc<Sessions>, body_limit: usize) -> Router {
    Router::new()
        .route("/v1/sessions", post(sessions::start_session))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(sessions)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sessions: Arc<Sessions>,
    body_limit: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sessions, body_limit)).with_graceful_shutdown(shutdown).await
}
