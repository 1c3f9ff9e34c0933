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

/// Serves until `shutdown` resolves, on the engine's serving threads (see
/// `worker::engine`): each accepts connections from `listener` and serves them itself, so
/// an attempt runs on an isolate of the thread that read it. On shutdown they stop accepting
/// and let the requests in progress finish (for up to five seconds).
pub async fn serve(
    listener: std::net::TcpListener,
    apps: Arc<Apps>,
    platform: Arc<crate::platform::Platform>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(apps).merge(crate::platform::router(platform)).layer(axum::middleware::map_response(error::json_errors));
    listener.set_nonblocking(true)?;
    let engine = crate::worker::engine::engine();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut done = Vec::new();
    for thread in engine.serving_threads() {
        let (listener, app, stopped) = (listener.try_clone()?, app.clone(), stopped.clone());
        let (finished, finish) = tokio::sync::oneshot::channel::<()>();
        engine.send(
            thread,
            crate::worker::engine::Command::Call(Box::new(move || {
                tokio::task::spawn_local(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept(listener, app, stopped).await,
                        Err(e) => tracing::error!("cannot serve connections on this thread: {e}"),
                    }
                    drop(finished);
                });
            })),
        );
        done.push(finish);
    }
    drop(listener);
    shutdown.await;
    let _ = stop.send(true);
    for finish in done {
        let _ = finish.await;
    }
    Ok(())
}

/// Accepts connections and serves each on this thread, until `stopped` turns true.
async fn accept(listener: tokio::net::TcpListener, app: Router, mut stopped: tokio::sync::watch::Receiver<bool>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(|request: axum::http::Request<hyper::body::Incoming>| request.map(axum::body::Body::new));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}
