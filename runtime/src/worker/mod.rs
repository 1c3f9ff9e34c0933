//! Where a function runs: the execution engine. A fixed set of isolate threads (`engine.rs`)
//! is shared by every app; each deployed app has a pool of isolates on them (`pool.rs`), each
//! isolate running one invocation at a time (`isolate.rs`) under limits enforced from outside
//! (`supervisor.rs`, `memory.rs`). The rest of chatfn talks to an app's pool through
//! [`Worker`], a cheap cloneable handle whose `invoke` is answered over a oneshot channel: the
//! caller awaits it, on the serving thread that read the request (where the job usually runs
//! too) or on any tokio task. The job protocol's types are in `protocol.rs`.

pub mod busy_poll;
pub mod code_cache;
pub mod engine;
#[macro_use]
mod isolate;
mod mapped;
pub mod memory;
mod pool;
pub mod protocol;
pub mod snapshot;
mod supervisor;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};

pub use protocol::{Invocation, JsErrorInfo, LogLine, Outcome, SourceLocation};

use crate::config::{App, Trigger};
use crate::store::UsersStore;
use pool::{Placed, Pool};
use protocol::{Answer, Job};

/// How long after its deadline the caller stops waiting for the engine's answer: the engine
/// stops the invocation at the deadline and answers; this only covers a thread that cannot.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

/// How a new pool starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Its first isolate is built (and the app loaded) at once, in the background.
    Warm,
    /// Hibernated: its first attempt builds its first isolate (`chatfn serve` with many apps).
    Hibernated,
    /// Warm, for one scratch run (`chatfn test`, test invocations, replays): its isolates are
    /// always built cold, never from or into a snapshot of the app's runtime (from chatfn's
    /// bootstrap snapshot when there is one: it holds nothing of an app).
    Scratch,
}

/// How long a job may wait for a thread that is running a single slice of other JavaScript
/// before it is taken back and given to an isolate elsewhere (see `pool::Ticket`).
const RECLAIM_AFTER: Duration = Duration::from_millis(2);

/// How long a job may wait in its pool's queue before an isolate is built for it: the
/// isolates of a busy app that computes are all running and free up within this time; those of
/// one that waits for I/O are not, and more of them answer sooner.
const GROW_AFTER: Duration = Duration::from_millis(2);

/// A handle to one deployed app's isolate pool. When the last handle goes, the pool closes:
/// its idle isolates are dropped at once, busy ones after their invocation.
#[derive(Clone)]
pub struct Worker {
    pool: Arc<PoolHandle>,
    wall_limit: Duration,
    log_bytes: usize,
    /// Invocations in flight at once (`[limits] concurrent_invocations`).
    slots: Arc<Semaphore>,
    record_tapes: bool,
}

struct PoolHandle(Arc<Pool>);

impl Drop for PoolHandle {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Worker {
    /// Starts the app's pool on the process's engine. Its first isolate is built and the app
    /// loaded in the background (at once, or for its first attempt when `start` says
    /// hibernated): a broken function does not stop the server, its invocations report the
    /// load error.
    pub fn spawn(app: &App, users: UsersStore, start: Start) -> anyhow::Result<Worker> {
        let pool = Pool::new(engine::engine(), app, users, start)?;
        Ok(Worker {
            pool: Arc::new(PoolHandle(pool)),
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
    pub async fn invoke_with(
        &self,
        trigger: Trigger,
        event: serde_json::Value,
        replay: Option<serde_json::Value>,
    ) -> Invocation {
        self.run(trigger, event, replay, false).await
    }

    /// `invoke` for work nobody waits for (a chat event's delivery): on a back thread when
    /// there can be an isolate there, at a lower priority than session attempts.
    pub async fn invoke_in_background(
        &self,
        trigger: Trigger,
        event: serde_json::Value,
    ) -> Invocation {
        self.run(trigger, event, None, true).await
    }

    async fn run(
        &self,
        trigger: Trigger,
        event: serde_json::Value,
        replay: Option<serde_json::Value>,
        background: bool,
    ) -> Invocation {
        let started = Instant::now();
        let deadline = started + self.wall_limit;
        let wall = || Outcome::TimedOut {
            limit: "wall",
            limit_ms: self.wall_limit.as_millis(),
            stack: Vec::new(),
        };
        let run = async {
            let _slot = match self.slots.try_acquire() {
                Ok(slot) => slot,
                Err(_) => {
                    match tokio::time::timeout_at(deadline.into(), self.slots.acquire()).await {
                        Ok(Ok(slot)) => slot,
                        _ => return (wall(), Vec::new(), None),
                    }
                }
            };
            let (reply, mut answer) = oneshot::channel();
            let job = Job {
                trigger,
                event: event.to_string(),
                replay,
                record_tape: self.record_tapes,
                max_log_bytes: self.log_bytes,
                deadline,
                background,
                reply,
            };
            let mut placed = self.pool.0.submit(job, None);
            let queued = matches!(placed, Placed::Queued);
            // While the job waits for a thread stuck in a long slice, move it where it can start
            // (a job on the caller's own thread starts as soon as the caller yields).
            let mut answered = None;
            while let Placed::Sent { thread, ticket } = placed {
                if Some(thread) == engine::this_thread() {
                    break;
                }
                tokio::select! {
                    a = &mut answer => {
                        answered = Some(a);
                        break;
                    }
                    _ = tokio::time::sleep(RECLAIM_AFTER) => {}
                }
                let stuck = engine::engine().in_slice_for(thread) >= RECLAIM_AFTER
                    && self.pool.0.could_move(thread);
                placed = match stuck {
                    true => match ticket.take() {
                        Some(job) => self.pool.0.submit(job, Some(thread)),
                        None => Placed::Queued,
                    },
                    false if ticket.taken() => Placed::Queued,
                    false => Placed::Sent { thread, ticket },
                };
            }
            if answered.is_none() && queued {
                tokio::select! {
                    a = &mut answer => answered = Some(a),
                    _ = tokio::time::sleep(GROW_AFTER) => self.pool.0.grow_for_waiting(),
                }
            }
            let answer = match answered {
                Some(a) => a,
                None => answer.await,
            };
            match answer {
                Ok(Answer::Report(report)) => report.into_outcome(),
                Ok(Answer::Killed(kill, logs)) => (kill.into_outcome(), logs, None),
                Ok(Answer::Crashed(message)) => (Outcome::Crashed { message }, Vec::new(), None),
                Err(_) => (
                    Outcome::Crashed {
                        message: "the app's isolate stopped before answering".into(),
                    },
                    Vec::new(),
                    None,
                ),
            }
        };
        let (outcome, logs, tape) = tokio::time::timeout_at((deadline + ANSWER_GRACE).into(), run)
            .await
            .unwrap_or_else(|_| (wall(), Vec::new(), None));
        Invocation {
            trigger,
            event,
            outcome,
            logs,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            tape,
        }
    }
}
