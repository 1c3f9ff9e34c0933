//! The Platform API over real HTTP: OAuth client credentials from `chatfn keys create`, 401s
//! for everything else, and ChatKitty's official npm client (`chatkitty`) driving settings,
//! users and the runtime; the session attempts that follow use what it set.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{api, chatfn, create_key, npm_tool, repo_root, signed_in, token, Server};

fn write_app(dir: &Path) {
    std::fs::write(
        dir.join("chatfn.toml"),
        "[app]\nname = \"platform\"\nguest_users = \"DISABLED\"\n[runtime.environment]\nSECRET_TOKEN = \"s3cret-value\"\n",
    )
    .unwrap();
}

fn get(base: &str, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = ureq::get(&format!("{base}{path}"));
    if let Some(token) = bearer {
        request = request.set("authorization", &format!("Bearer {token}"));
    }
    match request.call() {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_platform_api_refuses_requests_without_valid_credentials() {
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(app.path(), data.path());
    let stored = std::fs::read_to_string(data.path().join("platform/platform-keys.json")).unwrap();
    assert!(!stored.contains(&secret), "the secret is stored hashed");
    let server = Server::start(app.path(), data.path());
    let base = &server.base;

    for (path, bearer) in [
        ("/v1/application/settings", None),
        ("/v1/users", Some("made-up-token")),
        ("/v1/runtimes/nodejs", Some("")),
    ] {
        let (status, body) = get(base, path, bearer);
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            body,
            json!({ "error": "unauthorized", "error_description": "Full authentication is required to access this resource" })
        );
    }
    let (status, body) = token(base, &id, "wrong-secret").unwrap_err();
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")), "{body}");
    let (status, _) = token(base, "chatfn-unknown", &secret).unwrap_err();
    assert_eq!(status, 401);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let wrong_grant = ureq::post(&format!("{base}/oauth/token"))
        .set("authorization", &format!("Basic {basic}"))
        .send_form(&[("grant_type", "password")]);
    assert!(matches!(wrong_grant, Err(ureq::Error::Status(400, _))), "{wrong_grant:?}");

    // The OpenAPI document is public: it describes the API, it holds no data.
    let (status, doc) = get(base, "/openapi.json", None);
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.")
            && doc["paths"]["/v1/functions/{id}/versions"]["post"].is_object(),
        "{doc}"
    );

    let good = token(base, &id, &secret).unwrap();
    let (status, settings) = get(base, "/v1/application/settings", Some(&good));
    assert_eq!((status, &settings["guest_users"]), (200, &json!("DISABLED")), "{settings}");
    // The session endpoint stays open to chat clients; the platform's token is not needed there.
    assert_eq!(server.start_session(&json!({ "username": "x" })).0, 403);

    // Revoking the key (while the server runs) ends its tokens at once.
    let out = chatfn()
        .args(["keys", "revoke", &id, "--app"])
        .arg(app.path())
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(get(base, "/v1/application/settings", Some(&good)).0, 401);
    assert_eq!(token(base, &id, &secret).unwrap_err().0, 401);
}

#[test]
fn chatkittys_npm_client_manages_settings_and_users() {
    let client = npm_tool("chatkitty@2.106.8");
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    std::fs::write(app.path().join(".npmrc"), format!("registry={}\n", crate::npm::registry()))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(app.path(), data.path());
    let log = data.path().join("server.log");
    let server = Server::start_logged(app.path(), data.path(), &log);
    assert_eq!(
        server.start_session(&json!({ "username": "gina" })).0,
        403,
        "guests start disabled"
    );

    let out = std::process::Command::new("node")
        .arg(repo_root().join("tests/platform/chatkitty-client.js"))
        .env("NODE_PATH", client.join("node_modules"))
        .env("CHATFN_URL", &server.base)
        .env("CHATFN_CLIENT_ID", &id)
        .env("CHATFN_CLIENT_SECRET", &secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen,
        json!({
            "settingsBefore": "DISABLED",
            "settingsAfter": "ENABLED",
            "created": { "name": "carol", "display_name": "Carol", "is_guest": false, "team": "blue" },
            "duplicate": 409,
            "carolExists": 200,
            "nobodyExists": 404,
            "retrieved": "carol",
            "patched": "Carol C.",
            "secret": "1234",
            "listed": ["carol", "dave"],
            "total": 2,
            "byName": ["dave"],
            "daveAfterDelete": 404,
            "runtime": { "type": "NODEJS", "environment_variables": { "SECRET_TOKEN": "********" } },
            "dependencyChanges": { "added": { "greeter": "^1" }, "removed": [], "changed": {} },
            "environment": { "SECRET_TOKEN": "********", "SUFFIX": "********" },
            "functionCreated": { "type": "user.attempted.start_session", "name": "Start session", "current_version_number": 0 },
            "v1": 1,
            "broken": { "status": 400, "location": { "file": "functions/user.attempted.start_session.ts", "line": 2, "column": 13 } },
            "current": 1,
            "versions": [1],
            "functions": ["user.attempted.start_session"],
            "fetchedVersion": 1,
            "attempts": [200, 403],
            "invocations": [
                { "status": "FAILED", "username": "bob", "version": 1, "logs": ["HELLO, INIT! from-env"] },
                { "status": "SUCCEEDED", "username": "ok-ann", "version": 1, "logs": ["HELLO, INIT! from-env"] },
            ],
        })
    );
    assert!(
        app.path().join("node_modules/greeter/package.json").exists(),
        "the dependency was installed into the app"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("environment variables changed"), "changes are logged: {logged}");
    assert!(
        !logged.contains("s3cret-value")
            && !logged.contains("rotated-secret")
            && !logged.contains(&secret),
        "values never are: {logged}"
    );

    // What the client set decides the next attempts: the function, then guests are on
    // (ok-gina is created as a guest), and carol is no guest.
    let (status, answer) = server.start_session(&json!({ "username": "ok-gina" }));
    assert_eq!((status, &answer["user"]["isGuest"]), (200, &json!(true)), "{answer}");
    let (status, answer) = server.start_session(&json!({ "username": "bob" }));
    assert_eq!((status, &answer["message"]), (403, &json!("bob may not chat (v1)")), "{answer}");

    // All of it is kept with the app's data: settings over chatfn.toml's DISABLED, the
    // runtime and the function version over the directory, which did not change.
    server.stop();
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ok-hank" }));
    assert_eq!((status, &answer["user"]["isGuest"]), (200, &json!(true)), "{answer}");
    assert_eq!(
        server.start_session(&json!({ "username": "carol" })).1["message"],
        "carol may not chat (v1)"
    );
}

#[test]
fn switching_versions_under_load_fails_no_invocation() {
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let data = tempfile::tempdir().unwrap();
    let (server, token) = signed_in(app.path(), data.path());
    let base = server.base.clone();
    let (status, function) = api(
        &base,
        &token,
        "POST",
        "/v1/runtimes/nodejs/functions",
        Some(json!({ "type": "user.attempted.start_session", "name": "gate" })),
    );
    assert_eq!(status, 201, "{function}");
    let versions = format!("/v1/functions/{}/versions", function["id"]);
    // v1 lets everyone in (as guests: the API turns them on); v2 lets nobody in.
    assert_eq!(
        api(
            &base,
            &token,
            "PUT",
            "/v1/application/settings",
            Some(json!({ "guestUsers": "ENABLED" }))
        )
        .0,
        200
    );
    assert_eq!(
        api(
            &base,
            &token,
            "POST",
            &versions,
            Some(json!({ "handler_script": "async function handleEvent() {}\n" }))
        )
        .0,
        201
    );
    assert_eq!(api(&base, &token, "POST", &versions, Some(json!({ "handler_script": "async function handleEvent() { throw new Error('closed by v2'); }\n" }))).0, 201);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let body = json!({ "username": format!("user-{t}-{n}") }).to_string();
                    answers.push(crate::harness::post(&base, "/v1/sessions", &body));
                }
                answers
            })
        })
        .collect();
    let current = format!("/v1/functions/{}/current-version", function["id"]);
    for round in 0..6 {
        let number = 1 + round % 2;
        let (status, body) =
            api(&base, &token, "PUT", &current, Some(json!({ "version_number": number })));
        assert_eq!((status, &body["current_version_number"]), (200, &json!(number)), "{body}");
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<_> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(answers.len() > 20, "the load ran ({} attempts)", answers.len());
    let (mut allowed, mut denied) = (0, 0);
    for answer in &answers {
        match answer {
            Some((200, _)) => allowed += 1,
            Some((403, body)) if body["message"] == "closed by v2" => denied += 1,
            other => panic!("an attempt failed during the switches: {other:?}"),
        }
    }
    assert!(
        allowed > 0 && denied > 0,
        "both versions answered ({allowed} allowed, {denied} denied)"
    );

    // The last switch was to version 2; version 1 is one PUT away.
    assert_eq!(server.start_session(&json!({ "username": "late" })).1["message"], "closed by v2");
    let (status, invocations) = api(
        &base,
        &token,
        "GET",
        &format!("/v1/functions/{}/invocations?size=5", function["id"]),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        invocations["_embedded"]["invocations"][0]["args"]["username"], "late",
        "newest first: {invocations}"
    );
    assert_eq!(
        invocations["page"]["totalElements"],
        json!((answers.len() + 1).min(1000)),
        "every attempt recorded, up to the default retention"
    );
    let id = &invocations["_embedded"]["invocations"][0]["id"];
    let (status, one) = api(&base, &token, "GET", &format!("/v1/function-invocations/{id}"), None);
    assert_eq!(
        (status, &one["result"]["error"]["message"]),
        (200, &json!("closed by v2")),
        "{one}"
    );
}

#[test]
fn the_app_directory_and_the_api_take_turns_and_the_newest_change_wins() {
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("functions")).unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[app]\nname = \"platform\"\nguest_users = \"ENABLED\"\n[functions]\n\"user.attempted.start_session\" = \"functions/gate.js\"\n",
    )
    .unwrap();
    let gate = |message: &str| {
        format!("async function handleEvent() {{ throw new Error({message:?}); }}\n")
    };
    std::fs::write(app.path().join("functions/gate.js"), gate("from the file, first")).unwrap();
    let data = tempfile::tempdir().unwrap();

    let (server, token) = signed_in(app.path(), data.path());
    let (_, functions) = api(&server.base, &token, "GET", "/v1/runtimes/nodejs/functions", None);
    let function = functions["_embedded"]["functions"][0].clone();
    assert_eq!(
        (&function["type"], &function["current_version_number"]),
        (&json!("user.attempted.start_session"), &json!(1)),
        "{functions}"
    );
    let versions = format!("/v1/functions/{}/versions", function["id"]);
    let (status, v2) = api(
        &server.base,
        &token,
        "POST",
        &versions,
        Some(json!({ "handler_script": gate("from the API") })),
    );
    assert_eq!(
        (status, &v2["file"]),
        (201, &json!("functions/gate.js")),
        "a version runs as its function's file: {v2}"
    );
    assert_eq!(server.start_session(&json!({ "username": "a" })).1["message"], "from the API");

    // Test invoke: a saved version on an event, over a scratch copy of the users.
    let v1_id = api(&server.base, &token, "GET", &versions, None).1["_embedded"]["versions"][1]
        ["id"]
        .clone();
    let (status, tried) = api(
        &server.base,
        &token,
        "POST",
        &format!("/v1/function-versions/{v1_id}/test"),
        Some(json!({ "event": { "username": "tester" } })),
    );
    assert_eq!(
        (status, &tried["decision"]["message"], &tried["version_number"]),
        (200, &json!("from the file, first"), &json!(1)),
        "{tried}"
    );

    // A restart with the file unchanged keeps the API's version...
    server.stop();
    let (server, _) = signed_in(app.path(), data.path());
    assert_eq!(server.start_session(&json!({ "username": "b" })).1["message"], "from the API");
    // ...and an edited file is taken as a new version.
    server.stop();
    std::fs::write(app.path().join("functions/gate.js"), gate("from the file, edited")).unwrap();
    let (server, token) = signed_in(app.path(), data.path());
    assert_eq!(
        server.start_session(&json!({ "username": "c" })).1["message"],
        "from the file, edited"
    );
    let (_, list) = api(&server.base, &token, "GET", &versions, None);
    let numbers: Vec<_> = list["_embedded"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version_number"].clone())
        .collect();
    assert_eq!(numbers, vec![json!(3), json!(2), json!(1)], "newest first: {list}");
}

#[test]
fn apply_makes_a_server_match_a_directory_once_and_export_writes_it_back() {
    let served = tempfile::tempdir().unwrap();
    write_app(served.path());
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(served.path(), data.path());
    let server = Server::start(served.path(), data.path());
    let key = format!("{id}:{secret}");

    let wanted = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(wanted.path().join("functions")).unwrap();
    std::fs::write(
        wanted.path().join("chatfn.toml"),
        "[app]\nguest_users = \"ENABLED\"\n[runtime]\ninitialization_script = \"init.js\"\n[runtime.environment]\nWORD = \"please\"\n\
         [functions]\n\"user.attempted.start_session\" = \"functions/gate.ts\"\n",
    )
    .unwrap();
    std::fs::write(wanted.path().join("init.js"), "globalThis.word = process.env.WORD;\n").unwrap();
    let gate = "async function handleEvent(event: UserAttemptedStartSessionEvent) {\n  if (event.authParams.word !== globalThis.word) throw new Error('say ' + globalThis.word);\n}\n";
    std::fs::write(wanted.path().join("functions/gate.ts"), gate).unwrap();

    let apply = || {
        let out = chatfn()
            .args(["apply", "--server", &server.base, "--key", &key, "--app"])
            .arg(wanted.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = apply();
    for change in [
        "guest_users: \"DISABLED\" -> \"ENABLED\"",
        "environment variables: [\"WORD\"]",
        "initialization script from init.js",
        "user.attempted.start_session: function created",
        "user.attempted.start_session: version 1 from functions/gate.ts",
    ] {
        assert!(first.contains(change), "{change:?} in:\n{first}");
    }
    assert!(!first.contains("please"), "values are not printed:\n{first}");
    assert!(apply().contains("nothing changed"), "a second apply changes nothing");
    assert_eq!(
        server.start_session(&json!({ "username": "ann", "authParams": { "word": "please" } })).0,
        200
    );
    assert_eq!(
        server.start_session(&json!({ "username": "bob", "authParams": { "word": "now" } })).1
            ["message"],
        "say please"
    );

    let exported = tempfile::tempdir().unwrap();
    let target = exported.path().join("copy");
    let out = chatfn()
        .args(["export", "--server", &server.base, "--key", &key, "--dir"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(target.join("functions/gate.ts")).unwrap(), gate);
    assert_eq!(
        std::fs::read_to_string(target.join("init.js")).unwrap(),
        "globalThis.word = process.env.WORD;\n"
    );
    let toml = std::fs::read_to_string(target.join("chatfn.toml")).unwrap();
    assert!(
        toml.contains("guest_users = \"ENABLED\"")
            && toml.contains("\"WORD\" = \"\"")
            && toml.contains("\"user.attempted.start_session\" = \"functions/gate.ts\""),
        "{toml}"
    );
    let again = chatfn()
        .args(["export", "--server", &server.base, "--key", &key, "--dir"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "export does not overwrite an app");

    // A function the directory no longer has is removed from the server: with none, guests
    // are let in whatever they say.
    std::fs::write(
        wanted.path().join("chatfn.toml"),
        "[app]\nguest_users = \"ENABLED\"\n[runtime]\ninitialization_script = \"init.js\"\n[runtime.environment]\nWORD = \"please\"\n",
    )
    .unwrap();
    let removed = apply();
    assert!(removed.contains("user.attempted.start_session: function removed"), "{removed}");
    assert!(apply().contains("nothing changed"), "removing twice changes nothing");
    assert_eq!(
        server.start_session(&json!({ "username": "cat", "authParams": { "word": "anything" } })).0,
        200
    );
}

#[test]
fn the_openapi_document_is_valid_openapi() {
    let validator = npm_tool("@apidevtools/swagger-parser@10");
    let dir = tempfile::tempdir().unwrap();
    let out = chatfn().arg("openapi").output().unwrap();
    assert!(out.status.success());
    std::fs::write(dir.path().join("openapi.json"), &out.stdout).unwrap();
    let check = std::process::Command::new("node")
        .arg("-e")
        .arg("require('@apidevtools/swagger-parser').validate(process.argv[1]).then((api) => console.log(Object.keys(api.paths).length), (e) => { console.error(e.message); process.exit(1); })")
        .arg(dir.path().join("openapi.json"))
        .env("NODE_PATH", validator.join("node_modules"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "28",
        "every path is in the document"
    );
}

#[test]
fn invocations_replay_from_what_they_saw_and_shadow_versions_are_compared() {
    // The function reads a flag over HTTP from this server, which counts the requests.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let flag_url = format!("http://{}/flag", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let routes = [(
        "/flag".to_string(),
        (
            200,
            vec![("content-type".to_string(), "application/json".to_string())],
            b"{\"open\": false}".to_vec(),
        ),
    )]
    .into();
    crate::harness::serve_routes(listener, routes, hits.clone());
    let flag_hits = || hits.lock().unwrap().get("/flag").copied().unwrap_or(0);

    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        format!("[app]\nname = \"platform\"\nguest_users = \"ENABLED\"\n[runtime.environment]\nFLAG_URL = \"{flag_url}\"\n[network]\nallow_hosts = [\"127.0.0.1\"]\n"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(app.path(), data.path());
    let server = Server::start(app.path(), data.path());
    let token = token(&server.base, &id, &secret).unwrap();
    let base = server.base.clone();
    let call =
        |method: &str, path: &str, body: Option<Value>| api(&base, &token, method, path, body);

    let function = call(
        "POST",
        "/v1/runtimes/nodejs/functions",
        Some(json!({ "type": "user.attempted.start_session", "name": "gate" })),
    )
    .1;
    let versions = format!("/v1/functions/{}/versions", function["id"]);
    let v1 = "async function handleEvent(event, context) {\n  const flag = await (await fetch(process.env.FLAG_URL)).json();\n  \
              const known = await context.ChatKitty.Users.checkUserExists(event.username).then(() => true, () => false);\n  \
              console.log(`checked at ${new Date().toISOString()}`);\n  \
              if (!flag.open && !known) throw new Error(`closed for ${event.username}`);\n}\n";
    assert_eq!(call("POST", &versions, Some(json!({ "handler_script": v1 }))).0, 201);
    assert_eq!(server.start_session(&json!({ "username": "zed" })).1["message"], "closed for zed");
    assert_eq!(flag_hits(), 1);
    let invocations = format!("/v1/functions/{}/invocations", function["id"]);
    let record = call("GET", &invocations, None).1["_embedded"]["invocations"][0].clone();
    let kinds: Vec<_> =
        record["tape"]["calls"].as_array().unwrap().iter().map(|c| c["kind"].clone()).collect();
    assert_eq!(kinds, vec![json!("http"), json!("users")], "what it saw is kept: {record}");

    // The replay gets the same answers and the same clock; the flag server is not asked again.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let key = format!("{id}:{secret}");
    let replay = |version: Option<&str>| {
        let mut command = chatfn();
        command.args([
            "replay",
            &record["id"].to_string(),
            "--server",
            &server.base,
            "--key",
            &key,
        ]);
        if let Some(v) = version {
            command.args(["--version", v]);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, same, stderr) = replay(None);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        (&same["same_outcome"], &same["replay"]["decision"]["message"]),
        (&json!(true), &json!("closed for zed")),
        "{same}"
    );
    // "checked at <ISO time>": the replay's clock starts where the original's did, so the two
    // logged times are within the original's run time of each other (not the hours or more a
    // live clock would be apart here, after the original ran: compared in milliseconds, as a
    // comparison "to the second" fails when one run crosses a second boundary).
    let logged_ms = |message: &str| -> i64 {
        let iso = message.strip_prefix("checked at ").unwrap();
        let (date, time) = iso.trim_end_matches('Z').split_once('T').unwrap();
        let day: i64 = date.split('-').nth(2).unwrap().parse().unwrap();
        let parts: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
        day * 86_400_000 + ((parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]) * 1000.0) as i64
    };
    let replayed = logged_ms(same["replay"]["invocation"]["logs"][0]["message"].as_str().unwrap());
    let original = logged_ms(record["logs"][0]["message"].as_str().unwrap());
    assert!(
        (replayed - original).abs() < 1000,
        "the replay reads the recorded clock: {replayed} against {original}"
    );
    assert_eq!(flag_hits(), 1, "the HTTP response came from the tape");

    // A fixed version, replayed on the failed invocation, lets zed in: a different outcome.
    let v2 = v1.replace(
        "if (!flag.open && !known)",
        "if (!flag.open && !known && !event.username.startsWith('z'))",
    );
    assert_eq!(call("POST", &versions, Some(json!({ "handler_script": v2 }))).0, 201);
    let (code, fixed, stderr) = replay(Some("2"));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        (
            &fixed["same_outcome"],
            &fixed["replay"]["decision"]["allowed"],
            &fixed["replay"]["version_number"]
        ),
        (&json!(false), &json!(true), &json!(2)),
        "{fixed}"
    );

    // Version 1 back live, version 2 in shadow: live attempts get v1's answer; their records
    // get v2's outcome, run on what v1 saw.
    assert_eq!(
        call(
            "PUT",
            &format!("/v1/functions/{}/current-version", function["id"]),
            Some(json!({ "version_number": 1 }))
        )
        .0,
        200
    );
    let (status, f) = call(
        "PUT",
        &format!("/v1/functions/{}/shadow-version", function["id"]),
        Some(json!({ "version_number": 2 })),
    );
    assert_eq!((status, &f["shadow_version_number"]), (200, &json!(2)), "{f}");
    assert_eq!(server.start_session(&json!({ "username": "zoe" })).1["message"], "closed for zoe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let shadowed = loop {
        let latest = call("GET", &invocations, None).1["_embedded"]["invocations"][0].clone();
        if latest["shadow"].is_object() || std::time::Instant::now() > deadline {
            break latest;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(shadowed["args"]["username"], "zoe");
    assert_eq!(
        (
            &shadowed["shadow"]["version_number"],
            &shadowed["shadow"]["status"],
            &shadowed["shadow"]["same_outcome"]
        ),
        (&json!(2), &json!("SUCCEEDED"), &json!(false)),
        "{shadowed}"
    );
    assert_eq!(flag_hits(), 2, "only the live version fetched the flag");
    let (status, f) = call(
        "PUT",
        &format!("/v1/functions/{}/shadow-version", function["id"]),
        Some(json!({ "version_number": null })),
    );
    assert_eq!((status, &f["shadow_version_number"]), (200, &Value::Null));

    // Credentials are not kept at rest: by default the record keeps authParams empty, and a
    // replay of it says it ran without them.
    server.start_session(
        &json!({ "username": "zara", "authParams": { "idToken": "a-bearer-credential" } }),
    );
    let kept = call("GET", &invocations, None).1["_embedded"]["invocations"][0].clone();
    assert_eq!(
        (&kept["args"]["username"], &kept["args"]["authParams"]),
        (&json!("zara"), &json!({})),
        "{kept}"
    );
    assert_eq!(kept["result"]["redacted"], json!(["authParams"]), "{kept}");
    assert!(!kept.to_string().contains("a-bearer-credential"), "{kept}");
    let (status, replayed) =
        call("POST", &format!("/v1/function-invocations/{}/replay", kept["id"]), None);
    assert_eq!((status, &replayed["redacted"]), (200, &json!(["authParams"])), "{replayed}");
}

#[test]
fn a_function_removed_from_the_app_file_is_no_longer_served() {
    let app = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("gate.js"),
        "async function handleEvent() { throw new Error('members only'); }\n",
    )
    .unwrap();
    std::fs::write(app.path().join("chatfn.toml"), "[app]\nguest_users = \"ENABLED\"\n[functions]\n\"user.attempted.start_session\" = \"gate.js\"\n").unwrap();
    let server = Server::start(app.path(), data.path());
    assert_eq!(server.start_session(&json!({ "username": "ann" })).1["message"], "members only");
    server.stop();

    std::fs::write(app.path().join("chatfn.toml"), "[app]\nguest_users = \"ENABLED\"\n").unwrap();
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ann" }));
    assert_eq!(
        (status, &answer["user"]["isGuest"]),
        (200, &json!(true)),
        "no function: a guest session: {answer}"
    );
}

#[test]
fn chatfn_logs_prints_the_recent_invocations_then_follows_new_ones() {
    use std::io::BufRead;
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[functions]\n\"user.attempted.start_session\" = \"hello.js\"\n",
    )
    .unwrap();
    std::fs::write(
        app.path().join("hello.js"),
        "async function handleEvent(event) { console.log(`hello ${event.username}`); }\nmodule.exports = { handleEvent };\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(app.path(), data.path());
    let server = Server::start(app.path(), data.path());
    assert_eq!(server.start_session(&json!({"username": "ann"})).0, 200);
    let mut logs = chatfn()
        .args(["logs", "--follow", "--server", &server.base, "--key", &format!("{id}:{secret}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let (stdout, stderr) = (logs.stdout.take().unwrap(), logs.stderr.take().unwrap());
    let out = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(format!("stderr: {line}"));
        }
    });
    let next = || {
        received.recv_timeout(std::time::Duration::from_secs(20)).expect("a line from chatfn logs")
    };
    // The recent one (on stdout), and the word that it follows now (on stderr), in either order.
    let mut seen: Vec<String> = (0..3).map(|_| next()).collect();
    seen.sort();
    assert_eq!(seen[0], "  | info: hello ann", "{seen:?}");
    assert!(seen[1].contains("start_session") && seen[1].contains("SUCCEEDED"), "{seen:?}");
    assert_eq!(seen[2], "stderr: chatfn: following new invocations (Ctrl-C stops)", "{seen:?}");
    // Followed: an attempt made now is printed as it happens.
    assert_eq!(server.start_session(&json!({"username": "bob"})).0, 200);
    let followed = next();
    assert!(followed.contains("SUCCEEDED"), "{followed}");
    assert_eq!(next(), "  | info: hello bob");
    let _ = logs.kill();
    let _ = logs.wait();
}

#[test]
fn a_signed_in_request_with_a_bad_query_string_gets_a_json_400() {
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let data = tempfile::tempdir().unwrap();
    let (server, token) = signed_in(app.path(), data.path());
    for path in
        ["/v1/users?page=not-a-number", "/v1/users?size=-3", "/v1/events/dead-letters?page=%ff"]
    {
        let (status, answer) = api(&server.base, &token, "GET", path, None);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].is_string() && answer["message"].is_string(), "{path}: {answer}");
    }
}
