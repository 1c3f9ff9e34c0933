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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::users::UserView;
use super::{compile_check, json_body, Authorized, ErrorBody, Links, OAuthError, Page, PageQuery, PlatformApp, PlatformError};
use crate::config::Trigger;
use crate::store::functions::{FunctionRecord, VersionRecord};
use crate::store::invocations::InvocationRecord;
use crate::worker::protocol::LogLine;

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
pub struct InvocationView {
    id: u64,
    function_id: u64,
    version_number: u64,
    #[serde(rename = "type")]
    trigger: String,
    /// `SUCCEEDED` when the function returned, `FAILED` otherwise.
    status: String,
    /// The event the function saw.
    #[schema(value_type = Object)]
    args: Value,
    /// How it ended (`status`, `error` with its stack, `limit`...) and the `decision`.
    #[schema(value_type = Object)]
    result: Value,
    #[schema(value_type = Vec<Object>)]
    logs: Vec<LogLine>,
    duration_ms: f64,
    /// What the function saw from outside: its start time, Users answers and HTTP responses
    /// (bodies in base64), as a replay gives them back.
    #[schema(value_type = Object)]
    tape: Value,
    /// How the shadow version did on the same event, if one ran.
    #[schema(value_type = Option<Object>)]
    shadow: Option<Value>,
    created_time: String,
    #[serde(rename = "_links")]
    links: Links,
}

impl From<&InvocationRecord> for InvocationView {
    fn from(r: &InvocationRecord) -> InvocationView {
        InvocationView {
            id: r.id,
            function_id: r.function_id,
            version_number: r.version_number,
            trigger: r.trigger.clone(),
            status: r.status.clone(),
            args: r.args.clone(),
            result: r.result.clone(),
            logs: r.logs.clone(),
            duration_ms: r.duration_ms,
            tape: r.tape.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null),
            shadow: r.shadow.clone(),
            created_time: r.created_time.clone(),
            links: Links::to(format!("/v1/function-invocations/{}", r.id)),
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

#[derive(Serialize, ToSchema)]
pub struct Invocations {
    invocations: Vec<InvocationView>,
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

#[utoipa::path(get, path = "/v1/runtimes/nodejs/functions", tag = "functions", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Functions>), (status = 401, body = OAuthError)))]
pub async fn list(Authorized(app): Authorized, Query(q): Query<PageQuery>) -> Result<Json<Page<Functions>>, PlatformError> {
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
pub async fn create(Authorized(app): Authorized, body: Bytes) -> Result<(StatusCode, Json<FunctionView>), PlatformError> {
    let new: NewFunction = json_body(&body)?;
    if Trigger::from_name(&new.trigger).is_none() {
        let known: Vec<_> = Trigger::ALL.iter().map(|t| t.name()).collect();
        return Err(PlatformError::BadRequest(format!("chatfn runs functions for {}, not {:?}", known.join(", "), new.trigger)));
    }
    if new.name.trim().is_empty() {
        return Err(PlatformError::BadRequest("a function needs a name".into()));
    }
    let function = app.store.functions.create_function(&new.trigger, &new.name, new.description).await?;
    Ok((StatusCode::CREATED, Json(FunctionView::from(&function))))
}

#[utoipa::path(get, path = "/v1/functions/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = FunctionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn get(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<FunctionView>, PlatformError> {
    Ok(Json(FunctionView::from(&function(&app, &id)?)))
}

/// Newest first.
#[utoipa::path(get, path = "/v1/functions/{id}/versions", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path), PageQuery),
    responses((status = 200, body = Page<Versions>), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn versions(Authorized(app): Authorized, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Page<Versions>>, PlatformError> {
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
pub async fn create_version(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<(StatusCode, Json<VersionView>), PlatformError> {
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
pub async fn current_version(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<VersionView>, PlatformError> {
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
pub async fn activate(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<FunctionView>, PlatformError> {
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
pub async fn set_shadow(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<FunctionView>, PlatformError> {
    let ShadowChange { version_number } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let f = function(&app, &id)?;
    let f = app.store.functions.set_shadow(f.id, version_number).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, function = f.id, shadow = ?version_number, "shadow version set");
    Ok(Json(FunctionView::from(&f)))
}

/// Newest first.
#[utoipa::path(get, path = "/v1/functions/{id}/invocations", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path), PageQuery),
    responses((status = 200, body = Page<Invocations>), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn invocations(Authorized(app): Authorized, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Page<Invocations>>, PlatformError> {
    let f = function(&app, &id)?;
    let page = app.store.invocations.list(f.id, q.page, q.size())?;
    let invocations = Invocations { invocations: page.records.iter().map(InvocationView::from).collect() };
    Ok(Json(Page::new(invocations, q.page, q.size(), page.total, &format!("/v1/functions/{id}/invocations"))))
}

#[utoipa::path(get, path = "/v1/function-versions/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn version(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<VersionView>, PlatformError> {
    let version = app.store.functions.version(id_of(&id, "function version")?)?.ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    Ok(Json(VersionView::from(&version)))
}

#[utoipa::path(get, path = "/v1/function-invocations/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = InvocationView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn invocation(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<InvocationView>, PlatformError> {
    let record = app.store.invocations.get(id_of(&id, "invocation")?)?.ok_or_else(|| PlatformError::NotFound(format!("invocation {id} not found")))?;
    Ok(Json(InvocationView::from(&record)))
}

#[derive(Deserialize, ToSchema)]
pub struct TestInvocation {
    /// The start-session body: `{"username", "authParams"}`.
    #[schema(value_type = Object)]
    event: Value,
}

/// `POST /v1/function-versions/{id}/test` (chatfn's): runs a saved version on an event in a
/// fresh isolate over a scratch copy of the app's users, and answers the whole record. Real
/// users and the invocation records are left alone.
#[utoipa::path(post, path = "/v1/function-versions/{id}/test", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = TestInvocation,
    responses((status = 200, body = TestRun), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn test(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<TestRun>, PlatformError> {
    let TestInvocation { event } = json_body(&body)?;
    let version = app.store.functions.version(id_of(&id, "function version")?)?.ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    Ok(Json(sandboxed(&app, &version, event, None).await?))
}

/// Runs `version` on `event` in a fresh isolate over a scratch copy of the app's users (with
/// its Users calls and HTTP requests answered from `replay`, if given).
async fn sandboxed(app: &PlatformApp, version: &VersionRecord, event: Value, replay: Option<Value>) -> Result<TestRun, PlatformError> {
    let function = app.store.functions.function(version.function_id)?.ok_or_else(|| PlatformError::NotFound(format!("function {}", version.function_id)))?;
    let trigger = Trigger::from_name(&function.trigger).ok_or_else(|| PlatformError::BadRequest(format!("{} functions cannot be run", function.trigger)))?;
    let internal = |e: String| PlatformError::Internal(e);
    let (mut sandbox_app, _) = crate::deploy::effective_app(&app.app, &app.store).map_err(|e| internal(format!("{e:#}")))?;
    sandbox_app.functions.insert(
        trigger,
        crate::config::SourceFile { path: sandbox_app.root.join(&version.file), display: version.file.clone(), code: Some(version.handler_script.clone()) },
    );

    let scratch = tempfile::tempdir().map_err(|e| internal(e.to_string()))?;
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
    let worker = crate::worker::Worker::spawn(&sandbox_app, users.clone()).map_err(|e| internal(e.to_string()))?;
    let sessions = crate::session::Sessions::new(&sandbox_app, users.clone(), worker);
    sessions.set_guest_users(app.sessions.guest_users());
    let username = event.get("username").and_then(Value::as_str).unwrap_or_default().to_string();
    let auth_params = event.get("authParams").cloned().unwrap_or(Value::Null);
    let request = crate::session::AttemptRequest { username, auth_params, replay };
    let attempt = sessions.attempt(request).await.map_err(|e| PlatformError::BadRequest(e.to_string()))?;
    let after = users.list(0, usize::MAX, None)?.users;
    let users_created = after.iter().filter(|u| !live.iter().any(|l| l.name == u.name)).map(UserView::from).collect();
    let decision = match &attempt.decision {
        crate::session::Decision::Allowed { user, .. } => TestDecision { allowed: true, user: Some(UserView::from(user)), error: None, message: None },
        crate::session::Decision::Denied(d) => TestDecision { allowed: false, user: None, error: Some(d.code.as_str()), message: Some(d.message.clone()) },
    };
    let outcome = attempt.invocation.as_ref().map(|i| serde_json::to_value(&i.outcome).unwrap_or(Value::Null)).unwrap_or(Value::Null);
    let tape: Value = attempt.invocation.as_ref().and_then(|i| i.tape.as_deref()).and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
    let misses = tape["misses"].clone();
    let invocation = serde_json::to_value(&attempt.invocation).unwrap_or(Value::Null);
    Ok(TestRun { function_id: function.id, version_number: version.version_number, args: event, decision, outcome, invocation, users_created, misses })
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReplayRequest {
    /// The version to run; by default the one that ran the invocation.
    #[serde(default, alias = "versionNumber")]
    version_number: Option<u64>,
}

/// A replay, and whether it ended as the original did.
#[derive(Serialize, ToSchema)]
pub struct ReplayRun {
    invocation_id: u64,
    /// The original's version, status and result.
    original_version_number: u64,
    original_status: String,
    #[schema(value_type = Object)]
    original_result: Value,
    replay: TestRun,
    /// Whether the function ended the same way (returned, or threw the same message).
    same_outcome: bool,
}

/// `POST /v1/function-invocations/{id}/replay` (chatfn's): runs a recorded invocation again,
/// on the same or another version, with the event it had, the Users answers and HTTP
/// responses it got and its clock; in a fresh isolate over a scratch copy of the users.
#[utoipa::path(post, path = "/v1/function-invocations/{id}/replay", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = ReplayRequest,
    responses((status = 200, body = ReplayRun), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn replay(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<ReplayRun>, PlatformError> {
    let request: ReplayRequest = if body.is_empty() { ReplayRequest::default() } else { json_body(&body)? };
    let record = app.store.invocations.get(id_of(&id, "invocation")?)?.ok_or_else(|| PlatformError::NotFound(format!("invocation {id} not found")))?;
    let number = request.version_number.unwrap_or(record.version_number);
    let version = app
        .store
        .functions
        .version_by_number(record.function_id, number)?
        .ok_or_else(|| PlatformError::NotFound(format!("version {number} of function {}", record.function_id)))?;
    let tape = record.tape.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_else(|| serde_json::json!({ "startTime": 0, "calls": [] }));
    let run = sandboxed(&app, &version, record.args.clone(), Some(tape)).await?;
    let same_outcome = crate::session::same_outcome(&record.result, &run.outcome);
    Ok(Json(ReplayRun {
        invocation_id: record.id,
        original_version_number: record.version_number,
        original_status: record.status,
        original_result: record.result,
        replay: run,
        same_outcome,
    }))
}

/// What a test invocation did, without touching real users.
#[derive(Serialize, ToSchema)]
pub struct TestRun {
    function_id: u64,
    version_number: u64,
    #[schema(value_type = Object)]
    args: Value,
    decision: TestDecision,
    /// How the function ended (`status`, `error`...).
    #[schema(value_type = Object)]
    outcome: Value,
    /// The whole invocation: outcome, console output and duration.
    #[schema(value_type = Object)]
    invocation: Value,
    /// Users the function created in the scratch copy.
    users_created: Vec<UserView>,
    /// For replays: calls the replayed tape had no answer for.
    #[schema(value_type = Object)]
    misses: Value,
}

#[derive(Serialize, ToSchema)]
pub struct TestDecision {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}
