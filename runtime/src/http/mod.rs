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

/// Largest request body accepted: a start-session body is a name and a token.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(sessions: Arc<Sessions>) -> Router {
    Router::new()
        .route("/v1/sessions", post(sessions::start_session))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sessions)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sessions: Arc<Sessions>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sessions)).with_graceful_shutdown(shutdown).await
}
