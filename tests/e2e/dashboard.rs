//! The dashboard in a real headless Chromium (Debian's `chromium`, driven over WebDriver by
//! `chromedriver`) against a real `chatfn serve`: sign in, break the function and see the error
//! at its line, fix and save, see a session attempt follow the new version, roll back, watch
//! the attempt in the live invocation list, run a test. Screenshots go to
//! `target/screenshots/dashboard-*.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{create_key, repo_root, Server};

/// A chromedriver process and one browser session of it.
struct Browser {
    driver: Child,
    base: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const KEY_CONTROL: &str = "\u{E009}";
const KEY_HOME: &str = "\u{E011}";
const KEY_END: &str = "\u{E010}";
const KEY_BACKSPACE: &str = "\u{E003}";
const KEYS_UP: &str = "\u{E000}";

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/test installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let session = ureq::post(&format!("{base}/session")).send_json(caps).unwrap();
        let session: Value = session.into_json().unwrap();
        let id = session["value"]["sessionId"].as_str().unwrap().to_string();
        Browser { driver, base: format!("{base}/session/{id}"), _profile: profile }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let answer = match method {
            "GET" => ureq::get(&url).call(),
            _ => ureq::request(method, &url).send_json(body),
        };
        match answer {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(code, r)) => {
                panic!("WebDriver {method} {path}: {code} {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// The elements `css` finds now.
    fn all(&self, css: &str) -> Vec<String> {
        let found = self.call("POST", "/elements", json!({"using": "css selector", "value": css}));
        found.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_string()).collect()
    }

    /// Waits (up to 15 s) for an element `css` finds whose text contains `text`; answers it
    /// and its whole text.
    fn wait_for(&self, css: &str, text: &str) -> (String, String) {
        let started = Instant::now();
        loop {
            for element in self.all(css) {
                let shown = self.text(&element);
                if shown.contains(text) {
                    return (element, shown);
                }
            }
            if started.elapsed() > Duration::from_secs(15) {
                self.screenshot("failure");
                let seen: Vec<String> = self.all(css).iter().map(|e| self.text(e)).collect();
                panic!("no {css} showing {text:?}; the page shows {seen:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An element's text; empty when the page has replaced the element since it was found.
    fn text(&self, element: &str) -> String {
        match ureq::get(&format!("{}/element/{element}/text", self.base)).call() {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].as_str().unwrap_or("").to_string(),
            Err(_) => String::new(),
        }
    }

    /// The element `css` finds, once the page shows one (pages render after their requests).
    fn field(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(element) = self.all(css).pop() {
                return element;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "no {css}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Clicks the element `css` finds, found again when the page replaced it meanwhile.
    fn click_on(&self, css: &str) {
        let started = Instant::now();
        loop {
            let clicked = self.all(css).pop().is_some_and(|id| {
                ureq::post(&format!("{}/element/{id}/click", self.base))
                    .send_json(json!({}))
                    .is_ok()
            });
            if clicked {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "cannot click {css}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the `child` element inside the `parent` element showing `text`, found again when
    /// the page replaced it meanwhile (lists re-render as their requests come back).
    fn click_in(&self, parent: &str, text: &str, child: &str) {
        let started = Instant::now();
        loop {
            let (element, _) = self.wait_for(parent, text);
            let found = ureq::post(&format!("{}/element/{element}/elements", self.base))
                .send_json(json!({"using": "css selector", "value": child}))
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .and_then(|v| v["value"][0][ELEMENT].as_str().map(str::to_string));
            let clicked = found.is_some_and(|id| {
                ureq::post(&format!("{}/element/{id}/click", self.base))
                    .send_json(json!({}))
                    .is_ok()
            });
            if clicked {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "cannot click {child} in {parent}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_into(&self, element: &str, keys: &str) {
        self.call("POST", &format!("/element/{element}/value"), json!({ "text": keys }));
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let png = self.call("GET", "/screenshot", Value::Null);
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = repo_root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("dashboard-{name}.png"));
        std::fs::write(&file, bytes).unwrap();
        file
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn write_app(dir: &Path) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("functions")).unwrap();
    std::fs::write(
        app.join("chatfn.toml"),
        "[app]\nname = \"gate\"\n[functions]\n\"user.attempted.start_session\" = \"functions/gate.js\"\n",
    )
    .unwrap();
    std::fs::write(
        app.join("functions/gate.js"),
        "const VERSION = 1;\nasync function handleEvent(event, context) {\n  throw new Error(`closed ${VERSION}`);\n}\nmodule.exports = { handleEvent };\n",
    )
    .unwrap();
    app
}

/// The message a session attempt is denied with now.
fn denial(server: &Server) -> String {
    let (status, answer) = server.start_session(&json!({"username": "ann"}));
    assert_eq!(status, 403, "{answer}");
    answer["message"].as_str().unwrap().to_string()
}

#[test]
fn a_developer_fixes_deploys_rolls_back_and_tests_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());
    let data = dir.path().join("data");
    let (id, secret) = create_key(&app, &data);
    let server = Server::start(&app, &data);
    let browser = Browser::start();

    // Signing in: a wrong secret is refused, the right one opens the Functions page.
    browser.open(&format!("{}/dashboard/", server.base));
    let field = |css: &str| browser.field(css);
    browser.type_into(&field("#client-id"), &id);
    browser.type_into(&field("#client-secret"), "wrong");
    browser.click_on("#sign-in");
    browser.wait_for("#signin-status", "refused");
    let secret_field = field("#client-secret");
    browser.call("POST", &format!("/element/{secret_field}/clear"), json!({}));
    browser.type_into(&secret_field, &secret);
    browser.click_on("#sign-in");
    browser.wait_for("#signed-in", &id);
    browser.wait_for("#editor .cm-content", "closed ${VERSION}");
    browser.wait_for("#versions li", "v1");

    // Breaking the function: an `=` after line 1. Save refuses it, at its line, in the editor.
    let code = field("#editor .cm-content");
    browser.type_into(&code, &format!("{KEY_CONTROL}{KEY_HOME}{KEYS_UP}{KEY_END}="));
    browser.click_on("#save");
    browser.wait_for("#save-status", "Not saved: line 1, column");
    assert!(
        !browser.all("#editor .cm-lintRange-error").is_empty(),
        "the error is marked in the editor"
    );
    browser.screenshot("compile-error");
    assert_eq!(denial(&server), "closed 1", "nothing was deployed");

    // The fix: `const VERSION = 2;`, saved, deployed: the next attempt runs it.
    browser.type_into(
        &code,
        &format!("{KEY_CONTROL}{KEY_HOME}{KEYS_UP}{KEY_END}{KEY_BACKSPACE}{KEY_BACKSPACE}{KEY_BACKSPACE}2;"),
    );
    browser.wait_for("#editor .cm-content", "const VERSION = 2;");
    browser.click_on("#save");
    browser.wait_for("#save-status", "Saved and deployed version 2");
    assert_eq!(denial(&server), "closed 2");
    browser.screenshot("functions");

    // Rolling back to version 1.
    browser.click_in("#versions li", "v1", "button.make-current");
    browser.wait_for("#save-status", "Version 1 is current now");
    assert_eq!(denial(&server), "closed 1");

    // The changes from version 1 to version 2, line by line.
    browser.click_on("#compare");
    let (_, diff) = browser.wait_for("#diff pre", "+ const VERSION = 2;");
    assert!(diff.contains("- const VERSION = 1;") && diff.contains("  async function"), "{diff}");

    // Version 2 in shadow: an attempt runs it too, and the page counts how often it agrees.
    browser.click_in("#versions li", "v2", "button.shadow");
    browser.wait_for("#shadow-status", "v2 runs in shadow");
    assert_eq!(denial(&server), "closed 1");
    std::thread::sleep(Duration::from_millis(500));
    browser.click_on("nav button[data-view=Functions]");
    browser.wait_for("#shadow-status", "agreed with the live version on 0 of the last 1");
    browser.screenshot("shadow");

    // The attempts show up in the live invocation list, newest first, with their version.
    browser.click_on("nav button[data-view=Invocations]");
    let (_, newest) = browser.wait_for("#invocations tr", "closed 1");
    assert!(newest.contains("v1") && newest.contains("ann"), "{newest}");
    assert_eq!(denial(&server), "closed 1");
    let started = Instant::now();
    while browser.all("#invocations tr").len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(10), "the live list did not grow");
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.screenshot("invocations");
    // Filtered by version: only version 2's attempt is left.
    browser.type_into(&field("#filter-version"), "2");
    let started = Instant::now();
    loop {
        let shown: Vec<String> = browser
            .all("#invocations tr")
            .iter()
            .map(|row| browser.text(row))
            .filter(|text| !text.is_empty())
            .collect();
        if shown.len() == 1 && shown[0].contains("closed 2") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "filtered rows: {shown:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.call("POST", &format!("/element/{}/clear", field("#filter-version")), json!({}));

    // Replaying the newest attempt (version 1) on version 2: the two outcomes side by side.
    browser.click_in("#invocations tr", "closed 1", "button");
    let (pick, _) = browser.wait_for("#replay-version", "v2");
    browser.type_into(&pick, "v2");
    browser.click_on("#replay");
    browser.wait_for("#replay-verdict", "A different outcome");
    browser.wait_for("#replay-result", "closed 2");
    browser.screenshot("replay");

    // A test run of the current version on the prefilled event.
    browser.click_on("nav button[data-view=Test]");
    browser.click_on("#run-test");
    browser.wait_for("#test-decision", "v1: denied: AccessDenied: closed 1");
    // Its error's line, marked in the editor.
    browser.click_on("#show-error");
    browser.wait_for("#save-status", "The test run threw at line 3, column 9: closed 1");
    assert!(!browser.all("#editor .cm-lintRange-error").is_empty(), "the line is marked");

    // The runtime: a dependency added is installed from the registry and deployed; an
    // environment variable is set by name and its value never shown.
    browser.click_on("nav button[data-view=Runtime]");
    browser.click_on("#add-dependency");
    browser.type_into(&field("#dependencies tr:last-child .dep-name"), "is-number");
    browser.type_into(&field("#dependencies tr:last-child .dep-version"), "^7");
    browser.click_on("#save-dependencies");
    browser.wait_for("#runtime-status", "added is-number@^7; installed 1 packages");
    assert!(app.join("node_modules/is-number/package.json").is_file(), "installed in the app");
    browser.type_into(&field("#env-name"), "GREETING");
    browser.type_into(&field("#env-value"), "hello-secret");
    browser.click_on("#set-env");
    let (_, env) = browser.wait_for("#environment li", "GREETING");
    assert!(!env.contains("hello-secret"), "{env}");
    browser.screenshot("runtime");

    // Users: found by name and deleted (after the browser's confirmation).
    let (status, bob) = crate::harness::api(
        &server.base,
        &crate::harness::token(&server.base, &id, &secret).unwrap(),
        "POST",
        "/v1/users",
        Some(json!({"name": "bob", "displayName": "Bob"})),
    );
    assert_eq!(status, 201, "{bob}");
    let (status, _) = crate::harness::api(
        &server.base,
        &crate::harness::token(&server.base, &id, &secret).unwrap(),
        "PUT",
        &format!("/v1/users/{}/secrets/pin", bob["id"]),
        Some(json!({"secret": "4321"})),
    );
    assert_eq!(status, 200);
    browser.click_on("nav button[data-view=Users]");
    browser.type_into(&field("#user-search"), "bob\n");
    browser.click_in("#users tr", "Bob", "button.user-name");
    let (_, secrets) = browser.wait_for("#user-secrets", "pin");
    assert!(!secrets.contains("4321"), "secret values are not shown: {secrets}");
    browser.click_in("#users tr", "Bob", "button.delete-user");
    browser.call("POST", "/alert/accept", json!({}));
    browser.wait_for("#users-page", "0 users");
    let (status, _) = crate::harness::api(
        &server.base,
        &crate::harness::token(&server.base, &id, &secret).unwrap(),
        "GET",
        &format!("/v1/users/{}", bob["id"]),
        None,
    );
    assert_eq!(status, 404, "the user is gone");

    // Settings: the limits in effect.
    browser.click_on("nav button[data-view=Settings]");
    browser.wait_for("#limits td[data-limit=cpu_ms]", "1000");

    // Signing out forgets the token.
    browser.click_on("#sign-out");
    browser.wait_for("#signin-status", "Signed out");
}

#[test]
fn one_page_signs_in_to_several_apps_and_switches_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let gate = write_app(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("chatfn.toml"), "[app]\nname = \"lounge\"\n").unwrap();
    let data = dir.path().join("data");
    let (gate_id, gate_secret) = create_key(&gate, &data);
    let (lounge_id, lounge_secret) = create_key(&other, &data);
    let server = Server::start_apps(&[&gate, &other], &data);
    let browser = Browser::start();
    let field = |css: &str| browser.field(css);
    let sign_in = |id: &str, secret: &str| {
        browser.type_into(&field("#client-id"), id);
        browser.type_into(&field("#client-secret"), secret);
        browser.click_on("#sign-in");
    };
    browser.open(&format!("{}/dashboard/", server.base));
    sign_in(&gate_id, &gate_secret);
    browser.wait_for("#signed-in", "app gate");
    browser.wait_for("#functions li", "user.attempted.start_session");
    // Another app's key, from the switcher: both are signed in now.
    browser.click_on("#app-switcher option[value='']");
    sign_in(&lounge_id, &lounge_secret);
    browser.wait_for("#signed-in", "app lounge");
    assert!(browser.all("#functions li").is_empty(), "the lounge app has no functions");
    browser.click_on("#app-switcher option[value=gate]");
    browser.wait_for("#signed-in", "app gate");
    browser.wait_for("#functions li", "user.attempted.start_session");
    // Signing out of one leaves the other signed in.
    browser.click_on("#sign-out");
    browser.wait_for("#signed-in", "app lounge");
}

/// The page's assets over plain HTTP: the script gzipped to a client that takes gzip (a third
/// of its size), as it is to one that does not; no host but this one in the policy.
#[test]
fn the_dashboard_assets_are_served_compressed_when_asked() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let app = write_app(dir.path());
    let server = Server::start(&app, &dir.path().join("data"));
    let fetch = |accept: &str| -> (String, Vec<u8>) {
        let address = server.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(stream, "GET /dashboard/app.js HTTP/1.1\r\nHost: {address}\r\n{accept}Connection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
        (head, response[split + 4..].to_vec())
    };
    let (plain_head, plain) = fetch("");
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    assert!(plain_head.contains("content-security-policy: default-src 'self'"), "{plain_head}");
    let (gzip_head, gzipped) = fetch("Accept-Encoding: gzip, deflate, br\r\n");
    assert!(gzip_head.contains("content-encoding: gzip"), "{gzip_head}");
    assert!(gzipped.len() * 2 < plain.len(), "{} of {} bytes", gzipped.len(), plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
}
