//! Several `chatfn serve` nodes on one real PostgreSQL database (`--store`): users, settings
//! and Platform API tokens are shared; attempts for one name are serialized across nodes; a
//! killed node loses no acknowledged user; a database outage gives 503s and then recovery
//! without a restart.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{api, case_dir, create_key_in, post, token, Server};
use crate::postgres::Postgres;

/// `n` nodes serving `case` on the database at `url`, each with its own data directory,
/// started at the same time.
fn nodes(case: &str, url: &str, n: usize) -> Vec<(tempfile::TempDir, Server)> {
    nodes_with(case, url, n, &[])
}

/// `nodes`, with environment variables.
fn nodes_with(
    case: &str,
    url: &str,
    n: usize,
    env: &[(&str, &str)],
) -> Vec<(tempfile::TempDir, Server)> {
    let app = case_dir(case);
    std::thread::scope(|scope| {
        let starting: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    let data = tempfile::tempdir().unwrap();
                    let server = Server::start_node(&app, data.path(), url, env);
                    (data, server)
                })
            })
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    })
}

fn attempt(base: &str, username: &str) -> Option<(u16, Value)> {
    post(base, "/v1/sessions", &json!({ "username": username, "authParams": {} }).to_string())
}

#[test]
fn three_nodes_make_one_user_of_64_concurrent_first_logins_and_share_it() {
    let pg = Postgres::start();
    // PostgreSQL's advisory locks, then the row locks taken where a database has none.
    for holds in ["advisory", "rows"] {
        let url = pg.database(&format!("logins_{holds}"));
        let nodes = nodes_with("first-login", &url, 3, &[("CHATFN_NAME_HOLDS", holds)]);
        let bases: Vec<&str> = nodes.iter().map(|(_, s)| s.base.as_str()).collect();
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let attempts: Vec<_> = (0..64)
                .map(|i| {
                    let base = bases[i % 3];
                    scope.spawn(move || attempt(base, "zoe").expect("the node answers"))
                })
                .collect();
            attempts.into_iter().map(|a| a.join().unwrap()).collect()
        });
        for (status, answer) in &answers {
            // Without the name held across nodes, two nodes both see no user, both create it,
            // and the second createUser fails (409), denying that attempt.
            assert_eq!(*status, 200, "{holds}: {answer}");
        }
        let ids: BTreeSet<u64> =
            answers.iter().map(|(_, a)| a["user"]["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 1, "{holds}: every attempt got the one user: {ids:?}");
        let count = "SELECT count(*) FROM chatfn_users WHERE name = 'zoe'";
        assert_eq!(pg.query(&format!("logins_{holds}"), count), "1");
        let rows = pg.query(&format!("logins_{holds}"), "SELECT count(*) FROM chatfn_name_holds");
        assert_eq!(rows, if holds == "rows" { "1" } else { "0" }, "{holds}: the hold taken");
        // Every node reads the user the others created.
        for base in &bases {
            let (status, answer) = attempt(base, "zoe").unwrap();
            assert_eq!((status, answer["user"]["id"].as_u64()), (200, ids.first().copied()));
        }
    }
}

#[test]
fn tokens_and_settings_changes_reach_every_node() {
    let pg = Postgres::start();
    let url = pg.database("platform");
    let app = case_dir("guests-enabled");
    let keys_dir = tempfile::tempdir().unwrap();
    let (id, secret) = create_key_in(&app, keys_dir.path(), Some(&url));
    assert!(!keys_dir.path().join("guests-enabled").join("platform-keys.json").exists());
    let nodes = nodes("guests-enabled", &url, 3);
    let (a, b, c) = (&nodes[0].1.base, &nodes[1].1.base, &nodes[2].1.base);

    // A token from node A works on B and C.
    let token = token(a, &id, &secret).unwrap();
    for base in [a, b, c] {
        let (status, settings) = api(base, &token, "GET", "/v1/application/settings", None);
        assert_eq!((status, settings["guest_users"].as_str()), (200, Some("ENABLED")), "{base}");
    }
    assert!(token_status(b, "not-a-token") == 401);

    // Guests disabled through node A: B and C turn guests away within a second.
    let changed = Instant::now();
    let body = json!({ "guestUsers": "DISABLED" });
    assert_eq!(api(a, &token, "PATCH", "/v1/application/settings", Some(body)).0, 200);
    for base in [b, c] {
        loop {
            let (status, answer) =
                attempt(base, &format!("guest-{}", changed.elapsed().as_micros())).unwrap();
            if status == 403 && answer["error"] == "GuestUsersDisabled" {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "{base} still lets guests in a second after the change: {status} {answer}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (_, settings) = api(base, &token, "GET", "/v1/application/settings", None);
        assert_eq!(settings["guest_users"], "DISABLED");
    }

    // Revoking the key through the CLI ends its tokens on every node at once.
    let out = crate::harness::chatfn()
        .args(["keys", "revoke", &id, "--app"])
        .arg(&app)
        .args(["--store", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for base in [a, b, c] {
        assert_eq!(token_status(base, &token), 401, "{base}");
    }
    // The password of a store URL is never printed.
    let out = crate::harness::chatfn()
        .args(["keys", "list", "--app"])
        .arg(&app)
        .args(["--store", &format!("postgres://postgres:hunter2@127.0.0.1:{}/nowhere", pg.port)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("***") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

fn token_status(base: &str, token: &str) -> u16 {
    api(base, token, "GET", "/v1/application/settings", None).0
}

#[test]
fn a_node_killed_during_3000_attempts_loses_no_acknowledged_user() {
    let pg = Postgres::start();
    let url = pg.database("killed");
    let mut nodes = nodes("first-login", &url, 2);
    let bases: Vec<String> = nodes.iter().map(|(_, s)| s.base.clone()).collect();
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let (base, acknowledged) = (bases[client % 2].clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    let name = format!("c{client}-{i}");
                    match attempt(&base, &name) {
                        Some((200, answer)) => acknowledged
                            .lock()
                            .unwrap()
                            .push((name, answer["user"]["id"].as_u64().unwrap())),
                        Some((status, answer)) => panic!("{name}: {status} {answer}"),
                        None => return, // the node is gone
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 600 {
        std::thread::sleep(Duration::from_millis(5));
    }
    nodes[0].1.kill_now();
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 1500, "the surviving node went on: {}", acknowledged.len());
    // Every acknowledged user is there, with the id its answer gave, on the surviving node.
    let survivor = &nodes[1].1;
    for (name, id) in &acknowledged {
        let (status, answer) = attempt(&survivor.base, name).unwrap();
        assert_eq!((status, answer["user"]["id"].as_u64()), (200, Some(*id)), "{name}: {answer}");
    }
}

#[test]
fn a_database_outage_during_load_gives_503s_and_the_node_recovers_by_itself() {
    let pg = Postgres::start();
    let url = pg.database("outage");
    let nodes = nodes("first-login", &url, 1);
    let base = nodes[0].1.base.clone();
    let (id, secret) = create_key_in(&case_dir("first-login"), nodes[0].0.path(), Some(&url));
    let token = token(&base, &id, &secret).unwrap();
    assert_eq!(attempt(&base, "before").unwrap().0, 200);

    // First logins from four clients all along: before, during and after the outage.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<(String, u16, Value)>::new()));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (base, stop, answers) = (base.clone(), stop.clone(), answers.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("c{client}-{i}");
                    let (status, answer) = attempt(&base, &name).expect("the node answers");
                    answers.lock().unwrap().push((name, status, answer));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    pg.stop();
    std::thread::sleep(Duration::from_millis(500));
    let (status, answer) = attempt(&base, "during").unwrap();
    assert_eq!((status, answer["error"].as_str()), (503, Some("StoreUnavailable")), "{answer}");
    let (status, answer) = api(&base, &token, "GET", "/v1/users", None);
    let error = answer["error"].as_str();
    assert_eq!((status, error), (503, Some("StoreUnavailableError")), "{answer}");
    std::thread::sleep(Duration::from_millis(500));
    pg.restart();
    let back = Instant::now();
    // Recovered: every client's attempts are allowed again, without a restart.
    loop {
        let recent: Vec<u16> = answers.lock().unwrap().iter().rev().take(8).map(|a| a.1).collect();
        if recent.len() == 8 && recent.iter().all(|s| *s == 200) {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "no recovery: {recent:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let answers = answers.lock().unwrap().clone();
    let unavailable = answers.iter().filter(|a| a.1 == 503).count();
    assert!(unavailable > 0, "the outage was seen");
    for (name, status, answer) in &answers {
        // Fail closed with the store's code: never a denial or a 500 because of the outage.
        let clear = *status == 200 || (*status == 503 && answer["error"] == "StoreUnavailable");
        assert!(clear, "{name}: {status} {answer}");
    }
    // Every acknowledged user is there, with the id its answer gave.
    let stored: std::collections::HashMap<String, String> = pg
        .query("outage", "SELECT name, id FROM chatfn_users")
        .lines()
        .filter_map(|l| l.split_once('|').map(|(n, i)| (n.to_string(), i.to_string())))
        .collect();
    for (name, status, answer) in &answers {
        if *status == 200 {
            assert_eq!(stored.get(name), Some(&answer["user"]["id"].to_string()), "{name}");
        }
    }
    assert_eq!(attempt(&base, "before").unwrap().1["user"]["id"], 1);
    assert_eq!(api(&base, &token, "GET", "/v1/users", None).0, 200);
    assert_eq!(pg.query("outage", "SELECT count(*) FROM chatfn_users WHERE name = 'during'"), "0");
}

#[test]
fn a_deploy_through_one_node_is_served_by_the_others_within_a_second() {
    let pg = Postgres::start();
    let url = pg.database("deploys");
    let nodes = nodes("first-login", &url, 3);
    // Three nodes that started together took the app directory in once.
    let versions = "SELECT count(*) FROM chatfn_function_versions";
    assert_eq!(pg.query("deploys", versions), "1");
    let (a, b, c) = (&nodes[0].1.base, &nodes[1].1.base, &nodes[2].1.base);
    let (id, secret) = create_key_in(&case_dir("first-login"), nodes[0].0.path(), Some(&url));
    let token = token(a, &id, &secret).unwrap();
    for base in [a, b, c] {
        assert_eq!(attempt(base, "yan").unwrap().0, 200, "{base}");
    }

    let (_, functions) = api(a, &token, "GET", "/v1/runtimes/nodejs/functions", None);
    let function = functions["_embedded"]["functions"][0]["id"].as_u64().unwrap();
    let closed = "async function handleEvent() { throw new Error('closed by version 2'); }\n";
    let deployed = Instant::now();
    let (status, version) = api(
        a,
        &token,
        "POST",
        &format!("/v1/functions/{function}/versions"),
        Some(json!({ "handler_script": closed })),
    );
    assert_eq!((status, version["version_number"].as_u64()), (201, Some(2)), "{version}");
    for base in [a, b, c] {
        loop {
            let (status, answer) = attempt(base, "yan").unwrap();
            if status == 403 && answer["message"] == "closed by version 2" {
                break;
            }
            assert!(
                deployed.elapsed() < Duration::from_secs(1),
                "{base} still runs version 1 a second after the deploy: {status} {answer}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Every node's invocation records are listed through any node, once written (each node
    // writes its own every 100 ms).
    assert_eq!(attempt(c, "made-on-c").unwrap().0, 403);
    let made = Instant::now();
    let listed = format!("/v1/functions/{function}/invocations?size=100");
    loop {
        let (_, records) = api(a, &token, "GET", &listed, None);
        let records = records["_embedded"]["invocations"].as_array().unwrap().clone();
        if records.iter().any(|r| r["args"]["username"] == "made-on-c") {
            break;
        }
        assert!(made.elapsed() < Duration::from_secs(2), "A lists no record of C's: {records:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A runtime change (an environment variable) through node B reaches A and C too: first a
    // version that answers with the variable, then the variable.
    let note =
        "async function handleEvent() { throw new Error(process.env.CLOSED_NOTE ?? 'none'); }\n";
    let versions_path = format!("/v1/functions/{function}/versions");
    let (status, _) =
        api(b, &token, "POST", &versions_path, Some(json!({ "handler_script": note })));
    assert_eq!(status, 201);
    let served = |message: &str, since: Instant| {
        for base in [a, b, c] {
            while attempt(base, "yan").unwrap().1["message"] != message {
                assert!(
                    since.elapsed() < Duration::from_secs(1),
                    "{base} does not answer {message:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    served("none", Instant::now());
    let env = json!({ "CLOSED_NOTE": "back soon" });
    let changed = Instant::now();
    let path = "/v1/runtimes/nodejs/environment-variables";
    let (status, answer) = api(b, &token, "PATCH", path, Some(env));
    assert_eq!(status, 200, "{answer}");
    served("back soon", changed);
    // A rollback through node C reaches A.
    let rollback = json!({ "version_number": 1 });
    let path = format!("/v1/functions/{function}/current-version");
    let (status, answer) = api(c, &token, "PUT", &path, Some(rollback));
    assert_eq!(status, 200, "{answer}");
    let rolled = Instant::now();
    while attempt(a, "yan").unwrap().0 != 200 {
        assert!(rolled.elapsed() < Duration::from_secs(1), "node A did not roll back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn store_copy(from: &str, to: &str) -> (bool, String) {
    let out = crate::harness::chatfn().args(["store", "copy", "--from", from, "--to", to]).output();
    let out = out.unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn store_copy_moves_an_app_from_sled_to_postgres_and_back_verifiably() {
    let pg = Postgres::start();
    let url = pg.database("copied");
    // First logins make users (first-login's function), messages make users (cluster-events').
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("first-login");
    std::fs::create_dir_all(app.join("functions")).unwrap();
    for (case, file) in [("first-login", "start.js"), ("cluster-events", "message.js")] {
        let from = case_dir(case).join("functions").join(file);
        std::fs::copy(from, app.join("functions").join(file)).unwrap();
    }
    std::fs::write(
        app.join("chatfn.toml"),
        "[app]\nguest_users = \"DISABLED\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.js\"\n\
         \"user.sent.message\" = \"functions/message.js\"\n[events]\nmax_attempts = 2\nretry_base_ms = 50\n",
    )
    .unwrap();
    let message = |i: u64, body: &str| {
        json!({ "type": "user.sent.message", "id": format!("m{i}"), "event": {
            "user": { "id": 1, "name": "ann" },
            "channel": { "id": 1, "type": "PUBLIC", "name": "c1" },
            "message": { "id": i, "type": "TEXT", "body": body },
        } })
    };
    let sled = tempfile::tempdir().unwrap();
    let (id, secret) = create_key_in(&app, sled.path(), None);
    let ids: Vec<u64> = {
        let server = Server::start(&app, sled.path());
        let token = token(&server.base, &id, &secret).unwrap();
        let ids = ["ann", "bo", "cy"]
            .iter()
            .map(|name| attempt(&server.base, name).unwrap().1["user"]["id"].as_u64().unwrap())
            .collect();
        let secret_path = "/v1/users/2/secrets/pin";
        let (status, answer) =
            api(&server.base, &token, "PUT", secret_path, Some(json!({ "secret": { "pin": 42 } })));
        assert_eq!(status, 200, "{answer}");
        let patch = json!({ "properties": { "zeta": 1, "alpha": { "b": 2, "a": 1 } } });
        assert_eq!(api(&server.base, &token, "PATCH", "/v1/users/1", Some(patch)).0, 200);
        let guests = json!({ "guestUsers": "ENABLED" });
        assert_eq!(
            api(&server.base, &token, "PATCH", "/v1/application/settings", Some(guests)).0,
            200
        );
        // Two messages delivered, one poison one dead-lettered.
        let events =
            json!({ "events": [message(1, "hi"), message(2, "hi"), message(3, "poison")] });
        assert_eq!(api(&server.base, &token, "POST", "/v1/events", Some(events)).0, 202);
        let sent = Instant::now();
        while event_stats(&server.base, &token)["deadLetters"] != 1 {
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "{}",
                event_stats(&server.base, &token)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server.stop();
        ids
    };

    let (copied, out) = store_copy(sled.path().to_str().unwrap(), &url);
    assert!(copied, "{out}");
    for part in [
        "users",
        "user secrets",
        "functions",
        "versions",
        "platform keys",
        "invocations",
        "dead letters",
        "event ids",
        "event counts",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(part) && l.ends_with("= target")),
            "{part}: {out}"
        );
    }
    assert!(out.contains("users                 5"), "three logins and two messages: {out}");
    assert!(out.contains("dead letters          1"), "{out}");
    // Copying again would merge: refused, nothing changed.
    let (again, out) = store_copy(sled.path().to_str().unwrap(), &url);
    assert!(!again && out.contains("does not merge"), "{out}");
    assert_eq!(pg.query("copied", "SELECT count(*) FROM chatfn_users"), "5");

    // A node on the database serves the copied app: same users, key, settings and secret.
    let node_data = tempfile::tempdir().unwrap();
    let node = Server::start_node(&app, node_data.path(), &url, &[]);
    for (name, user_id) in ["ann", "bo", "cy"].iter().zip(&ids) {
        let (status, answer) = attempt(&node.base, name).unwrap();
        assert_eq!((status, answer["user"]["id"].as_u64()), (200, Some(*user_id)), "{answer}");
    }
    assert_eq!(
        attempt(&node.base, "dee").unwrap().1["user"]["id"],
        6,
        "ids go on after the copied ones"
    );
    let token = token(&node.base, &id, &secret).unwrap();
    let (_, settings) = api(&node.base, &token, "GET", "/v1/application/settings", None);
    assert_eq!(settings["guest_users"], "ENABLED");
    let (_, pin) = api(&node.base, &token, "GET", "/v1/users/2/secrets/pin", None);
    assert_eq!(pin["secret"]["pin"], 42, "{pin}");
    let (_, versions) = api(&node.base, &token, "GET", "/v1/runtimes/nodejs/functions", None);
    let start = &versions["_embedded"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "user.attempted.start_session")
        .unwrap()
        .clone();
    assert_eq!(start["current_version_number"], 1, "{versions}");
    // The records and the events came along: the logins' records, the counts, the dead letter.
    let path = format!("/v1/functions/{}/invocations", start["id"]);
    let (_, records) = api(&node.base, &token, "GET", &path, None);
    let logins = |records: &Value| {
        let all = records["_embedded"]["invocations"].as_array().unwrap().clone();
        all.iter().map(|r| r["args"]["username"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    // The three copied, and this node's four: ann, bo and cy again, and dee.
    assert_eq!(logins(&records), ["dee", "cy", "bo", "ann", "cy", "bo", "ann"], "{records}");
    let stats = event_stats(&node.base, &token);
    let counts = (&stats["accepted"], &stats["delivered"], &stats["deadLetters"], &stats["queued"]);
    assert_eq!(counts, (&json!(3), &json!(2), &json!(1), &json!(0)), "{stats}");
    let (_, letters) = api(&node.base, &token, "GET", "/v1/events/dead-letters", None);
    assert_eq!(letters["_embedded"]["deadLetters"][0]["id"], "m3", "{letters}");
    node.stop();

    // And back into an empty data directory.
    let back = tempfile::tempdir().unwrap();
    let (copied, out) = store_copy(&url, back.path().to_str().unwrap());
    assert!(copied, "{out}");
    let server = Server::start(&app, back.path());
    assert_eq!(attempt(&server.base, "dee").unwrap().1["user"]["id"], 6);
    assert_eq!(attempt(&server.base, "eve").unwrap().1["user"]["id"], 7);
    let token = crate::harness::token(&server.base, &id, &secret).unwrap();
    let (_, user) = api(&server.base, &token, "GET", "/v1/users/1", None);
    assert_eq!(user["properties"]["alpha"]["b"], 2, "{user}");
    assert_eq!(event_stats(&server.base, &token)["deadLetters"], 1);
    // A message sent now is numbered after the copied ones, and delivered.
    let events = json!({ "events": [message(4, "hi")] });
    let (_, receipt) = api(&server.base, &token, "POST", "/v1/events", Some(events));
    assert!(receipt["events"][0]["seq"].as_u64() > Some(3), "{receipt}");
    let sent = Instant::now();
    while event_stats(&server.base, &token)["delivered"] != 3 {
        assert!(sent.elapsed() < Duration::from_secs(10), "{}", event_stats(&server.base, &token));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stats of the app's chat events, through `base`.
fn event_stats(base: &str, token: &str) -> Value {
    api(base, token, "GET", "/v1/events/stats", None).1
}

#[test]
fn chat_events_reported_to_any_node_are_delivered_once_by_one_node_and_survive_its_death() {
    let pg = Postgres::start();
    let url = pg.database("events");
    let case = case_dir("cluster-events");
    let mut nodes = nodes("cluster-events", &url, 3);
    let (id, secret) = create_key_in(&case, nodes[0].0.path(), Some(&url));
    let bases: Vec<String> = nodes.iter().map(|(_, s)| s.base.clone()).collect();
    let token = token(&bases[0], &id, &secret).unwrap();

    // 300 messages over 10 channels, reported in batches of 50 to every node in turn; one is
    // poison. A batch sent twice is accepted once.
    let message = |i: usize| {
        let body = if i == 77 { "poison" } else { "hi" };
        json!({
            "type": "user.sent.message",
            "id": format!("m{i}"),
            "event": {
                "user": { "id": 1, "name": "ann" },
                "channel": { "id": i % 10, "type": "PUBLIC", "name": format!("c{}", i % 10) },
                "message": { "id": i, "type": "TEXT", "body": body },
            },
        })
    };
    for (n, from) in (0..300).step_by(50).enumerate() {
        let batch = json!({ "events": (from..from + 50).map(message).collect::<Vec<_>>() });
        let base = &bases[n % 3];
        let (status, answer) = api(base, &token, "POST", "/v1/events", Some(batch.clone()));
        assert_eq!(status, 202, "{answer}");
        if n == 0 {
            let (_, again) = api(&bases[1], &token, "POST", "/v1/events", Some(batch));
            assert!(again["events"].as_array().unwrap().iter().all(|e| e["status"] == "DUPLICATE"));
        }
    }
    // One node delivers.
    let started = Instant::now();
    let delivering = loop {
        let which: Vec<usize> =
            (0..3).filter(|&i| event_stats(&bases[i], &token)["delivering"] == true).collect();
        if which.len() == 1 && event_stats(&bases[0], &token)["delivered"].as_u64() > Some(50) {
            break which[0];
        }
        assert!(which.len() <= 1, "two nodes deliver: {which:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no delivery: {}",
            event_stats(&bases[0], &token)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // It dies mid-way; another takes over and delivers the rest.
    nodes[delivering].1.kill_now();
    let at_death = event_stats(&bases[(delivering + 1) % 3], &token)["delivered"].as_u64().unwrap();
    assert!(at_death < 250, "most messages are still queued when the deliverer dies: {at_death}");
    let survivor = &bases[(delivering + 1) % 3];
    let died = Instant::now();
    let stats = loop {
        let stats = event_stats(survivor, &token);
        if stats["delivered"] == 299 && stats["deadLetters"] == 1 && stats["queued"] == 0 {
            break stats;
        }
        // The next node takes over at once (not at the 10-second check for missed changes).
        assert!(died.elapsed() < Duration::from_secs(8), "not all delivered: {stats}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!((stats["accepted"].as_u64(), stats["duplicates"].as_u64()), (Some(300), Some(50)));
    let others: Vec<usize> = (0..3).filter(|&i| i != delivering).collect();
    let now_delivering: Vec<bool> =
        others.iter().map(|&i| event_stats(&bases[i], &token)["delivering"] == true).collect();
    assert_eq!(now_delivering.iter().filter(|d| **d).count(), 1, "one survivor took over");
    // Every message ran to its end once or more (a run cut short by the death runs again,
    // and finds its user there): one user each.
    let got = "SELECT count(*), count(DISTINCT name) FROM chatfn_users WHERE name LIKE 'got-%'";
    assert_eq!(pg.query("events", got), "299|299");
    // The poison message's dead letter is seen and deleted through any surviving node.
    let (a, b) = (&bases[others[0]], &bases[others[1]]);
    let (_, letters) = api(a, &token, "GET", "/v1/events/dead-letters", None);
    let letter = &letters["_embedded"]["deadLetters"][0];
    assert_eq!(
        (letter["id"].as_str(), letter["runs"].as_u64()),
        (Some("m77"), Some(2)),
        "{letters}"
    );
    let seq = letter["seq"].as_u64().unwrap();
    assert_eq!(api(b, &token, "DELETE", &format!("/v1/events/dead-letters/{seq}"), None).0, 204);
    assert_eq!(event_stats(a, &token)["deadLetters"], 0);
}
