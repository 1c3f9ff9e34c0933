//! The job protocol between chatfn and its isolates, as plain data: what an invocation is given
//! (`Job`), what its JavaScript reports (`JsReport`), how it ended (`Outcome`) and what is kept
//! of it (`Invocation`). A leaf module: the engine, the ops and the store all import it, and it
//! imports none of them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::config::Trigger;

/// One invocation on its way to an isolate.
pub struct Job {
    pub trigger: Trigger,
    /// The event as JSON text (the isolate hands it to V8's JSON.parse; the invocation keeps
    /// the value).
    pub event: String,
    /// A recorded tape to answer Users calls and HTTP requests from (replays and shadows).
    pub replay: Option<serde_json::Value>,
    /// Whether to record what the invocation sees (only when invocations are recorded).
    pub record_tape: bool,
    pub max_log_bytes: usize,
    /// When the invocation must be answered: its JavaScript is stopped then.
    pub deadline: std::time::Instant,
    /// Work nobody waits for (a chat event's delivery): run on a back thread when the app has
    /// or may have an isolate there, so session attempts keep the serving threads.
    pub background: bool,
    pub reply: oneshot::Sender<Answer>,
}

/// How the engine answers a job.
pub enum Answer {
    /// The JavaScript side finished the invocation and reported on it.
    Report(JsReport),
    /// The invocation was stopped at a limit (its isolate is discarded), with what it printed.
    Killed(Kill, Vec<LogLine>),
    /// The isolate could not run it.
    Crashed(String),
}

/// Why an invocation was stopped from outside. `stack`: the JavaScript frames running when the
/// limit was hit, innermost first (empty when the isolate was not running JavaScript then, or
/// could not be interrupted in time to record them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    Cpu { limit: Duration, stack: Vec<String> },
    Wall { limit: Duration, stack: Vec<String> },
    Heap { limit_bytes: usize, stack: Vec<String> },
}

/// Where in the app's code something happened (files relative to the app directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceLocation {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A JavaScript error as data. `stack` and `location` name files relative to the app directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsErrorInfo {
    pub name: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default)]
    pub stack: Option<String>,
    #[serde(default)]
    pub location: Option<SourceLocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsStatus {
    Returned,
    Threw,
    LoadFailed,
    NoFunction,
}

/// What the JavaScript side reports for one invocation.
#[derive(Debug, Deserialize)]
pub struct JsReport {
    pub status: JsStatus,
    #[serde(default)]
    pub error: Option<JsErrorInfo>,
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// What the invocation saw from outside (`js/tape.js`), as JSON text.
    #[serde(default)]
    pub tape: Option<String>,
    /// The files of the modules its isolate has loaded, when the job asked (`Pool::wants_modules`).
    #[serde(default)]
    pub modules: Option<Vec<String>>,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// `handleEvent` returned (or its promise resolved).
    Returned,
    /// `handleEvent` threw (or its promise rejected).
    Threw { error: JsErrorInfo },
    /// The function or the initialization script could not be loaded.
    LoadFailed { error: JsErrorInfo },
    /// No function is configured for the trigger.
    NoFunction,
    /// A time limit was hit: `wall` (answer took too long) or `cpu` (JavaScript ran too long;
    /// `stack` is what it was running then, innermost frame first).
    TimedOut {
        limit: &'static str,
        limit_ms: u128,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        stack: Vec<String>,
    },
    /// The invocation reached its memory limit (`stack`: what it was running then).
    OutOfMemory {
        limit_mb: usize,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        stack: Vec<String>,
    },
    /// The isolate died for another reason.
    Crashed { message: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub trigger: Trigger,
    /// What the function was given.
    #[serde(skip)]
    pub event: serde_json::Value,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub logs: Vec<LogLine>,
    #[serde(rename = "durationMs")]
    pub duration_ms: f64,
    /// What it saw from outside, for replays (`js/tape.js`), as JSON text; `None` when it
    /// did not run.
    #[serde(skip)]
    pub tape: Option<String>,
}

impl JsReport {
    pub fn into_outcome(self) -> (Outcome, Vec<LogLine>, Option<String>) {
        let missing = || JsErrorInfo {
            name: "Error".into(),
            message: "the function failed without an error".into(),
            code: None,
            stack: None,
            location: None,
        };
        let outcome = match self.status {
            JsStatus::Returned => Outcome::Returned,
            JsStatus::NoFunction => Outcome::NoFunction,
            JsStatus::Threw => Outcome::Threw { error: self.error.unwrap_or_else(missing) },
            JsStatus::LoadFailed => {
                Outcome::LoadFailed { error: self.error.unwrap_or_else(missing) }
            }
        };
        (outcome, self.logs, self.tape)
    }
}

impl Kill {
    pub fn into_outcome(self) -> Outcome {
        match self {
            Kill::Cpu { limit, stack } => {
                Outcome::TimedOut { limit: "cpu", limit_ms: limit.as_millis(), stack }
            }
            Kill::Wall { limit, stack } => {
                Outcome::TimedOut { limit: "wall", limit_ms: limit.as_millis(), stack }
            }
            Kill::Heap { limit_bytes, stack } => {
                Outcome::OutOfMemory { limit_mb: limit_bytes >> 20, stack }
            }
        }
    }
}
