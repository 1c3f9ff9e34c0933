//! Chat events (`tests/cases/chat-events`): the chat backend reports them to `POST /v1/events`
//! with a Platform API token; chatfn queues them durably and runs the app's functions for them,
//! in order per key, retried with backoff, then dead-lettered; dead letters are redriven.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{api, app_with, case_dir, create_key, token, Server};

/// An event of `trigger` for channel `channel` (or user `user` for user events), tagged.
fn event(trigger: &str, tag: &str, channel: u64, test: Value) -> Value {
    let user = json!({"id": 1, "name": "ann", "displayName": "Ann"});
    let chan = json!({"id": channel, "type": "PUBLIC", "name": format!("c{channel}")});
    let message = json!({"id": 9, "type": "TEXT", "body": "hi", "channelId": channel});
    let mut test = test;
    test["tag"] = json!(tag);
    let body = match trigger {
        "user.received.notification" => {
            json!({"user": user, "notification": {"id": 4, "title": "New message"}, "userHasActiveSession": false})
        }
        "user.sent.message" => json!({"user": user, "channel": chan, "message": message}),
        "user.started.chat_session" => {
            json!({"user": user, "channel": chan, "channelUnread": true, "channelMessagesCount": 3})
        }
        "user.read.message" => json!({"user": user, "message": message, "receipt": {"user": user}}),
        "user.received.channel_invite" => {
            json!({"user": user, "channel": chan, "invitingUser": user})
        }
        "user.triggered.event" => {
            json!({"user": user, "channel": chan, "event": {"type": "typing"}})
        }
        "system.triggered.event" => json!({"channel": chan, "event": {"type": "cron"}}),
        "user.reacted.to_message" => {
            json!({"user": user, "message": message, "reaction": {"emoji": "👍"}})
        }
        other => panic!("no such trigger {other}"),
    };
    let mut body = body;
    body["test"] = test;
    json!({"type": trigger, "id": tag, "event": body})
}

const TRIGGERS: [&str; 8] = [
    "user.received.notification",
    "user.sent.message",
    "user.started.chat_session",
    "user.read.message",
    "user.received.channel_invite",
    "user.triggered.event",
    "system.triggered.event",
    "user.reacted.to_message",
];

struct App {
    server: Server,
    token: String,
    /// CLIENT_ID:CLIENT_SECRET, for `chatfn events`.
    key: String,
}

impl App {
    fn start(app: &Path, data: &Path) -> App {
        let (id, secret) = create_key(app, data);
        let server = Server::start(app, data);
        App {
            token: token(&server.base, &id, &secret).unwrap(),
            server,
            key: format!("{id}:{secret}"),
        }
    }

    /// A new server on the same app and data, signed in with the same key.
    fn restart(&self, app: &Path, data: &Path) -> App {
        let server = Server::start(app, data);
        let (id, secret) = self.key.split_once(':').unwrap();
        App { token: token(&server.base, id, secret).unwrap(), server, key: self.key.clone() }
    }

    /// `chatfn events ARGS` against this server: its exit code and output.
    fn cli(&self, args: &[&str]) -> (i32, String) {
        let out = crate::harness::chatfn()
            .arg("events")
            .args(args)
            .args(["--server", &self.server.base, "--key", &self.key])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        api(&self.server.base, &self.token, method, path, body)
    }

    fn report(&self, events: Value) -> (u16, Value) {
        self.api("POST", "/v1/events", Some(events))
    }

    fn stats(&self) -> Value {
        self.api("GET", "/v1/events/stats", None).1
    }

    /// Waits until `done` holds of the event counts.
    fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "never {what}: {stats}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The app's function for `trigger`.
    fn function(&self, trigger: &str) -> Value {
        let (_, functions) = self.api("GET", "/v1/runtimes/nodejs/functions?size=100", None);
        functions["_embedded"]["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["type"] == trigger)
            .unwrap_or_else(|| panic!("no function for {trigger}: {functions}"))
            .clone()
    }

    /// The function of `trigger`'s invocation records, oldest first, once there are at least
    /// `count` (a run's record is made just after its event leaves the queue).
    fn records_when(&self, trigger: &str, count: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let records = self.records(trigger);
            if records.len() >= count || started.elapsed() > Duration::from_secs(10) {
                return records;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The function of `trigger`'s invocation records, oldest first.
    fn records(&self, trigger: &str) -> Vec<Value> {
        let function = self.function(trigger);
        let path = format!("/v1/functions/{}/invocations?size=1000", function["id"]);
        let (_, page) = self.api("GET", &path, None);
        let mut records = page["_embedded"]["invocations"].as_array().unwrap().clone();
        records.reverse();
        records
    }
}

/// (tag, status, attempt) of each record.
fn runs(records: &[Value]) -> Vec<(String, String, u64)> {
    records
        .iter()
        .map(|r| {
            (
                r["args"]["test"]["tag"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["result"]["delivery"]["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_trigger_is_delivered_with_its_shape() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let batch: Vec<Value> =
        TRIGGERS.iter().map(|t| event(t, &format!("{t}-1"), 1, json!({}))).collect();
    let (status, receipts) = app.report(json!({ "events": batch }));
    assert_eq!(status, 202, "{receipts}");
    let receipts = receipts["events"].as_array().unwrap();
    assert!(receipts.iter().all(|r| r["status"] == "QUEUED"), "{receipts:?}");
    app.wait_for("delivered all", |s| s["delivered"] == 8);
    for (trigger, sent) in TRIGGERS.iter().zip(&batch) {
        let records = app.records_when(trigger, 1);
        assert_eq!(records.len(), 1, "{trigger}: {records:?}");
        let record = &records[0];
        assert_eq!(record["status"], "SUCCEEDED", "{record}");
        assert_eq!(record["type"], *trigger);
        assert_eq!(record["args"], sent["event"], "the function saw the event as sent");
        let mut fields: Vec<&String> = sent["event"].as_object().unwrap().keys().collect();
        fields.sort();
        let line = format!(
            "run 1 of {trigger}-1: {}",
            fields.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
        );
        assert_eq!(record["logs"][0]["message"], line, "{record}");
        assert_eq!(record["result"]["delivery"]["eventId"], format!("{trigger}-1"));
    }
    let stats = app.stats();
    assert_eq!(
        (stats["accepted"].as_u64(), stats["queued"].as_u64()),
        (Some(8), Some(0)),
        "{stats}"
    );
    assert_eq!(stats["delay"]["samples"], 8, "each first run's delay since its 202: {stats}");
}

#[test]
fn a_failing_run_is_retried_until_it_succeeds_and_order_per_key_holds() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let sent = "user.sent.message";
    let batch = json!([
        event(sent, "a", 1, json!({"failTimes": 2})),
        event(sent, "b", 1, json!({})),
        event(sent, "c", 1, json!({})),
        event(sent, "d", 2, json!({})),
    ]);
    assert_eq!(app.report(batch).0, 202);
    let stats = app.wait_for("delivered all", |s| s["delivered"] == 4);
    assert_eq!(stats["failedRuns"], 2, "{stats}");
    let runs = runs(&app.records_when(sent, 6));
    let channel_1: Vec<_> = runs.iter().filter(|r| r.0 != "d").cloned().collect();
    let expected = [
        ("a", "FAILED", 1),
        ("a", "FAILED", 2),
        ("a", "SUCCEEDED", 3),
        ("b", "SUCCEEDED", 1),
        ("c", "SUCCEEDED", 1),
    ];
    assert_eq!(
        channel_1,
        expected.map(|(t, s, n)| (t.to_string(), s.to_string(), n)).to_vec(),
        "a runs three times, and b and c wait for it"
    );
    // Another channel does not wait for channel 1's retries.
    let d = runs.iter().position(|r| r.0 == "d").unwrap();
    let a_done = runs.iter().position(|r| r.0 == "a" && r.1 == "SUCCEEDED").unwrap();
    assert!(d < a_done, "{runs:?}");
}

#[test]
fn a_poison_event_is_dead_lettered_and_a_redrive_after_a_fix_succeeds() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let typed = "user.triggered.event";
    let batch = json!([
        event(typed, "poison", 5, json!({"poison": true})),
        event(typed, "after", 5, json!({}))
    ]);
    assert_eq!(app.report(batch).0, 202);
    let stats = app.wait_for("dead-lettered", |s| s["deadLetters"] == 1 && s["delivered"] == 1);
    assert_eq!(stats["failedRuns"], 3, "max_attempts = 3: {stats}");
    let (_, letters) = app.api("GET", "/v1/events/dead-letters", None);
    let letter = &letters["_embedded"]["deadLetters"][0];
    assert_eq!(letter["id"], "poison", "{letters}");
    let failures = letter["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 3, "{letter}");
    assert!(
        failures.iter().all(|f| f["error"]["error"]["message"] == "poison cannot be handled"),
        "{letter}"
    );
    assert_eq!(runs(&app.records_when(typed, 4)).last().unwrap().0, "after", "the key moved on");

    // Redriving without a fix fails again; after a new version of the function, it succeeds.
    let id = app.function(typed)["id"].clone();
    let fixed = "async function handleEvent(event) { console.log(`fixed: ${event.test.tag}`); }\nmodule.exports = { handleEvent };\n";
    let (status, version) = app.api(
        "POST",
        &format!("/v1/functions/{id}/versions"),
        Some(json!({"handlerScript": fixed})),
    );
    assert_eq!(status, 201, "{version}");
    // The failed run, replayed on the new version from its record, now succeeds.
    let failed_run = letter["failures"][0]["recordId"].clone();
    let (status, replay) = app.api(
        "POST",
        &format!("/v1/function-invocations/{failed_run}/replay"),
        Some(json!({"versionNumber": version["version_number"]})),
    );
    assert_eq!(status, 200, "{replay}");
    assert_eq!(
        (&replay["original_status"], &replay["replay"]["outcome"]["status"]),
        (&json!("FAILED"), &json!("returned")),
        "{replay}"
    );
    assert!(replay["replay"].get("decision").is_none(), "an event has no decision: {replay}");
    // And a test invocation of it on another event needs the trigger's shape.
    let test_path = format!("/v1/function-versions/{}/test", version["id"]);
    let (status, run) = app.api("POST", &test_path, Some(json!({"event": {"channel": {"id": 1}, "event": {}, "user": {"id": 2}, "test": {"tag": "t"}}})));
    assert_eq!(
        (status, &run["invocation"]["logs"][0]["message"]),
        (200, &json!("fixed: t")),
        "{run}"
    );
    let (status, refused) =
        app.api("POST", &test_path, Some(json!({"event": {"user": {"id": 2}}})));
    assert_eq!(status, 400, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("channel is required"), "{refused}");

    // The dead letters and their redrive through `chatfn events`.
    let (code, listed) = app.cli(&["dead-letters"]);
    assert_eq!(code, 0, "{listed}");
    assert!(
        listed.contains(&format!("{typed}\tchannel/5\tpoison\t3 runs\tpoison cannot be handled")),
        "{listed}"
    );
    let (code, refused) = app.cli(&["redrive"]);
    assert!(code == 2 && refused.contains("say which dead letters"), "{refused}");
    let (code, moved) = app.cli(&["redrive", "--type", typed]);
    assert_eq!((code, moved.trim()), (0, "redriven: 1"), "{moved}");
    let stats = app.wait_for("redriven", |s| s["delivered"] == 2 && s["deadLetters"] == 0);
    assert_eq!(stats["redriven"], 1, "{stats}");
    let last = app.records_when(typed, 5).last().unwrap().clone();
    assert_eq!(
        (&last["status"], &last["logs"][0]["message"]),
        (&json!("SUCCEEDED"), &json!("fixed: poison")),
        "{last}"
    );
    assert_eq!(last["result"]["delivery"]["attempt"], 1, "a redriven event counts its runs anew");
}

#[test]
fn a_repeated_id_is_accepted_once_and_bad_events_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let one = event("user.reacted.to_message", "once", 1, json!({}));
    let (status, first) = app.report(one.clone());
    assert_eq!((status, &first["events"][0]["status"]), (202, &json!("QUEUED")), "{first}");
    let (status, again) = app.report(one.clone());
    assert_eq!((status, &again["events"][0]["status"]), (202, &json!("DUPLICATE")), "{again}");
    assert_eq!(again["events"][0]["seq"], first["events"][0]["seq"]);
    app.wait_for("delivered", |s| s["delivered"] == 1);
    assert_eq!(app.records_when("user.reacted.to_message", 1).len(), 1, "one run");
    assert_eq!(app.stats()["duplicates"], 1);

    // The Idempotency-Key header names an event that has no id.
    let mut keyed = event("user.reacted.to_message", "keyed", 1, json!({}));
    keyed.as_object_mut().unwrap().remove("id");
    for expected in ["QUEUED", "DUPLICATE"] {
        let response = ureq::post(&format!("{}/v1/events", app.server.base))
            .set("authorization", &format!("Bearer {}", app.token))
            .set("idempotency-key", "key-1")
            .send_json(keyed.clone())
            .unwrap();
        let body: Value = response.into_json().unwrap();
        assert_eq!(
            (&body["events"][0]["id"], &body["events"][0]["status"]),
            (&json!("key-1"), &json!(expected))
        );
    }

    let bad = json!({"type": "user.sent.message", "id": "x", "event": {"user": {"id": 1}, "channel": {"id": 2}}});
    let (status, error) = app.report(bad);
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains("message is required"), "{error}");
    let (status, error) = app.report(json!([event("user.sent.message", "fine", 1, json!({})), {"type": "user.sent.messages", "event": {}}]));
    assert!(
        status == 400 && error["message"].as_str().unwrap().starts_with("events[1]:"),
        "{error}"
    );
    assert_eq!(app.stats()["accepted"], 2, "nothing of a refused batch is accepted");

    // Without a token, nothing.
    let (status, _) = api(&app.server.base, "not-a-token", "POST", "/v1/events", Some(one));
    assert_eq!(status, 401);
}

#[test]
fn a_full_queue_refuses_with_429_and_events_without_a_function_are_only_counted() {
    let dir = tempfile::tempdir().unwrap();
    let chat = std::fs::read_to_string(case_dir("chat-events").join("functions/chat.js")).unwrap();
    let app_dir = app_with(
        dir.path(),
        "[functions]\n\"user.sent.message\" = \"functions/chat.js\"\n[events]\nmax_queue = 2\nretry_base_ms = 60000\nretry_max_ms = 60000\n",
        &[("functions/chat.js", &chat)],
    );
    let data = dir.path().join("data");
    let app = App::start(&app_dir, &data);
    // Two events that fail and wait a minute to retry fill the queue.
    let failing =
        |tag: &str, channel| event("user.sent.message", tag, channel, json!({"failTimes": 5}));
    assert_eq!(app.report(json!([failing("f1", 1), failing("f2", 2)])).0, 202);
    app.wait_for("failed once each", |s| s["failedRuns"] == 2);
    let response = ureq::post(&format!("{}/v1/events", app.server.base))
        .set("authorization", &format!("Bearer {}", app.token))
        .send_json(failing("f3", 3));
    let Err(ureq::Error::Status(429, response)) = response else {
        panic!("expected 429: {response:?}")
    };
    assert_eq!(response.header("retry-after"), Some("1"));
    let body: Value = response.into_json().unwrap();
    assert!(body["message"].as_str().unwrap().contains("queue is full"), "{body}");

    let (status, receipts) = app.report(event("user.read.message", "nobody-listens", 1, json!({})));
    assert_eq!(
        (status, &receipts["events"][0]["status"]),
        (202, &json!("UNHANDLED")),
        "{receipts}"
    );
    let stats = app.stats();
    assert_eq!(
        (&stats["unhandled"], &stats["queued"], &stats["accepted"]),
        (&json!(1), &json!(2), &json!(3)),
        "{stats}"
    );
}

/// Every page of the app's users' names.
fn user_names(app: &App) -> Vec<String> {
    let mut names = Vec::new();
    for page in 0.. {
        let (_, body) = app.api("GET", &format!("/v1/users?size=1000&page={page}"), None);
        let users = body["_embedded"]["users"].as_array().cloned().unwrap_or_default();
        if users.is_empty() {
            return names;
        }
        names.extend(users.iter().map(|u| u["name"].as_str().unwrap().to_string()));
    }
    unreachable!()
}

#[test]
fn a_kill_during_a_burst_loses_no_accepted_event() {
    let dir = tempfile::tempdir().unwrap();
    // Each event creates its user; a second run of an event (one cut short by the kill) finds
    // the user and marks itself with a `dup-` user instead.
    let sent = r#"async function handleEvent(event, context) {
  const users = context.ChatKitty.Users;
  const name = event.test.user;
  await users.checkUserExists(name).then(
    () => users.createUser({ name: `dup-${name}-${Date.now()}`, isGuest: false }),
    () => users.createUser({ name, isGuest: false }),
  );
}
module.exports = { handleEvent };
"#;
    let app_dir = app_with(
        dir.path(),
        "[functions]\n\"user.sent.message\" = \"sent.js\"\n[events]\nconcurrency = 2\n",
        &[("sent.js", sent)],
    );
    let data = dir.path().join("data");
    let app = App::start(&app_dir, &data);
    const EVENTS: usize = 5000;
    for batch in 0..EVENTS / 500 {
        let events: Vec<Value> = (batch * 500..(batch + 1) * 500)
            .map(|i| {
                event(
                    "user.sent.message",
                    &format!("e{i}"),
                    (i % 50) as u64,
                    json!({"user": format!("u{i}")}),
                )
            })
            .collect();
        let (status, receipts) = app.report(json!({ "events": events }));
        assert_eq!(status, 202, "{receipts}");
    }
    let before = app.wait_for("delivered some", |s| s["delivered"].as_u64().unwrap() >= 500);
    let mut app = app;
    app.server.kill_now();
    assert!(
        before["delivered"].as_u64().unwrap() < EVENTS as u64,
        "killed after the burst: {before}"
    );

    let app = app.restart(&app_dir, &data);
    let stats = app.wait_for("delivered all", |s| s["queued"] == 0);
    assert_eq!(stats["deadLetters"], 0, "{stats}");
    let names = user_names(&app);
    let created: std::collections::BTreeSet<_> =
        names.iter().filter(|n| !n.starts_with("dup-")).collect();
    assert_eq!(created.len(), EVENTS, "every accepted event ran");
    let duplicates = names.len() - created.len();
    assert!(
        duplicates <= 2,
        "only the events running at the kill (2 at once) ran twice: {duplicates}"
    );
}

#[test]
fn an_event_runs_while_attempts_keep_the_app_at_its_isolates() {
    // Two isolates at most, each attempt holding one for 300 ms, and more attempts than that
    // always waiting: an event must not wait for the attempts to stop (its run got an isolate
    // only when no attempt was waiting, so under a steady load it never ran).
    let dir = tempfile::tempdir().unwrap();
    let start = "async function handleEvent(event) {\n  await new Promise((r) => setTimeout(r, 300));\n}\nmodule.exports = { handleEvent };\n";
    let sent = "async function handleEvent(event) {}\nmodule.exports = { handleEvent };\n";
    let app_dir = app_with(
        dir.path(),
        "[functions]\n\"user.attempted.start_session\" = \"start.js\"\n\"user.sent.message\" = \"sent.js\"\n[limits]\nisolates = 2\n",
        &[("start.js", start), ("sent.js", sent)],
    );
    let app = App::start(&app_dir, &dir.path().join("data"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let (base, stop) = (app.server.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({ "username": format!("u{i}") }).to_string();
                    if crate::harness::post(&base, "/v1/sessions", &body).is_some() {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let (status, receipts) = app.report(event("user.sent.message", "under-load", 1, json!({})));
    assert_eq!(status, 202, "{receipts}");
    let reported = Instant::now();
    let mut stats = app.stats();
    while stats["delivered"] != 1 && reported.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(50));
        stats = app.stats();
    }
    let delivered_after = reported.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: usize = attempts.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(stats["delivered"], 1, "the event waited for the attempts to stop: {stats}");
    assert!(answered > 10, "the attempts kept coming: {answered}");
    eprintln!("delivered {delivered_after:?} after it was reported, {answered} attempts answered");
}

#[test]
fn a_bot_reply_reaches_the_chat_backend() {
    // A fake chat backend in ChatKitty's Platform API shape: a token, and channel messages.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = format!("http://{}", listener.local_addr().unwrap());
    let json_reply = |status: u16, body: Value| {
        (
            status,
            vec![("content-type".to_string(), "application/json".to_string())],
            body.to_string().into_bytes(),
        )
    };
    let routes = std::collections::HashMap::from([
        (
            "/oauth/token".to_string(),
            json_reply(
                200,
                json!({"access_token": "backend-token", "token_type": "bearer", "expires_in": 3600}),
            ),
        ),
        (
            "/v1/channels/7/messages".to_string(),
            json_reply(201, json!({"id": 99, "type": "TEXT", "body": "echo: hi"})),
        ),
    ]);
    let received = crate::harness::serve_recorded(listener, routes);

    let dir = tempfile::tempdir().unwrap();
    let toml = format!("[functions]\n\"user.sent.message\" = \"bot.js\"\n[chat_backend]\nbase_url = \"{backend}\"\nclient_id = \"bot-client\"\nclient_secret = \"bot-secret\"\n");
    let bot = r#"async function handleEvent(event, context) {
  const reply = await context.ChatKitty.Channels.sendChannelMessage(event.channel.id, { type: "TEXT", body: `echo: ${event.message.body}` });
  console.log(`replied ${reply.status} ${reply.data.id}`);
  await context.ChatKitty.Messages.retrieveMessage(12345).catch((e) => console.log(`missing ${e.response.status}`));
}
module.exports = { handleEvent };
"#;
    let app_dir = app_with(dir.path(), &toml, &[("bot.js", bot)]);
    let data = dir.path().join("data");
    let app = App::start(&app_dir, &data);
    assert_eq!(app.report(event("user.sent.message", "m1", 7, json!({}))).0, 202);
    app.wait_for("delivered", |s| s["delivered"] == 1);

    let received = received.lock().unwrap().clone();
    let token_request =
        received.iter().find(|r| r.path == "/oauth/token").expect("a token request");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("bot-client:bot-secret");
    assert_eq!(token_request.header("authorization"), Some(format!("Basic {basic}").as_str()));
    assert_eq!(String::from_utf8_lossy(&token_request.body), "grant_type=client_credentials");
    let message = received.iter().find(|r| r.path == "/v1/channels/7/messages").expect("the reply");
    assert_eq!(
        (message.method.as_str(), message.header("authorization")),
        ("POST", Some("Bearer backend-token"))
    );
    let body: Value = serde_json::from_slice(&message.body).unwrap();
    assert_eq!(body, json!({"type": "TEXT", "body": "echo: hi"}));
    let records = app.records_when("user.sent.message", 1);
    let logs: Vec<&str> = records[0]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(logs, ["replied 201 99", "missing 404"], "{}", records[0]);
}

#[test]
fn a_test_invocation_runs_over_the_users_it_seeds() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let sent = app.function("user.sent.message");
    let (_, version) =
        app.api("GET", &format!("/v1/functions/{}/current-version", sent["id"]), None);
    let path = format!("/v1/function-versions/{}/test", version["id"]);
    let event = event("user.sent.message", "seeded", 1, json!({"user": "carol"}))["event"].clone();
    // The function creates the user the event names: it can, unless a seeded user has the name.
    let (status, run) = app.api("POST", &path, Some(json!({ "event": event })));
    assert_eq!((status, &run["outcome"]["status"]), (200, &json!("returned")), "{run}");
    assert_eq!(run["users_created"][0]["name"], "carol", "{run}");
    let (status, run) = app.api(
        "POST",
        &path,
        Some(json!({ "event": event, "users": [{"name": "carol", "displayName": "Seeded"}] })),
    );
    assert_eq!((status, &run["outcome"]["status"]), (200, &json!("threw")), "{run}");
    assert_eq!(
        app.api("GET", "/v1/users?name=carol", None).1["page"]["total_elements"],
        0,
        "nothing live"
    );
}

#[test]
fn a_shadow_version_runs_on_delivered_events_too() {
    let data = tempfile::tempdir().unwrap();
    let app = App::start(&case_dir("chat-events"), data.path());
    let id = app.function("user.reacted.to_message")["id"].clone();
    // Version 2 throws; version 1 stays live and version 2 runs in its shadow.
    let failing = "async function handleEvent() { throw new Error('v2 fails'); }\nmodule.exports = { handleEvent };\n";
    let (status, _) = app.api(
        "POST",
        &format!("/v1/functions/{id}/versions"),
        Some(json!({"handler_script": failing})),
    );
    assert_eq!(status, 201);
    let (status, _) = app.api(
        "PUT",
        &format!("/v1/functions/{id}/current-version"),
        Some(json!({"version_number": 1})),
    );
    assert_eq!(status, 200);
    let (status, _) = app.api(
        "PUT",
        &format!("/v1/functions/{id}/shadow-version"),
        Some(json!({"version_number": 2})),
    );
    assert_eq!(status, 200);
    assert_eq!(app.report(event("user.reacted.to_message", "r1", 1, json!({}))).0, 202);
    app.wait_for("delivered", |s| s["delivered"] == 1);
    let started = Instant::now();
    let record = loop {
        let records = app.records("user.reacted.to_message");
        if let Some(r) = records.iter().find(|r| !r["shadow"].is_null()) {
            break r.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no shadow outcome: {records:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        (&record["status"], &record["version_number"]),
        (&json!("SUCCEEDED"), &json!(1)),
        "{record}"
    );
    assert_eq!(record["shadow"]["version_number"], 2, "{record}");
    assert_eq!(record["shadow"]["same_outcome"], false, "{record}");
}
