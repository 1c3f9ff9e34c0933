//! ChatKitty's documented Firebase function, unmodified, on firebase-admin 13 installed from
//! the npm registry (pinned by chatfn.firebase.lock): the initialization script builds a
//! credential from a service account, and `verifyIdToken` checks RS256 ID tokens minted here
//! with a test key whose certificate Google's certificate URL serves through an HTTP fixture.

use base64::Engine;
use serde_json::json;

use crate::harness::{repo_root, Server};

const PROJECT: &str = "chatfn-test";
const CERTS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/firebase").join(name)).unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ID token as Firebase Auth issues them, signed with the test key.
fn id_token(sub: &str, audience: &str, expires_in: i64) -> String {
    let pem = fixture("test-key.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let header =
        b64url(json!({ "alg": "RS256", "kid": "test-kid", "typ": "JWT" }).to_string().as_bytes());
    let payload = b64url(
        json!({
            "iss": format!("https://securetoken.google.com/{audience}"),
            "aud": audience,
            "auth_time": now - 10,
            "user_id": sub,
            "sub": sub,
            "iat": now - 10,
            "exp": now + expires_in,
            "name": "Ann Firebase",
            "firebase": { "identities": {}, "sign_in_provider": "custom" },
        })
        .to_string()
        .as_bytes(),
    );
    let input = format!("{header}.{payload}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", b64url(&signature))
}

/// The seed app for `project`; `environment` and `network` are lines added to those tables.
fn app(project: &str, environment: &str, network: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for (from, to) in [
        ("functions/firebase-auth.ts", "functions/firebase-auth.ts"),
        ("init-scripts/firebase-admin.js", "init-scripts/firebase-admin.js"),
        ("chatfn.firebase.lock", "chatfn.lock"),
    ] {
        std::fs::create_dir_all(dir.path().join(to).parent().unwrap()).unwrap();
        std::fs::copy(root.join(from), dir.path().join(to)).unwrap();
    }
    assert_eq!(
        std::fs::read(dir.path().join("functions/firebase-auth.ts")).unwrap(),
        std::fs::read(root.join("../shared/seed/user-attempted-start-session.ts"))
            .unwrap_or_else(|_| std::fs::read(root.join("functions/firebase-auth.ts")).unwrap()),
        "the function is the documented one, byte for byte"
    );
    std::fs::write(
        dir.path().join("certs.json"),
        json!({ "test-kid": fixture("test-cert.pem") }).to_string(),
    )
    .unwrap();
    let service_account = json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": "test-kid",
        "private_key": fixture("test-key.pem"),
        "client_email": format!("firebase-adminsdk@{project}.iam.gserviceaccount.com"),
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let config = format!(
        r#"[app]
name = "firebase"
guest_users = "DISABLED"
[runtime]
initialization_script = "init-scripts/firebase-admin.js"
[runtime.dependencies]
firebase-admin = "^13"
[runtime.environment]
FIREBASE_SERVICE_ACCOUNT = '''{service_account}'''
{environment}
[network]
{network}
[functions]
"user.attempted.start_session" = "functions/firebase-auth.ts"
[[network.fixtures]]
url = "{CERTS_URL}"
headers = {{ "Cache-Control" = "public, max-age=19000", "Content-Type" = "application/json; charset=UTF-8" }}
body_file = "certs.json"
"#
    );
    std::fs::write(dir.path().join("chatfn.toml"), config).unwrap();
    dir
}

#[test]
fn the_seed_function_verifies_firebase_id_tokens() {
    let app = app(PROJECT, "", "");
    let data = tempfile::tempdir().unwrap();
    // `serve` installs firebase-admin from the lockfile first (from the cache when it can).
    let server = Server::start(app.path(), data.path());
    let attempt = |username: &str, token: &str| {
        server.start_session(&json!({ "username": username, "authParams": { "idToken": token } }))
    };

    let (status, answer) = attempt("ann", &id_token("ann", PROJECT, 3600));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["user"]["name"], "ann");
    assert_eq!(
        answer["user"]["displayName"], "Ann Firebase",
        "the function copies the token's name"
    );
    assert_eq!(answer["user"]["isGuest"], false);
    let (status, again) = attempt("ann", &id_token("ann", PROJECT, 3600));
    assert_eq!((status, &again["user"]["id"]), (200, &answer["user"]["id"]), "{again}");

    // Change a signature character that carries whole bytes (the last one holds padding bits).
    let good = id_token("ann", PROJECT, 3600);
    let at = good.len() - 10;
    let replacement = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{replacement}{}", &good[..at], &good[at + 1..]);
    let denials = [
        ("ann", id_token("bob", PROJECT, 3600), "This token was not issued for this user"),
        ("ann", id_token("ann", PROJECT, -60), "Firebase ID token has expired"),
        ("ann", tampered, "Firebase ID token has invalid signature"),
        (
            "ann",
            id_token("ann", "another-project", 3600),
            "Firebase ID token has incorrect \"aud\" (audience) claim",
        ),
        ("ann", "not-a-jwt".to_string(), "Decoding Firebase ID token failed"),
    ];
    for (username, token, expected) in denials {
        let (status, answer) = attempt(username, &token);
        assert_eq!(status, 403, "{expected}: {answer}");
        assert_eq!(answer["error"], "AccessDenied");
        assert!(
            answer["message"].as_str().unwrap().starts_with(expected),
            "expected {expected:?}, got {answer}"
        );
    }
}

/// firebase-tools from the npm registry, installed once under `target/tools` (it is large).
fn firebase_tools() -> std::path::PathBuf {
    crate::harness::npm_tool("firebase-tools@14")
        .join("node_modules/firebase-tools/lib/bin/firebase.js")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The Firebase Auth emulator, running offline for a demo project until dropped.
struct AuthEmulator {
    child: std::process::Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl AuthEmulator {
    fn start(project: &str) -> AuthEmulator {
        let cli = firebase_tools();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = json!({ "emulators": {
            "auth": { "host": "127.0.0.1", "port": port },
            "hub": { "host": "127.0.0.1", "port": free_port() },
            "logging": { "host": "127.0.0.1", "port": free_port() },
            "ui": { "enabled": false },
        }});
        std::fs::write(dir.path().join("firebase.json"), config.to_string()).unwrap();
        let child = std::process::Command::new("node")
            .arg(cli)
            .args(["emulators:start", "--only", "auth", "--project", project])
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node runs firebase-tools");
        let emulator = AuthEmulator { child, host: format!("127.0.0.1:{port}"), _dir: dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while ureq::get(&format!("http://{}/", emulator.host))
            .call()
            .is_err_and(|e| matches!(e, ureq::Error::Transport(_)))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the Auth emulator did not start within 90 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        emulator
    }

    /// Signs a new email/password user up; answers the user's uid and ID token.
    fn sign_up(&self, email: &str, display_name: &str) -> (String, String) {
        // The emulator's HTTP server answers (404) before its Auth routes are ready.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let response = loop {
            let sent = ureq::post(&format!("http://{}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key", self.host))
                .send_json(json!({ "email": email, "password": "correct horse", "displayName": display_name, "returnSecureToken": true }));
            match sent {
                Err(ureq::Error::Status(404, _)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(250))
                }
                other => break other.unwrap(),
            }
        };
        let answer: serde_json::Value = response.into_json().unwrap();
        (
            answer["localId"].as_str().unwrap().to_string(),
            answer["idToken"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for AuthEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_seed_function_accepts_tokens_from_the_auth_emulator() {
    const DEMO: &str = "demo-chatfn";
    let emulator = AuthEmulator::start(DEMO);
    let (ann, ann_token) = emulator.sign_up("ann@example.com", "Ann Emulator");
    let (_bob, bob_token) = emulator.sign_up("bob@example.com", "Bob Emulator");

    // firebase-admin asks the emulator whether the user still exists, so chatfn must reach it.
    let app = app(
        DEMO,
        &format!("FIREBASE_AUTH_EMULATOR_HOST = \"{}\"", emulator.host),
        "allow_hosts = [\"127.0.0.1\"]",
    );
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(app.path(), data.path());
    let attempt = |username: &str, token: &str| {
        server.start_session(&json!({ "username": username, "authParams": { "idToken": token } }))
    };

    let (status, answer) = attempt(&ann, &ann_token);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["user"]["name"], ann.as_str());
    assert_eq!(answer["user"]["displayName"], "Ann Emulator");

    let (status, answer) = attempt(&ann, &bob_token);
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["message"], "This token was not issued for this user");

    // A token signed for production is not an emulator token: the emulator does not know the user.
    let (status, answer) = attempt("carol", &id_token("carol", DEMO, 3600));
    assert_eq!(status, 403, "{answer}");
}

/// firebase-admin's calls to Google APIs take an OAuth access token from the service account:
/// google-auth-library signs a JWT grant and gaxios posts it through `await import('node-fetch')`
/// (node-fetch 3 is an ES module), here answered by HTTP fixtures.
#[test]
fn firebase_admin_gets_an_oauth_token_for_google_apis() {
    let token_uri = "https://oauth2.googleapis.com/token";
    let lookup =
        format!("https://identitytoolkit.googleapis.com/v1/projects/{PROJECT}/accounts:lookup");
    let fixtures = format!(
        "[[network.fixtures]]\nurl = \"{token_uri}\"\nheaders = {{ \"Content-Type\" = \"application/json\" }}\n\
         body = '{{\"access_token\":\"ya29.chatfn-test\",\"expires_in\":3599,\"token_type\":\"Bearer\"}}'\n\
         [[network.fixtures]]\nurl = \"{lookup}\"\nheaders = {{ \"Content-Type\" = \"application/json\" }}\n\
         body = '{{\"kind\":\"identitytoolkit#GetAccountInfoResponse\",\"users\":[{{\"localId\":\"ann\",\"displayName\":\"Ann Lookup\",\"email\":\"ann@example.com\"}}]}}'\n"
    );
    let app = app(PROJECT, "", "");
    let config = std::fs::read_to_string(app.path().join("chatfn.toml")).unwrap();
    std::fs::write(app.path().join("chatfn.toml"), format!("{config}{fixtures}")).unwrap();
    // Not the seed: a function that looks the user up with the Admin SDK.
    std::fs::write(
        app.path().join("functions/firebase-auth.ts"),
        "const firebase = require('firebase-admin');\n\
         async function handleEvent(event: UserAttemptedStartSessionEvent) {\n  \
         const user = await firebase.auth().getUser(event.username);\n  \
         throw new Error(`${user.uid} is ${user.displayName} <${user.email}>`);\n}\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ann" }));
    assert_eq!(
        (status, answer["message"].as_str()),
        (403, Some("ann is Ann Lookup <ann@example.com>")),
        "{answer}"
    );
}
