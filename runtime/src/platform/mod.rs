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
//! - `events`: chat events reported by the chat backend (`/v1/events`), and dead letters
//!
//! Every handler carries its `#[utoipa::path]`; `/openapi.json` is generated from them.

mod events;
mod functions;
mod invocations;
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
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::App;
use crate::hosting::HostedApp;
use crate::session::Sessions;
use crate::store::postgres::Database;
use crate::store::{Store, StoreError};
use crate::worker::protocol::SourceLocation;
use keys::{Keys, Tokens};

/// One hosted app, as the Platform API sees it.
pub struct PlatformApp {
    /// As chatfn.toml says (the store holds the runtime and functions).
    pub app: App,
    pub sessions: Arc<Sessions>,
    pub store: Store,
    /// Its chat events' queue and their delivery.
    pub events: Arc<crate::events::delivery::Delivery>,
    /// Changes to what the app runs are made one at a time.
    changing: tokio::sync::Mutex<()>,
}

impl PlatformApp {
    pub fn new(
        app: App,
        sessions: Arc<Sessions>,
        store: Store,
        events: Arc<crate::events::delivery::Delivery>,
    ) -> PlatformApp {
        PlatformApp { app, sessions, store, events, changing: Default::default() }
    }

    /// Starts an isolate with what the store says now and switches the app's attempts to it.
    pub(crate) fn redeploy(&self) -> Result<(), PlatformError> {
        crate::deploy::redeploy(&self.app, &self.store, &self.sessions)
            .map_err(|e| PlatformError::Internal(format!("{e:#}")))
    }
}

pub struct Platform {
    apps: HashMap<String, Arc<HostedApp>>,
    tokens: Tokens,
}

impl Platform {
    /// The Platform API of `apps`; its tokens kept in `shared` when the nodes share a
    /// database, in this process otherwise.
    pub fn new(apps: Vec<Arc<HostedApp>>, shared: Option<&Database>) -> Platform {
        Platform {
            apps: apps.into_iter().map(|a| (a.app.name.clone(), a)).collect(),
            tokens: match shared {
                Some(db) => Tokens::Postgres(db.clone()),
                None => Tokens::Memory(Default::default()),
            },
        }
    }
}

impl Platform {
    /// The apps open now.
    pub fn apps(&self) -> impl Iterator<Item = &Arc<PlatformApp>> {
        self.apps.values().filter_map(|app| app.opened())
    }

    /// The app whose key `client_id` is, when `secret` is its secret.
    async fn key_owner(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<&Arc<HostedApp>>, StoreError> {
        if let Tokens::Postgres(db) = &self.tokens {
            let app = keys::owner(db, client_id, secret).await?;
            return Ok(app.and_then(|app| self.apps.get(&app)));
        }
        for app in self.apps.values() {
            if app.keys.verify(client_id, secret).await? {
                return Ok(Some(app));
            }
        }
        Ok(None)
    }
}

/// The Platform API's routes and the OpenAPI document generated from their handlers.
fn routes() -> (Router<Arc<Platform>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(token::issue))
        .routes(routes!(settings::get, settings::update, settings::patch))
        .routes(routes!(runtime::get))
        .routes(routes!(runtime::set_dependencies))
        .routes(routes!(runtime::set_initialization_script))
        .routes(routes!(runtime::set_environment, runtime::patch_environment))
        .routes(routes!(functions::list, functions::create))
        .routes(routes!(functions::get, functions::delete))
        .routes(routes!(functions::versions, functions::create_version))
        .routes(routes!(functions::current_version, functions::activate))
        .routes(routes!(invocations::invocations))
        .routes(routes!(functions::set_shadow))
        .routes(routes!(functions::version))
        .routes(routes!(invocations::test))
        .routes(routes!(invocations::invocation))
        .routes(routes!(invocations::live))
        .routes(routes!(invocations::replay))
        .routes(routes!(users::list, users::create, users::exists))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(events::report))
        .routes(routes!(events::report_for_app))
        .routes(routes!(events::stats))
        .routes(routes!(events::dead_letters))
        .routes(routes!(events::dead_letter, events::delete_dead_letter))
        .routes(routes!(events::redrive))
        .routes(routes!(events::delete_dead_letters))
        .routes(routes!(users::set_secret, users::get_secret, users::remove_secret))
        .routes(routes!(users::secret_names))
        .split_for_parts()
}

pub fn router(platform: Arc<Platform>) -> Router {
    let (routes, openapi) = routes();
    let document = Arc::new(openapi.to_pretty_json().expect("the OpenAPI document serializes"));
    routes
        .route(
            "/openapi.json",
            get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], document.as_str().to_owned())
            }),
        )
        .with_state(platform)
}

/// The generated OpenAPI document (also served at `/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

#[derive(OpenApi)]
#[openapi(
    info(title = "chatfn Platform API", description = "ChatKitty's Platform API for what chatfn hosts: application settings, the Node.js runtime, functions, versions, invocations and users. Get a token at /oauth/token with client credentials from `chatfn keys create`."),
    modifiers(&Security),
    tags((name = "auth"), (name = "application"), (name = "runtime"), (name = "functions"), (name = "users"), (name = "events"))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let flow = Flow::ClientCredentials(ClientCredentials::new("/oauth/token", Scopes::new()));
        components
            .add_security_scheme("client_credentials", SecurityScheme::OAuth2(OAuth2::new([flow])));
    }
}

/// The app a request's bearer token was issued for.
pub struct Authorized(pub Arc<PlatformApp>);

impl FromRequestParts<Arc<Platform>> for Authorized {
    type Rejection = PlatformError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or(PlatformError::Unauthorized)?;
        let grant =
            platform.tokens.check(token.trim()).await?.ok_or(PlatformError::Unauthorized)?;
        let app = platform.apps.get(&grant.app).ok_or(PlatformError::Unauthorized)?;
        // A revoked key's tokens stop working at once (in the database, they go with it).
        if matches!(&app.keys, Keys::File(file) if !file.contains(&grant.client_id)) {
            return Err(PlatformError::Unauthorized);
        }
        Ok(Authorized(app.open().await.map_err(PlatformError::AppUnavailable)?))
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
    /// Over a limit that lifts by itself (a full event queue): try again later.
    TooManyRequests(String),
    /// Code that does not compile, with the place to fix.
    Compile(crate::js::transpile::TranspileError),
    /// The shared database cannot be reached: try again later.
    Unavailable(String),
    /// The app could not be opened on this server (why, for its developer).
    AppUnavailable(String),
    Internal(String),
}

impl From<StoreError> for PlatformError {
    fn from(e: StoreError) -> PlatformError {
        match e {
            StoreError::NotFound(_) => PlatformError::NotFound(e.to_string()),
            StoreError::Conflict(_) => PlatformError::Conflict(e.to_string()),
            StoreError::Invalid(m) => PlatformError::BadRequest(m),
            StoreError::Unavailable(m) => PlatformError::Unavailable(m),
            StoreError::Storage(_) | StoreError::Corrupt(_) | StoreError::Database(_) => {
                PlatformError::Internal(e.to_string())
            }
        }
    }
}

impl IntoResponse for PlatformError {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            PlatformError::Unauthorized => {
                let body = OAuthError {
                    error: "unauthorized".into(),
                    error_description: "Full authentication is required to access this resource"
                        .into(),
                };
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    Json(body),
                )
                    .into_response();
            }
            PlatformError::BadRequest(m) => (StatusCode::BAD_REQUEST, "InvalidRequestError", m),
            PlatformError::NotFound(m) => (StatusCode::NOT_FOUND, "ResourceNotFoundError", m),
            PlatformError::Conflict(m) => (StatusCode::CONFLICT, "DuplicateResourceError", m),
            PlatformError::TooManyRequests(message) => {
                let body = ErrorBody {
                    error: "TooManyRequestsError".into(),
                    message,
                    timestamp: crate::time::now_rfc3339(),
                    location: None,
                };
                return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], Json(body))
                    .into_response();
            }
            PlatformError::Compile(e) => {
                let body = ErrorBody {
                    error: "InvalidScriptError".into(),
                    message: e.to_string(),
                    timestamp: crate::time::now_rfc3339(),
                    location: Some(SourceLocation { file: e.file, line: e.line, column: e.column }),
                };
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
            PlatformError::Unavailable(detail) => {
                tracing::warn!(%detail, "the store is unavailable to a Platform API request");
                let body = ErrorBody {
                    error: "StoreUnavailableError".into(),
                    message: "the store is unavailable; try again shortly".into(),
                    timestamp: crate::time::now_rfc3339(),
                    location: None,
                };
                return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], Json(body))
                    .into_response();
            }
            PlatformError::AppUnavailable(detail) => {
                tracing::error!(%detail, "a Platform API request for an app that cannot be opened");
                (StatusCode::SERVICE_UNAVAILABLE, "AppUnavailableError", detail)
            }
            PlatformError::Internal(detail) => {
                tracing::error!(%detail, "internal error while answering a Platform API request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "internal error; see the server log".to_string(),
                )
            }
        };
        let body = ErrorBody {
            error: error.into(),
            message,
            timestamp: crate::time::now_rfc3339(),
            location: None,
        };
        (status, Json(body)).into_response()
    }
}

/// A JSON request body; ChatKitty's clients send it as `application/vnd.chatkitty+json` or
/// `application/json+merge-patch`, so the content type is not checked.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PlatformError> {
    serde_json::from_slice(body)
        .map_err(|e| PlatformError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Compiles code saved through the API as the file it will run as; nothing is saved if not.
pub(crate) fn compile_check(file: &str, code: &str) -> Result<(), PlatformError> {
    crate::js::transpile::strip_types(file, code.to_string())
        .map(|_| ())
        .map_err(PlatformError::Compile)
}

/// A file path given through the API: relative, inside the app directory, `/`-separated.
pub(crate) fn app_file(file: &str) -> Result<String, PlatformError> {
    let path = std::path::Path::new(file);
    let inside =
        !file.is_empty() && path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(PlatformError::BadRequest(format!(
            "{file:?} must be a relative path inside the app directory"
        )));
    }
    Ok(file.to_string())
}

/// HAL's `_links`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub this: Link,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub href: String,
}

impl Links {
    pub fn to(href: impl Into<String>) -> Links {
        Links { this: Link { href: href.into() } }
    }
}

/// Where a page sits, in ChatKitty's camelCase and in snake_case.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageInfo {
    pub size: usize,
    pub number: usize,
    #[serde(rename = "totalElements")]
    pub total_elements_camel: usize,
    #[serde(rename = "totalPages")]
    pub total_pages_camel: usize,
    pub total_elements: usize,
    pub total_pages: usize,
}

/// A page of a HAL collection: `_embedded` holds the items under the collection's name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<E> {
    #[serde(rename = "_embedded")]
    pub embedded: E,
    pub page: PageInfo,
    #[serde(rename = "_links")]
    pub links: Links,
}

impl<E> Page<E> {
    pub fn new(embedded: E, number: usize, size: usize, total: usize, href: &str) -> Page<E> {
        let pages = if size == 0 { 0 } else { total.div_ceil(size) };
        let page = PageInfo {
            size,
            number,
            total_elements_camel: total,
            total_pages_camel: pages,
            total_elements: total,
            total_pages: pages,
        };
        Page { embedded, page, links: Links::to(href) }
    }
}

/// A resource id from a path: plain decimal digits (`+1`, ` 1` or `1e0` are no ids: 400). An
/// id too large for any resource is simply not found.
pub(crate) fn resource_id(id: &str, what: &str) -> Result<u64, PlatformError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PlatformError::BadRequest(format!(
            "{what} ids are decimal numbers, not {id:?}"
        )));
    }
    id.parse().map_err(|_| PlatformError::NotFound(format!("{what} {id} not found")))
}

/// An error, as ChatKitty's API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    pub timestamp: String,
    /// For code that does not compile: where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

/// A refused credential (OAuth2's error shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

/// `page` and `size` query parameters (ChatKitty's: pages from 0, 25 items by default).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    #[serde(default)]
    pub page: usize,
    pub size: Option<usize>,
}

impl PageQuery {
    pub fn size(&self) -> usize {
        self.size.unwrap_or(25).min(1000)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn resource_ids_are_plain_decimal_digits() {
        assert!(matches!(super::resource_id("42", "user"), Ok(42)));
        for bad in ["+1", " 1", "1 ", "-1", "1e0", "0x1", "", "١"] {
            assert!(
                matches!(super::resource_id(bad, "user"), Err(super::PlatformError::BadRequest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            super::resource_id("99999999999999999999999", "user"),
            Err(super::PlatformError::NotFound(_))
        ));
    }

    #[test]
    fn the_openapi_document_describes_every_route_with_its_types() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let expected = [
            ("/oauth/token", "post"),
            ("/v1/application/settings", "get"),
            ("/v1/application/settings", "put"),
            ("/v1/application/settings", "patch"),
            ("/v1/runtimes/nodejs", "get"),
            ("/v1/runtimes/nodejs/dependencies", "put"),
            ("/v1/runtimes/nodejs/initialization-script", "put"),
            ("/v1/runtimes/nodejs/environment-variables", "put"),
            ("/v1/runtimes/nodejs/functions", "get"),
            ("/v1/runtimes/nodejs/functions", "post"),
            ("/v1/functions/{id}", "get"),
            ("/v1/functions/{id}", "delete"),
            ("/v1/functions/{id}/versions", "get"),
            ("/v1/functions/{id}/versions", "post"),
            ("/v1/functions/{id}/current-version", "get"),
            ("/v1/functions/{id}/current-version", "put"),
            ("/v1/functions/{id}/invocations", "get"),
            ("/v1/function-versions/{id}", "get"),
            ("/v1/function-versions/{id}/test", "post"),
            ("/v1/function-invocations/{id}", "get"),
            ("/v1/function-invocations/{id}/replay", "post"),
            ("/v1/functions/{id}/shadow-version", "put"),
            ("/v1/users", "get"),
            ("/v1/users", "post"),
            ("/v1/users", "head"),
            ("/v1/users/{id}", "get"),
            ("/v1/users/{id}", "patch"),
            ("/v1/users/{id}", "delete"),
            ("/v1/users/{id}/secrets/{name}", "put"),
            ("/v1/users/{id}/secrets/{name}", "get"),
            ("/v1/users/{id}/secrets/{name}", "delete"),
            ("/v1/runtimes/nodejs/environment-variables", "patch"),
            ("/v1/function-invocations/live", "get"),
            ("/v1/users/{id}/secrets", "get"),
            ("/v1/events", "post"),
            ("/v1/apps/{app}/events", "post"),
            ("/v1/events/stats", "get"),
            ("/v1/events/dead-letters", "get"),
            ("/v1/events/dead-letters/{seq}", "get"),
            ("/v1/events/dead-letters/{seq}", "delete"),
            ("/v1/events/dead-letters/redrive", "post"),
            ("/v1/events/dead-letters/delete", "post"),
        ];
        let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations, expected.len(), "{:?}", paths.keys().collect::<Vec<_>>());
        for (path, method) in expected {
            let op = &paths[path][method];
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
        }
        // Shapes come from the handlers' types, snake_case as ChatKitty's.
        let user = &doc["components"]["schemas"]["UserView"]["properties"];
        for field in ["display_name", "is_guest", "isGuest", "_links", "properties"] {
            assert!(user.get(field).is_some(), "UserView.{field}: {user}");
        }
        assert!(
            doc["components"]["schemas"]["VersionView"]["properties"]["handler_script"].is_object()
        );
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        let list =
            &paths["/v1/users"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(list.to_string().contains("Page"), "{list}");
    }
}
