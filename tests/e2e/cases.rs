//! Data-driven cases: each folder of `tests/cases/` is an app (`chatfn.toml` and its files) and
//! `attempts.json`, the session attempts to make against it in order and what each must get.
//!
//! An attempt: `{"request": {...} | "rawBody": "...", "status": 403, "error": "AccessDenied",
//! "message": "substring", "messageIs": "exact", "user": {field: value, ...}}`.

use serde_json::Value;

use crate::harness::{case_dir, Server};

fn run_case(name: &str) {
    let dir = case_dir(name);
    let attempts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("attempts.json")).unwrap()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&dir, data.path());
    for (i, attempt) in attempts.iter().enumerate() {
        let (status, answer) = match attempt.get("rawBody") {
            Some(raw) => server.start_session_raw(raw.as_str().unwrap()),
            None => server.start_session(&attempt["request"]),
        };
        let at = format!("case {name}, attempt {i} ({attempt}): got {status} {answer}");
        assert_eq!(status, attempt["status"].as_u64().unwrap() as u16, "{at}");
        if let Some(error) = attempt.get("error") {
            assert_eq!(&answer["error"], error, "{at}");
        }
        if let Some(part) = attempt.get("message").and_then(Value::as_str) {
            let message = answer["message"].as_str().unwrap_or_default();
            assert!(message.contains(part), "{at}: message should contain {part:?}");
        }
        if let Some(exact) = attempt.get("messageIs") {
            assert_eq!(&answer["message"], exact, "{at}");
        }
        if let Some(expected) = attempt.get("user").and_then(Value::as_object) {
            for (field, value) in expected {
                assert_eq!(&answer["user"][field], value, "{at}: user.{field}");
            }
            assert!(
                answer["session"]["id"].as_str().is_some_and(|id| !id.is_empty()),
                "{at}: a session id"
            );
        }
    }
}

macro_rules! cases {
    ($($name:ident => $dir:literal),* $(,)?) => {
        $(#[test] fn $name() { run_case($dir) })*
    };
}

cases! {
    broken_javascript_is_denied_with_its_location => "broken-syntax",
    broken_typescript_is_denied_with_its_location => "broken-typescript",
    typescript_function_decides => "typescript-throws",
    guests_enabled_without_function => "guests-enabled",
    guests_disabled_without_function => "guests-disabled",
    denial_reason_can_be_hidden => "hidden-reason",
    failing_initialization_script_denies => "init-fails",
    allowed_users_must_exist => "allowed-without-user",
    runaway_functions_are_stopped_and_the_app_recovers => "limits",
    users_api_behaves_like_the_platform_sdk => "users-api",
    functions_are_sandboxed => "sandbox",
    initialization_script_shares_modules_with_functions => "shared-modules",
    failure_policy_can_fail_open => "fail-open",
    binary_garbage_is_a_load_error => "garbage-function",
    pending_operations_are_capped => "pending-ops",
    require_cache_entries_can_be_deleted => "require-cache",
    es_modules_can_be_required => "require-esm",
    process_memory_usage_gives_the_isolates_figures => "memory-usage",
    module_files_are_read_as_written => "module-errors",
}
