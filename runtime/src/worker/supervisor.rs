//! The limits of an invocation, enforced from outside its isolate. Every isolate has a
//! [`Watch`]: the budget of the invocation it runs (CPU used so far over all its slices, the
//! wall deadline) and the kill, once one is decided. An isolate thread runs JavaScript only in
//! a [`Slice`], which marks the thread's [`ThreadSlot`] with the watch being run; one watchdog
//! thread for the whole engine looks at those slots every few milliseconds, measures the
//! running slice on that thread's own CPU clock (so time spent waiting for I/O or for a busy
//! machine does not count; slices too short to be seen are charged their wall time), stops
//! JavaScript that is past its CPU budget or its wall deadline, and lowers the priority of a
//! long slice so other apps win a contended core first. Stopping first interrupts the isolate to record the JavaScript stack it was
//! running, then terminates it (`terminate_execution`, also directly if the interrupt does not
//! run soon, as in a blocking `Atomics.wait`). The near-heap-limit hook and the ArrayBuffer
//! allocator (`memory.rs`) decide heap kills the same way. A killed isolate is discarded by its
//! thread: nothing of the invocation runs afterwards.

use std::cell::RefCell;
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deno_core::v8;

use super::protocol::Kill;

/// Which limit an interrupt is about to stop the isolate for.
#[derive(Debug, Clone, Copy)]
enum Reason {
    Cpu,
    Wall,
    Heap,
}

/// How much more CPU time the isolate may burn, after being asked to record its stack and
/// stop, before it is terminated without the stack. CPU time, not wall time: on a busy
/// machine a thread that is not running is not misbehaving either. A thread blocked in
/// `Atomics.wait` burns none, so a wall-time grace covers that case.
const INTERRUPT_GRACE: Duration = Duration::from_millis(50);
const INTERRUPT_WALL_GRACE: Duration = Duration::from_millis(200);

/// How often the watchdog looks at the running slices.
const TICK: Duration = Duration::from_millis(5);
/// How often a running isolate is asked to compare its external memory (ArrayBuffers and
/// WebAssembly memories, which the V8 heap limit does not see) with its limit.
const MEMORY_CHECK: Duration = Duration::from_millis(10);

/// The limits of the invocation an isolate runs, and how far it is through them.
#[derive(Default)]
struct Budget {
    cpu_limit: Duration,
    wall_limit: Duration,
    heap_limit: usize,
    /// CPU time of the invocation's finished slices.
    cpu_used: Duration,
    /// `None` while the isolate runs no invocation (loading the app, for instance).
    deadline: Option<Instant>,
    kill: Option<Kill>,
    /// When the isolate was last asked to check its external memory.
    memory_checked: Option<Instant>,
    /// When the isolate was asked to record its stack and stop (thread CPU time and instant),
    /// and why.
    interrupt_requested: Option<(Duration, Instant, Reason)>,
    /// Invocations the isolate has begun.
    invocations: u32,
}

/// One isolate's limits, shared between its thread and the watchdog.
pub struct Watch {
    handle: v8::IsolateHandle,
    budget: Mutex<Budget>,
    /// The app's mark as heavy, shared by its pool and all its isolates.
    heavy: Arc<Heaviness>,
}

/// Whether an app is heavy: one slice of `HEAVY_AT_ONCE` on a serving thread makes it so, or
/// `STRIKES` slices of `HEAVY_AFTER` each less than `STRIKES_WITHIN` after the one before (a
/// rare long slice, a garbage collection or a compilation, does not).
#[derive(Default)]
pub struct Heaviness {
    heavy: AtomicBool,
    strikes: Mutex<(u32, Option<Instant>)>,
}

impl Heaviness {
    pub fn is_heavy(&self) -> bool {
        self.heavy.load(Ordering::Relaxed)
    }

    /// Counts a long slice; says whether that makes the app heavy.
    fn strike(&self) -> bool {
        let mut strikes = self.strikes.lock().unwrap();
        let (count, last) = &mut *strikes;
        if last.is_none_or(|at| at.elapsed() > STRIKES_WITHIN) {
            *count = 0;
        }
        *count += 1;
        *last = Some(Instant::now());
        *count >= STRIKES
    }
}

impl Watch {
    pub fn new(
        handle: v8::IsolateHandle,
        limits: &crate::config::Limits,
        heavy: Arc<Heaviness>,
    ) -> Arc<Watch> {
        let budget = Budget {
            cpu_limit: limits.cpu,
            wall_limit: limits.wall,
            heap_limit: limits.heap_bytes,
            ..Budget::default()
        };
        Arc::new(Watch { handle, budget: Mutex::new(budget), heavy })
    }

    /// Starts a new invocation's budget.
    pub fn begin_invocation(&self, deadline: Instant) {
        let mut b = self.budget.lock().unwrap();
        b.cpu_used = Duration::ZERO;
        b.deadline = Some(deadline);
        b.invocations += 1;
    }

    /// A slice of this isolate has run `long` (at least `HEAVY_AFTER`) on a serving thread,
    /// and has `ended` or not yet (the watchdog's look): see `Heaviness`.
    fn note_slice(&self, long: Duration, ended: bool) {
        if self.heavy.is_heavy() {
            return;
        }
        // (Loading the app, when the isolate is built, counts as its first.)
        let warming = self.budget.lock().unwrap().invocations <= WARMING_INVOCATIONS + 1;
        let at_once = if warming { HEAVY_AFTER_WARMING } else { HEAVY_AT_ONCE };
        let heavy = long >= at_once || (ended && !warming && self.heavy.strike());
        if heavy {
            tracing::debug!(
                slice_ms = long.as_secs_f64() * 1e3,
                "slices held a serving thread too long: the app is heavy"
            );
            self.heavy.heavy.store(true, Ordering::Relaxed);
        }
    }

    /// CPU time of the invocation's finished slices so far.
    pub fn cpu_used(&self) -> Duration {
        self.budget.lock().unwrap().cpu_used
    }

    /// Ends the budget (loading code between invocations runs under the CPU limit only), and
    /// says whether the isolate is clean: no kill decided and no stop asked for.
    pub fn end_invocation(&self) -> bool {
        let mut b = self.budget.lock().unwrap();
        b.cpu_used = Duration::ZERO;
        b.deadline = None;
        b.kill.is_none() && b.interrupt_requested.is_none()
    }

    pub fn kill(&self) -> Option<Kill> {
        self.budget.lock().unwrap().kill.clone()
    }

    /// Decides a kill for the wall limit of an invocation whose isolate is not running
    /// JavaScript (it waits for a timer, say); its thread then discards the isolate.
    pub fn kill_at_deadline(&self) -> Kill {
        let mut b = self.budget.lock().unwrap();
        let limit = b.wall_limit;
        b.kill.get_or_insert(Kill::Wall { limit, stack: Vec::new() }).clone()
    }

    /// Called when memory runs out (V8's near-heap-limit hook, or the ArrayBuffer budget): the
    /// first time, asks the isolate to record its stack and stop; after that, stops it at once.
    pub fn out_of_memory(self: &Arc<Self>) {
        let mut b = self.budget.lock().unwrap();
        if b.kill.is_some() {
            return;
        }
        if b.interrupt_requested.is_none() {
            request_stop(self, &mut b, current_thread_cpu(), Reason::Heap);
        } else {
            b.kill = Some(Kill::Heap { limit_bytes: b.heap_limit, stack: Vec::new() });
            self.handle.terminate_execution();
        }
    }

    /// Looks at the slice this isolate is running: `slice_cpu` of CPU time so far, on a
    /// thread whose CPU clock reads `now`. Called with the thread's slot locked, so the slice
    /// cannot end meanwhile: no stop is ever asked for outside one.
    fn check(self: &Arc<Self>, slice_cpu: Duration, now: Duration) {
        let mut b = self.budget.lock().unwrap();
        if b.kill.is_some() {
            // Still running after the kill: deno_core may have cancelled the termination to
            // report it, and what it reads (an error's `message` getter, say) may spin again.
            self.handle.terminate_execution();
            return;
        }
        if let Some((asked_cpu, asked_at, reason)) = b.interrupt_requested {
            if now.saturating_sub(asked_cpu) > INTERRUPT_GRACE
                || asked_at.elapsed() > INTERRUPT_WALL_GRACE
            {
                // The isolate did not reach an interrupt check: stop it without a stack.
                b.kill = Some(kill_for(&b, reason, Vec::new()));
                self.handle.terminate_execution();
            }
            return;
        }
        if b.cpu_used + slice_cpu > b.cpu_limit {
            request_stop(self, &mut b, now, Reason::Cpu);
        } else if b.deadline.is_some_and(|d| Instant::now() >= d) {
            request_stop(self, &mut b, now, Reason::Wall);
        } else if b.memory_checked.is_none_or(|at| at.elapsed() >= MEMORY_CHECK) {
            b.memory_checked = Some(Instant::now());
            let data = Weak::into_raw(Arc::downgrade(self)) as *mut c_void;
            if !self.handle.request_interrupt(check_memory, data) {
                // SAFETY: the interrupt will not run, so the reference is still ours.
                drop(unsafe { Weak::from_raw(data as *const Watch) });
            }
        }
    }
}

fn kill_for(b: &Budget, reason: Reason, stack: Vec<String>) -> Kill {
    match reason {
        Reason::Cpu => Kill::Cpu { limit: b.cpu_limit, stack },
        Reason::Wall => Kill::Wall { limit: b.wall_limit, stack },
        Reason::Heap => Kill::Heap { limit_bytes: b.heap_limit, stack },
    }
}

/// Asks the isolate to run `stop_with_stack` at its next interrupt check.
fn request_stop(watch: &Arc<Watch>, b: &mut Budget, now: Duration, reason: Reason) {
    b.interrupt_requested = Some((now, Instant::now(), reason));
    // A weak reference: an interrupt that never runs (its isolate discarded first) leaks no
    // watch.
    let data = Weak::into_raw(Arc::downgrade(watch)) as *mut c_void;
    if !watch.handle.request_interrupt(stop_with_stack, data) {
        // SAFETY: the interrupt will not run, so the reference is still ours.
        drop(unsafe { Weak::from_raw(data as *const Watch) });
        b.kill = Some(kill_for(b, reason, Vec::new()));
        watch.handle.terminate_execution();
    }
}

/// Runs on the isolate's thread, inside the JavaScript that hit a limit.
unsafe extern "C" fn stop_with_stack(raw: v8::UnsafeRawIsolatePtr, data: *mut c_void) {
    // SAFETY: `data` is the reference the watchdog leaked for this call.
    let Some(watch) = unsafe { Weak::from_raw(data as *const Watch) }.upgrade() else { return };
    // SAFETY: V8 calls interrupts on the isolate's own thread with a live isolate.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(raw) };
    let stack = current_stack(&mut isolate);
    let mut b = watch.budget.lock().unwrap();
    if let (None, Some((_, _, reason))) = (&b.kill, b.interrupt_requested) {
        b.kill = Some(kill_for(&b, reason, stack));
    }
    drop(b);
    isolate.terminate_execution();
}

/// What one isolate thread is running: the slice of an isolate's JavaScript (its watch, and
/// when it started), or the build of an isolate.
pub struct ThreadSlot {
    clock: Option<libc::clockid_t>,
    /// The thread's id, to lower its scheduling priority during a long slice.
    tid: libc::pid_t,
    running: Mutex<Option<Running>>,
    /// Since when the thread has been building an isolate, if it is (not a slice: no
    /// invocation's budget is charged, but the thread is just as busy).
    building: Mutex<Option<Instant>>,
    /// Whether the thread runs at `DEMOTED_NICE` now (see `DEMOTE_AFTER`).
    demoted: AtomicBool,
    /// Whether the thread serves connections (see `engine.rs`).
    serves: bool,
    /// The CPU time the thread spent busy polling for requests (`busy_poll`), in nanoseconds.
    polled: AtomicU64,
}

/// The slice a thread is running.
struct Running {
    watch: Arc<Watch>,
    started: Instant,
    /// When the watchdog first saw the slice, and the thread's CPU clock then. A slice too
    /// short to be seen (most are) never reads the CPU clock: it is charged its wall time,
    /// which is at least its CPU time; a longer one is charged its wall time until it was seen
    /// and its CPU time after.
    seen: Option<(Instant, Duration)>,
}

impl Running {
    fn cpu(&self, seen: (Instant, Duration), cpu_now: Duration) -> Duration {
        seen.0.saturating_duration_since(self.started) + cpu_now.saturating_sub(seen.1)
    }
}

impl ThreadSlot {
    /// A slot for the calling thread.
    pub fn for_this_thread(serves: bool) -> Arc<ThreadSlot> {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        if !serves {
            // Back threads run what may wait (heavy apps, chat events) at a lower priority for
            // good: the serving threads' session attempts win a contended core first.
            set_nice(tid, DEMOTED_NICE);
        }
        let demoted = AtomicBool::new(false);
        Arc::new(ThreadSlot {
            clock: current_thread_clock(),
            tid,
            running: Mutex::new(None),
            building: Mutex::new(None),
            demoted,
            serves,
            polled: AtomicU64::new(0),
        })
    }

    /// How long the thread has been running its current slice of JavaScript, or building an
    /// isolate, if it is.
    pub fn busy_since(&self) -> Option<Duration> {
        let slice = self.running.lock().unwrap().as_ref().map(|r| r.started);
        let since = slice.or(*self.building.lock().unwrap())?;
        Some(since.elapsed())
    }

    /// How long the thread has been running its current slice of JavaScript, if it is (not
    /// counting a build).
    pub fn in_slice_since(&self) -> Option<Duration> {
        self.running.lock().unwrap().as_ref().map(|r| r.started.elapsed())
    }

    /// Counts a slice of `long` against its isolate's app when this thread serves connections
    /// and the slice is long enough to count (an isolate's build never does).
    fn note_slice(&self, watch: &Watch, long: Duration, ended: bool) {
        if self.serves && long >= HEAVY_AFTER && self.building.lock().unwrap().is_none() {
            watch.note_slice(long, ended);
        }
    }

    /// The thread's CPU time so far spent working, which busy polling is not (None where
    /// threads have no CPU clock).
    pub fn working_cpu_time(&self) -> Option<Duration> {
        Some(cpu_time(self.clock?)?.saturating_sub(self.polling_time()))
    }

    /// The CPU time the thread spent busy polling.
    pub fn polling_time(&self) -> Duration {
        Duration::from_nanos(self.polled.load(Ordering::Relaxed))
    }

    /// Counts `polled` of busy polling (`busy_poll::run`).
    pub fn note_polling(&self, polled: Duration) {
        self.polled.fetch_add(polled.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Marks the thread busy building an isolate until the guard is dropped.
    pub fn building(&self) -> Building<'_> {
        *self.building.lock().unwrap() = Some(Instant::now());
        Building(self)
    }

    /// The watchdog's look at the slice running now: measures it and checks its limits.
    fn check(&self) {
        let Some(clock) = self.clock else { return };
        let mut running = self.running.lock().unwrap();
        let Some(r) = running.as_mut() else { return };
        let Some(cpu_now) = cpu_time(clock) else { return };
        let seen = *r.seen.get_or_insert((Instant::now(), cpu_now));
        let slice_cpu = r.cpu(seen, cpu_now);
        r.watch.check(slice_cpu, cpu_now);
        // What counts against the app is the time it ran, not the time the thread waited for
        // a core (on a loaded machine a quick slice can be preempted for milliseconds).
        self.note_slice(&r.watch, slice_cpu, false);
        if self.serves
            && slice_cpu >= DEMOTE_AFTER
            && can_demote()
            && !self.demoted.swap(true, Ordering::Relaxed)
        {
            set_nice(self.tid, DEMOTED_NICE);
        }
    }
}

pub struct Building<'a>(&'a ThreadSlot);

impl Drop for Building<'_> {
    fn drop(&mut self) {
        *self.0.building.lock().unwrap() = None;
    }
}

/// Slices that ran this long on a thread that serves connections count against an app
/// (`Heaviness`): quick functions run slices of well under a millisecond. Measured as the
/// watchdog sees them (`Running::cpu`): the thread's CPU time once seen, so a quick slice
/// preempted on a loaded machine does not count, and one the watchdog never saw does not.
const HEAVY_AFTER: Duration = Duration::from_millis(10);
const STRIKES: u32 = 3;
const STRIKES_WITHIN: Duration = Duration::from_secs(10);
/// One slice this long makes an app heavy at once (the watchdog sees it while it runs).
const HEAVY_AT_ONCE: Duration = Duration::from_millis(50);
/// The first invocations of an isolate compile what they touch (the first verifyIdToken of a
/// Firebase isolate runs a slice of 20-40 ms): they are allowed this much, and no strikes.
/// Loading the app (the isolate's build) is not counted.
const WARMING_INVOCATIONS: u32 = 3;
const HEAVY_AFTER_WARMING: Duration = Duration::from_millis(150);

/// A slice of JavaScript that ran this long without a break (a hostile or a heavy function)
/// runs at a lower priority (`DEMOTED_NICE`) until it ends, so the threads that answer other
/// apps, and HTTP, win a contended core first; it still gets its share (a tenth of a core
/// against one busy neighbour), so it reaches its CPU limit, not its wall limit.
const DEMOTE_AFTER: Duration = Duration::from_millis(10);
const DEMOTED_NICE: libc::c_int = 10;

/// Whether this process may give a thread its priority back after lowering it (raising a nice
/// value is always allowed; lowering it again needs CAP_SYS_NICE or RLIMIT_NICE). Without it
/// long slices are not demoted: a thread demoted for good would slow every app on it.
fn can_demote() -> bool {
    static CAN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAN.get_or_init(|| {
        // Tried on a short-lived thread of its own: nice values are per thread on Linux.
        std::thread::spawn(|| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            set_nice(tid, DEMOTED_NICE) && set_nice(tid, 0)
        })
        .join()
        .unwrap_or(false)
    })
}

fn set_nice(tid: libc::pid_t, nice: libc::c_int) -> bool {
    // SAFETY: setpriority on a thread id of this process.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) == 0 }
}

/// Runs on the isolate's thread, inside running JavaScript: stops it, with its stack, when its
/// external memory (what V8 accounts for ArrayBuffers, also those whose memory did not come
/// from chatfn's allocator) is past the limit.
unsafe extern "C" fn check_memory(raw: v8::UnsafeRawIsolatePtr, data: *mut c_void) {
    // SAFETY: `data` is the reference the watchdog leaked for this call.
    let Some(watch) = unsafe { Weak::from_raw(data as *const Watch) }.upgrade() else { return };
    // SAFETY: V8 calls interrupts on the isolate's own thread with a live isolate.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(raw) };
    let limit = watch.budget.lock().unwrap().heap_limit;
    if isolate.get_heap_statistics().external_memory() <= limit {
        return;
    }
    let stack = current_stack(&mut isolate);
    let mut b = watch.budget.lock().unwrap();
    if b.kill.is_none() {
        b.kill = Some(Kill::Heap { limit_bytes: limit, stack });
    }
    drop(b);
    isolate.terminate_execution();
}

thread_local! {
    /// The watch and context of the isolate in a slice on this thread, for the stack capture
    /// and the ArrayBuffer allocator.
    static CURRENT: RefCell<Option<(Arc<Watch>, Rc<v8::Global<v8::Context>>)>> = const { RefCell::new(None) };
}

/// A stretch of JavaScript execution of one isolate on its thread; the watchdog only stops
/// JavaScript inside one. Dropping it charges the time to the invocation.
pub struct Slice<'a> {
    slot: &'a ThreadSlot,
    watch: &'a Arc<Watch>,
}

impl<'a> Slice<'a> {
    pub fn begin(
        slot: &'a ThreadSlot,
        watch: &'a Arc<Watch>,
        context: &Rc<v8::Global<v8::Context>>,
    ) -> Slice<'a> {
        CURRENT.with(|c| *c.borrow_mut() = Some((watch.clone(), context.clone())));
        *slot.running.lock().unwrap() =
            Some(Running { watch: watch.clone(), started: Instant::now(), seen: None });
        Slice { slot, watch }
    }
}

impl Drop for Slice<'_> {
    fn drop(&mut self) {
        let running = self.slot.running.lock().unwrap().take();
        if self.slot.demoted.swap(false, Ordering::Relaxed) {
            set_nice(self.slot.tid, 0);
        }
        CURRENT.with(|c| c.borrow_mut().take());
        let used = match &running {
            Some(r) => match r.seen {
                Some(seen) => {
                    let used = r.cpu(seen, current_thread_cpu());
                    self.slot.note_slice(self.watch, used, true);
                    used
                }
                // Too short for the watchdog to see (it looks every `TICK`): it does not count
                // against the app, unless the thread has no CPU clock to measure long ones.
                None => {
                    let used = r.started.elapsed();
                    if self.slot.clock.is_none() {
                        self.slot.note_slice(self.watch, used, true);
                    }
                    used
                }
            },
            None => Duration::ZERO,
        };
        self.watch.budget.lock().unwrap().cpu_used += used;
    }
}

/// The watch of the isolate running JavaScript on this thread, if any.
pub fn current_watch() -> Option<Arc<Watch>> {
    CURRENT.with(|c| c.borrow().as_ref().map(|(w, _)| w.clone()))
}

/// Starts the one watchdog thread of an engine over the slots of its isolate threads.
pub fn start_watchdog(slots: Vec<Arc<ThreadSlot>>) {
    std::thread::Builder::new()
        .name("chatfn-watchdog".into())
        .spawn(move || loop {
            for slot in &slots {
                slot.check();
            }
            std::thread::sleep(TICK);
        })
        .expect("cannot start the watchdog thread");
}

fn current_stack(isolate: &mut v8::Isolate) -> Vec<String> {
    let Some(context) = CURRENT.with(|c| c.borrow().as_ref().map(|(_, ctx)| ctx.clone())) else {
        return Vec::new();
    };
    v8::scope!(let scope, isolate);
    let context = v8::Local::new(scope, &*context);
    let scope = &mut v8::ContextScope::new(scope, context);
    let Some(trace) = v8::StackTrace::current_stack_trace(scope, 16) else { return Vec::new() };
    (0..trace.get_frame_count())
        .filter_map(|i| trace.get_frame(scope, i))
        .map(|frame| {
            let function = frame
                .get_function_name(scope)
                .map(|n| n.to_rust_string_lossy(scope))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "<anonymous>".into());
            let file = frame
                .get_script_name(scope)
                .map(|n| n.to_rust_string_lossy(scope))
                .unwrap_or_default();
            format!("at {function} ({file}:{}:{})", frame.get_line_number(), frame.get_column())
        })
        .collect()
}

fn current_thread_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self() is the calling thread; the clock id stays valid while it lives,
    // and isolate threads live as long as the process.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
}

fn current_thread_cpu() -> Duration {
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or_default()
}

fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_cpu_clock_counts_work_not_sleep() {
        let clock = current_thread_clock().unwrap();
        let before = cpu_time(clock).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let slept = cpu_time(clock).unwrap() - before;
        assert!(slept < Duration::from_millis(20), "sleep counted as CPU: {slept:?}");
        // Busy work advances the clock, however loaded the machine is (bounded in wall time).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_time(clock).unwrap() - before - slept < Duration::from_millis(30) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "10 s of busy work did not show 30 ms of CPU"
            );
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }
}
