//! The repository's own example app (chatfn.toml at the root), as a newcomer runs it.

use std::sync::{Arc, Barrier};

use serde_json::json;

use crate::harness::{invoke, post, repo_root, Server};

#[test]
fn members_with_the_passcode_get_a_session_and_others_are_told_why_not() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&repo_root(), data.path());

    let (status, answer) = server
        .start_session(&json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["user"]["name"], "alice");
    assert_eq!(answer["user"]["displayName"], "Alice Liddell");
    assert_eq!(answer["user"]["isGuest"], false);
    assert_eq!(answer["user"]["properties"]["source"], "allow-list");
    assert!(answer["session"]["createdAt"].as_str().unwrap().ends_with('Z'));

    let (status, answer) = server
        .start_session(&json!({"username": "mallory", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!((status, answer["error"].as_str()), (403, Some("AccessDenied")));
    assert_eq!(answer["message"], "mallory is not a member of this app");

    let (status, answer) =
        server.start_session(&json!({"username": "bob", "authParams": {"passcode": "guess"}}));
    assert_eq!((status, answer["message"].as_str()), (403, Some("Wrong passcode")));
}

#[test]
fn sixteen_concurrent_first_sessions_create_the_user_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&repo_root(), data.path());
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (base, barrier) = (server.base.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let body = json!({"username": "bob", "authParams": {"passcode": "open-sesame"}})
                    .to_string();
                post(&base, "/v1/sessions", &body).expect("the server answers")
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["user"]["id"], 1, "every attempt sees the one user: {answer}");
        assert_eq!(answer["user"]["createdTime"], answers[0].1["user"]["createdTime"]);
    }
    let sessions: std::collections::BTreeSet<_> =
        answers.iter().map(|(_, a)| a["session"]["id"].to_string()).collect();
    assert_eq!(sessions.len(), 16, "each attempt gets its own session");
    // Only one user was created: the next new user takes the next id.
    let (_, answer) = server
        .start_session(&json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(answer["user"]["id"], 2, "{answer}");
}

#[test]
fn users_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(&repo_root(), data.path());
    let (_, before) = first
        .start_session(&json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(before["user"]["id"], 1, "{before}");
    first.stop();

    let second = Server::start(&repo_root(), data.path());
    let (status, after) = second
        .start_session(&json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["user"], before["user"], "the same stored user after a restart");
    let (_, bob) = second
        .start_session(&json!({"username": "bob", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(bob["user"]["id"], 2, "ids continue after a restart: {bob}");
}

#[test]
fn malformed_requests_are_refused_with_400_and_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&repo_root(), data.path());
    let cases = [
        ("", "empty"),
        ("{\"username\": \"alice\"", "not valid JSON"),
        ("not json", "not valid JSON"),
        ("[\"alice\"]", "expected shape"),
        ("{\"authParams\": {}}", "username is required"),
        ("{\"username\": null}", "must be a string, not null"),
        ("{\"username\": 42}", "must be a string, not a number"),
        (
            "{\"username\": \"alice\", \"authParams\": \"token\"}",
            "authParams must be a JSON object",
        ),
        ("{\"username\": \"a\\u0000b\"}", "control characters"),
        ("{\"username\": \"alice\\u200b\"}", "invisible characters"),
        ("{\"username\": \"\\u202ealice\"}", "invisible characters"),
    ];
    for (body, reason) in cases {
        let (status, answer) = server.start_session_raw(body);
        assert_eq!(status, 400, "{body:?} → {answer}");
        assert_eq!(answer["error"], "BadRequest", "{body:?} → {answer}");
        assert!(answer["message"].as_str().unwrap().contains(reason), "{body:?} → {answer}");
    }
    let huge = format!("{{\"username\": \"{}\"}}", "x".repeat(100 * 1024));
    assert_eq!(server.start_session_raw(&huge).0, 413);
    // Nothing above created a user: the first real one gets id 1.
    let (_, ok) = server
        .start_session(&json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}));
    assert_eq!(ok["user"]["id"], 1, "{ok}");
}

#[test]
fn invoke_runs_one_attempt_and_prints_its_outcome_with_logs() {
    let data = tempfile::tempdir().unwrap();
    let (code, out) = invoke(
        &repo_root(),
        data.path(),
        &json!({"username": "alice", "authParams": {"passcode": "open-sesame"}}),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["allowed"], true);
    assert_eq!(out["user"]["name"], "alice");
    assert_eq!(out["invocation"]["status"], "returned");
    assert!(out["invocation"]["durationMs"].as_f64().unwrap() > 0.0);
    let logs = out["invocation"]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{out}");
    assert_eq!(logs[0]["message"], "first session for alice: creating the user");

    let (code, out) =
        invoke(&repo_root(), data.path(), &json!({"username": "mallory", "authParams": {}}));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["allowed"], false);
    assert_eq!(out["code"], "AccessDenied");
    assert_eq!(out["invocation"]["error"]["location"]["file"], "functions/allow-list.ts");
    assert_eq!(out["invocation"]["error"]["location"]["line"], 10);
}
