//! Delivery: runs the app's functions for its queued chat events.
//!
//! One task per app. It keeps the queue's schedule in memory (loaded from the store at start):
//! the events of each key in order, and the head of every key whose event is not running,
//! by the time it may run. It starts due heads, up to `[events] concurrency` at once: events of
//! one key run one after another, other keys in parallel. A run that returns removes its event
//! from the queue (flushed: once done, never run again); one that fails or times out is
//! retried after an exponential backoff with jitter, and goes to the dead letters after
//! `max_attempts` runs or once older than `max_age`, the key moving on. Every run is an
//! invocation record. At least once: an event whose run was cut short by a crash runs again.
//!
//! Session attempts come first: while the serving threads are busy (`Engine::serving_load`
//! at `BUSY_LOAD` or more), events run one at a time, and each run is followed by a pause of
//! `PAUSE_FACTOR` times its length, so that event work (its JavaScript on the back threads at a
//! lower priority, and its flushes and records, which are not) takes a small share of the
//! machine until the attempts ease off. The queue still moves, only slower.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::config::{EventDelivery, Trigger};
use crate::session::Sessions;
use crate::store::events::{EventsStore, Failure, QueuedEvent};
use crate::store::invocations::InvocationsStore;
use crate::time::now_ms;
use crate::worker::Outcome;

/// The delivery of one app's events.
pub struct Delivery {
    app: String,
    config: EventDelivery,
    store: EventsStore,
    records: Option<InvocationsStore>,
    sessions: Arc<Sessions>,
    schedule: Mutex<Schedule>,
    wake: Notify,
    /// With a shared database, whether this node delivers now (`events::leader`); `None`: it
    /// always does (sled).
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    /// How long after acceptance the latest first runs started, in ms (the last `DELAYS`).
    delays: Mutex<std::collections::VecDeque<u64>>,
}

/// How often ids past the dedupe window are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// First runs whose delay the stats keep.
const DELAYS: usize = 10_000;

/// The serving threads' load from which event runs yield to session attempts.
const BUSY_LOAD: f64 = 0.5;
/// While they yield, a run is followed by a pause this many times its length (at most
/// `MAX_PAUSE`).
const PAUSE_FACTOR: u32 = 4;
const MAX_PAUSE: Duration = Duration::from_millis(250);

/// Whether session attempts keep the serving threads busy: event work yields.
fn attempts_busy() -> bool {
    crate::worker::engine::engine().serving_load() >= BUSY_LOAD
}

/// Percentiles of the delay from an event's acceptance (its 202) to its first run.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delays {
    pub samples: usize,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

#[derive(Default)]
struct Schedule {
    /// Per key, its queued events (sequence number, next run time) in order; the first may be
    /// running.
    keys: HashMap<String, VecDeque<(u64, u64)>>,
    /// The first event of every key that is not running: (next run time, seq, key).
    heads: BTreeSet<(u64, u64, String)>,
    /// Every event scheduled (so one heard of twice is scheduled once).
    known: HashSet<u64>,
    running: usize,
}

impl Schedule {
    /// Adds an event in its key's order (after the key's running event, if it has one).
    fn add(&mut self, seq: u64, key: &str, next_at: u64) {
        if !self.known.insert(seq) {
            return;
        }
        let queue = self.keys.entry(key.to_string()).or_default();
        let front = queue.front().copied();
        let running = front.is_some_and(|(s, at)| !self.heads.contains(&(at, s, key.to_string())));
        let mut at = queue.iter().position(|&(s, _)| s > seq).unwrap_or(queue.len());
        if running {
            at = at.max(1);
        }
        if at == 0 {
            if let Some((s, next)) = front {
                self.heads.remove(&(next, s, key.to_string()));
            }
            self.heads.insert((next_at, seq, key.to_string()));
        }
        queue.insert(at, (seq, next_at));
    }

    /// Forgets what is scheduled (runs under way still end through `finish`).
    fn clear(&mut self) {
        self.keys.clear();
        self.heads.clear();
        self.known.clear();
    }

    /// A due head to run now, taken off the heads (its key is busy until `finish`).
    fn take_due(&mut self, now: u64) -> Option<(u64, String)> {
        let first = self.heads.first()?;
        if first.0 > now {
            return None;
        }
        let (_, seq, key) = self.heads.pop_first()?;
        self.running += 1;
        Some((seq, key))
    }

    /// The run of `key`'s first event ended: it left the queue (`None`), or runs again at
    /// `retry_at`.
    fn finish(&mut self, key: &str, retry_at: Option<u64>) {
        self.running -= 1;
        let Some(queue) = self.keys.get_mut(key) else { return };
        match retry_at {
            Some(at) => {
                if let Some(first) = queue.front_mut() {
                    first.1 = at;
                    self.heads.insert((at, first.0, key.to_string()));
                }
            }
            None => {
                if let Some((seq, _)) = queue.pop_front() {
                    self.known.remove(&seq);
                }
                match queue.front() {
                    Some(&(seq, at)) => {
                        self.heads.insert((at, seq, key.to_string()));
                    }
                    None => {
                        self.keys.remove(key);
                    }
                }
            }
        }
    }
}

/// The runtime every app's delivery runs on, and where batches of reported events are read
/// and queued (`platform/events.rs`, `store/events/sled.rs`): two threads and its blocking pool
/// at a lower priority, as the back threads that run the events' functions, so that a burst of
/// events costs session attempts as little as it can.
pub(crate) fn background() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chatfn-events")
            .on_thread_start(|| {
                // SAFETY: setpriority on this thread (a nice value is per thread on Linux).
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
                }
            })
            .enable_all()
            .build()
            .expect("the event delivery runtime starts")
    })
}

/// How a run ended, for the schedule.
enum Ran {
    /// The event left the queue (delivered, dead-lettered, or gone).
    Done,
    RetryAt(u64),
}

impl Delivery {
    /// Starts delivering `store`'s queued events to the functions of `sessions`' deployment:
    /// always, or (with `leader`) while this node is the one that delivers.
    pub async fn start(
        app: &crate::config::App,
        sessions: Arc<Sessions>,
        store: EventsStore,
        records: Option<InvocationsStore>,
        leader: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> anyhow::Result<Arc<Delivery>> {
        let mut schedule = Schedule::default();
        if leader.is_none() {
            for (seq, key, next_at) in store.schedule(None).await? {
                schedule.add(seq, &key, next_at);
            }
        }
        let delivery = Arc::new(Delivery {
            app: app.name.clone(),
            config: app.events,
            store,
            records,
            sessions,
            schedule: Mutex::new(schedule),
            wake: Notify::new(),
            leader,
            delays: Mutex::default(),
        });
        background().spawn(delivery.clone().run());
        Ok(delivery)
    }

    pub fn store(&self) -> &EventsStore {
        &self.store
    }

    pub fn config(&self) -> &EventDelivery {
        &self.config
    }

    /// How many events are scheduled here.
    pub fn scheduled(&self) -> usize {
        self.schedule.lock().unwrap().known.len()
    }

    /// Whether this node delivers the app's events now.
    pub fn delivers(&self) -> bool {
        self.leader.as_ref().is_none_or(|leader| *leader.borrow())
    }

    /// Schedules events the store just queued (when this node delivers; otherwise the node
    /// that does hears of them).
    pub fn queued(&self, events: impl IntoIterator<Item = (u64, String, u64)>) {
        if !self.delivers() {
            return;
        }
        let mut schedule = self.schedule.lock().unwrap();
        for (seq, key, next_at) in events {
            schedule.add(seq, &key, next_at);
        }
        drop(schedule);
        self.wake.notify_one();
    }

    /// Schedules what the store has queued (numbered `from..=to`, or all of it) and is not
    /// scheduled yet: events another node accepted or redrove.
    pub async fn refresh(&self, range: Option<(u64, u64)>) -> Result<(), crate::store::StoreError> {
        if !self.delivers() {
            return Ok(());
        }
        let queued = self.store.schedule(range).await?;
        self.queued(queued);
        Ok(())
    }

    /// Waits until this node delivers; then schedules the whole queue.
    async fn until_delivering(&self, leader: &mut tokio::sync::watch::Receiver<bool>) {
        self.schedule.lock().unwrap().clear();
        while !*leader.borrow_and_update() {
            if leader.changed().await.is_err() {
                return;
            }
        }
        loop {
            match self.refresh(None).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(app = %self.app, "cannot read the event queue yet: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn run(self: Arc<Self>) {
        let mut next_forget = tokio::time::Instant::now();
        let mut leader = self.leader.clone();
        loop {
            if let Some(leader) = &mut leader {
                if !*leader.borrow_and_update() {
                    self.until_delivering(leader).await;
                }
            }
            if tokio::time::Instant::now() >= next_forget {
                // Ids past the dedupe window, once an hour.
                next_forget += FORGET_EVERY;
                let before = now_ms().saturating_sub(self.config.dedupe_window.as_millis() as u64);
                match self.store.forget_ids(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(app = %self.app, n, "forgot the ids of old events"),
                    Err(e) => tracing::error!(app = %self.app, "cannot forget old event ids: {e}"),
                }
            }
            let next = {
                let concurrency = if attempts_busy() { 1 } else { self.config.concurrency };
                let mut schedule = self.schedule.lock().unwrap();
                let now = now_ms();
                while schedule.running < concurrency {
                    let Some((seq, key)) = schedule.take_due(now) else { break };
                    tokio::spawn(self.clone().deliver(seq, key));
                }
                match schedule.running < concurrency {
                    true => schedule.heads.first().map(|h| h.0),
                    false => None,
                }
            };
            let sleep = match next {
                Some(at) => Duration::from_millis(at.saturating_sub(now_ms())),
                None => FORGET_EVERY,
            }
            .min(next_forget.saturating_duration_since(tokio::time::Instant::now()));
            let lost = async {
                match &mut leader {
                    Some(leader) => {
                        let _ = leader.changed().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = lost => {}
            }
        }
    }

    async fn deliver(self: Arc<Self>, seq: u64, key: String) {
        let started = std::time::Instant::now();
        let ran = match self.run_once(seq).await {
            Ok(ran) => ran,
            Err(e) => {
                tracing::error!(app = %self.app, seq, "cannot deliver an event: {e:#}");
                Ran::RetryAt(now_ms() + self.config.retry_base.as_millis() as u64)
            }
        };
        let retry_at = match ran {
            Ran::Done => None,
            Ran::RetryAt(at) => Some(at),
        };
        if attempts_busy() {
            // The run's place is kept (and its key busy) through the pause.
            tokio::time::sleep((started.elapsed() * PAUSE_FACTOR).min(MAX_PAUSE)).await;
        }
        self.schedule.lock().unwrap().finish(&key, retry_at);
        self.wake.notify_one();
    }

    /// Runs the function for event `seq` once and settles the queue with its outcome.
    async fn run_once(&self, seq: u64) -> anyhow::Result<Ran> {
        let Some(mut event) = self.store.get(seq).await? else { return Ok(Ran::Done) };
        let deployment = self.sessions.deployment();
        let trigger = Trigger::from_name(&event.trigger)
            .ok_or_else(|| anyhow::anyhow!("unknown trigger {}", event.trigger))?;
        if !deployment.has_function(trigger) {
            // Its function was removed since the event was accepted.
            tracing::info!(app = %self.app, seq, trigger = trigger.name(), "no function for the event any more; dropped");
            self.store.delivered(seq).await?;
            return Ok(Ran::Done);
        }
        let attempt = event.runs + 1;
        let started = now_ms();
        if attempt == 1 && event.redriven == 0 {
            let mut delays = self.delays.lock().unwrap();
            if delays.len() == DELAYS {
                delays.pop_front();
            }
            delays.push_back(started.saturating_sub(event.received_at));
        }
        let delay_ms = started.saturating_sub(event.next_at);
        let invocation = deployment.worker.invoke_in_background(trigger, event.event.clone()).await;
        let delivery = json!({
            "eventId": event.id,
            "seq": event.seq,
            "attempt": attempt,
            "delayMs": delay_ms,
            "sinceAcceptedMs": started.saturating_sub(event.received_at),
        });
        if invocation.outcome == Outcome::Returned {
            // Out of the queue (flushed) before its record is made: a success on record is
            // never run again, even after a crash.
            self.store.delivered(seq).await?;
            self.record(&deployment, &invocation, delivery);
            return Ok(Ran::Done);
        }
        let record_id = self.record(&deployment, &invocation, delivery);
        let now = now_ms();
        event.runs = attempt;
        event.failures.push(Failure {
            attempt,
            at: crate::time::now_rfc3339(),
            error: serde_json::to_value(&invocation.outcome)?,
            record_id,
        });
        let too_old =
            now.saturating_sub(event.received_at) >= self.config.max_age.as_millis() as u64;
        let dead = attempt >= self.config.max_attempts || too_old;
        if dead {
            tracing::warn!(app = %self.app, seq, id = %event.id, attempt, "event dead-lettered after its last run failed");
            self.store.failed(&event, true).await?;
            return Ok(Ran::Done);
        }
        event.next_at = now + backoff(&self.config, attempt);
        self.store.failed(&event, false).await?;
        Ok(Ran::RetryAt(event.next_at))
    }

    /// Records a run (when the app keeps records and the function is stored), with how the
    /// delivery went; runs the trigger's shadow version on it, if there is one.
    fn record(
        &self,
        deployment: &Arc<crate::session::Deployment>,
        invocation: &crate::worker::Invocation,
        delivery: serde_json::Value,
    ) -> Option<u64> {
        let records = self.records.as_ref()?;
        let &(function_id, version) = deployment.versions.get(&invocation.trigger)?;
        let mut record = crate::session::invocation_record(
            invocation,
            function_id,
            version,
            self.sessions.redact(),
        );
        record.result["delivery"] = delivery;
        match records.record(record) {
            Ok(id) => {
                crate::session::shadow_run(deployment, records, id, invocation);
                Some(id)
            }
            Err(e) => {
                tracing::error!("cannot record the invocation: {e}");
                None
            }
        }
    }

    /// The delays of the latest first runs since acceptance.
    pub fn delays(&self) -> Delays {
        let mut all: Vec<u64> = self.delays.lock().unwrap().iter().copied().collect();
        all.sort_unstable();
        let at =
            |q: f64| all.get(((all.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
        Delays { samples: all.len(), p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1.0) }
    }

    /// Sends dead letters back to the queue; answers them.
    pub async fn redrive(
        &self,
        chosen: &(dyn Fn(&QueuedEvent) -> bool + Sync),
    ) -> Result<Vec<QueuedEvent>, crate::store::StoreError> {
        let moved = self.store.redrive(chosen, now_ms()).await?;
        self.queued(moved.iter().map(|e| (e.seq, e.key.clone(), e.next_at)));
        Ok(moved)
    }
}

/// The delay before the retry after run `attempt` (1-based): `retry_base` doubled per run, at
/// most `retry_max`, then a random point in its upper half (so retries of many failed events
/// do not come back together).
fn backoff(config: &EventDelivery, attempt: u32) -> u64 {
    let base = config.retry_base.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << (attempt - 1).min(32));
    let full = exp.min(config.retry_max.as_millis() as u64).max(1);
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    full / 2 + u64::from_le_bytes(bytes) % (full - full / 2 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_a_key_run_one_at_a_time_in_order() {
        let mut s = Schedule::default();
        s.add(1, "channel/1", 0);
        s.add(2, "channel/1", 0);
        s.add(3, "channel/2", 0);
        assert_eq!(s.take_due(10), Some((1, "channel/1".into())));
        assert_eq!(s.take_due(10), Some((3, "channel/2".into())));
        assert_eq!(s.take_due(10), None, "event 2 waits for event 1");
        s.finish("channel/1", Some(50));
        assert_eq!(s.take_due(10), None, "event 1 retries at 50; event 2 still waits");
        assert_eq!(s.take_due(50), Some((1, "channel/1".into())));
        s.finish("channel/1", None);
        assert_eq!(s.take_due(50), Some((2, "channel/1".into())));
        s.finish("channel/1", None);
        s.finish("channel/2", None);
        assert!(s.keys.is_empty() && s.heads.is_empty() && s.running == 0);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let config = EventDelivery {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..EventDelivery::default()
        };
        for _ in 0..100 {
            assert!((50..=100).contains(&backoff(&config, 1)));
            assert!((200..=400).contains(&backoff(&config, 3)));
            assert!((500..=1000).contains(&backoff(&config, 10)));
        }
    }
}
