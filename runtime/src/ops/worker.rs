//! `op_worker_*`: how the isolate's JavaScript main loop talks to its Rust thread: it reads the
//! app description, pulls invocations, answers them, and logs what happens outside any
//! invocation. Also `op_error_location`, which asks V8 where an error was raised.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use deno_core::{op2, v8, OpState};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::worker::{Answer, Job, JsReport};

/// What the JavaScript side needs to know about the app it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub name: String,
    pub root: String,
    pub init_script: Option<CodeView>,
    /// Trigger name → the function's file.
    pub functions: HashMap<String, CodeView>,
    pub triggers: Vec<String>,
    pub env: HashMap<String, String>,
    /// `[limits] pending_ops`.
    pub max_pending_ops: usize,
    /// Set when a previous isolate of this app died while running the initialization script:
    /// the script is not run again and every trigger reports this error instead.
    pub init_failure: Option<serde_json::Value>,
}

/// A file to run: its absolute path, and its code when it is not read from there.
#[derive(Debug, Clone, Serialize)]
pub struct CodeView {
    pub file: String,
    pub code: Option<String>,
}

impl From<&crate::config::SourceFile> for CodeView {
    fn from(f: &crate::config::SourceFile) -> CodeView {
        CodeView { file: f.path.display().to_string(), code: f.code.clone() }
    }
}

/// Invocations waiting for this isolate; it outlives any one isolate of the app.
#[derive(Clone)]
pub struct JobInbox(pub Rc<Mutex<mpsc::UnboundedReceiver<Job>>>);

impl JobInbox {
    /// Whether every sender is gone (the app is shutting down).
    pub fn is_closed(&self) -> bool {
        self.0.try_lock().map(|rx| rx.is_closed()).unwrap_or(false)
    }
}

/// Invocations handed to JavaScript and not answered yet, by id.
#[derive(Default)]
pub struct InFlight {
    next_id: u64,
    pub replies: HashMap<u64, oneshot::Sender<Answer>>,
}

/// The instant the isolate started, for `performance.now()`-like clocks.
pub struct StartedAt(pub Instant);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobForJs {
    id: u64,
    trigger: &'static str,
    event: serde_json::Value,
    max_log_bytes: usize,
    /// The tape of the invocation this one replays.
    replay: Option<serde_json::Value>,
    /// Whether to record a tape.
    tape: bool,
}

#[op2]
#[serde]
pub fn op_worker_app(state: &mut OpState) -> AppView {
    state.borrow::<AppView>().clone()
}

/// The next invocation, or `null` once the app is shutting down.
#[op2]
#[serde]
pub async fn op_worker_next_job(state: Rc<RefCell<OpState>>) -> Option<JobForJs> {
    let inbox = state.borrow().borrow::<JobInbox>().clone();
    let job = inbox.0.lock().await.recv().await?;
    let mut state = state.borrow_mut();
    let in_flight = state.borrow_mut::<InFlight>();
    // Answers nobody waits for any more (the caller timed out) are dropped here.
    in_flight.replies.retain(|_, reply| !reply.is_closed());
    in_flight.next_id += 1;
    let id = in_flight.next_id;
    in_flight.replies.insert(id, job.reply);
    Some(JobForJs { id, trigger: job.trigger.name(), event: job.event, max_log_bytes: job.max_log_bytes, replay: job.replay, tape: job.record_tape })
}

#[op2]
pub fn op_worker_complete(state: &mut OpState, #[bigint] id: u64, #[serde] report: JsReport) {
    if let Some(reply) = state.borrow_mut::<InFlight>().replies.remove(&id) {
        // The caller may have given up (timeout); its answer was already sent.
        let _ = reply.send(Answer::Report(report));
    }
}

#[op2(fast)]
pub fn op_worker_monotonic_ms(state: &mut OpState) -> f64 {
    state.borrow::<StartedAt>().0.elapsed().as_secs_f64() * 1e3
}

/// Console output outside any invocation (the initialization script) goes to the server log.
#[op2(fast)]
pub fn op_worker_host_log(state: &mut OpState, #[string] level: &str, #[string] message: &str) {
    let app = &state.borrow::<AppView>().name;
    match level {
        "error" => tracing::error!(target: "chatfn::js", app = %app, "{message}"),
        "warn" => tracing::warn!(target: "chatfn::js", app = %app, "{message}"),
        "debug" => tracing::debug!(target: "chatfn::js", app = %app, "{message}"),
        _ => tracing::info!(target: "chatfn::js", app = %app, "{message}"),
    }
}

#[derive(Serialize)]
pub struct SourceLocation {
    file: String,
    line: usize,
    column: usize,
}

/// Where V8 says `error` was raised (for a SyntaxError, the offending token).
#[op2]
#[serde]
pub fn op_error_location<'s, 'i>(
    scope: &mut v8::PinScope<'s, 'i>,
    error: v8::Local<'s, v8::Value>,
) -> Option<SourceLocation> {
    let message = v8::Exception::create_message(scope, error);
    let file = message.get_script_resource_name(scope)?.to_rust_string_lossy(scope);
    let line = message.get_line_number(scope)?;
    Some(SourceLocation { file, line, column: message.get_start_column() + 1 })
}
