//! The isolate threads: a fixed set shared by every app of the process, each a single-threaded
//! tokio runtime that owns the isolates built on it and runs their invocations, interleaved
//! while they wait for I/O. Pools (`pool.rs`) send each thread commands: build an isolate (and
//! run a job on it), run a job on one of its idle isolates, drop one.
//!
//! The threads come in two kinds, by default one of each per core. *Serving* threads also
//! accept and serve the HTTP connections (`http::serve`), and run the isolates of apps whose
//! functions answer quickly: an attempt that arrives on a serving thread runs on an isolate of
//! that same thread, with no hop between threads on its way in or out. *Back* threads run the
//! isolates of *heavy* apps, those seen running long slices of JavaScript on a serving thread
//! (`supervisor::Heaviness`): such an app stalls the connections
//! of the thread it runs on, so it moves, for the rest of its deployment, to threads that serve
//! none. One watchdog thread (`supervisor.rs`) watches what they all run.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::isolate::Isolate;
use super::pool::{Pool, Release, Ticket};
use super::protocol::{Answer, Job};
use super::supervisor::{self, ThreadSlot};

/// A thread running one slice of JavaScript for longer than this is busy: new work goes
/// elsewhere if it can.
pub const BUSY_AFTER: Duration = Duration::from_millis(2);

pub enum Command {
    /// Build an isolate of `pool` here, then run the ticket's job on it (or keep it idle).
    Create { pool: Arc<Pool>, ticket: Option<Ticket> },
    /// Run the ticket's job on idle isolate `id` of this thread.
    Run { id: u64, ticket: Ticket },
    /// Drop idle isolate `id` (its pool closed).
    Drop { id: u64 },
    /// Run this on the thread (which starts its tasks with `spawn_local`).
    Call(Box<dyn FnOnce() + Send>),
}

struct Thread {
    commands: mpsc::UnboundedSender<Command>,
    slot: Arc<ThreadSlot>,
}

pub struct Engine {
    threads: Vec<Thread>,
    /// Threads `0..serving` serve connections; the others are back threads.
    serving: usize,
    /// The serving threads' latest measured load (`serving_load`).
    load: std::sync::Mutex<LoadSample>,
}

/// The serving threads' CPU times when last measured, and the load measured then.
struct LoadSample {
    at: std::time::Instant,
    cpu: Vec<Duration>,
    load: f64,
}

/// How often the serving threads' load is measured (at most).
const LOAD_WINDOW: Duration = Duration::from_millis(50);

thread_local! {
    /// The index of the isolate thread this is, if it is one.
    static THIS_THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The isolate thread the caller runs on, if it runs on one.
pub fn this_thread() -> Option<usize> {
    THIS_THREAD.with(Cell::get)
}

static ENGINE: OnceLock<Engine> = OnceLock::new();
static THREADS: OnceLock<usize> = OnceLock::new();

/// Sets the number of isolate threads, before the engine first starts (`chatfn serve
/// --isolate-threads`); later calls change nothing.
pub fn configure(threads: usize) {
    THREADS.get_or_init(|| threads.clamp(1, 256));
}

/// The process's engine, started on first use.
pub fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| {
        let threads = *THREADS.get_or_init(default_threads);
        Engine::start(threads)
    })
}

/// Two threads per core: one serving, one back (see the module's documentation).
/// `CHATFN_ISOLATE_THREADS` overrides it.
fn default_threads() -> usize {
    if let Some(n) =
        std::env::var("CHATFN_ISOLATE_THREADS").ok().and_then(|v| v.parse::<usize>().ok())
    {
        return n.clamp(1, 256);
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) * 2
}

impl Engine {
    fn start(count: usize) -> Engine {
        set_v8_flags();
        // Half serve (rounded up): with a single thread, it serves and runs everything.
        let serving = count.div_ceil(2);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let (commands, inbox) = mpsc::unbounded_channel();
            let (ready, slot) = std::sync::mpsc::channel();
            let serves = index < serving;
            std::thread::Builder::new()
                .name(if serves {
                    format!("chatfn-serve-{index}")
                } else {
                    format!("chatfn-back-{index}")
                })
                .spawn(move || run_thread(index, serves, inbox, ready))
                .expect("cannot start an isolate thread");
            let slot = slot.recv().expect("the isolate thread starts");
            threads.push(Thread { commands, slot });
        }
        supervisor::start_watchdog(threads.iter().map(|t| t.slot.clone()).collect());
        let load = LoadSample { at: std::time::Instant::now(), cpu: Vec::new(), load: 0.0 };
        Engine { threads, serving, load: std::sync::Mutex::new(load) }
    }

    /// How busy the serving threads are: the largest share of its time any of them spent
    /// running (JavaScript, HTTP, the stores' calls) over the last `LOAD_WINDOW` or so, 0 to 1.
    /// Background work (chat events' runs) yields while it is high (`events::delivery`).
    pub fn serving_load(&self) -> f64 {
        let mut sample = self.load.lock().unwrap();
        let elapsed = sample.at.elapsed();
        if elapsed < LOAD_WINDOW {
            return sample.load;
        }
        let cpu: Vec<Duration> = self.threads[self.serving_threads()]
            .iter()
            .map(|t| t.slot.working_cpu_time().unwrap_or_default())
            .collect();
        if sample.cpu.len() == cpu.len() {
            sample.load = cpu
                .iter()
                .zip(&sample.cpu)
                .map(|(now, before)| now.saturating_sub(*before).as_secs_f64())
                .fold(0.0, f64::max)
                / elapsed.as_secs_f64();
        }
        sample.at = std::time::Instant::now();
        sample.cpu = cpu;
        sample.load
    }

    /// The threads that serve connections.
    pub fn serving_threads(&self) -> Range<usize> {
        0..self.serving
    }

    /// Whether there are back threads for heavy apps (with one thread there are none).
    pub fn has_back_threads(&self) -> bool {
        self.serving < self.threads.len()
    }

    /// The threads where an app's isolates belong: the serving ones, or for a heavy app the
    /// back ones when there are any.
    pub fn threads_for(&self, heavy: bool) -> Range<usize> {
        if heavy && self.has_back_threads() {
            self.serving..self.threads.len()
        } else {
            0..self.serving
        }
    }

    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Isolates an app may have unless it says otherwise: two per thread, so invocations that
    /// wait for I/O (each isolate runs one at a time) do not hold the others up.
    pub fn default_isolates(&self) -> usize {
        self.threads.len() * 2
    }

    /// How long `thread` has been running its current slice of JavaScript (zero when idle).
    pub fn busy_for(&self, thread: usize) -> Duration {
        self.threads[thread].slot.busy_since().unwrap_or_default()
    }

    /// The thread for a new isolate of a pool with `mine` isolates per thread: among the
    /// threads where the pool's isolates belong, the one the caller runs on (its connection's
    /// thread), else one not busy, with the fewest of the pool's isolates, then the one busy for
    /// the shortest time.
    pub fn pick_thread(&self, mine: &[usize], avoid: Option<usize>, heavy: bool) -> usize {
        let threads = self.threads_for(heavy);
        let here = this_thread().filter(|t| threads.contains(t) && Some(*t) != avoid);
        if let Some(here) = here {
            return here;
        }
        let start = threads.start;
        threads
            .filter(|t| Some(*t) != avoid)
            .min_by_key(|&t| {
                let busy = self.busy_for(t);
                (busy >= BUSY_AFTER, mine[t], busy)
            })
            .unwrap_or(start)
    }

    /// How long `thread` has been running one slice of JavaScript (zero when it is not; a
    /// build does not count: a job waiting for the isolate built for it stays with it).
    pub fn in_slice_for(&self, thread: usize) -> Duration {
        self.threads[thread].slot.in_slice_since().unwrap_or_default()
    }

    pub fn send(&self, thread: usize, command: Command) {
        let Err(mpsc::error::SendError(command)) = self.threads[thread].commands.send(command)
        else {
            return;
        };
        if let Command::Run { ticket, .. } | Command::Create { ticket: Some(ticket), .. } = command
        {
            if let Some(job) = ticket.take() {
                let _ = job.reply.send(Answer::Crashed("the isolate thread has stopped".into()));
            }
        }
    }
}

/// V8's flags, set once before the first isolate: chatfn's, then `CHATFN_V8_FLAGS` (space
/// separated, for measuring others).
pub(crate) fn set_v8_flags() {
    let mut flags = vec!["chatfn".to_string()];
    flags.extend(
        std::env::var("CHATFN_V8_FLAGS").unwrap_or_default().split_whitespace().map(String::from),
    );
    let unknown = deno_core::v8_set_flags(flags);
    if unknown.len() > 1 {
        tracing::warn!("unknown V8 flags in CHATFN_V8_FLAGS: {:?}", &unknown[1..]);
    }
}

/// Idle isolates of one thread, by id.
type Idle = Rc<RefCell<HashMap<u64, Isolate>>>;

static NEXT_ISOLATE: AtomicU64 = AtomicU64::new(1);

fn run_thread(
    index: usize,
    serves: bool,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    ready: std::sync::mpsc::Sender<Arc<ThreadSlot>>,
) {
    THIS_THREAD.with(|t| t.set(Some(index)));
    let slot = ThreadSlot::for_this_thread(serves);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for an isolate thread");
    let _ = ready.send(slot.clone());
    // deno_core spawns async ops onto the current tokio runtime, also from synchronous calls.
    let _context = runtime.enter();
    let local = tokio::task::LocalSet::new();
    if serves {
        local.spawn_local(super::busy_poll::run(slot.clone()));
    }
    let idle: Idle = Rc::default();
    local.block_on(&runtime, async move {
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                command = inbox.recv() => match command {
                    Some(Command::Create { pool, ticket }) => {
                        tokio::task::spawn_local(create(index, slot.clone(), idle.clone(), pool, ticket));
                    }
                    Some(Command::Run { id, ticket }) => {
                        let isolate = idle.borrow_mut().remove(&id);
                        match (isolate, ticket.take()) {
                            (Some(isolate), Some(job)) => drop(tokio::task::spawn_local(serve(index, idle.clone(), isolate, job))),
                            // The job was taken back and went elsewhere.
                            (Some(isolate), None) => drop(tokio::task::spawn_local(park(index, idle.clone(), isolate))),
                            (None, Some(job)) => drop(job.reply.send(Answer::Crashed("the isolate is gone".into()))),
                            (None, None) => {}
                        }
                    }
                    Some(Command::Drop { id }) => drop(idle.borrow_mut().remove(&id)),
                    Some(Command::Call(f)) => f(),
                    None => return,
                },
                _ = sweep.tick() => {
                    let retired: Vec<u64> = idle
                        .borrow()
                        .values()
                        .filter(|i| i.pool.retire(index, i.id, i.last_used))
                        .map(|i| i.id)
                        .collect();
                    for id in retired {
                        let isolate = idle.borrow_mut().remove(&id);
                        // (One given back before it caught up: an app that hibernates soon.)
                        isolate.into_iter().for_each(|mut i| i.catch_up());
                    }
                    // One isolate that compiled packages the runtime's newest snapshot holds
                    // gives its place to one restored from it, a sweep at most.
                    let outgrown = idle.borrow().values().find(|i| i.replaceable()).map(|i| (i.id, i.pool.clone()));
                    if let Some((id, pool)) = outgrown {
                        if pool.replace(index, id) {
                            idle.borrow_mut().remove(&id);
                            tracing::debug!(app = %pool.app.name, thread = index, "an isolate gave its place to one restored from the runtime's newer snapshot");
                        }
                    }
                    // An isolate that has not served yet catches up once idle a while (one that
                    // served did after its answer).
                    for isolate in idle.borrow_mut().values_mut().filter(|i| i.idle_for() >= Duration::from_secs(1)) {
                        isolate.catch_up();
                    }
                    // One idle isolate's heap compacted a sweep at most: the thread stops for it.
                    let started = std::time::Instant::now();
                    if let Some(isolate) = idle.borrow_mut().values_mut().find_map(|i| i.compact_once().then_some(i)) {
                        let ms = started.elapsed().as_secs_f64() * 1e3;
                        tracing::debug!(app = %isolate.pool.app.name, thread = index, ms, "compacted an isolate's heap");
                    }
                }
            }
        }
    });
}

async fn create(
    thread: usize,
    slot: Arc<ThreadSlot>,
    idle: Idle,
    pool: Arc<Pool>,
    ticket: Option<Ticket>,
) {
    let id = NEXT_ISOLATE.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let built = {
        let _busy = slot.building();
        Isolate::build(&pool, &slot, id)
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if built.as_ref().is_ok_and(|i| i.restored()) {
        tracing::debug!(app = %pool.app.name, thread, for_job = ticket.is_some(), ms, "restored an isolate from its runtime's snapshot");
    } else {
        let bootstrap = built.as_ref().is_ok_and(|i| i.bootstrapped());
        tracing::debug!(app = %pool.app.name, thread, for_job = ticket.is_some(), bootstrap, ms, "built an isolate");
    }
    pool.built(ticket.is_some());
    let job = ticket.and_then(|t| t.take());
    match built {
        Ok(isolate) => match job {
            Some(job) => serve(thread, idle, isolate, job).await,
            None => park(thread, idle, isolate).await,
        },
        Err(error) => {
            tracing::error!(app = %pool.app.name, %error, "cannot build an isolate");
            if let Some(job) = job {
                let _ = job.reply.send(Answer::Crashed(error.clone()));
            }
            pool.build_failed(thread, &error);
        }
    }
}

/// Runs `job` on `isolate`, then whatever the pool has waiting for it.
async fn serve(thread: usize, idle: Idle, isolate: Isolate, job: Job) {
    let mut next = Some((isolate, job));
    while let Some((isolate, job)) = next.take() {
        let pool = isolate.pool.clone();
        let (isolate, reply) = isolate.run(job).await;
        let Some(isolate) = isolate else {
            pool.discarded(thread);
            reply.send();
            return;
        };
        let id = isolate.id;
        match pool.release(thread, isolate.id) {
            Release::Run(job) => next = Some((isolate, job)),
            Release::Park => {
                idle.borrow_mut().insert(isolate.id, isolate);
            }
            Release::Drop => drop(isolate),
        }
        reply.send();
        // What the invocation left for after its answer (`Isolate::catch_up`).
        match &mut next {
            Some((isolate, _)) => isolate.catch_up(),
            None => idle.borrow_mut().get_mut(&id).into_iter().for_each(Isolate::catch_up),
        }
    }
}

/// Keeps a new isolate idle, or runs what arrived while it was being built.
async fn park(thread: usize, idle: Idle, isolate: Isolate) {
    let pool = isolate.pool.clone();
    match pool.release(thread, isolate.id) {
        Release::Run(job) => serve(thread, idle, isolate, job).await,
        Release::Park => {
            idle.borrow_mut().insert(isolate.id, isolate);
        }
        Release::Drop => drop(isolate),
    }
}
