//! Per-app limits that need more than one attempt at a time to show.

use std::time::Duration;

use serde_json::json;

use crate::harness::{case_dir, invoke, post, Server};

#[test]
fn concurrent_invocations_are_capped_per_app() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("one-slot"), data.path());
    let holder = {
        let base = server.base.clone();
        std::thread::spawn(move || {
            post(&base, "/v1/sessions", &json!({ "username": "hold" }).to_string())
                .expect("an answer")
        })
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
    let (status, _) =
        server.start_session_raw(&format!("{{\"username\": \"{}\"}}", "x".repeat(2000)));
    assert_eq!(status, 413);
}

#[test]
fn gigantic_and_garbled_function_files_are_load_errors() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir(app.path().join("functions")).unwrap();
    // 20 MB of comment around a valid function: over the module size limit.
    let mut big = String::from("async function handleEvent() {}\n");
    big.push_str(
        &"// padding padding padding padding padding padding padding padding\n".repeat(300_000),
    );
    std::fs::write(app.path().join("functions/big.js"), big).unwrap();
    std::fs::write(
        app.path().join("functions/garbled.js"),
        "async function handleEvent() {}\n\u{0}\u{1} \u{7f} not javascript at all\n",
    )
    .unwrap();
    for (file, expected) in
        [("big.js", "chatfn loads module files of at most 16 MB"), ("garbled.js", "SyntaxError")]
    {
        std::fs::write(
            app.path().join("chatfn.toml"),
            format!("[functions]\n\"user.attempted.start_session\" = \"functions/{file}\"\n"),
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let (code, out) = invoke(app.path(), data.path(), &json!({ "username": "ann" }));
        assert_eq!(code, 1, "{out}");
        assert_eq!(out["code"], "FunctionLoadError", "{out}");
        assert!(out["message"].as_str().unwrap().contains(expected), "{file}: {out}");
    }
}

#[test]
fn a_heap_kill_records_the_stack_it_stopped() {
    let data = tempfile::tempdir().unwrap();
    let (code, out) = invoke(&case_dir("limits"), data.path(), &json!({ "username": "hog" }));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["invocation"]["status"], "out_of_memory", "{out}");
    let stack = out["invocation"]["stack"].as_array().expect("a stack");
    assert!(
        stack
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("at handleEvent (functions/start.js:")),
        "{out}"
    );
}

#[test]
fn a_cpu_kill_records_the_stack_it_stopped() {
    let data = tempfile::tempdir().unwrap();
    let (code, out) = invoke(&case_dir("limits"), data.path(), &json!({ "username": "spin" }));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["invocation"]["limit"], "cpu", "{out}");
    let stack = out["invocation"]["stack"].as_array().expect("a stack");
    assert_eq!(stack.len(), 1, "only the function's own frames: {out}");
    assert!(
        stack[0].as_str().unwrap().starts_with("at handleEvent (functions/start.js:7:"),
        "{out}"
    );
}

#[test]
fn what_a_stopped_invocation_printed_is_kept() {
    for (username, limit, line) in
        [("spin", "cpu", "about to spin"), ("stuck", "wall", "waiting for what never comes")]
    {
        let data = tempfile::tempdir().unwrap();
        let (code, out) =
            invoke(&case_dir("limits"), data.path(), &json!({ "username": username }));
        assert_eq!(code, 1, "{out}");
        assert_eq!(out["invocation"]["limit"], limit, "{out}");
        assert_eq!(out["invocation"]["logs"][0]["message"], line, "{username}: {out}");
    }
}

#[test]
fn every_error_the_http_side_gives_is_json() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&case_dir("one-slot"), data.path());
    let body = format!("{{\"username\": \"{}\"}}", "x".repeat(64 << 10)); // far over 4 × body_kb
    let cases: [(&str, &str, Option<&str>, u16, &str); 5] = [
        ("POST", "/v1/sessions", Some(&body), 413, "PayloadTooLarge"),
        ("POST", "/v1/apps/%ff%fe/sessions", Some("{}"), 400, "BadRequest"),
        ("GET", "/v1/sessions", None, 405, "MethodNotAllowed"),
        ("GET", "/no/such/route", None, 404, "NotFound"),
        ("GET", "/v1/users?page=not-a-number", None, 401, "unauthorized"),
    ];
    for (method, path, body, status, code) in cases {
        let request = ureq::request(method, &format!("{}{path}", server.base))
            .timeout(Duration::from_secs(30));
        let answer = match body {
            Some(b) => request.set("content-type", "application/json").send_string(b),
            None => request.call(),
        };
        let response = match answer {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        assert_eq!(response.status(), status, "{method} {path}");
        assert!(
            response.content_type().starts_with("application/json"),
            "{method} {path}: {}",
            response.content_type()
        );
        let json: serde_json::Value = response.into_json().unwrap();
        assert_eq!(json["error"], code, "{method} {path}: {json}");
    }
}
