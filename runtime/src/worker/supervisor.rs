//! The limits of one app's isolate, enforced from outside it: a watchdog thread that stops
//! JavaScript which has burnt more than the CPU limit without yielding to the event loop
//! (measured on the isolate thread's own CPU clock, so time spent waiting for I/O or for a
//! busy machine does not count), and the near-heap-limit hook that stops an isolate before V8
//! would abort the process. Either way the isolate is terminated with
//! `terminate_execution`, the kill is recorded here, and `isolate.rs` rebuilds the isolate.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use deno_core::v8;

/// Why an isolate was stopped from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kill {
    Cpu { limit: Duration },
    Heap { limit_bytes: usize },
}

#[derive(Default)]
struct Watched {
    isolate: Option<v8::IsolateHandle>,
    clock: Option<libc::clockid_t>,
    /// The isolate thread's CPU time when JavaScript last started running; `None` while idle.
    slice_start: Option<Duration>,
    kill: Option<Kill>,
}

#[derive(Clone)]
pub struct Supervisor {
    cpu_limit: Duration,
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
        let watched = Arc::new(Mutex::new(Watched::default()));
        let weak = Arc::downgrade(&watched);
        let tick = (cpu_limit / 4).clamp(Duration::from_millis(1), Duration::from_millis(25));
        std::thread::Builder::new()
            .name("chatfn-watchdog".into())
            .spawn(move || watchdog(weak, cpu_limit, tick))
            .expect("cannot start the watchdog thread");
        Supervisor { cpu_limit, watched }
    }

    /// Binds the supervisor to a (new) isolate running on the calling thread.
    pub fn attach(&self, isolate: v8::IsolateHandle) {
        let mut w = self.watched.lock().unwrap();
        w.isolate = Some(isolate);
        w.clock = current_thread_clock();
        w.slice_start = None;
        w.kill = None;
    }

    pub fn slice(&self) -> Slice<'_> {
        let mut w = self.watched.lock().unwrap();
        w.slice_start = w.clock.and_then(cpu_time);
        Slice(self)
    }

    /// Stops the isolate now for `kill` (first kill wins).
    pub fn kill(&self, kill: Kill) {
        let mut w = self.watched.lock().unwrap();
        if w.kill.is_none() {
            w.kill = Some(kill);
            if let Some(isolate) = &w.isolate {
                isolate.terminate_execution();
            }
        }
    }

    pub fn take_kill(&self) -> Option<Kill> {
        self.watched.lock().unwrap().kill.take()
    }

    pub fn cpu_limit(&self) -> Duration {
        self.cpu_limit
    }
}

fn watchdog(watched: Weak<Mutex<Watched>>, limit: Duration, tick: Duration) {
    while let Some(watched) = watched.upgrade() {
        {
            let mut w = watched.lock().unwrap();
            if let (Some(start), Some(clock), None) = (w.slice_start, w.clock, &w.kill) {
                if cpu_time(clock).is_some_and(|now| now.saturating_sub(start) > limit) {
                    w.kill = Some(Kill::Cpu { limit });
                    if let Some(isolate) = &w.isolate {
                        isolate.terminate_execution();
                    }
                }
            }
        }
        drop(watched);
        std::thread::sleep(tick);
    }
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
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let worked = cpu_time(clock).unwrap() - before - slept;
        assert!(worked >= Duration::from_millis(10), "busy loop counted only {worked:?}");
    }
}
