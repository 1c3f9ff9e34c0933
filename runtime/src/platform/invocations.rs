//! Invocations of functions: their records, test runs and replays.
//!
//! - `/v1/functions/{id}/invocations` (newest first) and `/v1/function-invocations/{id}`.
//! - `POST /v1/function-versions/{id}/test`: a saved version on an event, apart from live data.
//! - `POST /v1/function-invocations/{id}/replay`: a recorded invocation again, from its tape.
//!
//! Test runs and replays go through `session::scratch_run`, as `chatfn test` does.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::functions::function;
use super::users::UserView;
use super::{
    json_body, resource_id, Authorized, ErrorBody, Links, OAuthError, Page, PageQuery, PlatformApp,
    PlatformError,
};
use crate::config::Trigger;
use crate::session::{ScratchRequest, ScratchResult};
use crate::store::functions::VersionRecord;
use crate::store::invocations::InvocationRecord;
use crate::worker::protocol::LogLine;

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
            tape: r
                .tape
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null),
            shadow: r.shadow.clone(),
            created_time: r.created_time.clone(),
            links: Links::to(format!("/v1/function-invocations/{}", r.id)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Invocations {
    invocations: Vec<InvocationView>,
}

/// Newest first.
#[utoipa::path(get, path = "/v1/functions/{id}/invocations", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path), PageQuery),
    responses((status = 200, body = Page<Invocations>), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn invocations(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Invocations>>, PlatformError> {
    let f = function(&app, &id)?;
    let page = app.store.invocations.list(f.id, q.page, q.size()).await?;
    let invocations =
        Invocations { invocations: page.records.iter().map(InvocationView::from).collect() };
    Ok(Json(Page::new(
        invocations,
        q.page,
        q.size(),
        page.total,
        &format!("/v1/functions/{id}/invocations"),
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LiveQuery {
    /// Only this function's invocations.
    function_id: Option<u64>,
}

/// `GET /v1/function-invocations/live` (chatfn's): the app's invocation records as they are
/// made, as server-sent events (`event: invocation`, the record as JSON; `event: lagged` with
/// how many a slow reader missed), with a keep-alive comment every 15 s.
#[utoipa::path(get, path = "/v1/function-invocations/live", tag = "functions", security(("bearer" = [])), params(LiveQuery),
    responses((status = 200, content_type = "text/event-stream", description = "server-sent events, one per new invocation record"), (status = 401, body = OAuthError)))]
pub async fn live(
    Authorized(app): Authorized,
    Query(q): Query<LiveQuery>,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let receiver = app.store.invocations.follow();
    let stream = futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(record) if q.function_id.is_none_or(|f| f == record.function_id) => {
                    let view =
                        serde_json::to_string(&InvocationView::from(&record)).unwrap_or_default();
                    Event::default().event("invocation").data(view)
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    Event::default().event("lagged").data(missed.to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), receiver));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

#[utoipa::path(get, path = "/v1/function-invocations/{id}", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = InvocationView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn invocation(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<InvocationView>, PlatformError> {
    let record = app
        .store
        .invocations
        .get(resource_id(&id, "invocation")?)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("invocation {id} not found")))?;
    Ok(Json(InvocationView::from(&record)))
}

#[derive(Deserialize, ToSchema)]
pub struct TestInvocation {
    /// The start-session body: `{"username", "authParams"}`, or a chat event's body.
    #[schema(value_type = Object)]
    event: Value,
    /// chatfn's: users to add to the scratch copy before the run (`{name, displayName?,
    /// isGuest?, properties?}`), as a test's `users`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    users: Vec<crate::store::NewUser>,
}

/// `POST /v1/function-versions/{id}/test` (chatfn's): runs a saved version on an event in a
/// fresh isolate over a scratch copy of the app's users, and answers the whole record. Real
/// users and the invocation records are left alone.
#[utoipa::path(post, path = "/v1/function-versions/{id}/test", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = TestInvocation,
    responses((status = 200, body = TestRun), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn test(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TestRun>, PlatformError> {
    let TestInvocation { event, users } = json_body(&body)?;
    let version = app
        .store
        .functions
        .version(resource_id(&id, "function version")?)?
        .ok_or_else(|| PlatformError::NotFound(format!("function version {id} not found")))?;
    Ok(Json(sandboxed(&app, &version, event, None, users).await?))
}

/// Runs `version` on `event` in a fresh isolate over a scratch copy of the app's users and
/// `seed` (with its Users calls and HTTP requests answered from `replay`, if given).
async fn sandboxed(
    app: &PlatformApp,
    version: &VersionRecord,
    event: Value,
    replay: Option<Value>,
    seed: Vec<crate::store::NewUser>,
) -> Result<TestRun, PlatformError> {
    let function = app
        .store
        .functions
        .function(version.function_id)?
        .ok_or_else(|| PlatformError::NotFound(format!("function {}", version.function_id)))?;
    let trigger = Trigger::from_name(&function.trigger).ok_or_else(|| {
        PlatformError::BadRequest(format!("{} functions cannot be run", function.trigger))
    })?;
    let internal = |e: String| PlatformError::Internal(e);
    let (mut sandbox_app, _) = crate::deploy::effective_app(&app.app, &app.store)
        .map_err(|e| internal(format!("{e:#}")))?;
    sandbox_app.functions.insert(
        trigger,
        crate::config::SourceFile {
            path: sandbox_app.root.join(&version.file),
            display: version.file.clone(),
            code: Some(version.handler_script.clone()),
        },
    );

    let request = if trigger.is_blocking() {
        let mut request = crate::session::AttemptRequest::from_event(event.clone())
            .map_err(PlatformError::BadRequest)?;
        request.replay = replay;
        ScratchRequest::Attempt(request)
    } else {
        crate::events::check_shape(trigger, &event)
            .map_err(|e| PlatformError::BadRequest(format!("{}: {e}", trigger.name())))?;
        ScratchRequest::Event { trigger, event: event.clone(), replay }
    };
    let live = app.store.users.list(0, usize::MAX, None).await?.users;
    let seeded: Vec<String> = seed.iter().map(|s| s.name.clone()).collect();
    let copies = live
        .iter()
        .filter(|user| !seeded.contains(&user.name))
        .map(|user| crate::store::NewUser {
            name: user.name.clone(),
            display_name: Some(user.display_name.clone()),
            is_guest: Some(user.is_guest),
            properties: Some(user.properties.clone()),
        })
        .chain(seed)
        .collect();
    let run =
        crate::session::scratch_run(&sandbox_app, copies, app.sessions.guest_users(), request)
            .await
            .map_err(|e| internal(format!("{e:#}")))?;
    let users_created = run
        .after
        .iter()
        .filter(|u| !run.before.iter().any(|b| b.name == u.name))
        .map(UserView::from)
        .collect();
    let (decision, invocation) = match run.result {
        ScratchResult::Attempt(attempt) => {
            let attempt = attempt.map_err(|e| PlatformError::BadRequest(e.to_string()))?;
            let decision = match &attempt.decision {
                crate::session::Decision::Allowed { user, .. } => TestDecision {
                    allowed: true,
                    user: Some(UserView::from(user)),
                    error: None,
                    message: None,
                },
                crate::session::Decision::Denied(d) => TestDecision {
                    allowed: false,
                    user: None,
                    error: Some(d.code.as_str()),
                    message: Some(d.message.clone()),
                },
            };
            (Some(decision), attempt.invocation)
        }
        ScratchResult::Event(invocation) => (None, Some(invocation)),
    };
    let outcome = invocation
        .as_ref()
        .map(|i| serde_json::to_value(&i.outcome).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let tape: Value = invocation
        .as_ref()
        .and_then(|i| i.tape.as_deref())
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let misses = tape["misses"].clone();
    let invocation = serde_json::to_value(&invocation).unwrap_or(Value::Null);
    Ok(TestRun {
        function_id: function.id,
        version_number: version.version_number,
        args: event,
        decision,
        outcome,
        invocation,
        users_created,
        misses,
    })
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
    /// Event paths the record keeps as "[redacted]" (`[app] redact_in_records`): the replay ran
    /// without their values, so it may end differently for that reason alone.
    redacted: Vec<String>,
}

/// `POST /v1/function-invocations/{id}/replay` (chatfn's): runs a recorded invocation again,
/// on the same or another version, with the event it had, the Users answers and HTTP
/// responses it got and its clock; in a fresh isolate over a scratch copy of the users.
#[utoipa::path(post, path = "/v1/function-invocations/{id}/replay", tag = "functions", security(("bearer" = [])), params(("id" = u64, Path)), request_body = ReplayRequest,
    responses((status = 200, body = ReplayRun), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn replay(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ReplayRun>, PlatformError> {
    let request: ReplayRequest =
        if body.is_empty() { ReplayRequest::default() } else { json_body(&body)? };
    let record = app
        .store
        .invocations
        .get(resource_id(&id, "invocation")?)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("invocation {id} not found")))?;
    let number = request.version_number.unwrap_or(record.version_number);
    let version =
        app.store.functions.version_by_number(record.function_id, number)?.ok_or_else(|| {
            PlatformError::NotFound(format!("version {number} of function {}", record.function_id))
        })?;
    let tape = record
        .tape
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| serde_json::json!({ "startTime": 0, "calls": [] }));
    let run = sandboxed(&app, &version, record.args.clone(), Some(tape), Vec::new()).await?;
    let same_outcome = crate::session::same_outcome(&record.result, &run.outcome);
    let redacted = record.result["redacted"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
        .unwrap_or_default();
    Ok(Json(ReplayRun {
        redacted,
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
    /// For a session attempt: what was decided (chat events have no decision).
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<TestDecision>,
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
