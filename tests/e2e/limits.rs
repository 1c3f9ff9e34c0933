//! Per-app limits that need more than one attempt at a time to show.

use std::time::Duration;

use serde_json::json;

use crate::harness::{case_dir, invoke, Server};

#[test]
fn concurrent_invocations_are_capped_per_app() {
    let data = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(Server::start(&case_dir("one-slot"), data.path()));
    let holder = {
        let server = server.clone();
        std::thread::spawn(move || server.start_session(&json!({ "username": "hold" })))
    };
    std::thread::sleep(Duration::from_millis(200));
    // The only slot is taken by "hold": "release" waits for it instead of running, so "hold" is
    // never released and runs out of wall time; then "release" gets the slot and is answered.
    // (With two slots, "release" would run at once and "hold" would be allowed.)
    let (status, answer) = server.start_session(&json!({ "username": "release" }));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = holder.join().unwrap();
    assert_eq!((status, answer["error"].as_str()), (504, Some("FunctionTimeout")), "{answer}");
}

#[test]
fn console_output_and_request_bodies_are_capped() {
    let data = tempfile::tempdir().unwrap();
    let (code, out) = invoke(&case_dir("one-slot"), data.path(), &json!({ "username": "chatty" }));
    assert_eq!(code, 0, "{out}");
    let logs = out["invocation"]["logs"].as_array().unwrap();
    let kept: usize = logs.iter().map(|l| l["message"].as_str().unwrap().len()).sum();
    assert!(kept <= 1024 + 100, "kept {kept} bytes of console output");
    assert_eq!(logs.last().unwrap()["message"], "[chatfn] console output truncated at 1024 bytes");

    let server = Server::start(&case_dir("one-slot"), data.path().join("serve").as_path());
    let (status, _) = server.start_session_raw(&format!("{{\"username\": \"{}\"}}", "x".repeat(2000)));
    assert_eq!(status, 413);
}
