//! The installer against a real HTTP registry on loopback (axum), serving packages built in
//! the test: layout, lockfile, cache, and every failure the issue names.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::tarball::tests::tgz;
use super::*;
use crate::config::App;

#[derive(Default)]
struct FakeRegistry {
    /// name → version → (dependencies, tarball bytes, integrity override)
    packages: BTreeMap<String, BTreeMap<String, (Value, Vec<u8>, Option<String>)>>,
    requests: usize,
}

type Shared = Arc<Mutex<FakeRegistry>>;

impl FakeRegistry {
    fn add(&mut self, name: &str, version: &str, deps: Value) {
        let main = format!("module.exports = {{ name: {name:?}, version: {version:?} }};");
        let manifest = json!({ "name": name, "version": version, "main": "index.js" }).to_string();
        let bytes = tgz(&[
            ("package/package.json", manifest.as_bytes()),
            ("package/index.js", main.as_bytes()),
        ]);
        self.packages.entry(name.into()).or_default().insert(version.into(), (deps, bytes, None));
    }
}

async fn packument(
    State(reg): State<Shared>,
    UrlPath(name): UrlPath<String>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let mut reg = reg.lock().unwrap();
    reg.requests += 1;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let name = name.replace("%2f", "/");
    let Some(versions) = reg.packages.get(&name) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Not found"}))).into_response();
    };
    let mut out = serde_json::Map::new();
    for (version, (deps, bytes, integrity)) in versions {
        let mut manifest = json!({
            "name": name,
            "version": version,
            "dist": {
                "tarball": format!("http://{host}/-/{name}/{version}.tgz"),
                "integrity": integrity.clone().unwrap_or_else(|| tarball::sha512_integrity(bytes)),
            },
        });
        for (k, v) in deps.as_object().unwrap() {
            manifest[k] = v.clone();
        }
        out.insert(version.clone(), manifest);
    }
    let latest = versions.keys().last().cloned();
    Json(json!({ "name": name, "dist-tags": { "latest": latest }, "versions": out }))
        .into_response()
}

async fn tarball_bytes(
    State(reg): State<Shared>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> impl IntoResponse {
    let mut reg = reg.lock().unwrap();
    reg.requests += 1;
    let version = file.trim_end_matches(".tgz");
    match reg.packages.get(&name).and_then(|v| v.get(version)) {
        Some((_, bytes, _)) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(reg: Shared) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/{name}", get(packument))
        .route("/-/{name}/{file}", get(tarball_bytes))
        .with_state(reg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    (url, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
}

fn app_with(dir: &std::path::Path, deps: &[(&str, &str)]) -> App {
    let mut text = String::from("[runtime.dependencies]\n");
    for (name, range) in deps {
        text.push_str(&format!("{name:?} = {range:?}\n"));
    }
    std::fs::write(dir.join("chatfn.toml"), &text).unwrap();
    App::load(dir).unwrap()
}

fn options(registry: &str, cache: &std::path::Path) -> Options {
    Options {
        registry: registry.to_string(),
        cache: Cache::at(cache),
        progress: Progress::hidden(),
        force: false,
    }
}

fn standard_registry() -> Shared {
    let mut reg = FakeRegistry::default();
    reg.add("left", "1.0.0", json!({ "dependencies": { "shared": "^1.0.0" } }));
    reg.add("right", "2.0.0", json!({ "dependencies": { "shared": "^1.1.0", "left": "^1.0.0" } }));
    reg.add("shared", "1.0.0", json!({}));
    reg.add("shared", "1.2.0", json!({}));
    reg.add("shared", "2.0.0", json!({}));
    reg.add(
        "builder",
        "1.0.0",
        json!({ "hasInstallScript": true, "optionalDependencies": { "native-darwin": "1" } }),
    );
    reg.add("native-darwin", "1.0.0", json!({ "os": ["darwin"] }));
    Arc::new(Mutex::new(reg))
}

#[tokio::test]
async fn installs_npm_layout_writes_the_lockfile_and_reinstalls_offline() {
    let reg = standard_registry();
    let (url, server) = serve(reg.clone()).await;
    let app_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let app = app_with(
        app_dir.path(),
        &[("left", "^1"), ("right", "2"), ("shared", "^2"), ("builder", "*")],
    );

    let report = install(&app, options(&url, cache.path())).await.unwrap();
    assert!(report.changed && !report.from_lockfile);
    assert_eq!(report.skipped_scripts, ["builder@1.0.0"]);
    let nm = app_dir.path().join("node_modules");
    let version = |p: &str| -> String {
        let text = std::fs::read_to_string(nm.join(p).join("package.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["version"].as_str().unwrap().to_string()
    };
    // shared@2 at the root for the app; left and right each need shared@1 and get it nested.
    assert_eq!(version("shared"), "2.0.0");
    assert_eq!(version("left"), "1.0.0");
    assert_eq!(version("left/node_modules/shared"), "1.2.0");
    assert_eq!(version("right/node_modules/shared"), "1.2.0");
    assert!(!nm.join("native-darwin").exists(), "an optional package for another OS is skipped");
    assert_eq!(report.packages, 6);

    let lock = lockfile::Lockfile::read(&app_dir.path().join("chatfn.lock")).unwrap().unwrap();
    assert_eq!(lock.packages.len(), 6);
    assert!(lock.packages["node_modules/left/node_modules/shared"]
        .integrity
        .as_deref()
        .unwrap()
        .starts_with("sha512-"));

    // Same lockfile, registry gone, node_modules gone: the cache has everything.
    server.abort();
    std::fs::remove_dir_all(&nm).unwrap();
    let report = install(&app, options(&url, cache.path())).await.unwrap();
    assert!(report.from_lockfile && report.changed);
    assert_eq!((report.downloaded, report.from_cache), (0, 6));
    assert_eq!(version("right/node_modules/shared"), "1.2.0");

    // And when node_modules already holds that tree, nothing is done.
    let report = install(&app, options(&url, cache.path())).await.unwrap();
    assert!(!report.changed);
}

#[tokio::test]
async fn registry_failures_name_the_package() {
    let reg = standard_registry();
    let (url, _server) = serve(reg.clone()).await;
    let cache = tempfile::tempdir().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err =
        install(&app_with(dir.path(), &[("no-such-package", "1")]), options(&url, cache.path()))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("no-such-package does not exist"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let err = install(&app_with(dir.path(), &[("shared", "^3")]), options(&url, cache.path()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no version of shared matches \"^3\" (latest is 2.0.0)"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let err = install(
        &app_with(dir.path(), &[("shared", "1")]),
        options("http://127.0.0.1:9/", cache.path()),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot reach the registry http://127.0.0.1:9/ for shared"),
        "{err}"
    );
}

#[tokio::test]
async fn a_tampered_tarball_is_refused_and_the_old_tree_stays() {
    let reg = standard_registry();
    let (url, _server) = serve(reg.clone()).await;
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    install(&app_with(dir.path(), &[("shared", "1.0.0")]), options(&url, cache.path()))
        .await
        .unwrap();

    // The registry now serves other bytes than its integrity says.
    reg.lock().unwrap().packages.get_mut("left").unwrap().get_mut("1.0.0").unwrap().2 =
        Some(tarball::sha512_integrity(b"something else"));
    let err = install(&app_with(dir.path(), &[("left", "1")]), options(&url, cache.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DepsError::Integrity { ref package, .. } if package == "left@1.0.0"),
        "{err}"
    );
    let nm = dir.path().join("node_modules");
    assert!(nm.join("shared/index.js").exists(), "the previous node_modules is untouched");
    assert!(!nm.join("left").exists());
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        leftovers.iter().all(|n| !n.to_string_lossy().starts_with(".node_modules")),
        "{leftovers:?}"
    );
}

#[tokio::test]
async fn a_hostile_tarball_installs_nothing() {
    let reg = standard_registry();
    {
        let mut r = reg.lock().unwrap();
        let bytes = tgz(&[("package/index.js", b"1"), ("package/../../../pwned.js", b"x")]);
        r.packages
            .entry("evil".into())
            .or_default()
            .insert("1.0.0".into(), (json!({}), bytes, None));
    }
    let (url, _server) = serve(reg.clone()).await;
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = install(&app_with(dir.path(), &[("evil", "1")]), options(&url, cache.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, DepsError::BadTarball { .. }), "{err}");
    assert!(!dir.path().join("node_modules").exists());
    assert!(!dir.path().parent().unwrap().join("pwned.js").exists());
}
