//! Functions and their versions (their invocations, test runs and replays are in
//! `invocations.rs`).
//!
//! - `/v1/runtimes/nodejs/functions`: list, and create the function of a trigger.
//! - `/v1/functions/{id}`, `…/versions` (saving one compiles it, then makes it current: save
//!   is deploy), `…/current-version` (`PUT {"version_number": n}` rolls back or forward),
//!   `…/shadow-version`.
//! - `/v1/function-versions/{id}`: one version.
//!
//! Switching versions starts an isolate with the new code and moves the app to it at once;
//! invocations already running finish on the version they started with.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    compile_check, json_body, resource_id, Authorized, ErrorBody, Links, OAuthError, Page,
    PageQuery, PlatformApp, PlatformError,
};
use crate::config::Trigger;
use crate::store::functions::{FunctionRecord, VersionRecord};

#[derive(Serialize, ToSchema)]
pub struct RuntimeRef {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct FunctionView {
    /// The trigger, e.g. `user.attempted.start_session`.
    #[serde(rename = "type")]
    trigger: String,
    id: u64,
    name: String,
    description: Option<String>,
    enabled: bool,
    /// 0 until a version is saved.
    current_version_number: u64,
    /// chatfn's: a version running in shadow on live attempts.
    shadow_version_number: Option<u64>,
    runtime: RuntimeRef,
    created_time: String,
    #[serde(rename = "_links")]
    links: Links,
}

impl From<&FunctionRecord> for FunctionView {
    fn from(f: &FunctionRecord) -> FunctionView {
        FunctionView {
            trigger: f.trigger.clone(),
            id: f.id,
            name: f.name.clone(),
            description: f.description.clone(),
            enabled: f.enabled,
            current_version_number: f.current_version_number,
            shadow_version_number: f.shadow_version_number,
            runtime: RuntimeRef { kind: "NODEJS", id: 1, version: "v22.0.0" },
            created_time: f.created_time.clone(),
            links: Links::to(format!("/v1/functions/{}", f.id)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    id: u64,
    function_id: u64,
    version_number: u64,
    handler_script: String,
    /// The file it runs as, relative to the app directory.
    file: String,
    created_time: String,
    #[serde(rename = "_links")]
    links: Links,
}

impl From<&VersionRecord> for VersionView {
    fn from(v: &VersionRecord) -> VersionView {
        VersionView {
            id: v.id,
            function_id: v.function_id,
            version_number: v.version_number,
            handler_script: v.handler_script.clone(),
            file: v.file.clone(),
            created_time: v.created_time.clone(),
            links: Links::to(format!("/v1/function-versions/{}", v.id)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Functions {
    functions: Vec<FunctionView>,
}

#[derive(Serialize, ToSchema)]
pub struct Versions {
    versions: Vec<VersionView>,
}

pub(super) fn page_of<T>(items: Vec<T>, q: &PageQuery) -> (Vec<T>, usize) {
    let total = items.len();
    (items.into_iter().skip(q.page * q.size()).take(q.size()).collect(), total)
}

pub(super) fn function(app: &PlatformApp, id: &str) -> Result<FunctionRecord, PlatformError> {
    app.store
        .functions
        .function(resource_id(id, "function")?)?
        .ok_or_else(|| PlatformError::NotFound(format!("function {id} not found")))
}

#[utoipa::path(get, path = "/v1/runtimes/nodejs/functions", tag = "functions", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Functions>), (status = 401, body = OAuthError)))]
pub async fn list(
    Authorized(app): Authorized,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Functions>>, PlatformError> {
    let (page, total) = page_of(app.store.functions.functions()?, &q);
    let functions = Functions { functions: page.iter().map(FunctionView::from).collect() };
    Ok(Json(Page::new(functions, q.page, q.size(), total, "/v1/runtimes/nodejs/functions")))
}

#[derive(Deserialize, ToSchema)]
pub struct NewFunction {
    #[serde(rename = "type")]
    trigger: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
}

#[utoipa::path(post, path = "/v1/runtimes/nodejs/functions", tag = "functions", security(("bearer" = [])), request_body = NewFunction,
    responses((status = 201, body = FunctionView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn create(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<(StatusCode, Json<FunctionView>), PlatformError> {
    let new: NewFunction = json_body(&body)?;
    if Trigger::from_name(&new.trigger).is_none() {
        let known: Vec<_> = Trigger::ALL.iter().map(|t| t.name()).collect();
        return Err(PlatformError::BadRequest(format!(
            "chatfn runs functions for {}, not {:?}",
            known.join(", "),
            new.trigger
        )));
    }
    if new.name.trim().is_empty() {
        return Err(PlatformError::BadRequest("a function needs a name".into()));
    }
    let function =
        app.store.functions.create_function(&new.trigger, &new.name, new.description).await?;
    Ok((StatusCode::CREATED, Json(FunctionView::from(&function))))
}

#[utoipa::path(get, path = "/v1/functions/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = FunctionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn get(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<FunctionView>, PlatformError> {
    Ok(Json(FunctionView::from(&function(&app, &id)?)))
}

/// `DELETE /v1/functions/{id}` (chatfn's): removes the function and its versions (its
/// invocation records stay); the app is redeployed without it, so its trigger follows the
/// rules for a trigger with no function.
#[utoipa::path(delete, path = "/v1/functions/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn delete(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<StatusCode, PlatformError> {
    let f = function(&app, &id)?;
    app.store.functions.delete_function(f.id).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, trigger = %f.trigger, "function deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Newest first.
#[utoipa::path(get, path = "/v1/functions/{id}/versions", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path), PageQuery),
    responses((status = 200, body = Page<Versions>), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn versions(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Versions>>, PlatformError> {
    let f = function(&app, &id)?;
    let mut all = app.store.functions.versions(f.id)?;
    all.reverse();
    let (page, total) = page_of(all, &q);
    let versions = Versions { versions: page.iter().map(VersionView::from).collect() };
    Ok(Json(Page::new(versions, q.page, q.size(), total, &format!("/v1/functions/{id}/versions"))))
}

#[derive(Deserialize, ToSchema)]
pub struct NewVersion {
    #[serde(alias = "handlerScript")]
    handler_script: String,
    /// chatfn's: the file (relative to the app directory) the version runs as.
    #[serde(default)]
    file: Option<String>,
}

/// Saving a version deploys it: compiled first (a syntax or type-strip error is answered 400
/// with file, line and column, and nothing changes), then made current.
#[utoipa::path(post, path = "/v1/functions/{id}/versions", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = NewVersion,
    responses((status = 201, body = VersionView), (status = 400, body = ErrorBody, description = "the code does not compile (`location` says where)"), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn create_version(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<VersionView>), PlatformError> {
    let NewVersion { handler_script, file } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let f = function(&app, &id)?;
    // A version runs as its function's file: the one given, the last one's, or one named
    // after the trigger.
    let file = match (file, app.store.functions.versions(f.id)?.last()) {
        (Some(file), _) => super::app_file(&file)?,
        (None, Some(last)) => last.file.clone(),
        (None, None) => format!("functions/{}.ts", f.trigger),
    };
    compile_check(&file, &handler_script)?;
    let version = app.store.functions.add_version(f.id, &handler_script, &file).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, version = version.version_number, "function version saved and deployed");
    Ok((StatusCode::CREATED, Json(VersionView::from(&version))))
}

#[utoipa::path(get, path = "/v1/functions/{id}/current-version", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn current_version(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<VersionView>, PlatformError> {
    let f = function(&app, &id)?;
    let version = app
        .store
        .functions
        .version_by_number(f.id, f.current_version_number)?
        .ok_or_else(|| PlatformError::NotFound(format!("function {id} has no version yet")))?;
    Ok(Json(VersionView::from(&version)))
}

#[derive(Deserialize, ToSchema)]
pub struct Activation {
    #[serde(alias = "versionNumber")]
    version_number: u64,
}

/// `PUT /v1/functions/{id}/current-version` (chatfn's): makes a saved version current.
#[utoipa::path(put, path = "/v1/functions/{id}/current-version", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = Activation,
    responses((status = 200, body = FunctionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn activate(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<FunctionView>, PlatformError> {
    let Activation { version_number } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let f = function(&app, &id)?;
    let f = app.store.functions.activate(f.id, version_number).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, version = version_number, "function version activated");
    Ok(Json(FunctionView::from(&f)))
}

#[derive(Deserialize, ToSchema)]
pub struct ShadowChange {
    /// The version to run in shadow, or null to stop.
    #[serde(alias = "versionNumber")]
    version_number: Option<u64>,
}

/// `PUT /v1/functions/{id}/shadow-version` (chatfn's): runs a saved version in shadow on live
/// attempts, before it is activated: each live invocation's record gets the shadow's outcome
/// and whether it matches. `{"version_number": null}` stops it.
#[utoipa::path(put, path = "/v1/functions/{id}/shadow-version", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = ShadowChange,
    responses((status = 200, body = FunctionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn set_shadow(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<FunctionView>, PlatformError> {
    let ShadowChange { version_number } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let f = function(&app, &id)?;
    let f = app.store.functions.set_shadow(f.id, version_number).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, shadow = ?version_number, "shadow version set");
    Ok(Json(FunctionView::from(&f)))
}

#[utoipa::path(get, path = "/v1/function-versions/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn version(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<VersionView>, PlatformError> {
    let version = app
        .store
        .functions
        .version(resource_id(&id, "function version")?)?
        .ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    Ok(Json(VersionView::from(&version)))
}
