//! The Platform API over real HTTP: OAuth client credentials from `chatfn keys create`, 401s
//! for everything else, and ChatKitty's official npm client (`chatkitty`) driving settings,
//! users and the runtime; the session attempts that follow use what it set.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{chatfn, npm_tool, repo_root, Server};

fn write_app(dir: &Path) {
    std::fs::write(
        dir.join("chatfn.toml"),
        "[app]\nname = \"platform\"\nguest_users = \"DISABLED\"\n[runtime.environment]\nSECRET_TOKEN = \"s3cret-value\"\n",
    )
    .unwrap();
}

fn create_key(app: &Path, data: &Path) -> (String, String) {
    let out = chatfn().args(["keys", "create", "--app"]).arg(app).arg("--data").arg(data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap().to_string();
    (field("client_id="), field("client_secret="))
}

fn token(base: &str, id: &str, secret: &str) -> Result<String, (u16, Value)> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    match ureq::post(&format!("{base}/oauth/token"))
        .set("authorization", &format!("Basic {basic}"))
        .set("content-type", "application/x-www-form-urlencoded")
        .send_string("grant_type=client_credentials")
    {
        Ok(r) => Ok(r.into_json::<Value>().unwrap()["access_token"].as_str().unwrap().to_string()),
        Err(ureq::Error::Status(code, r)) => Err((code, r.into_json().unwrap_or(Value::Null))),
        Err(e) => panic!("{e}"),
    }
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

    for (path, bearer) in [("/v1/application/settings", None), ("/v1/users", Some("made-up-token")), ("/v1/runtimes/nodejs", Some(""))] {
        let (status, body) = get(base, path, bearer);
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body, json!({ "error": "unauthorized", "error_description": "Full authentication is required to access this resource" }));
    }
    let (status, body) = token(base, &id, "wrong-secret").unwrap_err();
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")), "{body}");
    let (status, _) = token(base, "chatfn-unknown", &secret).unwrap_err();
    assert_eq!(status, 401);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let wrong_grant = ureq::post(&format!("{base}/oauth/token")).set("authorization", &format!("Basic {basic}")).send_form(&[("grant_type", "password")]);
    assert!(matches!(wrong_grant, Err(ureq::Error::Status(400, _))), "{wrong_grant:?}");

    let good = token(base, &id, &secret).unwrap();
    let (status, settings) = get(base, "/v1/application/settings", Some(&good));
    assert_eq!((status, &settings["guest_users"]), (200, &json!("DISABLED")), "{settings}");
    // The session endpoint stays open to chat clients; the platform's token is not needed there.
    assert_eq!(server.start_session(&json!({ "username": "x" })).0, 403);

    // Revoking the key (while the server runs) ends its tokens at once.
    let out = chatfn().args(["keys", "revoke", &id, "--app"]).arg(app.path()).arg("--data").arg(data.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(get(base, "/v1/application/settings", Some(&good)).0, 401);
    assert_eq!(token(base, &id, &secret).unwrap_err().0, 401);
}

#[test]
fn chatkittys_npm_client_manages_settings_and_users() {
    let client = npm_tool("chatkitty@2.106.8");
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let data = tempfile::tempdir().unwrap();
    let (id, secret) = create_key(app.path(), data.path());
    let server = Server::start(app.path(), data.path());
    assert_eq!(server.start_session(&json!({ "username": "gina" })).0, 403, "guests start disabled");

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
        })
    );

    // What the client set decides the next attempts: guests are on, carol is no guest.
    let (status, answer) = server.start_session(&json!({ "username": "gina" }));
    assert_eq!((status, &answer["user"]["isGuest"]), (200, &json!(true)), "{answer}");
    let (status, answer) = server.start_session(&json!({ "username": "carol" }));
    assert_eq!((status, &answer["error"]), (403, &json!("NotAGuest")), "{answer}");

    // The setting is kept with the app's data, over chatfn.toml's DISABLED.
    server.stop();
    let server = Server::start(app.path(), data.path());
    assert_eq!(server.start_session(&json!({ "username": "hank" })).0, 200);
}
