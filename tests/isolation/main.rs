//! Apps hosted by one server are isolated: a runaway function in one app neither breaks nor
//! slows another. Kept apart from the e2e binary so its latency figures are not skewed by other
//! tests running at the same time.

#[path = "../e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{case_dir, post, Server};
use serde_json::json;

const SAMPLES: usize = 80;

fn median_latency(server: &Server, path: &str, body: &str) -> Duration {
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            let (status, answer) = server.try_post(path, body).expect("the server answers");
            assert_eq!(status, 200, "{answer}");
            started.elapsed()
        })
        .collect();
    times.sort();
    times[SAMPLES / 2]
}

#[test]
fn a_runaway_app_neither_breaks_nor_slows_another() {
    let data = tempfile::tempdir().unwrap();
    let calm_dir = case_dir("typescript-throws");
    let spinner_dir = case_dir("spinner");
    let server = Server::start_apps(&[calm_dir.as_path(), spinner_dir.as_path()], data.path());
    let calm = "/v1/apps/typescript-throws/sessions";
    let body = json!({ "username": "ann" }).to_string();

    // The app's own store: the default app is the first one.
    let (status, answer) = server.try_post("/v1/sessions", &body).unwrap();
    assert_eq!((status, answer["user"]["id"].as_u64()), (200, Some(1)), "{answer}");
    let (status, answer) = server.try_post("/v1/apps/nope/sessions", &body).unwrap();
    assert_eq!((status, answer["error"].as_str()), (404, Some("NotFound")), "{answer}");

    for _ in 0..20 {
        server.try_post(calm, &body).unwrap();
    }
    let normal = median_latency(&server, calm, &body);

    // Keep the spinner app's isolate busy at its CPU limit for the whole measurement.
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..2)
        .map(|i| {
            let (base, stop) = (server.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut timeouts = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({ "username": format!("s{i}") }).to_string();
                    let (status, answer) = post(&base, "/v1/apps/spinner/sessions", &body).expect("an answer");
                    assert_eq!((status, answer["error"].as_str()), (504, Some("FunctionTimeout")), "{answer}");
                    timeouts += 1;
                }
                timeouts
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = median_latency(&server, calm, &body);
    stop.store(true, Ordering::Relaxed);
    let timeouts: usize = spinners.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(timeouts >= 1, "the spinner app was not exercised");

    eprintln!("calm app median latency: {normal:?} normally, {during:?} while another app spins");
    // Within 2x of normal; sub-millisecond medians get a 1 ms floor for scheduler noise.
    assert!(during <= normal * 2 + Duration::from_millis(1), "{during:?} while spinning vs {normal:?} normally");
}
