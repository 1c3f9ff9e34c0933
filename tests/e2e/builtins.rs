//! The Node built-ins and web globals of `npm-shim/`, one JavaScript test file each
//! (`npm-shim/tests/<name>.test.js`, found by pattern). Each file is run as a real chat
//! function through `chatfn invoke`; its `handleEvent` asserts with `node:assert`, so a
//! failed assertion denies the attempt and the test prints the assertion and its stack.

use std::collections::HashMap;
use std::net::TcpListener;

use serde_json::json;

use crate::harness::{invoke, repo_root, serve_routes};

/// The server http.test.js talks to.
fn test_server() -> String {
    let gzipped = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"compressed hello").unwrap();
        e.finish().unwrap()
    };
    let routes: HashMap<String, crate::harness::Route> = [
        (
            "/json",
            (
                200,
                vec![("content-type".to_string(), "application/json".to_string())],
                br#"{"ok":true}"#.to_vec(),
            ),
        ),
        ("/moved", (302, vec![("location".to_string(), "/json".to_string())], Vec::new())),
        ("/gzip", (200, vec![("content-encoding".to_string(), "gzip".to_string())], gzipped)),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_string(), r))
    .collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    serve_routes(listener, routes, Default::default());
    base
}

/// A server whose `/stream` sends "first", then waits for a request to `/release` before it
/// sends "second": a client that buffered whole bodies would never see "first" in time.
fn stream_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Arc::new(std::sync::Mutex::new(released));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (release, released) = (release.clone(), released.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                while reader.read_line(&mut { String::new() }).map(|n| n > 2).unwrap_or(false) {}
                if path == "/release" {
                    let _ = release.send(());
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    return;
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nfirst\r\n");
                let _ = stream.flush();
                let _ = released.lock().unwrap().recv_timeout(std::time::Duration::from_secs(5));
                let _ = stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n");
            });
        }
    });
    base
}

#[test]
fn every_builtin_test_file_passes() {
    let dir = repo_root().join("npm-shim/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "found only {files:?}");
    let server = test_server();
    let streaming = stream_server();
    let mut failures = Vec::new();
    for file in &files {
        let app = tempfile::tempdir().unwrap();
        std::fs::copy(file, app.path().join("test.js")).unwrap();
        // Key material some files use: the Firebase tests' throwaway RSA key and certificate.
        std::fs::create_dir(app.path().join("fixtures")).unwrap();
        for name in ["test-key.pem", "test-cert.pem"] {
            std::fs::copy(
                repo_root().join("tests/fixtures/firebase").join(name),
                app.path().join("fixtures").join(name),
            )
            .unwrap();
        }
        let config = format!(
            "[runtime.environment]\nTEST_SERVER = \"{server}\"\nSTREAM_SERVER = \"{streaming}\"\n[network]\nallow_hosts = [\"127.0.0.1\"]\n[functions]\n\"user.attempted.start_session\" = \"test.js\"\n"
        );
        std::fs::write(app.path().join("chatfn.toml"), config).unwrap();
        let (code, out) =
            invoke(app.path(), &app.path().join("data"), &json!({ "username": "builtins" }));
        // The app has guests enabled, so a passing test file is an allowed session.
        if code != 0 {
            let error = &out["invocation"]["error"];
            failures.push(format!(
                "{}: {}\n{}",
                file.file_name().unwrap().to_string_lossy(),
                out["message"],
                error["stack"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
