//! The command line's own errors: bad flags and bad app files stop chatfn before it serves.

use crate::harness::{case_dir, chatfn};

fn serve_error(app: &std::path::Path) -> String {
    let out =
        chatfn().args(["serve", "--listen", "127.0.0.1:0", "--app"]).arg(app).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_app_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_error(dir.path());
    assert!(
        err.contains("no app file at") && err.contains("chatfn.toml") && err.contains("--app"),
        "{err}"
    );
    // Said once, with the fix, and no raw OS error repeated after it.
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn an_invalid_app_file_is_reported_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chatfn.toml"),
        "[functions]\n\"user.attempted.start_session\" = \"nowhere.js\"\n",
    )
    .unwrap();
    let err = serve_error(dir.path());
    assert!(err.contains("nowhere.js") && err.contains("does not exist"), "{err}");
}

#[test]
fn an_app_file_can_be_named_directly() {
    // Pointing --app at a file uses that file; its paths are relative to its directory.
    let err = serve_error(&case_dir("guests-enabled").join("missing.toml"));
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn a_data_directory_in_use_by_another_server_is_reported() {
    let data = tempfile::tempdir().unwrap();
    let app = case_dir("guests-enabled");
    let _first = crate::harness::Server::start(&app, data.path());
    let out = chatfn()
        .args(["serve", "--listen", "127.0.0.1:0", "--app"])
        .arg(&app)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is another chatfn process using it?"), "{err}");
}
