//! `chatfn test`: the example app's own tests pass, a failing expectation fails with a diff
//! and a non-zero exit, and JUnit XML records both.

use crate::harness::{case_dir, chatfn, repo_root};

fn run(app: &std::path::Path, junit: &std::path::Path) -> (i32, String) {
    let out = chatfn().args(["test", "--app"]).arg(app).arg("--junit").arg(junit).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_example_apps_tests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out) = run(&repo_root(), &junit);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("functions/allow-list.test.json"), "{out}");
    assert!(out.contains("ok   strangers are told they are not members"), "{out}");
    assert!(out.lines().any(|l| l == "5 passed, 0 failed"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"5\" failures=\"0\""), "{xml}");

    let (code, out) = run(&case_dir("guests-enabled"), &junit);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("guests.test.yaml"), "YAML test files run too: {out}");
    assert!(out.lines().any(|l| l == "3 passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_expectation_is_shown_with_its_diff() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir(app.path().join("functions")).unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[app]\nguest_users = \"DISABLED\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.js\"\n",
    )
    .unwrap();
    std::fs::write(
        app.path().join("functions/start.js"),
        "async function handleEvent(event, context) {\n  console.log('checking', event.username);\n  throw new Error('closed for maintenance');\n}\n",
    )
    .unwrap();
    std::fs::write(
        app.path().join("functions/start.test.json"),
        r#"[
          {"name": "denied as expected", "event": {"username": "ann"}, "expect": {"outcome": "denied", "message": "maintenance", "logs": ["^checking ann$"]}},
          {"name": "wrongly expects a session", "event": {"username": "ann"}, "expect": {"outcome": "allowed", "usersCreated": [{"name": "ann"}]}}
        ]"#,
    )
    .unwrap();
    let junit = app.path().join("junit.xml");
    let (code, out) = run(app.path(), &junit);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok   denied as expected"), "{out}");
    assert!(out.contains("FAIL wrongly expects a session"), "{out}");
    assert!(
        out.contains(
            "outcome: expected Allowed, got Denied (AccessDenied: closed for maintenance)"
        ),
        "{out}"
    );
    assert!(out.contains("usersCreated: expected 1 user(s), got 0"), "{out}");
    assert!(out.lines().any(|l| l == "1 passed, 1 failed"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"2\" failures=\"1\"")
            && xml.contains("<failure message=\"outcome: expected Allowed"),
        "{xml}"
    );
}

#[test]
fn chat_event_functions_are_tested_like_session_ones() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out) = run(&case_dir("chat-events"), &junit);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok   a poison event fails with its error"), "{out}");
    assert!(out.lines().any(|l| l == "2 passed, 0 failed"), "{out}");

    // An event that does not have its trigger's shape is a failed test, saying why.
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[functions]\n\"user.read.message\" = \"read.js\"\n",
    )
    .unwrap();
    std::fs::write(app.path().join("read.js"), "async function handleEvent() {}\n").unwrap();
    std::fs::write(
        app.path().join("read.test.json"),
        r#"{"name": "no receipt", "trigger": "user.read.message", "event": {"user": {"id": 1}, "message": {}}, "expect": {"outcome": "succeeded"}}"#,
    )
    .unwrap();
    let (code, out) = run(app.path(), &junit);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("event: receipt is required (an object)"), "{out}");
}
