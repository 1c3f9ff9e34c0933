//! Where a session attempt is decided: ChatKitty's `user.attempted.start_session` semantics.
//!
//! With a function configured for the trigger, it decides: returning allows, throwing denies,
//! and any failure to run it (load error, time or memory limit) denies too — the hook fails
//! closed. Without one, guest users decide: ENABLED starts a guest session (creating the guest
//! user), DISABLED denies. After an allowed attempt the user must exist: a function that allows
//! a user it did not create gets a guest created for it when guests are enabled, and a clear
//! denial otherwise. Attempts for the same username run one at a time, so concurrent first
//! logins create the user exactly once and every one of them gets the same, correct answer.
//! This module knows nothing of HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use serde::Serialize;
use serde_json::Value;

use crate::config::{App, FailurePolicy, GuestUsers, Trigger};
use crate::store::invocations::{InvocationRecord, InvocationsStore};
use crate::store::users::normalize_name;
use crate::store::{NewUser, StoreError, User, UsersStore};
use crate::time::now_rfc3339;
use crate::worker::{Invocation, Outcome, Worker};

/// The body of ChatKitty's `startSession`.
#[derive(Debug, Clone)]
pub struct AttemptRequest {
    pub username: String,
    pub auth_params: Value,
    /// For a replay: the tape of the recorded invocation, whose answers the function gets.
    pub replay: Option<Value>,
}

impl AttemptRequest {
    /// The one reading of a start-session event (an HTTP body, `chatfn invoke`'s event file, a
    /// test case, a Platform API test invoke): a JSON object with a string `username` and
    /// optional `authParams` (or `auth_params`). The error says what is wrong with it.
    pub fn from_event(event: Value) -> Result<AttemptRequest, String> {
        let Value::Object(mut fields) = event else {
            return Err(format!(
                "a start-session event does not have the expected shape: a JSON object, not {}",
                json_type(&event)
            ));
        };
        let username = match fields.remove("username") {
            Some(Value::String(name)) => name,
            Some(other) => {
                return Err(format!("username must be a string, not {}", json_type(&other)))
            }
            None => return Err("username is required".into()),
        };
        let auth_params = fields
            .remove("authParams")
            .or_else(|| fields.remove("auth_params"))
            .unwrap_or(Value::Null);
        Ok(AttemptRequest { username, auth_params, replay: None })
    }
}

/// How a JSON value's type reads in an error message.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub created_at: String,
}

/// Why an attempt was refused; each has its own stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialCode {
    /// The function threw.
    AccessDenied,
    /// No function and guest users are disabled.
    GuestUsersDisabled,
    /// A guest session was asked for a registered (non-guest) user.
    NotAGuest,
    /// The function allowed a user that does not exist, and guests are disabled.
    UserNotFound,
    /// The function or the initialization script could not be loaded.
    FunctionLoadError,
    /// The function ran past its wall or CPU time limit.
    FunctionTimeout,
    /// The function's isolate reached its heap limit.
    FunctionOutOfMemory,
    /// The function's isolate died.
    FunctionCrashed,
}

impl DenialCode {
    /// The code as clients see it in `{"error": ...}`.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialCode::AccessDenied => "AccessDenied",
            DenialCode::GuestUsersDisabled => "GuestUsersDisabled",
            DenialCode::NotAGuest => "NotAGuest",
            DenialCode::UserNotFound => "UserNotFound",
            DenialCode::FunctionLoadError => "FunctionLoadError",
            DenialCode::FunctionTimeout => "FunctionTimeout",
            DenialCode::FunctionOutOfMemory => "FunctionOutOfMemory",
            DenialCode::FunctionCrashed => "FunctionCrashed",
        }
    }
}

impl Serialize for DenialCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Denial {
    pub code: DenialCode,
    pub message: String,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Allowed { session: Session, user: User },
    Denied(Denial),
}

/// The decision, with the function invocation behind it if one ran.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub decision: Decision,
    pub invocation: Option<Invocation>,
    /// The record of the invocation (see `store::invocations`), when one was kept.
    pub record_id: Option<u64>,
}

/// The isolate an app's attempts go to, and what it runs.
pub struct Deployment {
    pub worker: Worker,
    /// The triggers it has a function for.
    pub triggers: std::collections::BTreeSet<Trigger>,
    /// Per trigger, the function's id and current version number, when they are stored.
    pub versions: crate::deploy::Versions,
    /// Per trigger, the version running in shadow, if one is.
    pub shadows: std::collections::BTreeMap<Trigger, Shadow>,
}

impl Deployment {
    pub fn has_function(&self, trigger: Trigger) -> bool {
        self.triggers.contains(&trigger)
    }
}

/// A version running in shadow: after each live invocation it gets the same event and the
/// live invocation's tape (Users answers, HTTP responses) in its own isolate, over a scratch
/// store; its outcome is added to the live record, compared, and never acted on.
pub struct Shadow {
    pub worker: Worker,
    pub version_number: u64,
    pub scratch: tempfile::TempDir,
}

#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Decides session attempts for one app.
pub struct Sessions {
    /// Changed at run time through the Platform API's application settings.
    guests_enabled: AtomicBool,
    expose_denial_reason: bool,
    failure_policy: FailurePolicy,
    body_limit: usize,
    users: UsersStore,
    /// Switched whole by `deploy`; each attempt holds the one it started with.
    deployment: RwLock<Arc<Deployment>>,
    records: Option<InvocationsStore>,
    /// `[app] redact_in_records`.
    redact: Vec<String>,
    locks: NameLocks,
}

impl Sessions {
    pub fn new(app: &App, users: UsersStore, worker: Worker) -> Sessions {
        let deployment = Deployment {
            worker,
            triggers: app.functions.keys().copied().collect(),
            versions: Default::default(),
            shadows: Default::default(),
        };
        Sessions::deployed(app, users, deployment, None)
    }

    /// Sessions over a deployment whose invocations are recorded in `records`.
    pub fn deployed(
        app: &App,
        users: UsersStore,
        deployment: Deployment,
        records: Option<InvocationsStore>,
    ) -> Sessions {
        Sessions {
            guests_enabled: AtomicBool::new(app.guest_users == GuestUsers::Enabled),
            expose_denial_reason: app.expose_denial_reason,
            failure_policy: app.failure_policy,
            body_limit: app.limits.body_bytes,
            users,
            deployment: RwLock::new(Arc::new(deployment)),
            records,
            redact: app.redact_in_records.clone(),
            locks: NameLocks::default(),
        }
    }

    /// The deployment new invocations go to.
    pub fn deployment(&self) -> Arc<Deployment> {
        self.deployment.read().unwrap().clone()
    }

    /// `[app] redact_in_records`.
    pub fn redact(&self) -> &[String] {
        &self.redact
    }

    /// Sends the attempts that start from now on to `deployment`. Attempts in flight finish on
    /// the one they started with, whose isolate then shuts down.
    pub fn deploy(&self, deployment: Deployment) {
        *self.deployment.write().unwrap() = Arc::new(deployment);
    }

    pub fn guest_users(&self) -> GuestUsers {
        if self.guests_enabled.load(Ordering::Relaxed) {
            GuestUsers::Enabled
        } else {
            GuestUsers::Disabled
        }
    }

    /// Applies to the attempts that start after it.
    pub fn set_guest_users(&self, value: GuestUsers) {
        self.guests_enabled.store(value == GuestUsers::Enabled, Ordering::Relaxed);
    }

    /// The users of this app (the Platform API's side of them).
    pub fn users(&self) -> &UsersStore {
        &self.users
    }

    /// The app's `[limits] body_kb`, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    pub async fn attempt(&self, request: AttemptRequest) -> Result<Attempt, AttemptError> {
        let deployment = self.deployment.read().unwrap().clone();
        let mut attempt = self.decide(request, &deployment).await?;
        if let (Some(records), Some(invocation), Some((function_id, version_number))) = (
            &self.records,
            &attempt.invocation,
            deployment.versions.get(&Trigger::UserAttemptedStartSession).copied(),
        ) {
            let mut record =
                invocation_record(invocation, function_id, version_number, &self.redact);
            record.result["decision"] = decision_json(&attempt.decision);
            match records.record(record) {
                Ok(id) => attempt.record_id = Some(id),
                Err(e) => tracing::error!("cannot record the invocation: {e}"),
            }
            if let Some(id) = attempt.record_id {
                shadow_run(&deployment, records, id, invocation);
            }
        }
        Ok(attempt)
    }

    async fn decide(
        &self,
        mut request: AttemptRequest,
        deployment: &Deployment,
    ) -> Result<Attempt, AttemptError> {
        // The function sees the name as chatfn keeps it (NFC), and attempts for one name are
        // serialized whichever way it was typed.
        request.username = normalize_name(&request.username)
            .map_err(|e| AttemptError::BadRequest(format!("username: {e}")))?;
        if !(request.auth_params.is_object() || request.auth_params.is_null()) {
            return Err(AttemptError::BadRequest("authParams must be a JSON object".into()));
        }
        let lock = self.locks.get(&request.username);
        let _one_at_a_time = lock.lock().await;
        // With a store shared by several nodes, their attempts for this name wait too.
        let hold = self.users.hold_name(&request.username).await?;
        let decided = self.decide_held(request, deployment).await;
        hold.release();
        decided
    }

    /// `decide`, with the name held.
    async fn decide_held(
        &self,
        request: AttemptRequest,
        deployment: &Deployment,
    ) -> Result<Attempt, AttemptError> {
        if !deployment.has_function(Trigger::UserAttemptedStartSession) {
            let decision = match self.guest_users() {
                GuestUsers::Enabled => self.guest_session(&request.username).await?,
                GuestUsers::Disabled => deny(
                    DenialCode::GuestUsersDisabled,
                    "guest users are disabled and no user.attempted.start_session function is configured".into(),
                ),
            };
            return Ok(Attempt { decision, invocation: None, record_id: None });
        }

        let event = serde_json::json!({
            "username": request.username,
            "authParams": if request.auth_params.is_null() { Value::Object(Default::default()) } else { request.auth_params },
        });
        let invocation = deployment
            .worker
            .invoke_with(Trigger::UserAttemptedStartSession, event, request.replay)
            .await;
        let failed = matches!(
            invocation.outcome,
            Outcome::LoadFailed { .. }
                | Outcome::TimedOut { .. }
                | Outcome::OutOfMemory { .. }
                | Outcome::Crashed { .. }
        );
        if failed && self.failure_policy == FailurePolicy::FailOpen {
            tracing::warn!(outcome = ?invocation.outcome, "the session-start function failed; allowing (failure_policy = fail_open)");
            let decision = self.after_function_allowed(&request.username).await?;
            return Ok(Attempt { decision, invocation: Some(invocation), record_id: None });
        }
        let decision = match &invocation.outcome {
            Outcome::Returned => self.after_function_allowed(&request.username).await?,
            Outcome::NoFunction => self.guest_session(&request.username).await?,
            Outcome::Threw { error } => {
                // A function that threw while the shared store was out may have thrown
                // because of it (its Users calls answered 503): the attempt fails as the
                // store does, to be tried again, not as a denial.
                self.users.check_reachable().await?;
                let message = if self.expose_denial_reason {
                    error.message.clone()
                } else {
                    "Access denied".into()
                };
                deny(DenialCode::AccessDenied, message)
            }
            Outcome::LoadFailed { error } => {
                let at = error
                    .location
                    .as_ref()
                    .map(|l| format!(" ({}:{}:{})", l.file, l.line, l.column))
                    .unwrap_or_default();
                deny(
                    DenialCode::FunctionLoadError,
                    format!(
                        "the session-start function could not be loaded: {}: {}{at}",
                        error.name, error.message
                    ),
                )
            }
            Outcome::TimedOut { limit, limit_ms, .. } => deny(
                DenialCode::FunctionTimeout,
                format!(
                    "the session-start function exceeded its {limit} time limit of {limit_ms} ms"
                ),
            ),
            Outcome::OutOfMemory { limit_mb, .. } => deny(
                DenialCode::FunctionOutOfMemory,
                format!("the session-start function exceeded its heap limit of {limit_mb} MB"),
            ),
            Outcome::Crashed { message } => deny(
                DenialCode::FunctionCrashed,
                format!("the session-start function crashed: {message}"),
            ),
        };
        Ok(Attempt { decision, invocation: Some(invocation), record_id: None })
    }

    async fn guest_session(&self, username: &str) -> Result<Decision, AttemptError> {
        let guest =
            NewUser { name: username.to_string(), is_guest: Some(true), ..Default::default() };
        let (user, _created) = self.users.get_or_create(guest).await?;
        if !user.is_guest {
            return Ok(deny(
                DenialCode::NotAGuest,
                format!(
                    "{username} is a registered user; a guest session cannot be started for it"
                ),
            ));
        }
        Ok(allow(user))
    }

    async fn after_function_allowed(&self, username: &str) -> Result<Decision, AttemptError> {
        if let Some(user) = self.users.find_by_name(username).await? {
            return Ok(allow(user));
        }
        match self.guest_users() {
            GuestUsers::Enabled => self.guest_session(username).await,
            GuestUsers::Disabled => Ok(deny(
                DenialCode::UserNotFound,
                format!(
                    "the session-start function allowed {username}, but no such user exists and guest users are \
                     disabled; create it in the function with context.ChatKitty.Users.createUser"
                ),
            )),
        }
    }
}

/// What to run apart from an app's live data: a session attempt, or a chat event.
pub enum ScratchRequest {
    Attempt(AttemptRequest),
    Event {
        trigger: Trigger,
        event: Value,
        /// A tape to answer its Users calls and HTTP requests from (a replay).
        replay: Option<Value>,
    },
}

/// How a scratch run went: the attempt's decision, or the event's invocation. (One per run,
/// moved once: its variants' sizes do not matter.)
#[allow(clippy::large_enum_variant)]
pub enum ScratchResult {
    Attempt(Result<Attempt, AttemptError>),
    Event(Invocation),
}

/// A run apart from an app's live data: a fresh isolate pool of `app` over a scratch store
/// that holds `users` beforehand. `chatfn test`, the Platform API's test invoke and replays
/// all run this way.
pub struct ScratchRun {
    pub result: ScratchResult,
    /// The scratch store's users before and after the run.
    pub before: Vec<User>,
    pub after: Vec<User>,
}

pub async fn scratch_run(
    app: &App,
    users: Vec<NewUser>,
    guests: GuestUsers,
    request: ScratchRequest,
) -> anyhow::Result<ScratchRun> {
    let scratch = tempfile::tempdir()?;
    let store = crate::store::open(scratch.path(), 1)?.users;
    for user in users {
        store.create(user).await?;
    }
    let before = store.list(0, usize::MAX, None).await?.users;
    let worker = Worker::spawn(app, store.clone(), crate::worker::Start::Scratch)?;
    let result = match request {
        ScratchRequest::Attempt(request) => {
            let sessions = Sessions::new(app, store.clone(), worker);
            sessions.set_guest_users(guests);
            ScratchResult::Attempt(sessions.attempt(request).await)
        }
        ScratchRequest::Event { trigger, event, replay } => {
            ScratchResult::Event(worker.invoke_with(trigger, event, replay).await)
        }
    };
    let after = store.list(0, usize::MAX, None).await?.users;
    Ok(ScratchRun { result, before, after })
}

/// Runs the trigger's shadow version, if there is one, on what the live invocation saw, in the
/// background, and adds its outcome to the live record.
/// (The live invocation is copied only then: most triggers have no shadow.)
pub fn shadow_run(
    deployment: &Arc<Deployment>,
    records: &InvocationsStore,
    record_id: u64,
    live: &Invocation,
) {
    if !deployment.shadows.contains_key(&live.trigger) {
        return;
    }
    let (deployment, records, live) = (deployment.clone(), records.clone(), live.clone());
    tokio::spawn(async move {
        let Some(shadow) = deployment.shadows.get(&live.trigger) else { return };
        let tape = live.tape.as_deref().and_then(|t| serde_json::from_str(t).ok());
        let run = shadow.worker.invoke_with(live.trigger, live.event.clone(), tape).await;
        let live_outcome = serde_json::to_value(&live.outcome).unwrap_or(Value::Null);
        let outcome = serde_json::to_value(&run.outcome).unwrap_or(Value::Null);
        let same = same_outcome(&live_outcome, &outcome);
        let report = serde_json::json!({
            "version_number": shadow.version_number,
            "status": if run.outcome == Outcome::Returned { "SUCCEEDED" } else { "FAILED" },
            "outcome": outcome,
            "logs": run.logs,
            "duration_ms": run.duration_ms,
            "same_outcome": same,
        });
        if let Err(e) = records.set_shadow(record_id, report).await {
            tracing::error!("cannot record the shadow run: {e}");
        }
    });
}

/// Whether two outcomes (as serialized) ended the same way: both returned, or both failed the
/// same way with the same message.
pub fn same_outcome(a: &Value, b: &Value) -> bool {
    a["status"] == b["status"] && a["error"]["message"] == b["error"]["message"]
}

/// What is kept of an invocation: the event (less the `redact` paths, listed in
/// `result.redacted` when there were any), the outcome and the decision.
/// The record of an invocation of function `function_id` at `version_number`, with the
/// event's `redact` paths redacted.
pub fn invocation_record(
    invocation: &Invocation,
    function_id: u64,
    version_number: u64,
    redact: &[String],
) -> InvocationRecord {
    let mut result = serde_json::to_value(&invocation.outcome).unwrap_or(Value::Null);
    let mut args = invocation.event.clone();
    let redacted: Vec<&String> =
        redact.iter().filter(|path| redact_path(&mut args, path)).collect();
    if !redacted.is_empty() {
        result["redacted"] = serde_json::json!(redacted);
    }
    InvocationRecord {
        id: 0,
        function_id,
        version_number,
        trigger: invocation.trigger.name().to_string(),
        status: if invocation.outcome == Outcome::Returned { "SUCCEEDED" } else { "FAILED" }
            .to_string(),
        args,
        result,
        logs: invocation.logs.clone(),
        duration_ms: invocation.duration_ms,
        tape: invocation.tape.clone(),
        shadow: None,
        created_time: now_rfc3339(),
    }
}

/// What a session attempt's record says was decided.
fn decision_json(decision: &Decision) -> Value {
    match decision {
        Decision::Allowed { user, .. } => serde_json::json!({ "allowed": true, "user": user.name }),
        Decision::Denied(d) => {
            serde_json::json!({ "allowed": false, "error": d.code, "message": d.message })
        }
    }
}

/// Redacts the value at a dotted `path` of `value`, keeping its JSON type so a replay still
/// gets a well-formed event: a non-empty object or array becomes empty, anything else the
/// string "[redacted]". Answers whether there was something to redact.
fn redact_path(value: &mut Value, path: &str) -> bool {
    let mut at = value;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Some(next) = at.as_object_mut().and_then(|o| o.get_mut(segment)) else { return false };
        if segments.peek().is_none() {
            let (placeholder, had_value) = match next {
                Value::Object(o) => (Value::Object(Default::default()), !o.is_empty()),
                Value::Array(a) => (Value::Array(Vec::new()), !a.is_empty()),
                Value::Null => (Value::Null, false),
                _ => (Value::String("[redacted]".into()), true),
            };
            *next = placeholder;
            return had_value;
        }
        at = next;
    }
    false
}

fn allow(user: User) -> Decision {
    Decision::Allowed {
        session: Session { id: uuid::Uuid::new_v4().to_string(), created_at: now_rfc3339() },
        user,
    }
}

fn deny(code: DenialCode, message: String) -> Decision {
    Decision::Denied(Denial { code, message })
}

/// One async mutex per username with attempts in progress; entries go away with their last user.
#[derive(Default)]
struct NameLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl NameLocks {
    fn get(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap();
        if let Some(lock) = map.get(name).and_then(Weak::upgrade) {
            return lock;
        }
        if map.len() >= 1024 {
            map.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(name.to_string(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_values_at_dotted_paths_that_exist() {
        let mut event =
            serde_json::json!({ "username": "ann", "authParams": { "idToken": "t", "keep": 1 } });
        assert!(redact_path(&mut event, "authParams.idToken"));
        assert!(!redact_path(&mut event, "authParams.missing"));
        assert!(!redact_path(&mut event, "username.deeper"));
        assert_eq!(
            event,
            serde_json::json!({ "username": "ann", "authParams": { "idToken": "[redacted]", "keep": 1 } })
        );
        assert!(redact_path(&mut event, "authParams"));
        assert_eq!(event["authParams"], serde_json::json!({}), "objects stay objects for replays");
        assert!(!redact_path(&mut event, "authParams"), "an empty object holds nothing to redact");
    }
}
