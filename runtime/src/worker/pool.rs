//! The isolates of one deployed app: which are idle and on which thread, how many there are,
//! and the invocations waiting for one. An app starts with one isolate, grows one at a time
//! under load up to its maximum (`[limits] isolates`), each new one on the thread whose
//! connection asked for it (or the least busy), and gives back isolates idle for a while. Each
//! isolate runs one invocation at a time. An invocation goes to an idle isolate on the thread
//! it comes from first. A heavy app (`engine.rs`) keeps to the back threads. Work nobody waits
//! for (chat events' runs) keeps to the back threads too, in a queue of its own: it never takes
//! a serving thread's isolate from session attempts, and attempts never wait behind it. The
//! pool decides; the isolate threads (`engine.rs`) own and run the isolates.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::engine::{this_thread, Command, Engine, BUSY_AFTER};
use super::memory::MemoryBudget;
use super::protocol::{Answer, Job};
use super::snapshot::{self, Snapshot};
use super::supervisor::Heaviness;
use super::Start;
use crate::config::App;
use crate::net::{NetworkPolicy, Outbound};
use crate::store::UsersStore;

/// The ceiling of `State::io_score`; above half of it, the app's invocations wait for I/O.
const IO_BOUND_MAX: u32 = 16;

/// An isolate idle this long is given back, unless it is the app's last one.
const IDLE_RETIRE: Duration = Duration::from_secs(60);

pub struct Pool {
    pub app: App,
    pub users: UsersStore,
    pub outbound: Outbound,
    /// ArrayBuffer memory, shared by all the app's isolates.
    pub memory: Arc<MemoryBudget>,
    /// Set once its slices held a serving thread too long (`supervisor::Heaviness`).
    pub heavy: Arc<Heaviness>,
    max: usize,
    engine: &'static Engine,
    state: Mutex<State>,
    /// The snapshot of the app's runtime that its isolates are restored from (`snapshot.rs`).
    snapshot: Mutex<SnapshotSlot>,
    /// Whether an invocation was asked for the modules its isolate loaded (once a deployment).
    modules_asked: std::sync::atomic::AtomicBool,
}

/// Where a pool stands with its runtime's snapshot.
enum SnapshotSlot {
    /// Not looked for yet (or let go while the app hibernates): the next build reads the file.
    Unknown,
    /// None on disk; `true` once one is being taken.
    Absent(bool),
    Ready(Arc<Snapshot>),
    /// Never (`Start::Scratch`, snapshots off, or one did not work for this runtime).
    Off,
}

#[derive(Default)]
struct State {
    /// (thread, isolate id) of idle isolates, most recently used last.
    idle: Vec<(usize, u64)>,
    /// Isolates alive or being built, per thread.
    per_thread: Vec<usize>,
    /// Jobs waiting for an isolate: attempts and other work someone waits for, and background
    /// work kept to the back threads (see `Pool::keeps_apart`).
    waiting: VecDeque<Job>,
    waiting_back: VecDeque<Job>,
    /// Isolates being built for no job in particular: each takes the first waiting job when
    /// it is ready.
    building: usize,
    /// Isolates being built, for a job or not.
    growing: usize,
    /// How much the app's recent invocations waited for I/O rather than computed: 0 to
    /// `IO_BOUND_MAX`, up 2 for an invocation that waited, down 1 for one that did not.
    io_score: u32,
    closed: bool,
    /// Set when loading the app died at a limit: later isolates report it instead.
    init_failure: Option<serde_json::Value>,
}

impl State {
    fn live(&self) -> usize {
        self.per_thread.iter().sum()
    }

    /// The pool's isolates (alive or being built) on `threads`.
    fn on(&self, threads: std::ops::Range<usize>) -> usize {
        self.per_thread[threads].iter().sum()
    }

    /// The next waiting job whose caller still waits: from `first`'s queue, else the other's.
    fn next(&mut self, first: Queue, then_other: bool) -> Option<Job> {
        let (a, b) = match first {
            Queue::Foreground => (&mut self.waiting, &mut self.waiting_back),
            Queue::Background => (&mut self.waiting_back, &mut self.waiting),
        };
        next_job(a).or_else(|| if then_other { next_job(b) } else { None })
    }
}

#[derive(Clone, Copy)]
enum Queue {
    Foreground,
    Background,
}

/// A job handed to an isolate thread, which takes it when it gets to it. Until then the caller
/// may take it back, when the thread turns out to be stuck in a long slice of another
/// invocation's JavaScript, and submit it again elsewhere: a job never waits behind another
/// app's spinning function while a thread is free.
#[derive(Clone)]
pub struct Ticket(Arc<Mutex<Option<Job>>>);

impl Ticket {
    fn new(job: Job) -> Ticket {
        Ticket(Arc::new(Mutex::new(Some(job))))
    }

    pub fn take(&self) -> Option<Job> {
        self.0.lock().unwrap().take()
    }

    /// Whether a thread has taken the job.
    pub fn taken(&self) -> bool {
        self.0.lock().unwrap().is_none()
    }
}

/// Where `submit` put a job.
pub enum Placed {
    /// Handed to `thread`.
    Sent { thread: usize, ticket: Ticket },
    /// In the pool's queue, for the next isolate that is free.
    Queued,
}

/// What a thread does with an isolate that finished an invocation.
pub enum Release {
    /// Run this job on it next.
    Run(Job),
    /// Keep it idle.
    Park,
    /// Drop it: the app was replaced or shut down.
    Drop,
}

impl Pool {
    pub fn new(
        engine: &'static Engine,
        app: &App,
        users: UsersStore,
        start: Start,
    ) -> anyhow::Result<Arc<Pool>> {
        let outbound =
            Outbound::new(NetworkPolicy::new(app.allow_hosts.clone()), app.fixtures.clone())?;
        let max = app
            .limits
            .isolates
            .unwrap_or(engine.default_isolates())
            .min(app.limits.concurrent_invocations)
            .max(1);
        let snapshots = start != Start::Scratch && snapshot::enabled();
        let pool = Arc::new(Pool {
            app: app.clone(),
            users,
            outbound,
            memory: MemoryBudget::new(app.limits.heap_bytes),
            heavy: Arc::default(),
            max,
            engine,
            state: Mutex::new(State { per_thread: vec![0; engine.threads()], ..State::default() }),
            snapshot: Mutex::new(if snapshots { SnapshotSlot::Unknown } else { SnapshotSlot::Off }),
            modules_asked: std::sync::atomic::AtomicBool::new(!snapshots),
        });
        // The first isolate is built (and the app loaded) in the background right away, unless
        // the app starts hibernated.
        if start != Start::Hibernated {
            let mut state = pool.state.lock().unwrap();
            let thread = engine.pick_thread(&state.per_thread, None, false);
            pool.grow(&mut state, thread, None);
        } else {
            pool.snapshot_ahead();
        }
        Ok(pool)
    }

    /// Hands `job` to an idle isolate, to a new one, or queues it for the next one free;
    /// `avoid` is a thread the job was just taken back from (see [`Ticket`]).
    pub fn submit(self: &Arc<Self>, job: Job, avoid: Option<usize>) -> Placed {
        let mut state = self.state.lock().unwrap();
        if state.closed {
            let _ = job.reply.send(Answer::Crashed("the app's deployment was replaced".into()));
            return Placed::Queued;
        }
        let heavy = self.heavy();
        if job.background && self.keeps_apart() {
            // Work nobody waits for goes to the back threads: an idle isolate there, else a new
            // one built there when the app may have one more; else it waits for one there (an
            // isolate of a serving thread moves there for it if the app has none: `release`).
            let back = self.engine.threads_for(true);
            let idle = state.idle.iter().rposition(|(t, _)| back.contains(t) && Some(*t) != avoid);
            if let Some(i) = idle {
                return self.send_to_idle(state, i, job);
            }
            if state.live() < self.max {
                let thread = self.engine.pick_thread(&state.per_thread, avoid, true);
                let ticket = Ticket::new(job);
                self.grow(&mut state, thread, Some(ticket.clone()));
                return Placed::Sent { thread, ticket };
            }
            if let Some(i) = state.idle.iter().position(|(t, _)| Some(*t) != avoid) {
                // At its maximum, with an idle isolate on a serving thread: it moves.
                let (thread, id) = state.idle.remove(i);
                self.engine.send(thread, Command::Drop { id });
                return self.rebuild_on_back(&mut state, thread, job, avoid);
            }
            state.waiting_back.push_back(job);
            return Placed::Queued;
        }
        let belongs = self.engine.threads_for(heavy);
        let usable = |thread: usize| Some(thread) != avoid && belongs.contains(&thread);
        if heavy && state.idle.iter().any(|(t, _)| !belongs.contains(t)) {
            // Idle isolates left on serving threads when the app turned heavy go now.
            for (thread, id) in std::mem::take(&mut state.idle) {
                if belongs.contains(&thread) {
                    state.idle.push((thread, id));
                } else {
                    state.per_thread[thread] -= 1;
                    self.engine.send(thread, Command::Drop { id });
                }
            }
        }
        let here = this_thread().filter(|t| usable(*t));
        // An idle isolate on the caller's own thread (its connection's): no hop at all.
        if let Some(here) = here {
            if let Some(i) = state.idle.iter().rposition(|(t, _)| *t == here) {
                return self.send_to_idle(state, i, job);
            }
        }
        let may_grow = state.live() < self.max;
        // The idle isolate whose thread is least busy (an idle thread first), the most
        // recently used among equals.
        let least_busy = (0..state.idle.len())
            .rev()
            .filter(|&i| usable(state.idle[i].0) && self.is_free(state.idle[i].0, avoid))
            .min_by_key(|&i| self.engine.busy_for(state.idle[i].0));
        if let Some(i) = least_busy {
            // The caller's thread has none of the app's isolates yet: one is built there in
            // the background, for the attempts that follow on it.
            if let Some(here) = here {
                if may_grow && state.per_thread[here] == 0 && state.building == 0 {
                    self.grow(&mut state, here, None);
                }
            }
            return self.send_to_idle(state, i, job);
        }
        // Every idle isolate sits on a thread busy with other JavaScript: a new isolate on a
        // free thread answers sooner, when the app may have one more there.
        let new_thread = self.engine.pick_thread(&state.per_thread, avoid, heavy);
        let may_grow = may_grow && usable(new_thread);
        let grow_now = may_grow && self.is_free(new_thread, avoid);
        if let Some(i) = state.idle.iter().rposition(|(t, _)| usable(*t)) {
            if !grow_now {
                return self.send_to_idle(state, i, job);
            }
        } else if !(may_grow && (state.live() == 0 || avoid.is_some())) {
            // No idle isolate: the job waits for the next one free, which is soon unless the
            // app's invocations wait for I/O; one waiting longer than `GROW_AFTER` has a new
            // isolate built for it (`grow_for_waiting`).
            state.waiting.push_back(job);
            return Placed::Queued;
        }
        let ticket = Ticket::new(job);
        self.grow(&mut state, new_thread, Some(ticket.clone()));
        Placed::Sent { thread: new_thread, ticket }
    }

    /// A job queued `GROW_AFTER` ago may still wait: then one more isolate is built for the
    /// first waiting job, on the caller's thread when it may, unless one is being built already.
    pub fn grow_for_waiting(self: &Arc<Self>) {
        let mut state = self.state.lock().unwrap();
        if state.closed || state.growing > 0 || state.live() >= self.max {
            return;
        }
        // An app whose invocations wait for I/O gets one more isolate on the caller's thread
        // (or another): while they wait, it runs another invocation. One whose invocations
        // compute gains nothing from a second isolate on the same thread, only from one on a
        // thread where it has none.
        let heavy = self.heavy();
        let thread = if state.io_score > IO_BOUND_MAX / 2 {
            self.engine.pick_thread(&state.per_thread, None, heavy)
        } else {
            match self
                .engine
                .threads_for(heavy)
                .find(|&t| state.per_thread[t] == 0 && self.is_free(t, None))
            {
                Some(t) => t,
                None => return,
            }
        };
        let Some(job) = state.next(Queue::Foreground, !self.keeps_apart()) else { return };
        self.grow(&mut state, thread, Some(Ticket::new(job)));
    }

    /// Hands `job` to the idle isolate at `i` of the idle list.
    fn send_to_idle(
        &self,
        mut state: std::sync::MutexGuard<'_, State>,
        i: usize,
        job: Job,
    ) -> Placed {
        let (thread, id) = state.idle.remove(i);
        drop(state);
        let ticket = Ticket::new(job);
        self.engine.send(thread, Command::Run { id, ticket: ticket.clone() });
        Placed::Sent { thread, ticket }
    }

    /// An invocation finished; `waited` says whether it spent more time waiting (for I/O,
    /// timers) than computing.
    pub fn note_invocation(&self, waited: bool) {
        let mut state = self.state.lock().unwrap();
        state.io_score = if waited {
            (state.io_score + 2).min(IO_BOUND_MAX)
        } else {
            state.io_score.saturating_sub(1)
        };
    }

    pub fn heavy(&self) -> bool {
        self.heavy.is_heavy()
    }

    /// Whether background work keeps to the back threads, apart from the app's attempts: a
    /// light app's, on an engine that has back threads (a heavy app's all runs there), when the
    /// app may have an isolate on each side (one held to a single isolate runs everything on
    /// it, rather than rebuild it on the other side at every turn).
    fn keeps_apart(&self) -> bool {
        !self.heavy() && self.engine.has_back_threads() && self.max >= 2
    }

    /// Whether `thread` can take a job now: not one to avoid, and not busy with other work.
    fn is_free(&self, thread: usize, avoid: Option<usize>) -> bool {
        Some(thread) != avoid && self.engine.busy_for(thread) < BUSY_AFTER
    }

    /// Whether a job waiting for `thread` would start sooner elsewhere: an idle isolate on a
    /// free thread, or room for a new one there.
    pub fn could_move(&self, thread: usize) -> bool {
        let state = self.state.lock().unwrap();
        let avoid = Some(thread);
        let heavy = self.heavy();
        let belongs = self.engine.threads_for(heavy);
        state.idle.iter().any(|(t, _)| belongs.contains(t) && self.is_free(*t, avoid))
            || (state.live() < self.max
                && self.is_free(self.engine.pick_thread(&state.per_thread, avoid, heavy), avoid))
    }

    /// Builds one more isolate on `thread`, to run the ticket's job (or to wait idle).
    fn grow(self: &Arc<Self>, state: &mut State, thread: usize, ticket: Option<Ticket>) {
        state.per_thread[thread] += 1;
        state.growing += 1;
        if ticket.is_none() {
            state.building += 1;
        }
        self.engine.send(thread, Command::Create { pool: self.clone(), ticket });
    }

    /// The app's isolate on `thread` gives its place to a new one built on a back thread to
    /// run `job` (the caller drops the old one).
    fn rebuild_on_back(
        self: &Arc<Self>,
        state: &mut State,
        thread: usize,
        job: Job,
        avoid: Option<usize>,
    ) -> Placed {
        state.per_thread[thread] -= 1;
        let to = self.engine.pick_thread(&state.per_thread, avoid, true);
        let ticket = Ticket::new(job);
        self.grow(state, to, Some(ticket.clone()));
        Placed::Sent { thread: to, ticket }
    }

    /// An isolate is ready (or could not be built); `for_job` says whether it was built for one.
    pub fn built(&self, for_job: bool) {
        let mut state = self.state.lock().unwrap();
        state.growing = state.growing.saturating_sub(1);
        if !for_job {
            state.building = state.building.saturating_sub(1);
        }
    }

    /// An isolate on `thread` finished its invocation.
    pub fn release(self: &Arc<Self>, thread: usize, id: u64) -> Release {
        let mut state = self.state.lock().unwrap();
        if state.closed {
            state.per_thread[thread] -= 1;
            return Release::Drop;
        }
        // (A light app's isolates on back threads are there for its background work: kept.)
        if self.heavy() && !self.engine.threads_for(true).contains(&thread) {
            // The app turned out heavy: this isolate leaves its serving thread, and what waits
            // gets a new one on a back thread.
            tracing::info!(app = %self.app.name, "the app's function holds a thread for long slices: its isolates move to the back threads");
            match state.next(Queue::Foreground, true) {
                Some(job) => {
                    self.rebuild_on_back(&mut state, thread, job, None);
                }
                None => state.per_thread[thread] -= 1,
            }
            return Release::Drop;
        }
        if !self.keeps_apart() {
            if let Some(job) = state.next(Queue::Foreground, true) {
                return Release::Run(job);
            }
        } else if self.engine.threads_for(true).contains(&thread) {
            // A back thread's isolate: background work first; attempts only when the app has
            // no isolate on a serving thread to run them.
            let serving = state.on(self.engine.serving_threads());
            if let Some(job) = state.next(Queue::Background, serving == 0) {
                return Release::Run(job);
            }
        } else {
            if state.on(self.engine.threads_for(true)) == 0 {
                // Background work waits and the app has no isolate on a back thread (it is at
                // its maximum on the serving threads): this one moves there for it, even while
                // attempts wait, or under a steady load the work would wait for good.
                if let Some(job) = state.next(Queue::Background, false) {
                    self.rebuild_on_back(&mut state, thread, job, None);
                    return Release::Drop;
                }
            }
            if let Some(job) = state.next(Queue::Foreground, false) {
                return Release::Run(job);
            }
        }
        state.idle.push((thread, id));
        Release::Park
    }

    /// An isolate on `thread` was discarded (killed, or could not be built): the next waiting
    /// invocation gets a new one, and an app left with none gets one ready for its next.
    pub fn discarded(self: &Arc<Self>, thread: usize) {
        let mut state = self.state.lock().unwrap();
        state.per_thread[thread] -= 1;
        if state.closed {
            return;
        }
        // The replacement goes where the discarded one was, if it still belongs there (a
        // background job's to a back thread).
        let job = state.next(Queue::Foreground, true);
        if job.is_some() || state.idle.is_empty() {
            let heavy = self.heavy() || job.as_ref().is_some_and(|j| j.background);
            let to = if self.engine.threads_for(heavy).contains(&thread) {
                thread
            } else {
                self.engine.pick_thread(&state.per_thread, None, heavy)
            };
            self.grow(&mut state, to, job.map(Ticket::new));
        }
    }

    /// An isolate could not be built on `thread` (even without the app's code): the waiting
    /// invocations are answered with why, and nothing is built again until the next one.
    pub fn build_failed(&self, thread: usize, error: &str) {
        let mut state = self.state.lock().unwrap();
        state.per_thread[thread] -= 1;
        let State { waiting, waiting_back, .. } = &mut *state;
        for job in waiting.drain(..).chain(waiting_back.drain(..)) {
            let _ = job.reply.send(Answer::Crashed(error.to_string()));
        }
    }

    /// Whether the idle isolate `id` on `thread` should be given back; if so it leaves the pool.
    /// The last one goes when the app hibernates (`[limits] hibernate_after_s`).
    pub fn retire(&self, thread: usize, id: u64, idle_since: Instant) -> bool {
        let mut state = self.state.lock().unwrap();
        // (A closed pool has no idle isolates left to retire: `close` dropped them.)
        let idle = idle_since.elapsed();
        let last = state.live() <= 1;
        let due = match (last, self.app.limits.hibernate_after) {
            (false, _) => idle >= IDLE_RETIRE,
            (true, Some(after)) => {
                idle >= after
                    && state.waiting.is_empty()
                    && state.waiting_back.is_empty()
                    && state.growing == 0
            }
            (true, None) => false,
        };
        if !due {
            return false;
        }
        if last {
            tracing::debug!(app = %self.app.name, "hibernating: the app's last isolate is dropped until its next attempt");
            // Its snapshot stays on disk, not in memory.
            let mut slot = self.snapshot.lock().unwrap();
            if matches!(*slot, SnapshotSlot::Ready(_)) {
                *slot = SnapshotSlot::Unknown;
            }
        }
        let Some(i) = state.idle.iter().position(|&(t, i)| (t, i) == (thread, id)) else {
            return false;
        };
        state.idle.remove(i);
        state.per_thread[thread] -= 1;
        true
    }

    /// No more invocations come (the deployment was replaced or the app shuts down): idle
    /// isolates go now, busy ones after their invocation.
    pub fn close(&self) {
        let mut state = self.state.lock().unwrap();
        state.closed = true;
        let State { waiting, waiting_back, .. } = &mut *state;
        for job in waiting.drain(..).chain(waiting_back.drain(..)) {
            let _ = job.reply.send(Answer::Crashed("the app's deployment was replaced".into()));
        }
        for (thread, id) in std::mem::take(&mut state.idle) {
            state.per_thread[thread] -= 1;
            self.engine.send(thread, Command::Drop { id });
        }
    }

    /// The snapshot to restore a new isolate from, read from disk the first time.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let mut slot = self.snapshot.lock().unwrap();
        if let SnapshotSlot::Unknown = *slot {
            *slot = match snapshot::load(&self.app) {
                Some(s) => SnapshotSlot::Ready(s),
                None => SnapshotSlot::Absent(false),
            };
        }
        match &*slot {
            SnapshotSlot::Ready(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// An isolate was built cold: take a snapshot of the runtime for the next ones, unless one
    /// is on its way.
    pub fn snapshot_wanted(self: &Arc<Self>) {
        let mut slot = self.snapshot.lock().unwrap();
        if matches!(*slot, SnapshotSlot::Absent(false)) {
            self.take_snapshot(&mut slot, true);
        }
    }

    /// A hibernated app slow to build cold (an initialization script or packages to load) with
    /// no snapshot of its runtime yet gets one taken in the background now, so that its first
    /// attempt restores its first isolate instead of building it (the Firebase app: about 35
    /// ms instead of 130-440 ms on a server of many apps). It stays on disk, not in memory,
    /// until that attempt.
    fn snapshot_ahead(self: &Arc<Self>) {
        let slow = self.app.initialization_script.is_some() || !self.app.dependencies.is_empty();
        let mut slot = self.snapshot.lock().unwrap();
        // (`Unknown`: snapshots are on and none was looked for yet.)
        if slow && matches!(*slot, SnapshotSlot::Unknown) && !snapshot::exists(&self.app) {
            self.take_snapshot(&mut slot, false);
        }
    }

    /// Takes a snapshot of the runtime in the background (`slot` says one is on its way);
    /// `keep`: the pool holds it for its next isolates, else it stays on disk until one is built.
    fn take_snapshot(self: &Arc<Self>, slot: &mut SnapshotSlot, keep: bool) {
        *slot = SnapshotSlot::Absent(true);
        let pool = Arc::downgrade(self);
        snapshot::take_later(&self.app, Vec::new(), move |taken| {
            let Some(pool) = pool.upgrade() else { return };
            let mut slot = pool.snapshot.lock().unwrap();
            if matches!(*slot, SnapshotSlot::Absent(true)) {
                *slot = match taken {
                    Some(taken) if keep => SnapshotSlot::Ready(taken),
                    Some(_) => SnapshotSlot::Unknown,
                    // This runtime cannot be snapshotted: its isolates keep being built cold.
                    None => SnapshotSlot::Off,
                };
            }
        });
    }

    /// Whether the invocation about to run should report the modules its isolate loaded: the
    /// first of a deployment that keeps snapshots does.
    pub fn wants_modules(&self) -> bool {
        use std::sync::atomic::Ordering;
        // (Set from the start for a pool without snapshots: one load per invocation.)
        !self.modules_asked.load(Ordering::Relaxed)
            && !matches!(*self.snapshot.lock().unwrap(), SnapshotSlot::Off)
            && !self.modules_asked.swap(true, Ordering::Relaxed)
    }

    /// The modules an isolate loaded by the end of its invocation: when its functions loaded
    /// packages the snapshot does not hold, a new snapshot loads them too. Answers those
    /// packages (none when the snapshot holds them all, or the app has no snapshots).
    pub fn modules_loaded(self: &Arc<Self>, files: Vec<String>) -> Vec<String> {
        let packages: Vec<String> =
            files.into_iter().filter(|f| f.contains("/node_modules/")).collect();
        let first = {
            let mut slot = self.snapshot.lock().unwrap();
            let missing = match &*slot {
                SnapshotSlot::Off => return Vec::new(),
                SnapshotSlot::Ready(s) => packages.iter().any(|f| !s.holds(f)),
                _ => !packages.is_empty(),
            };
            if !missing {
                return Vec::new();
            }
            // The runtime's first: `snapshot_wanted` (asked for after this answer) takes no other.
            let first = matches!(*slot, SnapshotSlot::Absent(false));
            if first {
                *slot = SnapshotSlot::Absent(true);
            }
            first
        };
        let pool = Arc::downgrade(self);
        snapshot::take_later(&self.app, packages.clone(), move |taken| {
            let Some(pool) = pool.upgrade() else { return };
            let mut slot = pool.snapshot.lock().unwrap();
            match taken {
                Some(taken) if !matches!(*slot, SnapshotSlot::Off) => {
                    *slot = SnapshotSlot::Ready(taken)
                }
                // This runtime cannot be snapshotted: its isolates keep being built cold.
                None if first && matches!(*slot, SnapshotSlot::Absent(true)) => {
                    *slot = SnapshotSlot::Off
                }
                _ => {}
            }
        });
        packages
    }

    /// Whether the snapshot new isolates restore from (the one in memory) holds every file.
    pub fn snapshot_holds(&self, files: &[String]) -> bool {
        match &*self.snapshot.lock().unwrap() {
            SnapshotSlot::Ready(s) => files.iter().all(|f| s.holds(f)),
            _ => false,
        }
    }

    /// The idle isolate `id` on `thread` gives its place to a new one built there (restored from
    /// the runtime's snapshot), unless it was just handed a job or the pool is closed. Answers
    /// whether the caller drops it.
    pub fn replace(self: &Arc<Self>, thread: usize, id: u64) -> bool {
        let mut state = self.state.lock().unwrap();
        let Some(i) = state.idle.iter().position(|&(t, i)| (t, i) == (thread, id)) else {
            return false;
        };
        if state.closed {
            return false;
        }
        state.idle.remove(i);
        state.per_thread[thread] -= 1;
        self.grow(&mut state, thread, None);
        true
    }

    /// A snapshot that did not restore is not tried again for this deployment.
    pub fn discard_snapshot(&self) {
        *self.snapshot.lock().unwrap() = SnapshotSlot::Off;
    }

    pub fn init_failure(&self) -> Option<serde_json::Value> {
        self.state.lock().unwrap().init_failure.clone()
    }

    pub fn set_init_failure(&self, failure: serde_json::Value) {
        self.state.lock().unwrap().init_failure = Some(failure);
    }
}

/// The next waiting job whose caller still waits.
fn next_job(waiting: &mut VecDeque<Job>) -> Option<Job> {
    while let Some(job) = waiting.pop_front() {
        if !job.reply.is_closed() {
            return Some(job);
        }
    }
    None
}
