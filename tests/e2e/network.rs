//! Outbound HTTP from functions: `fetch` reaches what the app allows, the network policy stops
//! internal addresses (also behind DNS names and redirects) before any traffic, and HTTP
//! fixtures answer recorded URLs offline.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::harness::{serve_routes, Route, Server};

type Hits = Arc<Mutex<HashMap<String, usize>>>;

fn server(routes: Vec<(&str, Route)>) -> (u16, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Hits::default();
    serve_routes(
        listener,
        routes.into_iter().map(|(p, r)| (p.to_string(), r)).collect(),
        hits.clone(),
    );
    (port, hits)
}

const FUNCTION: &str = r#"
async function handleEvent(event) {
  const tryFetch = async (url) => {
    try {
      return await fetch(url, { headers: { "x-from": "chatfn" } });
    } catch (e) {
      throw new Error(`${e.name}: ${e.message}`);
    }
  };
  switch (event.username) {
    case "ok": {
      const res = await tryFetch(`${process.env.ALLOWED}/data`);
      const data = await res.json();
      if (!res.ok || res.status !== 200 || data.greeting !== "hi" || res.headers.get("Content-Type") !== "application/json") {
        throw new Error(`unexpected answer ${res.status} ${JSON.stringify(data)}`);
      }
      return;
    }
    case "forbidden": await tryFetch(`${process.env.FORBIDDEN}/secret`); return;
    case "metadata": await tryFetch("http://169.254.169.254/latest/meta-data/"); return;
    case "redirect": await tryFetch(`${process.env.ALLOWED}/redirect`); return;
    case "fixture": {
      const res = await tryFetch("https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com");
      const certs = await res.json();
      if (res.headers.get("cache-control") !== "public, max-age=19000" || !certs["kid-1"].startsWith("-----BEGIN CERTIFICATE-----")) {
        throw new Error("unexpected fixture answer");
      }
      return;
    }
  }
}
"#;

#[test]
fn fetch_follows_the_network_policy_and_fixtures() {
    let (forbidden_port, forbidden_hits) =
        server(vec![("/secret", (200, vec![], b"top secret".to_vec()))]);
    let forbidden = format!("http://localhost:{forbidden_port}");
    let (allowed_port, allowed_hits) = server(vec![
        (
            "/data",
            (
                200,
                vec![("content-type".into(), "application/json".into())],
                br#"{"greeting":"hi"}"#.to_vec(),
            ),
        ),
        ("/redirect", (302, vec![("location".into(), format!("{forbidden}/secret"))], Vec::new())),
    ]);

    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir(app.path().join("functions")).unwrap();
    std::fs::write(app.path().join("functions/start.js"), FUNCTION).unwrap();
    std::fs::write(
        app.path().join("certs.json"),
        r#"{"kid-1": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"}"#,
    )
    .unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        format!(
            r#"
[app]
guest_users = "ENABLED"
[runtime.environment]
ALLOWED = "http://127.0.0.1:{allowed_port}"
FORBIDDEN = "{forbidden}"
[functions]
"user.attempted.start_session" = "functions/start.js"
[network]
allow_hosts = ["127.0.0.1"]
[[network.fixtures]]
url = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
headers = {{ "Cache-Control" = "public, max-age=19000", "Content-Type" = "application/json" }}
body_file = "certs.json"
"#
        ),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(app.path(), data.path());

    let attempt = |name: &str| server.start_session(&json!({ "username": name }));
    let (status, answer) = attempt("ok");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(allowed_hits.lock().unwrap().get("/data"), Some(&1));

    let blocked = [
        ("forbidden", "blocked by chatfn's network policy: localhost is a loopback address"),
        ("metadata", "blocked by chatfn's network policy: 169.254.169.254 is a link-local address"),
        ("redirect", "blocked by chatfn's network policy: localhost is a loopback address"),
    ];
    for (name, expected) in blocked {
        let (status, answer) = attempt(name);
        assert_eq!(status, 403, "{name}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("TypeError: fetch failed: ") && message.contains(expected),
            "{name}: {message}"
        );
    }
    assert_eq!(
        allowed_hits.lock().unwrap().get("/redirect"),
        Some(&1),
        "the redirect itself was fetched"
    );
    assert!(forbidden_hits.lock().unwrap().is_empty(), "no request reached the refused server");

    let (status, answer) = attempt("fixture");
    assert_eq!(status, 200, "{answer}");
}
