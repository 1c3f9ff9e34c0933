//! The Node built-ins and web globals of `npm-shim/`, one JavaScript test file each
//! (`npm-shim/tests/<name>.test.js`, found by pattern). Each file is run as a real chat
//! function through `chatfn invoke`; its `handleEvent` asserts with `node:assert`, so a
//! failed assertion denies the attempt and the test prints the assertion and its stack.

use serde_json::json;

use crate::harness::{invoke, repo_root};

#[test]
fn every_builtin_test_file_passes() {
    let dir = repo_root().join("npm-shim/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".test.js")).collect();
    files.sort();
    assert!(files.len() >= 6, "found only {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let app = tempfile::tempdir().unwrap();
        std::fs::copy(file, app.path().join("test.js")).unwrap();
        std::fs::write(app.path().join("chatfn.toml"), "[functions]\n\"user.attempted.start_session\" = \"test.js\"\n").unwrap();
        let (code, out) = invoke(app.path(), &app.path().join("data"), &json!({ "username": "builtins" }));
        // The app has guests enabled, so a passing test file is an allowed session.
        if code != 0 {
            let error = &out["invocation"]["error"];
            failures.push(format!("{}: {}\n{}", file.file_name().unwrap().to_string_lossy(), out["message"], error["stack"].as_str().unwrap_or("")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
