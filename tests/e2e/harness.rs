//! Runs the real `chatfn` binary: a server on a free loopback port with its own data directory,
//! or a one-shot `chatfn invoke`, and talks to it over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn case_dir(name: &str) -> PathBuf {
    repo_root().join("tests/cases").join(name)
}

/// The binary under test: this build's, or `CHATFN_BIN` (to run the tests against another
/// build, such as the one before a fix).
pub fn chatfn() -> Command {
    let binary =
        std::env::var_os("CHATFN_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_chatfn").into());
    let mut cmd = Command::new(binary);
    cmd.env("RUST_LOG", "chatfn=warn");
    cmd
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `chatfn serve` for `app` with its store under `data`.
    pub fn start(app: &Path, data: &Path) -> Server {
        Server::start_apps(&[app], data)
    }

    /// Starts one `chatfn serve` hosting several apps; the first is the default.
    pub fn start_apps(apps: &[&Path], data: &Path) -> Server {
        Server::spawn(apps, data, None, None, &[])
    }

    /// Starts `chatfn serve` logging at debug level into the file `log`.
    pub fn start_logged(app: &Path, data: &Path, log: &Path) -> Server {
        Server::spawn(&[app], data, Some(log), None, &[])
    }

    /// `start_apps`, logging at debug level into the file `log`.
    pub fn start_apps_logged(apps: &[&Path], data: &Path, log: &Path) -> Server {
        Server::spawn(apps, data, Some(log), None, &[])
    }

    /// A node sharing the PostgreSQL database at `store` (`--store`), its own files under
    /// `data`, with environment variables `env`.
    pub fn start_node(app: &Path, data: &Path, store: &str, env: &[(&str, &str)]) -> Server {
        Server::spawn(&[app], data, None, Some(store), env)
    }

    /// `start_logged`, with environment variables `env`.
    pub fn start_logged_with(app: &Path, data: &Path, log: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(&[app], data, Some(log), None, env)
    }

    fn spawn(
        apps: &[&Path],
        data: &Path,
        log: Option<&Path>,
        store: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = chatfn();
        let stderr = match log {
            Some(path) => {
                command.env("RUST_LOG", "chatfn=debug");
                Stdio::from(std::fs::File::create(path).unwrap())
            }
            None => Stdio::inherit(),
        };
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        // Each data directory a machine's snapshot cache of its own, so that a test's first
        // start on a new one builds cold, whatever other tests served (`env` may share one).
        command.env("CHATFN_SNAPSHOT_CACHE_DIR", data.join(".snapshot-cache"));
        if let Some(store) = store {
            command.args(["--store", store]);
        }
        command.envs(env.iter().copied());
        for app in apps {
            command.arg("--app").arg(app);
        }
        let mut child = command
            .arg("--data")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("chatfn serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) =
                    line.split(" on ").nth(1).filter(|_| line.starts_with("chatfn: serving"))
                {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("chatfn serve did not announce its address; status: {:?}", child.try_wait());
            }
        };
        Server { child, base }
    }

    /// `POST /v1/sessions` with a raw body; returns the status and the JSON answer.
    pub fn start_session_raw(&self, body: &str) -> (u16, Value) {
        self.try_raw(body).unwrap_or_else(|| panic!("request to {} failed", self.base))
    }

    fn try_raw(&self, body: &str) -> Option<(u16, Value)> {
        self.try_post("/v1/sessions", body)
    }

    /// `POST` a body to `path`; `None` when the server cannot be reached.
    pub fn try_post(&self, path: &str, body: &str) -> Option<(u16, Value)> {
        post(&self.base, path, body)
    }

    pub fn start_session(&self, body: &Value) -> (u16, Value) {
        self.start_session_raw(&body.to_string())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server process has used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces) start at state, field 3.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// The server's resident memory now and at its peak, in MiB (`VmRSS`, `VmHWM`).
    pub fn rss_mb(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until the whole process is
    /// gone: its last thread too (a process whose main thread has died can still hold files,
    /// such as the store's lock, until every thread has).
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server as an operator would (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "chatfn serve exited with {status} on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `chatfn invoke` and returns its exit code and the JSON it printed.
pub fn invoke(app: &Path, data: &Path, event: &Value) -> (i32, Value) {
    let event_file = data.join("event.json");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&event_file, event.to_string()).unwrap();
    let out = chatfn()
        .args(["invoke", "--app"])
        .arg(app)
        .arg("--data")
        .arg(data.join("store"))
        .arg("--event")
        .arg(&event_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("invoke printed no JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap_or(-1), json)
}

/// What a test HTTP server answers for a path: status, headers, body.
pub type Route = (u16, Vec<(String, String)>, Vec<u8>);

/// Serves fixed routes on `listener` until the test process ends; counts requests per path in
/// `hits`. Unknown paths answer 404.
pub fn serve_routes(
    listener: std::net::TcpListener,
    routes: std::collections::HashMap<String, Route>,
    hits: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
) {
    serve(listener, routes, move |request| {
        *hits.lock().unwrap().entry(request.path).or_default() += 1;
    });
}

/// A request a test server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `serve_routes`, keeping every request whole, in the order they came.
pub fn serve_recorded(
    listener: std::net::TcpListener,
    routes: std::collections::HashMap<String, Route>,
) -> std::sync::Arc<std::sync::Mutex<Vec<Received>>> {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    serve(listener, routes, move |request| log.lock().unwrap().push(request));
    received
}

fn serve(
    listener: std::net::TcpListener,
    routes: std::collections::HashMap<String, Route>,
    on_request: impl Fn(Received) + Send + Sync + 'static,
) {
    use std::io::{Read, Write};
    let routes = std::sync::Arc::new(routes);
    let on_request = std::sync::Arc::new(on_request);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (routes, on_request) = (routes.clone(), on_request.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap_or(0);
                let mut words = request_line.split_whitespace();
                let method = words.next().unwrap_or("GET").to_string();
                let path = words.next().unwrap_or("/").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.trim_end().split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (status, reply_headers, reply) =
                    routes.get(&path).cloned().unwrap_or((404, Vec::new(), b"{}".to_vec()));
                on_request(Received { method, path, headers, body });
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.len()
                );
                for (k, v) in reply_headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&reply));
            });
        }
    });
}

/// `POST` a body to `base` + `path`; `None` when the server cannot be reached. Threads that
/// load a server use this with its `base`, so a failing test never keeps a `Server` alive.
pub fn post(base: &str, path: &str, body: &str) -> Option<(u16, Value)> {
    let answer = ureq::post(&format!("{base}{path}"))
        .set("content-type", "application/json")
        .timeout(Duration::from_secs(30))
        .send_string(body);
    let response = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(_)) => return None,
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text));
    Some((status, json))
}

/// Installs an npm package for the tests (e.g. `"firebase-tools@14"`) once, under
/// `target/tools/<name>`, and answers that prefix (its `node_modules` holds the package).
pub fn npm_tool(spec: &str) -> PathBuf {
    let name = spec.rsplit_once('@').map(|(n, _)| n).filter(|n| !n.is_empty()).unwrap_or(spec);
    let prefix = repo_root().join("target/tools").join(name.replace('/', "+"));
    let installed = prefix.join("node_modules").join(name).join("package.json");
    if !installed.exists() {
        let status = Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-save",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&prefix)
            .arg(spec)
            .status()
            .expect("npm is needed to install test tools");
        assert!(status.success() && installed.exists(), "npm could not install {spec}");
    }
    prefix
}

// ---- the Platform API ----------------------------------------------------------------------

/// Client credentials for `app` from `chatfn keys create`: (client id, secret).
pub fn create_key(app: &Path, data: &Path) -> (String, String) {
    create_key_in(app, data, None)
}

/// `create_key`, in the PostgreSQL database at `store` when given.
pub fn create_key_in(app: &Path, data: &Path, store: Option<&str>) -> (String, String) {
    let mut command = chatfn();
    command.args(["keys", "create", "--app"]).arg(app).arg("--data").arg(data);
    if let Some(store) = store {
        command.args(["--store", store]);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap().to_string();
    (field("client_id="), field("client_secret="))
}

/// A bearer token for client credentials, from `/oauth/token`.
pub fn token(base: &str, id: &str, secret: &str) -> Result<String, (u16, Value)> {
    use base64::Engine;
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

/// One Platform API call with a bearer token.
pub fn api(base: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = ureq::request(method, &format!("{base}{path}"))
        .set("authorization", &format!("Bearer {token}"));
    let response = match body {
        Some(body) => request.send_json(body),
        None => request.call(),
    };
    match response {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

/// A server for `app` and a bearer token for it.
pub fn signed_in(app: &Path, data: &Path) -> (Server, String) {
    let (id, secret) = create_key(app, data);
    let server = Server::start(app, data);
    let token = token(&server.base, &id, &secret).unwrap();
    (server, token)
}

/// `text` without its ANSI colour sequences (`ESC [ ... m`).
pub fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// `count` apps under `dir`, `app0`..: app i lets in only `member-of-i`.
pub fn member_apps(dir: &Path, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let app = dir.join(format!("app{i}"));
            std::fs::create_dir_all(app.join("functions")).unwrap();
            std::fs::write(
                app.join("chatfn.toml"),
                format!("[app]\nname = \"app{i}\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.js\"\n"),
            )
            .unwrap();
            std::fs::write(
                app.join("functions/start.js"),
                format!("async function handleEvent(event) {{ if (event.username !== 'member-of-{i}') throw new Error('only member-of-{i}'); }}\n"),
            )
            .unwrap();
            app
        })
        .collect()
}

/// An app directory `dir/app` with `chatfn.toml` and `files` (path, text).
pub fn app_with(dir: &Path, toml: &str, files: &[(&str, &str)]) -> PathBuf {
    let app = dir.join("app");
    for (path, text) in [("chatfn.toml", toml)].iter().chain(files) {
        let file = app.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    app
}
