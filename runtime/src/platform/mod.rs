//! The Platform API: ChatKitty's REST API for what chatfn hosts, on the same paths and JSON
//! shapes, so ChatKitty's own clients (npm `chatkitty`) work by changing their base URLs.
//! `POST /oauth/token` trades an app's client credentials for a bearer token; the token says
//! which app every other request is about.
//!
//! - `keys`: client credentials and tokens
//! - `settings`: `/v1/application/settings`
//! - `users`: `/v1/users` (the platform side of `context.ChatKitty.Users`)
//! - `runtime`: `/v1/runtimes/nodejs`: dependencies, initialization script, environment
//! - `functions`: functions per trigger, their immutable versions, and invocation records

mod functions;
pub mod keys;
mod runtime;
mod settings;
mod token;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config::App;
use crate::session::Sessions;
use crate::store::{Store, UsersError};
use keys::{KeyFile, Tokens};

/// One hosted app, as the Platform API sees it.
pub struct PlatformApp {
    /// As chatfn.toml says (the store holds the runtime and functions).
    pub app: App,
    pub sessions: Arc<Sessions>,
    pub store: Store,
    pub keys: KeyFile,
    /// Changes to what the app runs are made one at a time.
    changing: tokio::sync::Mutex<()>,
}

impl PlatformApp {
    pub fn new(app: App, sessions: Arc<Sessions>, store: Store, keys: KeyFile) -> PlatformApp {
        PlatformApp { app, sessions, store, keys, changing: Default::default() }
    }

    /// Starts an isolate with what the store says now and switches the app's attempts to it.
    pub(crate) fn redeploy(&self) -> Result<(), PlatformError> {
        crate::deploy::redeploy(&self.app, &self.store, &self.sessions).map_err(|e| PlatformError::Internal(format!("{e:#}")))
    }
}

pub struct Platform {
    apps: HashMap<String, Arc<PlatformApp>>,
    tokens: Tokens,
}

impl Platform {
    pub fn new(apps: Vec<PlatformApp>) -> Platform {
        Platform { apps: apps.into_iter().map(|a| (a.app.name.clone(), Arc::new(a))).collect(), tokens: Tokens::default() }
    }
}

pub fn router(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/oauth/token", post(token::issue))
        .route("/v1/application/settings", get(settings::get).put(settings::update).patch(settings::update))
        .route("/v1/runtimes/nodejs", get(runtime::get))
        .route("/v1/runtimes/nodejs/dependencies", put(runtime::set_dependencies))
        .route("/v1/runtimes/nodejs/initialization-script", put(runtime::set_initialization_script))
        .route("/v1/runtimes/nodejs/environment-variables", put(runtime::set_environment))
        .route("/v1/runtimes/nodejs/functions", get(functions::list).post(functions::create))
        .route("/v1/functions/{id}", get(functions::get))
        .route("/v1/functions/{id}/versions", get(functions::versions).post(functions::create_version))
        .route("/v1/functions/{id}/current-version", get(functions::current_version).put(functions::activate))
        .route("/v1/functions/{id}/invocations", get(functions::invocations))
        .route("/v1/function-versions/{id}", get(functions::version))
        .route("/v1/function-versions/{id}/test", post(functions::test))
        .route("/v1/function-invocations/{id}", get(functions::invocation))
        .route("/v1/users", get(users::list).post(users::create).head(users::exists))
        .route("/v1/users/{id}", get(users::get).patch(users::update).delete(users::delete))
        .route("/v1/users/{id}/secrets/{name}", put(users::set_secret).get(users::get_secret).delete(users::remove_secret))
        .with_state(platform)
}

/// The app a request's bearer token was issued for.
pub struct Authorized(pub Arc<PlatformApp>);

impl FromRequestParts<Arc<Platform>> for Authorized {
    type Rejection = PlatformError;

    async fn from_request_parts(parts: &mut Parts, platform: &Arc<Platform>) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or(PlatformError::Unauthorized)?;
        let grant = platform.tokens.check(token.trim()).ok_or(PlatformError::Unauthorized)?;
        let app = platform.apps.get(&grant.app).ok_or(PlatformError::Unauthorized)?;
        // A revoked key's tokens stop working at once.
        if !app.keys.contains(&grant.client_id) {
            return Err(PlatformError::Unauthorized);
        }
        Ok(Authorized(app.clone()))
    }
}

/// Errors as ChatKitty's API shapes them.
#[derive(Debug)]
pub enum PlatformError {
    /// Missing, wrong or expired credentials; never says which.
    Unauthorized,
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    /// Code that does not compile, with the place to fix.
    Compile(crate::js::transpile::TranspileError),
    Internal(String),
}

impl From<UsersError> for PlatformError {
    fn from(e: UsersError) -> PlatformError {
        match e {
            UsersError::NotFound(_) => PlatformError::NotFound(e.to_string()),
            UsersError::Conflict(_) => PlatformError::Conflict(e.to_string()),
            UsersError::Invalid(m) => PlatformError::BadRequest(m),
            UsersError::Storage(_) | UsersError::Corrupt(_) => PlatformError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for PlatformError {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            PlatformError::Unauthorized => {
                let body = json!({ "error": "unauthorized", "error_description": "Full authentication is required to access this resource" });
                return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body)).into_response();
            }
            PlatformError::BadRequest(m) => (StatusCode::BAD_REQUEST, "InvalidRequestError", m),
            PlatformError::NotFound(m) => (StatusCode::NOT_FOUND, "ResourceNotFoundError", m),
            PlatformError::Conflict(m) => (StatusCode::CONFLICT, "DuplicateResourceError", m),
            PlatformError::Compile(e) => {
                let body = json!({
                    "error": "InvalidScriptError",
                    "message": e.to_string(),
                    "location": { "file": e.file, "line": e.line, "column": e.column },
                    "timestamp": crate::store::users::now_rfc3339(),
                });
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
            PlatformError::Internal(detail) => {
                tracing::error!(%detail, "internal error while answering a Platform API request");
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "internal error; see the server log".to_string())
            }
        };
        let body = json!({ "error": error, "message": message, "timestamp": crate::store::users::now_rfc3339() });
        (status, Json(body)).into_response()
    }
}

/// A JSON request body; ChatKitty's clients send it as `application/vnd.chatkitty+json` or
/// `application/json+merge-patch`, so the content type is not checked.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PlatformError> {
    serde_json::from_slice(body).map_err(|e| PlatformError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Compiles code saved through the API as the file it will run as; nothing is saved if not.
pub(crate) fn compile_check(file: &str, code: &str) -> Result<(), PlatformError> {
    crate::js::transpile::strip_types(file, code.to_string()).map(|_| ()).map_err(PlatformError::Compile)
}

/// A file path given through the API: relative, inside the app directory, `/`-separated.
pub(crate) fn app_file(file: &str) -> Result<String, PlatformError> {
    let path = std::path::Path::new(file);
    let inside = !file.is_empty() && path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(PlatformError::BadRequest(format!("{file:?} must be a relative path inside the app directory")));
    }
    Ok(file.to_string())
}

/// HAL's `_links.self`.
pub(crate) fn self_link(href: &str) -> Value {
    json!({ "self": { "href": href } })
}

/// A page of a HAL collection, with the page numbers in ChatKitty's and in snake_case form.
pub(crate) fn hal_page(key: &str, items: Vec<Value>, page: usize, size: usize, total: usize, href: &str) -> Value {
    let pages = if size == 0 { 0 } else { total.div_ceil(size) };
    json!({
        "_embedded": { key: items },
        "page": { "size": size, "totalElements": total, "totalPages": pages, "number": page,
                  "total_elements": total, "total_pages": pages },
        "_links": self_link(href),
    })
}
