//! The HTTP API (axum): the session endpoint chat clients call, per app
//! (`/v1/apps/{app}/sessions`, and `/v1/sessions` for the first app), and a health check;
//! `serve` adds the Platform API (`crate::platform`) beside them. `router` is separate from
//! `serve` so handlers can be tested without a socket.

mod dashboard;
mod error;
mod sessions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

use crate::hosting::HostedApp;
use crate::session::Sessions;

/// The apps a server hosts, by name; the first one is the default.
pub struct Apps {
    default: Served,
    by_name: HashMap<String, Served>,
}

/// An app's sessions, or the app that opens them at its first request.
enum Served {
    Ready(Arc<Sessions>),
    Hosted(Arc<HostedApp>),
}

impl Served {
    async fn sessions(&self) -> Result<Arc<Sessions>, ApiError> {
        match self {
            Served::Ready(sessions) => Ok(sessions.clone()),
            Served::Hosted(app) => {
                Ok(app.open().await.map_err(ApiError::AppUnavailable)?.sessions.clone())
            }
        }
    }

    fn body_limit(&self) -> usize {
        match self {
            Served::Ready(sessions) => sessions.body_limit(),
            Served::Hosted(app) => app.app.limits.body_bytes,
        }
    }
}

impl Apps {
    /// The apps of `chatfn serve`; `apps` must not be empty.
    pub fn hosted(apps: Vec<Arc<HostedApp>>) -> Apps {
        let default = Served::Hosted(apps.first().expect("at least one app").clone());
        let by_name = apps.into_iter().map(|a| (a.app.name.clone(), Served::Hosted(a))).collect();
        Apps { default, by_name }
    }

    pub fn single(sessions: Arc<Sessions>) -> Apps {
        let by_name = [("app".to_string(), Served::Ready(sessions.clone()))].into();
        Apps { default: Served::Ready(sessions), by_name }
    }

    fn largest_body_limit(&self) -> usize {
        self.by_name.values().map(Served::body_limit).max().unwrap_or(0)
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
    let app = router(apps)
        .merge(crate::platform::router(platform))
        .merge(dashboard::router())
        .layer(axum::middleware::map_response(error::json_errors));
    listener.set_nonblocking(true)?;
    let engine = crate::worker::engine::engine();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let open =
        Arc::new(OpenConnections(engine.serving_threads().map(|_| AtomicUsize::new(0)).collect()));
    let mut done = Vec::new();
    for (me, thread) in engine.serving_threads().enumerate() {
        let (listener, app, stopped, open) =
            (listener.try_clone()?, app.clone(), stopped.clone(), open.clone());
        let (finished, finish) = tokio::sync::oneshot::channel::<()>();
        engine.send(
            thread,
            crate::worker::engine::Command::Call(Box::new(move || {
                tokio::task::spawn_local(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept(listener, app, stopped, open, me).await,
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

/// The connections each serving thread has open, by its place among them.
struct OpenConnections(Vec<AtomicUsize>);

impl OpenConnections {
    /// Whether serving thread `me` has more connections than another one, by two or more.
    fn ahead(&self, me: usize) -> bool {
        let mine = self.0[me].load(Ordering::Relaxed);
        self.0.iter().any(|n| n.load(Ordering::Relaxed) + 1 < mine)
    }

    /// Waits until `me` may take the next connection: at once, unless it has more than
    /// another serving thread, which then gets a millisecond or two to take it first (a
    /// thread in a long slice of JavaScript does not accept). Every thread accepts from the
    /// one listener, and the first to wake would otherwise take most of a burst of
    /// connections, leaving the other cores idle under load.
    async fn turn(&self, me: usize) {
        for _ in 0..2 {
            if !self.ahead(me) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

/// Accepts connections and serves each on this thread, until `stopped` turns true.
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    open: Arc<OpenConnections>,
    me: usize,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let next = async {
            open.turn(me).await;
            listener.accept().await
        };
        let stream = tokio::select! {
            accepted = next => match accepted {
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
        let service = app
            .clone()
            .map_request(|request: axum::http::Request<hyper::body::Incoming>| {
                request.map(axum::body::Body::new)
            })
            .map_response(|response| {
                crate::worker::busy_poll::answered();
                response
            });
        let connection = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection.into_owned());
        open.0[me].fetch_add(1, Ordering::Relaxed);
        let open = open.clone();
        tokio::task::spawn_local(async move {
            let _ = connection.await;
            open.0[me].fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}
