//! V8's code cache of installed packages (`runtime/src/worker/code_cache.rs`): a package file
//! compiled by one isolate is deserialized by the next, in the same process (every test of a
//! `chatfn test` run) and in the next process (from the cache directory); an entry V8 rejects
//! (here: garbage written over every entry) is compiled again and replaced, and the answers
//! are the same every way.

use std::path::Path;

use crate::harness::{chatfn, without_colours, Server};

/// An app with a package of three files (a `require` chain) and two tests.
fn write_app(dir: &Path) {
    let files = [
        ("chatfn.toml", "[app]\nname = \"cached\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.js\"\n"),
        ("node_modules/greeter/package.json", r#"{ "name": "greeter", "version": "1.0.0", "main": "index.js" }"#),
        ("node_modules/greeter/index.js", "const { shout } = require('./shout');\nexports.greet = (name) => shout(`hello ${name}`);\n"),
        ("node_modules/greeter/shout.js", "const { bang } = require('./bang');\nexports.shout = (text) => bang(text.toUpperCase());\n"),
        ("node_modules/greeter/bang.js", "exports.bang = (text) => `${text}!`;\n"),
        ("functions/start.js", "const { greet } = require('greeter');\nasync function handleEvent(event) {\n  if (event.username !== 'ann') throw new Error(greet(event.username));\n}\n"),
        ("functions/start.test.json", r#"[
  { "name": "ann gets in", "event": { "username": "ann" }, "expect": { "outcome": "allowed" } },
  { "name": "bob is greeted out", "event": { "username": "bob" }, "expect": { "outcome": "denied", "message": "^HELLO BOB!$" } }
]"#),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Runs `chatfn test` on `app` with the cache directory `cache`: its report, and the code
/// cache's last count of entries (offered to V8, made).
fn run_tests(app: &Path, cache: &Path) -> (String, (u64, u64)) {
    let out = chatfn()
        .args(["test", "--app"])
        .arg(app)
        .env("CHATFN_CACHE_DIR", cache)
        .env("RUST_LOG", "chatfn::worker::code_cache=debug")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = without_colours(&String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}{log}");
    let line = log
        .lines()
        .rfind(|l| l.contains("the code cache of packages"))
        .unwrap_or_else(|| panic!("{log}"));
    let field = |name: &str| -> u64 {
        let value = line.split(&format!("{name}=")).nth(1).unwrap_or_else(|| panic!("{line}"));
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    (report, (field("offered"), field("made")))
}

#[test]
fn a_packages_compiled_code_serves_the_next_isolates_and_a_bad_entry_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let (app, cache) = (dir.path().join("app"), dir.path().join("cache"));
    write_app(&app);
    let entries = || -> Vec<(std::path::PathBuf, Vec<u8>)> {
        // (One directory: this build's.)
        let builds: Vec<_> = std::fs::read_dir(cache.join("v8-code")).unwrap().flatten().collect();
        assert_eq!(builds.len(), 1, "{builds:?}");
        let files = std::fs::read_dir(builds[0].path()).unwrap().flatten();
        let mut entries: Vec<_> =
            files.map(|e| (e.path(), std::fs::read(e.path()).unwrap())).collect();
        entries.sort();
        entries
    };

    // Isolates are built from chatfn's bootstrap snapshot once it is in the cache directory
    // (a server takes it), and V8 keeps their code apart from that of isolates built without.
    let server = Server::start_logged_with(
        &app,
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &[("CHATFN_CACHE_DIR", cache.to_str().unwrap())],
    );
    let started = std::time::Instant::now();
    let has_bootstrap = || {
        let names =
            std::fs::read_dir(&cache).into_iter().flatten().flatten().map(|e| e.file_name());
        names
            .map(|n| n.to_string_lossy().into_owned())
            .any(|n| n.starts_with("bootstrap.") && n.ends_with(".v8"))
    };
    while !has_bootstrap() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no bootstrap snapshot");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.stop();
    let _ = std::fs::remove_dir_all(cache.join("v8-code"));

    // The first test's isolate compiles the package's three files; the second's is given them.
    let (first, counts) = run_tests(&app, &cache);
    assert!(first.contains("2 passed, 0 failed"), "{first}");
    assert_eq!(counts, (3, 3), "{first}");
    let written = entries();
    assert_eq!(written.len(), 3, "one entry per package file, the app's own not among them");

    // The next run compiles none of them.
    let (second, counts) = run_tests(&app, &cache);
    assert!(second.contains("2 passed, 0 failed"), "{second}");
    assert_eq!(counts, (6, 0));
    assert_eq!(entries(), written);

    // Garbage over every entry: V8 refuses it, the files are compiled again and replaced.
    let garbage = b"not V8's code cache".to_vec();
    for (path, _) in &written {
        std::fs::write(path, &garbage).unwrap();
    }
    let (third, counts) = run_tests(&app, &cache);
    assert!(third.contains("2 passed, 0 failed"), "{third}");
    assert_eq!(counts, (6, 3));
    let names = |entries: &[(std::path::PathBuf, Vec<u8>)]| -> Vec<std::path::PathBuf> {
        entries.iter().map(|(path, _)| path.clone()).collect()
    };
    let replaced = entries();
    assert_eq!(names(&replaced), names(&written));
    assert!(replaced.iter().all(|(_, data)| data.len() > 100 && *data != garbage), "{replaced:?}");
}

/// An entry is made once the isolate has run the file, so it holds the functions the
/// invocation compiled too (V8 compiles most functions when first called): the same package
/// files' entries are larger when the first test calls into the package than when it does not.
#[test]
fn a_packages_entry_holds_the_functions_its_first_invocation_ran() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_app(&app);
    let tests = app.join("functions/start.test.json");
    let original = std::fs::read_to_string(&tests).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&original).unwrap();
    // Each order in a cache directory of its own: the first test's isolate makes the entries.
    let sizes = |first_calls_in: bool, cache: &Path| -> std::collections::BTreeMap<String, u64> {
        let mut ordered = cases.clone();
        if first_calls_in {
            ordered.reverse(); // bob's test first: the function calls greet, shout and bang
        }
        std::fs::write(&tests, serde_json::to_string(&ordered).unwrap()).unwrap();
        let (report, counts) = run_tests(&app, cache);
        assert!(report.contains("2 passed, 0 failed"), "{report}");
        assert_eq!(counts, (3, 3), "{report}");
        let builds: Vec<_> = std::fs::read_dir(cache.join("v8-code")).unwrap().flatten().collect();
        assert_eq!(builds.len(), 1, "{builds:?}");
        let files = std::fs::read_dir(builds[0].path()).unwrap().flatten();
        files
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
            .collect()
    };
    let not_called = sizes(false, &dir.path().join("cache-a"));
    let called = sizes(true, &dir.path().join("cache-b"));
    assert_eq!(not_called.len(), 3, "{not_called:?}");
    assert_eq!(
        not_called.keys().collect::<Vec<_>>(),
        called.keys().collect::<Vec<_>>(),
        "the same files, compiled from the same sources"
    );
    for (name, size) in &called {
        assert!(
            *size > not_called[name],
            "{name}: {size} bytes, {} without the calls",
            not_called[name]
        );
    }
}

/// An isolate that loaded packages and has not served yet (a server's first, built at start by
/// its initialization script) makes their entries once idle a while, without an invocation.
#[test]
fn an_isolate_that_has_not_served_makes_its_entries_once_idle() {
    let dir = tempfile::tempdir().unwrap();
    let (app, cache) = (dir.path().join("app"), dir.path().join("cache"));
    write_app(&app);
    let toml = std::fs::read_to_string(app.join("chatfn.toml")).unwrap();
    let toml =
        toml.replace("[functions]", "[runtime]\ninitialization_script = \"init.js\"\n[functions]");
    std::fs::write(app.join("chatfn.toml"), toml).unwrap();
    std::fs::write(app.join("init.js"), "require('greeter');\n").unwrap();
    let server = Server::start_logged_with(
        &app,
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &[("CHATFN_CACHE_DIR", cache.to_str().unwrap())],
    );
    let entries = || entries_in(&cache).len();
    // One per package file by the server's isolate, and one by the snapshot process its
    // runtime's snapshot is then taken in (V8 takes neither's entries in the other).
    let started = std::time::Instant::now();
    while entries() < 6 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{} code cache entries written: {}",
            entries(),
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(entries(), 6, "one per package file and kind of isolate");
    server.stop();
}

/// The code cache entries of the package files in `cache`, with when each was written.
fn entries_in(
    cache: &Path,
) -> std::collections::BTreeMap<std::path::PathBuf, std::time::SystemTime> {
    let builds = std::fs::read_dir(cache.join("v8-code")).into_iter().flatten().flatten();
    let files = builds.flat_map(|b| std::fs::read_dir(b.path()).into_iter().flatten().flatten());
    files.map(|f| (f.path(), f.metadata().unwrap().modified().unwrap())).collect()
}

/// A snapshot process compiles the package files from the entries an earlier snapshot process
/// made (V8 takes none of the server's isolates', which start from another snapshot): the
/// first app's makes them once its snapshot is written, and the second app's, with the same
/// packages, takes them as they are (V8 rejecting one would have it written again).
#[test]
fn a_snapshot_process_compiles_packages_from_the_entries_an_earlier_one_made() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let env = [("CHATFN_CACHE_DIR", cache.to_str().unwrap())];
    let mut before = None;
    for name in ["first", "second"] {
        let app = dir.path().join(name);
        write_app(&app);
        let log = dir.path().join(format!("{name}.log"));
        let server =
            Server::start_logged_with(&app, &dir.path().join(format!("{name}-data")), &log, &env);
        let (status, answer) = server.start_session(&serde_json::json!({ "username": "ann" }));
        assert_eq!(status, 200, "{answer}");
        let started = std::time::Instant::now();
        while !std::fs::read_to_string(&log).unwrap().contains("snapshot taken") {
            assert!(started.elapsed() < std::time::Duration::from_secs(60), "no snapshot taken");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // (The server writes its own entries a second after its last.)
        std::thread::sleep(std::time::Duration::from_millis(1500));
        server.stop();
        let entries = entries_in(&cache);
        match before.take() {
            None => {
                assert_eq!(entries.len(), 6, "one per package file by the server's isolate and by the snapshot process: {entries:?}");
                before = Some(entries);
            }
            Some(first) => {
                for (file, written) in &first {
                    assert_eq!(
                        entries.get(file),
                        Some(written),
                        "{} was written again",
                        file.display()
                    );
                }
            }
        }
    }
}
