//! Functions, their versions and their invocations.
//!
//! - `/v1/runtimes/nodejs/functions`: list, and create the function of a trigger.
//! - `/v1/functions/{id}`, `…/versions` (saving one compiles it, then makes it current: save
//!   is deploy), `…/current-version` (`PUT {"version_number": n}` rolls back or forward),
//!   `…/invocations` (newest first).
//! - `/v1/function-versions/{id}` and `/v1/function-invocations/{id}`: one of each.
//!
//! Switching versions starts an isolate with the new code and moves the app to it at once;
//! invocations already running finish on the version they started with.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{compile_check, hal_page, json_body, self_link, Authorized, PlatformApp, PlatformError};
use crate::config::Trigger;
use crate::store::functions::{FunctionRecord, VersionRecord};
use crate::store::invocations::InvocationRecord;

const DEFAULT_PAGE_SIZE: usize = 25;

pub(crate) fn function_json(f: &FunctionRecord) -> Value {
    json!({
        "type": f.trigger,
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "enabled": f.enabled,
        "current_version_number": f.current_version_number,
        "runtime": { "type": "NODEJS", "id": 1, "version": "v22.0.0" },
        "created_time": f.created_time,
        "_links": self_link(&format!("/v1/functions/{}", f.id)),
    })
}

pub(crate) fn version_json(v: &VersionRecord) -> Value {
    json!({
        "id": v.id,
        "function_id": v.function_id,
        "version_number": v.version_number,
        "handler_script": v.handler_script,
        "file": v.file,
        "created_time": v.created_time,
        "_links": self_link(&format!("/v1/function-versions/{}", v.id)),
    })
}

pub(crate) fn invocation_json(r: &InvocationRecord) -> Value {
    json!({
        "id": r.id,
        "function_id": r.function_id,
        "version_number": r.version_number,
        "type": r.trigger,
        "status": r.status,
        "args": r.args,
        "result": r.result,
        "logs": r.logs,
        "duration_ms": r.duration_ms,
        "created_time": r.created_time,
        "_links": self_link(&format!("/v1/function-invocations/{}", r.id)),
    })
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: usize,
    size: Option<usize>,
}

impl PageQuery {
    fn size(&self) -> usize {
        self.size.unwrap_or(DEFAULT_PAGE_SIZE).min(1000)
    }
}

fn page_of<T>(items: Vec<T>, q: &PageQuery) -> (Vec<T>, usize) {
    let total = items.len();
    (items.into_iter().skip(q.page * q.size()).take(q.size()).collect(), total)
}

fn id_of(id: &str, what: &str) -> Result<u64, PlatformError> {
    id.parse().map_err(|_| PlatformError::NotFound(format!("{what} {id} not found")))
}

fn function(app: &PlatformApp, id: &str) -> Result<FunctionRecord, PlatformError> {
    app.store.functions.function(id_of(id, "function")?)?.ok_or_else(|| PlatformError::NotFound(format!("function {id} not found")))
}

pub async fn list(Authorized(app): Authorized, Query(q): Query<PageQuery>) -> Result<Json<Value>, PlatformError> {
    let (page, total) = page_of(app.store.functions.functions()?, &q);
    let items = page.iter().map(function_json).collect();
    Ok(Json(hal_page("functions", items, q.page, q.size(), total, "/v1/runtimes/nodejs/functions")))
}

#[derive(Deserialize)]
pub struct NewFunction {
    #[serde(rename = "type")]
    trigger: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create(Authorized(app): Authorized, body: Bytes) -> Result<(StatusCode, Json<Value>), PlatformError> {
    let new: NewFunction = json_body(&body)?;
    if Trigger::from_name(&new.trigger).is_none() {
        let known: Vec<_> = Trigger::ALL.iter().map(|t| t.name()).collect();
        return Err(PlatformError::BadRequest(format!("chatfn runs functions for {}, not {:?}", known.join(", "), new.trigger)));
    }
    if new.name.trim().is_empty() {
        return Err(PlatformError::BadRequest("a function needs a name".into()));
    }
    let function = app.store.functions.create_function(&new.trigger, &new.name, new.description).await?;
    Ok((StatusCode::CREATED, Json(function_json(&function))))
}

pub async fn get(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    Ok(Json(function_json(&function(&app, &id)?)))
}

pub async fn versions(Authorized(app): Authorized, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Value>, PlatformError> {
    let f = function(&app, &id)?;
    let mut all = app.store.functions.versions(f.id)?;
    all.reverse();
    let (page, total) = page_of(all, &q);
    Ok(Json(hal_page("versions", page.iter().map(version_json).collect(), q.page, q.size(), total, &format!("/v1/functions/{id}/versions"))))
}

#[derive(Deserialize)]
pub struct NewVersion {
    #[serde(alias = "handlerScript")]
    handler_script: String,
    /// chatfn's: the file (relative to the app directory) the version runs as.
    #[serde(default)]
    file: Option<String>,
}

/// Saving a version deploys it: compiled first (a syntax or type-strip error is answered 400
/// with file, line and column, and nothing changes), then made current.
pub async fn create_version(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<(StatusCode, Json<Value>), PlatformError> {
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
    Ok((StatusCode::CREATED, Json(version_json(&version))))
}

pub async fn current_version(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    let f = function(&app, &id)?;
    let version = app
        .store
        .functions
        .version_by_number(f.id, f.current_version_number)?
        .ok_or_else(|| PlatformError::NotFound(format!("function {id} has no version yet")))?;
    Ok(Json(version_json(&version)))
}

#[derive(Deserialize)]
pub struct Activation {
    #[serde(alias = "versionNumber")]
    version_number: u64,
}

/// `PUT /v1/functions/{id}/current-version` (chatfn's): makes a saved version current.
pub async fn activate(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let Activation { version_number } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let f = function(&app, &id)?;
    let f = app.store.functions.activate(f.id, version_number).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, version = version_number, "function version activated");
    Ok(Json(function_json(&f)))
}

pub async fn invocations(Authorized(app): Authorized, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Value>, PlatformError> {
    let f = function(&app, &id)?;
    let page = app.store.invocations.list(f.id, q.page, q.size())?;
    let items = page.records.iter().map(invocation_json).collect();
    Ok(Json(hal_page("invocations", items, q.page, q.size(), page.total, &format!("/v1/functions/{id}/invocations"))))
}

pub async fn version(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    let version = app.store.functions.version(id_of(&id, "function version")?)?.ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    Ok(Json(version_json(&version)))
}

pub async fn invocation(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    let record = app.store.invocations.get(id_of(&id, "invocation")?)?.ok_or_else(|| PlatformError::NotFound(format!("invocation {id} not found")))?;
    Ok(Json(invocation_json(&record)))
}

#[derive(Deserialize)]
pub struct TestInvocation {
    /// The start-session body: `{"username", "authParams"}`.
    event: Value,
}

/// `POST /v1/function-versions/{id}/test` (chatfn's): runs a saved version on an event in a
/// fresh isolate over a scratch copy of the app's users, and answers the whole record. Real
/// users and the invocation records are left alone.
pub async fn test(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let TestInvocation { event } = json_body(&body)?;
    let version = app.store.functions.version(id_of(&id, "function version")?)?.ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    let function = app.store.functions.function(version.function_id)?.ok_or_else(|| PlatformError::NotFound(format!("function {}", version.function_id)))?;
    let trigger = Trigger::from_name(&function.trigger).ok_or_else(|| PlatformError::BadRequest(format!("{} functions cannot be run", function.trigger)))?;
    let internal = |e: anyhow::Error| PlatformError::Internal(format!("{e:#}"));
    let (mut test_app, _) = crate::deploy::effective_app(&app.app, &app.store).map_err(internal)?;
    test_app.functions.insert(
        trigger,
        crate::config::SourceFile { path: test_app.root.join(&version.file), display: version.file.clone(), code: Some(version.handler_script.clone()) },
    );

    let scratch = tempfile::tempdir().map_err(|e| PlatformError::Internal(e.to_string()))?;
    let users = crate::store::open(scratch.path(), 1)?.users;
    let live = app.store.users.list(0, usize::MAX, None)?.users;
    for user in &live {
        let copy = crate::store::NewUser {
            name: user.name.clone(),
            display_name: Some(user.display_name.clone()),
            is_guest: Some(user.is_guest),
            properties: Some(user.properties.clone()),
        };
        users.create(copy).await?;
    }
    let worker = crate::worker::Worker::spawn(&test_app, users.clone()).map_err(|e| PlatformError::Internal(e.to_string()))?;
    let sessions = crate::session::Sessions::new(&test_app, users.clone(), worker);
    sessions.set_guest_users(app.sessions.guest_users());
    let username = event.get("username").and_then(Value::as_str).unwrap_or_default().to_string();
    let auth_params = event.get("authParams").cloned().unwrap_or(Value::Null);
    let attempt = sessions.attempt(crate::session::AttemptRequest { username, auth_params }).await.map_err(|e| PlatformError::BadRequest(e.to_string()))?;
    let after = users.list(0, usize::MAX, None)?.users;
    let created: Vec<Value> = after.iter().filter(|u| !live.iter().any(|l| l.name == u.name)).map(super::users::user_json).collect();
    let decision = match &attempt.decision {
        crate::session::Decision::Allowed { user, .. } => json!({ "allowed": true, "user": super::users::user_json(user) }),
        crate::session::Decision::Denied(d) => json!({ "allowed": false, "error": d.code, "message": d.message }),
    };
    Ok(Json(json!({
        "function_id": function.id,
        "version_number": version.version_number,
        "args": event,
        "decision": decision,
        "invocation": attempt.invocation,
        "users_created": created,
    })))
}
