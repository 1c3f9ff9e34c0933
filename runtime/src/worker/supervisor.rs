//! The limits of one app's isolate, enforced from outside it: a watchdog thread that stops
//! JavaScript which has burnt more than the CPU limit without yielding to the event loop
//! (measured on the isolate thread's own CPU clock, so time spent waiting for I/O or for a
//! busy machine does not count), and the near-heap-limit hook that stops an isolate before V8
//! would abort the process. A CPU kill first interrupts the isolate to record the JavaScript
//! stack it was running, then terminates it (`terminate_execution`, also directly if the
//! interrupt does not run soon); the kill is recorded here, and `isolate.rs` rebuilds the
//! isolate.

use std::ffi::c_void;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use deno_core::v8;

/// Why an isolate was stopped from outside.
/// `stack` in each: the JavaScript frames running when the limit was hit, innermost first
/// (empty when the isolate could not be interrupted in time to record them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    Cpu { limit: Duration, stack: Vec<String> },
    Heap { limit_bytes: usize, stack: Vec<String> },
}

/// Which limit an interrupt is about to stop the isolate for.
#[derive(Debug, Clone, Copy)]
enum Reason {
    Cpu,
    Heap { limit_bytes: usize },
}

impl Reason {
    fn kill(self, cpu_limit: Duration, stack: Vec<String>) -> Kill {
        match self {
            Reason::Cpu => Kill::Cpu { limit: cpu_limit, stack },
            Reason::Heap { limit_bytes } => Kill::Heap { limit_bytes, stack },
        }
    }
}

/// How much more CPU time the isolate may burn, after being asked to record its stack and
/// stop, before it is terminated without the stack. CPU time, not wall time: on a busy
/// machine a thread that is not running is not misbehaving either.
const INTERRUPT_GRACE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Watched {
    cpu_limit: Duration,
    isolate: Option<v8::IsolateHandle>,
    clock: Option<libc::clockid_t>,
    /// The isolate thread's CPU time when JavaScript last started running; `None` while idle.
    slice_start: Option<Duration>,
    kill: Option<Kill>,
    /// The isolate thread's CPU time when it was asked to record its stack and stop, and why;
    /// cleared by a new isolate.
    interrupt_requested: Option<(Duration, Reason)>,
}

#[derive(Clone)]
pub struct Supervisor {
    watched: Arc<Mutex<Watched>>,
}

/// Marks a stretch of JavaScript execution; the watchdog only fires inside one.
pub struct Slice<'a>(&'a Supervisor);

impl Drop for Slice<'_> {
    fn drop(&mut self) {
        self.0.watched.lock().unwrap().slice_start = None;
    }
}

impl Supervisor {
    /// Starts the watchdog thread; it ends by itself when the supervisor is dropped.
    pub fn start(cpu_limit: Duration) -> Supervisor {
        let watched = Arc::new(Mutex::new(Watched { cpu_limit, ..Watched::default() }));
        let weak = Arc::downgrade(&watched);
        let tick = (cpu_limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(25));
        std::thread::Builder::new()
            .name("chatfn-watchdog".into())
            .spawn(move || watchdog(weak, cpu_limit, tick))
            .expect("cannot start the watchdog thread");
        Supervisor { watched }
    }

    /// Binds the supervisor to a (new) isolate running on the calling thread.
    pub fn attach(&self, isolate: v8::IsolateHandle) {
        let mut w = self.watched.lock().unwrap();
        w.isolate = Some(isolate);
        w.clock = current_thread_clock();
        w.slice_start = None;
        w.kill = None;
        w.interrupt_requested = None;
    }

    pub fn slice(&self) -> Slice<'_> {
        let mut w = self.watched.lock().unwrap();
        w.slice_start = w.clock.and_then(cpu_time);
        Slice(self)
    }

    /// Called from V8's near-heap-limit callback: the first time, asks the isolate to record
    /// its stack and stop (the caller raises the limit so it can get there); if the heap fills
    /// up again before that happened, stops it at once.
    pub fn near_heap_limit(&self, limit_bytes: usize) {
        let mut w = self.watched.lock().unwrap();
        if w.kill.is_some() {
            return;
        }
        if w.interrupt_requested.is_none() {
            request_stop(&self.watched, &mut w, Reason::Heap { limit_bytes });
        } else {
            w.kill = Some(Kill::Heap { limit_bytes, stack: Vec::new() });
            if let Some(isolate) = &w.isolate {
                isolate.terminate_execution();
            }
        }
    }

    pub fn take_kill(&self) -> Option<Kill> {
        self.watched.lock().unwrap().kill.take()
    }
}

fn watchdog(watched: Weak<Mutex<Watched>>, limit: Duration, tick: Duration) {
    while let Some(watched) = watched.upgrade() {
        {
            let mut w = watched.lock().unwrap();
            match (w.slice_start, w.clock, &w.kill, w.interrupt_requested) {
                (Some(start), Some(clock), None, None) => {
                    if cpu_time(clock).is_some_and(|now| now.saturating_sub(start) > limit) {
                        request_stop(&watched, &mut w, Reason::Cpu);
                    }
                }
                (_, Some(clock), None, Some((asked, reason)))
                    if cpu_time(clock).is_some_and(|now| now.saturating_sub(asked) > INTERRUPT_GRACE) =>
                {
                    // The isolate did not reach an interrupt check: stop it without a stack.
                    w.kill = Some(reason.kill(limit, Vec::new()));
                    if let Some(isolate) = &w.isolate {
                        isolate.terminate_execution();
                    }
                }
                _ => {}
            }
        }
        drop(watched);
        std::thread::sleep(tick);
    }
}

/// Asks the isolate to run `stop_with_stack` at its next interrupt check.
fn request_stop(watched: &Arc<Mutex<Watched>>, w: &mut Watched, reason: Reason) {
    let now = w.clock.and_then(cpu_time).unwrap_or_default();
    w.interrupt_requested = Some((now, reason));
    let data = Arc::into_raw(watched.clone()) as *mut c_void;
    let requested = w.isolate.as_ref().is_some_and(|i| i.request_interrupt(stop_with_stack, data));
    if !requested {
        // SAFETY: the interrupt will not run, so the reference is still ours.
        drop(unsafe { Arc::from_raw(data as *const Mutex<Watched>) });
    }
}

/// Runs on the isolate's thread, inside the JavaScript that hit a limit.
unsafe extern "C" fn stop_with_stack(raw: v8::UnsafeRawIsolatePtr, data: *mut c_void) {
    // SAFETY: `data` is the reference the watchdog leaked for this call.
    let watched = unsafe { Arc::from_raw(data as *const Mutex<Watched>) };
    // SAFETY: V8 calls interrupts on the isolate's own thread with a live isolate.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(raw) };
    let stack = current_stack(&mut isolate);
    let mut w = watched.lock().unwrap();
    if let (None, Some((_, reason))) = (&w.kill, w.interrupt_requested) {
        w.kill = Some(reason.kill(w.cpu_limit, stack));
    }
    drop(w);
    isolate.terminate_execution();
}

thread_local! {
    /// The context of the isolate running on this thread, for the stack capture.
    static MAIN_CONTEXT: std::cell::RefCell<Option<v8::Global<v8::Context>>> = const { std::cell::RefCell::new(None) };
}

/// Makes `context` the one stacks are captured in, until the returned guard is dropped (which
/// must happen before its isolate is: declare the guard after the runtime).
#[must_use]
pub fn enter_main_context(context: v8::Global<v8::Context>) -> MainContextGuard {
    MAIN_CONTEXT.with(|c| *c.borrow_mut() = Some(context));
    MainContextGuard(())
}

pub struct MainContextGuard(());

impl Drop for MainContextGuard {
    fn drop(&mut self) {
        MAIN_CONTEXT.with(|c| c.borrow_mut().take());
    }
}

fn current_stack(isolate: &mut v8::Isolate) -> Vec<String> {
    let Some(context) = MAIN_CONTEXT.with(|c| c.borrow().clone()) else { return Vec::new() };
    v8::scope!(let scope, isolate);
    let context = v8::Local::new(scope, context);
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
            let file = frame.get_script_name(scope).map(|n| n.to_rust_string_lossy(scope)).unwrap_or_default();
            format!("at {function} ({file}:{}:{})", frame.get_line_number(), frame.get_column())
        })
        .collect()
}

fn current_thread_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: pthread_self() is the calling thread; the clock id stays valid while it lives,
    // and the isolate thread outlives its supervisor.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
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
            assert!(start.elapsed() < Duration::from_secs(10), "10 s of busy work did not show 30 ms of CPU");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }
}
