//! The execution engine under hostile functions (`tests/cases/hostile`, with `cpu_ms = 1000`,
//! `wall_ms = 5000`, `heap_mb = 64`): every limit holds whatever the function does, only the
//! culprit is stopped, nothing it left behind runs afterwards, and the app answers its next
//! attempts as usual.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{case_dir, member_apps, post, without_colours, Server};

const HEAP_MB: u64 = 64;

fn attempt(server: &Server, username: &str) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, answer) = server.start_session(&json!({ "username": username }));
    (status, answer, started.elapsed())
}

/// Latencies of `n` attempts by a regular user, each of which must be allowed.
fn regular_attempts(server: &Server, n: usize) -> Vec<Duration> {
    let [times] = side_by_side([server], n);
    times
}

fn p95(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() * 95 / 100 - 1]
}

/// The server's CPU time over `window` while nothing is asked of it.
fn idle_cpu(server: &Server, window: Duration) -> Duration {
    let before = server.cpu_time();
    std::thread::sleep(window);
    server.cpu_time() - before
}

/// Latencies of `n` rounds of one regular attempt on each of `servers`, in turn: servers
/// measured side by side see the same load from whatever else runs on the machine.
fn side_by_side<const N: usize>(servers: [&Server; N], n: usize) -> [Vec<Duration>; N] {
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(n));
    for _ in 0..n {
        for (server, times) in servers.iter().zip(times.iter_mut()) {
            let (status, answer, took) = attempt(server, "regular");
            assert_eq!(status, 200, "a regular attempt: {answer}");
            times.push(took);
        }
    }
    times.iter_mut().for_each(|t| t.sort());
    times
}

/// Starts the hostile app, makes one normal attempt (as the reports did), then the hostile
/// one, which must get `status`/`error` naming `limit`; then the app must be itself again:
/// as fast as a second server of the same app that never met the hostile user.
fn the_app_recovers_from(username: &str, status: u16, error: &str, limit: &str) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("hostile"), data.path());
    let control_data = tempfile::tempdir().unwrap();
    let control = Server::start(&case_dir("hostile"), control_data.path());
    side_by_side([&server, &control], 20);

    let (got, answer, took) = attempt(&server, username);
    assert_eq!((got, answer["error"].as_str()), (status, Some(error)), "{username}: {answer}");
    assert!(answer["message"].as_str().unwrap().contains(limit), "{username}: {answer}");
    assert!(took < Duration::from_millis(5000 + 1000), "{username} was answered after {took:?}");

    // The next attempt finds an isolate ready (debug builds take longer to make one).
    let (got, answer, first) = attempt(&server, "regular");
    assert_eq!(got, 200, "the first attempt after {username}: {answer}");
    assert!(
        first < Duration::from_millis(500),
        "the first attempt after {username} took {first:?}"
    );
    // Then 100 more, each beside one on the control server. (Other tests run beside this one
    // on two cores: a single attempt can be slowed by them, so the bound is on the 95th
    // percentile and on the slowest.)
    let [after, usual] = side_by_side([&server, &control], 100);
    drop(control);
    eprintln!(
        "{username}: control p95 {:?}, after the kill p95 {:?}, first {first:?}; slowest after: {:?}",
        p95(&usual),
        p95(&after),
        &after[95..]
    );
    assert!(
        p95(&after) <= p95(&usual) * 3 + Duration::from_millis(5),
        "after {username}: p95 {:?}, the control's {:?}",
        p95(&after),
        p95(&usual)
    );
    assert!(
        after[99] < Duration::from_millis(250),
        "after {username}: an attempt took {:?}",
        after[99]
    );

    // Nothing of the hostile invocation is still running.
    let cpu = idle_cpu(&server, Duration::from_secs(1));
    assert!(
        cpu < Duration::from_millis(150),
        "after {username} the idle server used {cpu:?} of CPU in 1 s"
    );
}

#[test]
fn a_timer_left_behind_does_not_disable_the_cpu_limit() {
    the_app_recovers_from("timer-then-spin", 504, "FunctionTimeout", "cpu time limit");
}

#[test]
fn a_microtask_loop_is_stopped() {
    the_app_recovers_from("await-null", 504, "FunctionTimeout", "cpu time limit");
}

#[test]
fn spinning_after_a_timer_is_stopped() {
    the_app_recovers_from("sleep-then-spin", 504, "FunctionTimeout", "cpu time limit");
}

#[test]
fn a_spinning_error_message_getter_is_stopped() {
    the_app_recovers_from("spinning-message", 504, "FunctionTimeout", "cpu time limit");
}

#[test]
fn atomics_wait_is_stopped_by_the_wall_limit() {
    the_app_recovers_from("atomics-wait", 504, "FunctionTimeout", "wall time limit");
}

#[test]
fn cpu_time_counts_every_slice_of_an_invocation() {
    // 900 ms of CPU per slice never trips a per-slice limit of 1000 ms; the sum does, long
    // before the wall limit.
    the_app_recovers_from("slices", 504, "FunctionTimeout", "cpu time limit");
}

#[test]
fn array_buffers_count_against_the_heap_limit() {
    the_app_recovers_from("array-buffers", 503, "FunctionOutOfMemory", "heap limit");
}

#[test]
fn buffers_allocated_past_the_limit_stop_the_invocation() {
    the_app_recovers_from("buffer-chunks", 503, "FunctionOutOfMemory", "heap limit");
}

#[test]
fn webassembly_memory_counts_against_the_heap_limit() {
    the_app_recovers_from("wasm-memory", 503, "FunctionOutOfMemory", "heap limit");
}

#[test]
fn resizable_buffers_count_against_the_heap_limit() {
    the_app_recovers_from("resizable-buffers", 503, "FunctionOutOfMemory", "heap limit");
}

#[test]
fn memory_attacks_do_not_grow_the_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("hostile"), data.path());
    regular_attempts(&server, 20);
    let (before, _) = server.rss_mb();
    for username in ["array-buffers", "buffer-chunks", "wasm-memory", "resizable-buffers"] {
        let (status, answer, _) = attempt(&server, username);
        assert_eq!(status, 503, "{username}: {answer}");
    }
    let (_, peak) = server.rss_mb();
    eprintln!("memory attacks: {before} MB before, peak {peak} MB, heap_mb = {HEAP_MB}");
    // The V8 heap of one isolate and the external memory of the app, with room for the
    // isolates built again after each kill.
    assert!(peak <= before + 2 * HEAP_MB + 64, "the server grew from {before} MB to {peak} MB");
}

#[test]
fn a_million_timers_do_not_outlive_their_invocation() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("hostile"), data.path());
    regular_attempts(&server, 5);
    // Allowed, or stopped at a limit (a million timers weigh more than 64 MB of heap): either
    // way the app stays whole.
    let (status, answer, _) = attempt(&server, "million-timers");
    assert!(
        status == 200
            || answer["error"] == "FunctionTimeout"
            || answer["error"] == "FunctionOutOfMemory",
        "{answer}"
    );
    let (status, answer, _) = attempt(&server, "timer-then-spin");
    assert_eq!(
        (status, answer["error"].as_str()),
        (504, Some("FunctionTimeout")),
        "the CPU limit still fires: {answer}"
    );
    regular_attempts(&server, 50);
    let cpu = idle_cpu(&server, Duration::from_secs(1));
    assert!(cpu < Duration::from_millis(150), "the idle server used {cpu:?} of CPU in 1 s");
}

/// `username` leaves an interval behind (20 ms of CPU every millisecond or so); it must never
/// run: not in the next invocations of the same isolate (sequential attempts), which wait for
/// timers of their own, and not while the server idles.
fn the_interval_never_runs(username: &str) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("hostile"), data.path());
    let (status, answer, _) = attempt(&server, username);
    assert_eq!(status, 200, "{answer}");
    for _ in 0..3 {
        let (status, answer, _) = attempt(&server, "ticks");
        assert_eq!(status, 200, "after {username}: {answer}");
    }
    let cpu = idle_cpu(&server, Duration::from_secs(1));
    assert!(
        cpu < Duration::from_millis(150),
        "after {username} the interval kept running: {cpu:?} of CPU in 1 s"
    );
}

#[test]
fn an_interval_left_by_an_answered_invocation_is_cancelled() {
    the_interval_never_runs("interval");
}

#[test]
fn an_interval_set_after_the_answer_never_runs() {
    // Set by a promise chain the invocation left running.
    the_interval_never_runs("escaping-interval");
}

#[test]
fn only_the_culprit_is_stopped() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("hostile"), data.path());
    regular_attempts(&server, 5);
    for culprit in ["timer-then-spin", "buffer-chunks"] {
        // A well-behaved invocation in flight (1.5 s) while another one is stopped.
        let innocent = {
            let base = server.base.clone();
            std::thread::spawn(move || {
                post(&base, "/v1/sessions", &json!({ "username": "slow" }).to_string())
                    .expect("an answer")
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let (status, answer, _) = attempt(&server, culprit);
        assert!(status == 503 || status == 504, "{culprit}: {answer}");
        let (status, answer) = innocent.join().unwrap();
        assert_eq!(status, 200, "the invocation in flight beside {culprit}: {answer}");
    }
}

#[test]
fn an_initialization_script_that_blocks_is_stopped_and_holds_no_thread() {
    let data = tempfile::tempdir().unwrap();
    let blocked = case_dir("hostile-init");
    let hostile = case_dir("hostile");
    let server = Server::start_apps(&[blocked.as_path(), hostile.as_path()], data.path());
    // The first attempt may run out of its own wall time waiting for the app to load.
    let (status, answer) = server.start_session(&json!({ "username": "ann" }));
    assert!(status == 500 || answer["error"] == "FunctionTimeout", "{answer}");
    for _ in 0..3 {
        let started = Instant::now();
        let (status, answer) = server.start_session(&json!({ "username": "ann" }));
        assert_eq!(
            (status, answer["error"].as_str()),
            (500, Some("FunctionLoadError")),
            "{answer}"
        );
        assert!(answer["message"].as_str().unwrap().contains("wall time limit"), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "answered after {:?}",
            started.elapsed()
        );
    }
    for _ in 0..20 {
        let (status, answer) = post(
            &server.base,
            "/v1/apps/hostile/sessions",
            &json!({ "username": "regular" }).to_string(),
        )
        .unwrap();
        assert_eq!(status, 200, "the other app: {answer}");
    }
}

/// An app idle past `hibernate_after_s` drops its last isolate; the next attempt builds one
/// (running the initialization script again) and is decided as a cold start's would be, over
/// the same users.
#[test]
fn a_hibernated_app_wakes_for_its_next_attempt() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("serve.log");
    let server = Server::start_logged(&case_dir("hibernating"), &data.path().join("store"), &log);
    let decide = |username: &str| {
        let (status, answer) = server.start_session(&json!({ "username": username }));
        (status, answer["user"].clone(), answer["message"].clone())
    };
    let (status, ann, _) = decide("ann");
    assert_eq!((status, &ann["properties"]["isolateAttempt"]), (200, &json!(1)), "{ann}");
    let blocked_before = decide("blocked-1");
    assert_eq!(blocked_before.0, 403);
    let (status, ann_again, _) = decide("ann");
    assert_eq!((status, &ann_again["id"]), (200, &ann["id"]));

    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let waited = Instant::now();
    while !read_log().contains("hibernating: the app's last isolate is dropped") {
        assert!(
            waited.elapsed() < Duration::from_secs(15),
            "the app never hibernated:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A new isolate: its first attempt is number 1 again, and the user it creates says so.
    let (status, bob, _) = decide("bob");
    assert_eq!((status, &bob["properties"]["isolateAttempt"]), (200, &json!(1)), "{bob}");
    // The users written before are there, and refusals read as before.
    let (status, ann_after, _) = decide("ann");
    assert_eq!(
        (status, &ann_after["id"], &ann_after["properties"]),
        (200, &ann["id"], &ann["properties"])
    );
    let blocked_after = decide("blocked-2");
    assert_eq!((blocked_after.0, &blocked_after.2), (blocked_before.0, &blocked_before.2));
    // The script ran for the first isolate and again for the woken one, unless that one was
    // restored from the snapshot taken meanwhile (which holds the script's work: snapshots.rs).
    let log = read_log();
    let restored = log.contains("restored an isolate from its runtime's snapshot");
    assert_eq!(
        log.matches("hibernating app initialized").count(),
        if restored { 1 } else { 2 },
        "the initialization script runs once per isolate or snapshot:\n{log}"
    );
}

/// A server of many apps opens them together but keeps their order (the first one answers
/// `/v1/sessions`), and starts them hibernated: no isolate is built before an app's first
/// attempt, which builds one.
#[test]
fn many_apps_start_hibernated_in_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let apps = member_apps(dir.path(), 24);
    let paths: Vec<&std::path::Path> = apps.iter().map(|a| a.as_path()).collect();
    let log = dir.path().join("serve.log");
    let server = Server::start_apps_logged(&paths, &dir.path().join("data"), &log);
    let built = || std::fs::read_to_string(&log).unwrap().matches("built an isolate").count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(built(), 0, "isolates were built before any attempt");

    let (status, answer) = server.start_session(&json!({ "username": "member-of-0" }));
    assert_eq!(status, 200, "the first app answers /v1/sessions: {answer}");
    let (status, answer) = attempt_of(&server, "app17", "member-of-17");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = attempt_of(&server, "app17", "member-of-0");
    assert_eq!((status, answer["message"].as_str()), (403, Some("only member-of-17")), "{answer}");
    // Each app that had attempts built its isolates (one per serving thread at most), and no
    // other app did.
    let log = without_colours(&std::fs::read_to_string(&log).unwrap());
    let builders: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("built an isolate"))
        .filter_map(|l| l.split(" app=").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(builders, ["app0", "app17"].into_iter().collect(), "{log}");
}

/// A server stopped (SIGTERM) the moment it says it serves stops gracefully: its signal
/// handlers are in place before the line (a server of many apps has more to do after it).
#[test]
fn a_server_stopped_as_soon_as_it_serves_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let apps = member_apps(dir.path(), 20);
    let paths: Vec<&std::path::Path> = apps.iter().map(|a| a.as_path()).collect();
    for round in 0..10 {
        // `stop` asserts that the server exited with success, not killed by the signal.
        Server::start_apps(&paths, &dir.path().join(format!("data{round}"))).stop();
    }
}

/// `username`'s session attempt at app `app` of `server`: its status and answer.
fn attempt_of(server: &Server, app: &str, username: &str) -> (u16, serde_json::Value) {
    let body = json!({ "username": username }).to_string();
    post(&server.base, &format!("/v1/apps/{app}/sessions"), &body).unwrap()
}

/// A server of many apps serves before it has opened them all (opening 10,000 apps' stores
/// takes seconds): it opens them in the background, and an app that cannot be opened (its
/// data directory is not one) answers 503 while the others serve, then opens at a later
/// request once its data directory is mended.
#[test]
fn many_apps_serve_while_they_open_and_one_that_cannot_be_opened_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let apps = member_apps(dir.path(), 20);
    let data = dir.path().join("data");
    // Where app5's sled database goes, a file.
    std::fs::create_dir_all(data.join("app5")).unwrap();
    std::fs::write(data.join("app5/db"), "not a database").unwrap();
    let paths: Vec<&std::path::Path> = apps.iter().map(|a| a.as_path()).collect();
    let log = dir.path().join("serve.log");
    let server = Server::start_apps_logged(&paths, &data, &log);
    let read_log = || without_colours(&std::fs::read_to_string(&log).unwrap());

    let (status, answer) = attempt_of(&server, "app12", "member-of-12");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = attempt_of(&server, "app5", "member-of-5");
    assert_eq!((status, answer["error"].as_str()), (503, Some("AppUnavailable")), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_log().contains("19 of 20 apps open") {
        assert!(Instant::now() < deadline, "the apps were not all tried:\n{}", read_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log_text = read_log();
    let serving = log_text.find("serving 20 apps").expect("the server says it serves");
    assert!(serving < log_text.find("19 of 20 apps open").unwrap(), "{log_text}");
    assert!(
        log_text.lines().any(|l| l.contains("ERROR") && l.contains("app app5 cannot be opened")),
        "the log says which app and why:\n{log_text}"
    );

    std::fs::remove_file(data.join("app5/db")).unwrap();
    let (status, answer) = attempt_of(&server, "app5", "member-of-5");
    assert_eq!(status, 200, "app5 opens once its data directory is mended: {answer}");
    let (status, answer) = attempt_of(&server, "app5", "member-of-12");
    assert_eq!((status, answer["message"].as_str()), (403, Some("only member-of-5")), "{answer}");
}

/// What an isolate's first invocations leave in its heap is given back once it is idle: the
/// engine compacts an idle isolate's heap once (a Firebase isolate: 11.6 -> 8.3 MB on a first
/// start). Here the first attempt leaves 20 MB of garbage on the heap; a later one, after the
/// isolate sat idle, finds the heap small again.
#[test]
fn an_idle_isolates_heap_is_compacted_once_it_has_served() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::harness::app_with(
        dir.path(),
        "[app]\nname = \"heap\"\nexpose_denial_reason = true\n[functions]\n\"user.attempted.start_session\" = \"functions/start.js\"\n",
        &[(
            "functions/start.js",
            "async function handleEvent(event) {\n  if (event.username === 'litter') {\n    let garbage = Array.from({ length: 5e5 }, (_, i) => ({ i, text: `item ${i}` }));\n    garbage = null;\n  }\n  throw new Error(String(process.memoryUsage().heapTotal));\n}\n",
        )],
    );
    let log = dir.path().join("serve.log");
    let server = Server::start_logged(&app, &dir.path().join("data"), &log);
    let heap_total = |username: &str| -> f64 {
        let (status, answer, _) = attempt(&server, username);
        assert_eq!(status, 403, "{answer}");
        answer["message"].as_str().unwrap().parse().unwrap()
    };
    let littered = heap_total("litter");
    assert!(littered > 20e6, "the garbage is on the heap: {littered}");
    let read_log = || without_colours(&std::fs::read_to_string(&log).unwrap_or_default());
    let waited = Instant::now();
    while !read_log().contains("compacted an isolate's heap") {
        assert!(waited.elapsed() < Duration::from_secs(15), "never compacted:\n{}", read_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = heap_total("look");
    assert!(after < littered / 2.0, "the heap gave its garbage back: {littered} -> {after}");
}
