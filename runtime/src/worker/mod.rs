//! Where a function runs. Each app gets its own isolate on its own thread (a `JsRuntime` is
//! `!Send`); the rest of chatfn talks to it through [`Worker`], a cheap cloneable handle that
//! sends invocations over a channel and awaits their answers, so the tokio executor that serves
//! HTTP never blocks on JavaScript. The wall-time limit is applied here, on the caller's side,
//! so it holds even when the isolate is stuck; CPU and heap limits live in `supervisor`.

mod isolate;
pub mod supervisor;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::{App, Trigger};
use crate::store::UsersStore;
use supervisor::Kill;

/// One invocation on its way to the isolate.
pub struct Job {
    pub trigger: Trigger,
    pub event: serde_json::Value,
    /// A recorded tape to answer Users calls and HTTP requests from (replays and shadows).
    pub replay: Option<serde_json::Value>,
    /// Whether to record what the invocation sees (only when invocations are recorded).
    pub record_tape: bool,
    pub max_log_bytes: usize,
    pub reply: oneshot::Sender<Answer>,
}

/// How the isolate thread answers a job.
pub enum Answer {
    /// The JavaScript side finished the invocation and reported on it.
    Report(JsReport),
    /// The isolate was stopped while the invocation was in flight.
    Killed(Kill),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// What the JavaScript main loop reports for one invocation.
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
    /// The isolate reached its heap limit (`stack`: what it was running then).
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

/// A handle to an app's isolate thread.
#[derive(Clone)]
pub struct Worker {
    jobs: mpsc::UnboundedSender<Job>,
    wall_limit: Duration,
    log_bytes: usize,
    /// Invocations allowed in the isolate at once.
    slots: Arc<Semaphore>,
    record_tapes: bool,
}

impl Worker {
    /// Starts the app's isolate thread. Function code is loaded there, in the background: a
    /// broken function does not stop the server, its invocations report the load error.
    pub fn spawn(app: &App, users: UsersStore) -> std::io::Result<Worker> {
        let (jobs, inbox) = mpsc::unbounded_channel();
        let thread_app = app.clone();
        std::thread::Builder::new()
            .name(format!("chatfn-isolate-{}", app.name))
            .spawn(move || isolate::run(thread_app, users, inbox))?;
        Ok(Worker {
            jobs,
            wall_limit: app.limits.wall,
            log_bytes: app.limits.log_bytes,
            slots: Arc::new(Semaphore::new(app.limits.concurrent_invocations)),
            record_tapes: app.invocation_retention > 0,
        })
    }

    /// Runs the function for `trigger` on `event` and reports how it went. Waiting for a free
    /// invocation slot counts against the wall limit.
    pub async fn invoke(&self, trigger: Trigger, event: serde_json::Value) -> Invocation {
        self.invoke_with(trigger, event, None).await
    }

    /// Runs the function with its Users calls and HTTP requests answered from `replay`, a tape
    /// recorded by an earlier invocation.
    pub async fn invoke_with(&self, trigger: Trigger, event: serde_json::Value, replay: Option<serde_json::Value>) -> Invocation {
        let started = Instant::now();
        let run = async {
            let _slot = self.slots.acquire().await.expect("the semaphore is never closed");
            let (reply, answer) = oneshot::channel();
            let job = Job { trigger, event: event.clone(), replay, record_tape: self.record_tapes, max_log_bytes: self.log_bytes, reply };
            if self.jobs.send(job).is_err() {
                return (Outcome::Crashed { message: "the app's isolate thread has stopped".into() }, Vec::new(), None);
            }
            match answer.await {
                Ok(Answer::Report(report)) => report.into_outcome(),
                Ok(Answer::Killed(kill)) => (kill.into_outcome(), Vec::new(), None),
                Err(_) => (Outcome::Crashed { message: "the app's isolate stopped before answering".into() }, Vec::new(), None),
            }
        };
        let (outcome, logs, tape) = tokio::time::timeout(self.wall_limit, run).await.unwrap_or_else(|_| {
            (Outcome::TimedOut { limit: "wall", limit_ms: self.wall_limit.as_millis(), stack: Vec::new() }, Vec::new(), None)
        });
        Invocation { trigger, event, outcome, logs, duration_ms: started.elapsed().as_secs_f64() * 1e3, tape }
    }
}

impl JsReport {
    fn into_outcome(self) -> (Outcome, Vec<LogLine>, Option<String>) {
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
            JsStatus::LoadFailed => Outcome::LoadFailed { error: self.error.unwrap_or_else(missing) },
        };
        (outcome, self.logs, self.tape)
    }
}

impl Kill {
    fn into_outcome(self) -> Outcome {
        match self {
            Kill::Cpu { limit, stack } => Outcome::TimedOut { limit: "cpu", limit_ms: limit.as_millis(), stack },
            Kill::Heap { limit_bytes, stack } => Outcome::OutOfMemory { limit_mb: limit_bytes >> 20, stack },
        }
    }
}
