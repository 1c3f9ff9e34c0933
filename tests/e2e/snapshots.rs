//! V8 snapshots of an app's runtime (`tests/cases/snapshotted`): `chatfn serve` takes one after
//! an app's first isolate is built cold, and later isolates (after a restart, after
//! hibernation) are restored from it. A restored isolate must answer as a cold one does: the
//! same decisions, messages and user writes, with the runtime's state as its initialization
//! script left it, fresh randomness, and a changed runtime never served from an old snapshot.
//! Packages the functions load lazily (`node_modules/lazy-pkg`) come with the next snapshot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{app_with, case_dir, member_apps, without_colours, Server};

const RESTORED: &str = "restored an isolate from its runtime's snapshot";
const BUILT_COLD: &str = "built an isolate";
const INITIALIZED: &str = "snapshotted app initialized";

/// The snapshot files of the data directory `data`, with their modification times.
fn snapshots(data: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(data.join(".snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "v8"))
        .map(|p| {
            let modified = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, modified)
        })
        .collect();
    files.sort();
    files
}

/// Waits until the data directory holds a snapshot other than `old`.
fn new_snapshot(data: &Path, old: &[(PathBuf, std::time::SystemTime)]) -> PathBuf {
    new_snapshot_where(data, old, |_| true)
}

/// Waits until the data directory holds a snapshot other than `old` that `wanted` accepts.
fn new_snapshot_where(
    data: &Path,
    old: &[(PathBuf, std::time::SystemTime)],
    wanted: impl Fn(&Path) -> bool,
) -> PathBuf {
    let started = Instant::now();
    loop {
        let now = snapshots(data);
        if let Some((path, _)) = now.iter().find(|f| !old.contains(f) && wanted(&f.0)) {
            return path.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no snapshot was taken: {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `app` among 16 small apps: a server of them starts every app hibernated.
fn among_small_apps(app: PathBuf, dir: &Path) -> Vec<PathBuf> {
    let mut apps = vec![app];
    apps.extend(member_apps(dir, 16));
    apps
}

/// Waits until the log file `log` says `text`.
fn wait_for_log(log: &Path, text: &str) {
    let started = Instant::now();
    let read = || without_colours(&std::fs::read_to_string(log).unwrap_or_default());
    while !read().contains(text) {
        assert!(started.elapsed() < Duration::from_secs(30), "no '{text}' in the log:\n{}", read());
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Run {
    server: Server,
    log: PathBuf,
}

impl Run {
    fn start(app: &Path, data: &Path, name: &str) -> Run {
        let log = data.join(format!("{name}.log"));
        Run { server: Server::start_logged(app, &data.join("store"), &log), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn attempt(&self, username: &str) -> (u16, Value) {
        self.server.start_session(&json!({ "username": username }))
    }

    /// What the probe sees, then ann let in and mallory refused: the probe, and what
    /// `assert_same_answers` compares.
    fn answers(&self) -> (Value, Answers) {
        let probe = self.probe();
        let (status, ann) = self.attempt("ann");
        assert_eq!(status, 200, "{ann}");
        let (status, refused) = self.attempt("mallory");
        assert_eq!(status, 403, "{refused}");
        let answers = (probe["greeting"].clone(), probe["attempts"].clone(), ann, refused);
        (probe, answers)
    }

    /// What the isolate answering "probe" sees.
    fn probe(&self) -> Value {
        let (status, answer) = self.attempt("probe");
        assert_eq!(status, 403, "{answer}");
        serde_json::from_str(answer["message"].as_str().unwrap()).unwrap()
    }
}

/// Where the runs below keep their store and snapshots (the snapshots beside the store, as
/// `chatfn serve --data` keeps them).
/// Whether the snapshot file at `path` holds the module `file` (its header lists them).
fn snapshot_holds(path: &Path, file: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let header = bytes.split(|&b| b == b'\n').nth(1).unwrap();
    String::from_utf8_lossy(header).contains(file)
}

fn snapshot_dir(data: &Path) -> PathBuf {
    data.join("store")
}

#[test]
fn an_isolate_restored_from_the_snapshot_answers_as_a_cold_one() {
    let data = tempfile::tempdir().unwrap();
    let app = case_dir("snapshotted");

    // Cold: the initialization script runs in the server.
    let cold = Run::start(&app, data.path(), "cold");
    let cold_probe = cold.probe();
    assert_eq!(
        cold_probe["globals"],
        json!(["object", "function", "undefined", "function", "string"])
    );
    let (status, ann) = cold.attempt("ann");
    assert_eq!(status, 200, "{ann}");
    assert_eq!(
        (&ann["user"]["displayName"], &ann["user"]["properties"]),
        (&json!("hello ann"), &json!({ "attempt": 2 }))
    );
    let (status, refused) = cold.attempt("mallory");
    assert_eq!((status, &refused["message"]), (403, &json!("mallory is not a member")));
    assert_eq!(cold_probe["lazyPackageLoadedDuringAttempt"], 1, "{cold_probe}");
    new_snapshot(&snapshot_dir(data.path()), &[]);
    // The first invocation loaded a package: the runtime's snapshot, taken after its answer,
    // loads it too (one snapshot process, not one before and one after).
    let started = Instant::now();
    while !cold.log().contains("snapshot taken") {
        assert!(started.elapsed() < Duration::from_secs(60), "{}", cold.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let taken = snapshots(&snapshot_dir(data.path()))[0].0.clone();
    assert!(
        snapshot_holds(&taken, "node_modules/lazy-pkg/index.js"),
        "the first snapshot lacks lazy-pkg"
    );
    assert!(cold.log().contains(INITIALIZED), "{}", cold.log());
    cold.server.stop();

    // Restored, twice: the script does not run again; the state it left, the environment and
    // the data file it loaded are there; every decision and write is as before.
    let mut probes = vec![cold_probe.clone()];
    for (n, name) in ["restored", "restored-again"].into_iter().enumerate() {
        let run = Run::start(&app, data.path(), name);
        let probe = run.probe();
        let log = run.log();
        assert!(log.contains(RESTORED), "{name}:\n{log}");
        assert!(!log.contains(INITIALIZED), "{name}: the initialization script ran again:\n{log}");
        assert_eq!(probe["greeting"], cold_probe["greeting"]);
        assert_eq!(probe["attempts"], cold_probe["attempts"], "the state as the script left it");
        assert_eq!((&probe["imported"], &cold_probe["imported"]), (&json!("OK!"), &json!("OK!")));
        assert_eq!(
            probe["lazyPackageLoadedDuringAttempt"], 0,
            "the package came with the snapshot"
        );
        assert_eq!(
            probe["globals"],
            json!(["object", "function", "undefined", "function", "string"])
        );
        let (status, ann_again) = run.attempt("ann");
        assert_eq!((status, &ann_again["user"]), (200, &ann["user"]), "ann exists once");
        let (status, refused_again) = run.attempt("mallory");
        assert_eq!((status, &refused_again["message"]), (403, &refused["message"]));
        if n == 0 {
            // A user created by a restored isolate is written as by a cold one.
            let (status, bob) = run.attempt("bob");
            assert_eq!(status, 200, "{bob}");
            assert_eq!(
                (&bob["user"]["displayName"], &bob["user"]["properties"]),
                (&json!("hello bob"), &json!({ "attempt": 4 }))
            );
        }
        probes.push(probe);
        run.server.stop();
    }
    // Randomness is not frozen into the snapshot: each restored isolate draws its own.
    for field in ["random", "uuid"] {
        let values: std::collections::BTreeSet<String> =
            probes.iter().map(|p| p[field].to_string()).collect();
        assert_eq!(values.len(), probes.len(), "{field}: {probes:?}");
    }
    assert_eq!(
        snapshots(&snapshot_dir(data.path()))[0].0,
        taken,
        "the same snapshot served both restarts"
    );
}

/// A snapshot is the machine's, not a data directory's: a server on a new data directory (a CI
/// run, a new node) restores its first isolate from the snapshot another server took of the
/// same runtime, and answers as that server's cold isolate did. The files, which hold the app's
/// environment, are readable by their owner only.
#[test]
fn a_new_data_directory_restores_the_snapshot_another_server_took() {
    use std::os::unix::fs::PermissionsExt;
    let machine = tempfile::tempdir().unwrap();
    let env = [("CHATFN_SNAPSHOT_CACHE_DIR", machine.path().to_str().unwrap())];
    let app = case_dir("snapshotted");
    let mut answers = Vec::new();
    for name in ["first", "new-data-directory"] {
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join(format!("{name}.log"));
        let server = Server::start_logged_with(&app, &snapshot_dir(data.path()), &log, &env);
        let run = Run { server, log };
        let (probe, seen) = run.answers();
        let log = without_colours(&run.log());
        if name == "first" {
            assert!(log.contains(INITIALIZED), "built cold:\n{log}");
            // The first attempt loaded a package: the snapshot taken after it holds it.
            let started = Instant::now();
            while !run.log().contains("snapshot taken") {
                assert!(started.elapsed() < Duration::from_secs(60), "{}", run.log());
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            assert!(log.contains(RESTORED), "{name}:\n{log}");
            assert!(!log.contains(INITIALIZED), "the initialization script ran again:\n{log}");
            assert_eq!(probe["lazyPackageLoadedDuringAttempt"], 0, "{probe}");
        }
        run.server.stop();
        let taken = snapshots(&snapshot_dir(data.path()));
        assert_eq!(taken.len(), 1, "{taken:?}");
        let shared = machine.path().join(taken[0].0.file_name().unwrap());
        for file in [&taken[0].0, &shared] {
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
        answers.push(seen);
    }
    assert_same_answers(answers, "the same answers, restored or built cold");
}

/// What a run answered: the probe's greeting and attempts, ann's session, mallory's refusal.
type Answers = (Value, Value, Value, Value);

/// Two runs' answers are the same but for ids and times.
fn assert_same_answers(mut answers: Vec<Answers>, what: &str) {
    let strip = |(greeting, attempts, mut ann, refused): Answers| {
        ann["session"] = Value::Null;
        ann["user"]["id"] = Value::Null;
        ann["user"]["createdTime"] = Value::Null;
        (greeting, attempts, ann, refused)
    };
    let (first, second) = (answers.remove(0), answers.remove(0));
    assert_eq!(strip(first), strip(second), "{what}");
}

/// The machine's snapshot of a runtime is checked as a data directory's is: once a file it
/// loaded changed, a server on a new data directory builds cold (and reads the new file), and
/// the snapshot it takes then replaces the stale one for the next.
#[test]
fn a_changed_file_is_never_served_from_the_machines_snapshot() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let machine = dir.path().join("machine");
    let env = [("CHATFN_SNAPSHOT_CACHE_DIR", machine.to_str().unwrap())];
    let app = copy_of_the_case(dir.path());
    let run_on = |name: &str| {
        let data = dir.path().join(name);
        let log = data.join("serve.log");
        std::fs::create_dir_all(&data).unwrap();
        Run { server: Server::start_logged_with(&app, &snapshot_dir(&data), &log, &env), log }
    };
    // Its snapshot shared once "snapshot taken" is logged.
    let snapshot_taken = |run: &Run| {
        let started = Instant::now();
        while !run.log().contains("snapshot taken") {
            assert!(started.elapsed() < Duration::from_secs(60), "{}", run.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let shared = || -> Vec<PathBuf> {
        let files = std::fs::read_dir(&machine).unwrap().flatten().map(|e| e.path());
        files.filter(|p| p.extension().is_some_and(|e| e == "v8")).collect()
    };

    let first = run_on("first");
    assert_eq!(first.attempt("bob").0, 200);
    snapshot_taken(&first);
    first.server.stop();
    assert_eq!(shared().len(), 1);

    std::fs::write(app.join("members.json"), r#"["ann", "carol"]"#).unwrap();
    let second = run_on("second");
    assert_eq!(second.attempt("carol").0, 200, "the new members are read");
    assert_eq!(second.attempt("bob").0, 403);
    let log = second.log();
    assert!(log.contains(BUILT_COLD) && !log.contains(RESTORED), "{log}");
    snapshot_taken(&second);
    second.server.stop();
    let taken = snapshots(&snapshot_dir(&dir.path().join("second")));
    assert_eq!((taken.len(), shared().len()), (1, 1), "{taken:?} {:?}", shared());
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(inode(&shared()[0]), inode(&taken[0].0), "the new snapshot replaced the stale one");

    let third = run_on("third");
    assert_eq!(third.attempt("carol").0, 200);
    assert_eq!(third.attempt("bob").0, 403);
    assert!(third.log().contains(RESTORED), "{}", third.log());
}

/// A copy of `tests/cases/snapshotted` under `dir`, to change.
fn copy_of_the_case(dir: &Path) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("functions")).unwrap();
    std::fs::create_dir_all(app.join("node_modules/lazy-pkg")).unwrap();
    for file in [
        "chatfn.toml",
        "init.js",
        "members.json",
        "functions/start.js",
        "functions/shout.mjs",
        "node_modules/lazy-pkg/index.js",
        "node_modules/lazy-pkg/package.json",
    ] {
        std::fs::copy(case_dir("snapshotted").join(file), app.join(file)).unwrap();
    }
    app
}

/// Rewrites the app's chatfn.toml with `from` replaced by `to`.
fn change_config(app: &Path, from: &str, to: &str) {
    let config = std::fs::read_to_string(app.join("chatfn.toml")).unwrap();
    assert!(config.contains(from), "{config}");
    std::fs::write(app.join("chatfn.toml"), config.replace(from, to)).unwrap();
}

#[test]
fn a_changed_runtime_is_never_served_from_an_old_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let app = copy_of_the_case(data.path());
    let store = snapshot_dir(data.path());

    let first = Run::start(&app, data.path(), "first");
    assert_eq!(first.attempt("bob").0, 200);
    new_snapshot(&store, &[]);
    first.server.stop();
    let before = snapshots(&store);

    // A file the initialization script loaded changed: the snapshot no longer holds.
    std::fs::write(app.join("members.json"), r#"["ann", "carol"]"#).unwrap();
    let second = Run::start(&app, data.path(), "second");
    assert_eq!(second.attempt("carol").0, 200, "the new members are read");
    assert_eq!(second.attempt("bob").0, 403);
    let log = second.log();
    assert!(log.contains(BUILT_COLD) && !log.contains(RESTORED), "{log}");
    new_snapshot(&store, &before);
    second.server.stop();

    // Another environment is another runtime: a new snapshot, and the old one is removed.
    let before = snapshots(&store);
    change_config(&app, "GREETING = \"hello\"", "GREETING = \"welcome\"");
    let third = Run::start(&app, data.path(), "third");
    assert_eq!(third.probe()["greeting"], "welcome");
    assert!(!third.log().contains(RESTORED), "{}", third.log());
    let taken = new_snapshot(&store, &before);
    let started = Instant::now();
    while snapshots(&store).len() > 1 {
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", snapshots(&store));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(snapshots(&store)[0].0, taken);
    third.server.stop();

    // And that snapshot serves the next start.
    let fourth = Run::start(&app, data.path(), "fourth");
    assert_eq!(fourth.probe()["greeting"], "welcome");
    assert!(fourth.log().contains(RESTORED), "{}", fourth.log());
}

/// A runtime changed (another environment here; a new chatfn binary alike) needs a new snapshot
/// before its first isolate. On a server of many apps it is taken ahead, before any attempt
/// says which packages the functions load; the packages the app's earlier snapshot held are
/// preloaded into it, so that the first isolate restored from it does not compile them again.
#[test]
fn a_snapshot_taken_ahead_preloads_the_packages_of_the_earlier_runtime() {
    let data = tempfile::tempdir().unwrap();
    let app = copy_of_the_case(data.path());
    let apps_dir = tempfile::tempdir().unwrap();
    let apps = among_small_apps(app.clone(), apps_dir.path());
    let refs: Vec<&Path> = apps.iter().map(|a| a.as_path()).collect();
    let store = snapshot_dir(data.path());
    let lazy = app.join("node_modules/lazy-pkg/index.js").display().to_string();
    let holds_lazy = |path: &Path| snapshot_holds(path, &lazy);

    let log = data.path().join("first.log");
    let first = Server::start_apps_logged(&refs, &store, &log);
    let (status, probe) = first.start_session(&json!({ "username": "probe" }));
    assert_eq!(status, 403, "{probe}");
    // Its functions loaded lazy-pkg: the next snapshot holds it.
    new_snapshot_where(&store, &[], holds_lazy);
    first.stop();
    let before = snapshots(&store);

    change_config(&app, "GREETING = \"hello\"", "GREETING = \"welcome\"");
    let log = data.path().join("second.log");
    let second = Server::start_apps_logged(&refs, &store, &log);
    let taken = new_snapshot(&store, &before);
    wait_for_log(&log, "snapshot taken");
    assert!(holds_lazy(&taken), "the snapshot taken ahead preloads lazy-pkg");
    let (status, probe) = second.start_session(&json!({ "username": "probe" }));
    assert_eq!(status, 403, "{probe}");
    let probe: Value = serde_json::from_str(probe["message"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&probe["greeting"], &probe["lazyPackageLoadedDuringAttempt"]),
        (&json!("welcome"), &json!(0)),
        "{probe}"
    );
    second.stop();

    // A package of the earlier runtime that now leaves a failure behind when loaded (upgraded,
    // say) does not cost the new runtime its snapshot: it is taken again without the earlier
    // packages. (One that throws is just not preloaded.)
    let before = snapshots(&store);
    std::fs::write(&lazy, "Promise.reject(new Error('lazy-pkg is broken'));\n").unwrap();
    change_config(&app, "GREETING = \"welcome\"", "GREETING = \"hi\"");
    let log = data.path().join("third.log");
    let third = Server::start_apps_logged(&refs, &store, &log);
    let taken = new_snapshot(&store, &before);
    assert!(!holds_lazy(&taken));
    let log = without_colours(&std::fs::read_to_string(&log).unwrap());
    assert!(log.contains("preloading the earlier runtime's packages failed"), "{log}");
    let (status, ann) = third.start_session(&json!({ "username": "ann" }));
    assert_eq!((status, &ann["user"]["displayName"]), (200, &json!("hi ann")), "{ann}");
}

/// An app whose initialization script fetches a URL answered by a fixture of its chatfn.toml.
fn fetching_app(dir: &Path) -> PathBuf {
    app_with(
        dir,
        r#"[app]
name = "fetching"
expose_denial_reason = true
[runtime]
initialization_script = "init.js"
[functions]
"user.attempted.start_session" = "functions/start.js"
[[network.fixtures]]
url = "https://config.example.test/greeting"
body = "hello"
"#,
        &[
            (
                "init.js",
                "globalThis.greeting = fetch('https://config.example.test/greeting').then((r) => r.text());\n",
            ),
            (
                "functions/start.js",
                "async function handleEvent() { throw new Error(await globalThis.greeting); }\n",
            ),
        ],
    )
}

/// What an initialization script fetched is part of its runtime: a changed fixture (or network
/// policy) in chatfn.toml is another runtime, never restored from the old one's snapshot.
#[test]
fn a_changed_network_fixture_is_never_served_from_an_old_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let app = fetching_app(data.path());
    let store = snapshot_dir(data.path());

    let first = Run::start(&app, data.path(), "first");
    let (status, answer) = first.attempt("ann");
    assert_eq!((status, &answer["message"]), (403, &json!("hello")), "{answer}");
    new_snapshot(&store, &[]);
    first.server.stop();

    // Only the fixture changes (the script's files stay as they were).
    change_config(&app, "body = \"hello\"", "body = \"welcome\"");
    let second = Run::start(&app, data.path(), "second");
    let (status, answer) = second.attempt("ann");
    assert_eq!((status, &answer["message"]), (403, &json!("welcome")), "{answer}");
    assert!(!second.log().contains(RESTORED), "{}", second.log());
}

#[test]
fn a_hibernated_app_wakes_from_its_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let run = Run::start(&case_dir("snapshotted"), data.path(), "serve");
    let (status, ann) = run.attempt("ann");
    assert_eq!(status, 200, "{ann}");
    new_snapshot(&snapshot_dir(data.path()), &[]);
    let started = Instant::now();
    while !run.log().contains("hibernating: the app's last isolate is dropped") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the app never hibernated:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = run.probe();
    assert_eq!((&probe["greeting"], &probe["attempts"]), (&json!("hello"), &json!(1)));
    let (status, ann_again) = run.attempt("ann");
    assert_eq!((status, &ann_again["user"]), (200, &ann["user"]));
    let log = run.log();
    assert!(log.contains(RESTORED), "{log}");
    assert_eq!(
        log.matches(INITIALIZED).count(),
        1,
        "the script ran once, in the cold isolate:\n{log}"
    );
}

/// An isolate that compiled packages its start lacked (built cold; the function loads
/// `lazy-pkg` at its first attempt) gives its place, once idle, to one restored from the
/// snapshot taken after that attempt, which holds them: the Firebase app's isolate of a first
/// start goes from 8.3-8.5 MB to a restored one's 6.0-6.3. What the functions kept in module
/// state starts again from the snapshot, as after an isolate is retired.
#[test]
fn an_isolate_that_outgrew_its_snapshot_gives_its_place_to_a_restored_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = copy_of_the_case(dir.path());
    // It stays awake: a hibernating app lets its isolate go anyway.
    change_config(&app, "hibernate_after_s = 1", "");
    let run = Run::start(&app, dir.path(), "serve");
    let cold = run.probe();
    assert_eq!(
        (&cold["attempts"], &cold["lazyPackageLoadedDuringAttempt"]),
        (&json!(1), &json!(1))
    );
    let (status, ann) = run.attempt("ann");
    assert_eq!(status, 200, "{ann}");
    wait_for_log(&run.log, "gave its place to one restored");
    let restored = run.probe();
    assert_eq!(
        (&restored["attempts"], &restored["lazyPackageLoadedDuringAttempt"], &restored["greeting"]),
        (&json!(1), &json!(0), &cold["greeting"]),
        "answered by an isolate restored from the snapshot that holds the package"
    );
    assert!(run.log().contains(RESTORED), "{}", run.log());
    let (status, ann_again) = run.attempt("ann");
    assert_eq!((status, &ann_again["user"]), (200, &ann["user"]), "ann exists once");
    assert_eq!(run.attempt("mallory").0, 403);
    assert_eq!(run.log().matches("gave its place").count(), 1, "once:\n{}", run.log());
}

/// The processes taking snapshots for the server `pid` now.
fn snapshot_processes(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if parent == Some(&pid.to_string())
            && String::from_utf8_lossy(&cmdline).contains("__snapshot")
        {
            found.push(child);
        }
    }
    found
}

/// A process left behind by a stopped server can hold what the server held: a child forked
/// before its exec holds the data directory's lock, and a restarted server cannot open it.
#[test]
fn a_stopped_server_leaves_no_snapshot_process_behind() {
    let data = tempfile::tempdir().unwrap();
    let app = copy_of_the_case(data.path());
    // An initialization script slow enough to be stopped in the middle of its snapshot.
    let init = std::fs::read_to_string(app.join("init.js")).unwrap();
    std::fs::write(
        app.join("init.js"),
        format!("{init}\nconst until = Date.now() + 700; while (Date.now() < until) {{}}\n"),
    )
    .unwrap();
    let run = Run::start(&app, data.path(), "serve");
    let started = Instant::now();
    let taking = loop {
        let found = snapshot_processes(run.server.pid());
        if !found.is_empty() {
            break found;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no snapshot process:\n{}", run.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    run.server.stop();
    let left: Vec<_> =
        taking.iter().filter(|p| Path::new(&format!("/proc/{p}")).exists()).collect();
    assert!(left.is_empty(), "snapshot processes {left:?} outlived their server");
    // And the data directory opens again right away.
    let again = Run::start(&app, data.path(), "again");
    assert_eq!(again.attempt("ann").0, 200, "{}", again.log());
}

/// An isolate built without its runtime's snapshot (an app's first, on a new data directory)
/// starts from chatfn's bootstrap snapshot once one is in the cache directory: the first
/// server takes it, a server on another data directory uses it, and its isolate answers as
/// one built from nothing (the initialization script runs: the state, the environment, the
/// decisions and writes are the same).
#[test]
fn an_app_built_cold_starts_from_chatfns_bootstrap_snapshot() {
    let cache = tempfile::tempdir().unwrap();
    let app = case_dir("snapshotted");
    let env = [("CHATFN_CACHE_DIR", cache.path().to_str().unwrap())];
    let bootstraps = || -> Vec<PathBuf> {
        std::fs::read_dir(cache.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("bootstrap."))
            .filter(|p| p.extension().is_some_and(|e| e == "v8"))
            .collect()
    };
    let mut answers = Vec::new();
    for (n, name) in ["from-nothing", "from-bootstrap"].into_iter().enumerate() {
        let data = tempfile::tempdir().unwrap();
        let log = data.path().join(format!("{name}.log"));
        let server = Server::start_logged_with(&app, &data.path().join("store"), &log, &env);
        let run = Run { server, log };
        let (_, seen) = run.answers();
        let log = without_colours(&run.log());
        assert!(log.contains(INITIALIZED), "{name}: the initialization script ran:\n{log}");
        let built = log.lines().find(|l| l.contains(BUILT_COLD)).expect("an isolate was built");
        assert!(built.contains(&format!("bootstrap={}", n == 1)), "{name}: {built}");
        answers.push(seen);
        if n == 0 {
            let started = Instant::now();
            while bootstraps().is_empty() {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "no bootstrap snapshot:\n{}",
                    run.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        run.server.stop();
    }
    assert_eq!(bootstraps().len(), 1);
    assert_same_answers(answers, "the same answers from nothing and from the bootstrap");
}

/// On a server of many apps every app starts hibernated; one with an initialization script has
/// its snapshot taken in the background before any attempt, and its first attempt restores its
/// first isolate instead of building it cold (the Firebase app: ~35 ms instead of 130-440 ms).
#[test]
fn a_hibernated_app_is_snapshotted_before_its_first_attempt() {
    let data = tempfile::tempdir().unwrap();
    let apps_dir = tempfile::tempdir().unwrap();
    let apps = among_small_apps(case_dir("snapshotted"), apps_dir.path());
    let refs: Vec<&Path> = apps.iter().map(|a| a.as_path()).collect();
    let log = data.path().join("serve.log");
    let server = Server::start_apps_logged(&refs, &data.path().join("store"), &log);
    let read_log = || without_colours(&std::fs::read_to_string(&log).unwrap_or_default());

    let taken = new_snapshot(&snapshot_dir(data.path()), &[]);
    assert!(taken.file_name().unwrap().to_string_lossy().starts_with("snapshotted."), "{taken:?}");
    wait_for_log(&log, "snapshot taken");
    assert!(!read_log().contains(BUILT_COLD), "no isolate was built yet:\n{}", read_log());
    // The small apps, with nothing to initialize, have none.
    assert_eq!(snapshots(&snapshot_dir(data.path())).len(), 1);

    let (status, ann) = server.start_session(&json!({ "username": "ann" }));
    assert_eq!(status, 200, "{ann}");
    assert_eq!(ann["user"]["displayName"], "hello ann");
    let log = read_log();
    assert!(
        log.lines().any(|l| l.contains(RESTORED) && l.contains("app=snapshotted ")),
        "the first isolate is restored:\n{log}"
    );
    assert!(
        !log.lines().any(|l| l.contains(BUILT_COLD) && l.contains("app=snapshotted ")),
        "{log}"
    );
}
