//! Busy polling on the serving threads: after answering a request, a serving thread keeps
//! polling its sockets (epoll with no timeout, through tokio's driver) for a short window
//! before it sleeps, so that a client's next request, which arrives tens of microseconds after
//! its answer, finds the thread awake. Sleeping costs more than the wait it saves: the wake-up
//! (an interrupt to an idle core, on a virtual machine an exit to the hypervisor) and the
//! caches and branch predictors the idle core lost. With one request in flight (c=1), 100 µs
//! took the Firebase function from 3.5k to 4.1-4.4k attempts/s and the example app from 4.0-5.0k
//! to 5.1-6.4k; under load the threads are busy and never poll. Linux's `net.core.busy_poll`
//! does the same below the sockets (for network devices, not loopback). `chatfn serve
//! --busy-poll-us` sets the window; 0 turns it off.
//!
//! The polling is a task of the thread's `LocalSet` that yields until the window closes: a
//! yielding task makes tokio's current-thread scheduler poll its driver without blocking
//! (`park_yield`) between runs. The time polled is not counted as the thread's load
//! (`ThreadSlot::note_polling`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::supervisor::ThreadSlot;

/// The default window (`--busy-poll-us`).
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(100);

/// A turn of the polling loop longer than this ran something else too.
const LONGEST_POLL: Duration = Duration::from_micros(20);

static WINDOW_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_WINDOW.as_nanos() as u64);

/// Sets the window for the whole process (before serving; zero turns polling off).
pub fn configure(window: Duration) {
    WINDOW_NANOS.store(window.as_nanos() as u64, Ordering::Relaxed);
}

fn window() -> Duration {
    Duration::from_nanos(WINDOW_NANOS.load(Ordering::Relaxed))
}

#[derive(Default)]
struct Window {
    /// Until when this thread polls.
    until: Option<Instant>,
    /// The polling task, while it waits for the next answer.
    waiting: Option<Waker>,
}

impl Window {
    fn open_at(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

thread_local! {
    static WINDOW: RefCell<Window> = RefCell::default();
}

/// A request was answered on this thread: it polls for the next one for the window.
pub fn answered() {
    let window = window();
    if window.is_zero() {
        return;
    }
    let waiting = WINDOW.with_borrow_mut(|w| {
        w.until = Some(Instant::now() + window);
        w.waiting.take()
    });
    if let Some(waker) = waiting {
        waker.wake();
    }
}

/// The polling task of a serving thread (spawned on its `LocalSet`); runs for good.
pub async fn run(slot: Arc<ThreadSlot>) {
    loop {
        std::future::poll_fn(|cx| {
            WINDOW.with_borrow_mut(|w| {
                if w.open_at(Instant::now()) {
                    Poll::Ready(())
                } else {
                    w.waiting = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        // Each turn polls the driver once; a longer one also ran the thread's other work
        // (requests), which is load, not polling.
        let mut polled = Duration::ZERO;
        let mut last = Instant::now();
        while WINDOW.with_borrow(|w| w.open_at(last)) {
            tokio::task::yield_now().await;
            let now = Instant::now();
            let turn = now - last;
            if turn < LONGEST_POLL {
                polled += turn;
            }
            last = now;
        }
        slot.note_polling(polled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polled(slot: &ThreadSlot) -> Duration {
        slot.polling_time()
    }

    /// After an answer the thread stays on its CPU, polling, for the window, then sleeps; the
    /// time polled is not counted as work.
    #[test]
    fn a_serving_thread_polls_for_the_window_after_an_answer_then_sleeps() {
        configure(Duration::from_millis(5));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        let slot = ThreadSlot::for_this_thread(true);
        local.spawn_local(run(slot.clone()));
        let cpu = |slot: &ThreadSlot| slot.working_cpu_time().unwrap() + polled(slot);
        local.block_on(&runtime, async {
            // Before any answer: asleep.
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(polled(&slot), Duration::ZERO);
            let before = cpu(&slot);
            answered();
            tokio::time::sleep(Duration::from_millis(15)).await;
            let during = polled(&slot);
            assert!(during >= Duration::from_millis(1), "polled {during:?} of a 5 ms window");
            assert!(during <= Duration::from_millis(15), "polled {during:?} of a 5 ms window");
            assert!(cpu(&slot) - before >= during, "the polling is the thread's CPU time");
            // The window closed: the thread sleeps again.
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(polled(&slot), during);
        });
        configure(DEFAULT_WINDOW);
    }
}
