//! `/v1/runtimes/nodejs`: the app's Node.js runtime. Dependencies (replacing them installs
//! them first; the answer says what changed), the initialization script (checked before it is
//! saved) and environment variables (write-only: their names are listed, never their values).
//! Every change starts a new isolate and switches the app to it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{compile_check, json_body, self_link, Authorized, PlatformError};
use crate::store::functions::{RuntimeRecord, Script};

/// The file an initialization script saved through the API runs as.
const INIT_SCRIPT_FILE: &str = "initialization-script.ts";

pub(crate) fn runtime_json(runtime: &RuntimeRecord) -> Value {
    let dependencies: Vec<Value> =
        runtime.dependencies.iter().map(|(name, version)| json!({ "name": name, "version": version, "default_dependency": false })).collect();
    let environment: serde_json::Map<String, Value> = runtime.environment.keys().map(|k| (k.clone(), json!("********"))).collect();
    json!({
        "type": "NODEJS",
        "id": 1,
        "version": "v22.0.0",
        "dependencies": dependencies,
        "initialization_script": runtime.initialization_script.as_ref().map(|s| json!({ "script": s.script, "file": s.file })),
        "environment_variables": environment,
        "revision": runtime.version,
        "_links": self_link("/v1/runtimes/nodejs"),
    })
}

pub async fn get(Authorized(app): Authorized) -> Result<Json<Value>, PlatformError> {
    Ok(Json(runtime_json(&app.store.functions.runtime()?)))
}

#[derive(Deserialize)]
pub struct Dependency {
    name: String,
    version: String,
}

/// `PUT /v1/runtimes/nodejs/dependencies`: the whole list. The new set is installed before it
/// is saved, so a bad package is answered 400 and nothing changes.
pub async fn set_dependencies(Authorized(app): Authorized, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let list: Vec<Dependency> = json_body(&body)?;
    let mut wanted = BTreeMap::new();
    for dep in list {
        crate::config::check_dependency(&dep.name, &dep.version).map_err(PlatformError::BadRequest)?;
        wanted.insert(dep.name, dep.version);
    }
    let _one_at_a_time = app.changing.lock().await;
    let before = app.store.functions.runtime()?.dependencies;
    let added: BTreeMap<_, _> = wanted.iter().filter(|(k, _)| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !wanted.contains_key(*k)).collect();
    let changed: BTreeMap<_, _> =
        wanted.iter().filter(|(k, v)| before.get(*k).is_some_and(|old| old != *v)).map(|(k, v)| (k, json!({ "from": before[k], "to": v }))).collect();
    let changes = json!({ "added": added, "removed": removed, "changed": changed });
    if wanted == before {
        let runtime = app.store.functions.runtime()?;
        return Ok(Json(json!({ "runtime": runtime_json(&runtime), "changes": changes, "installed": null })));
    }
    let (mut candidate, _) = crate::deploy::effective_app(&app.app, &app.store).map_err(|e| PlatformError::Internal(format!("{e:#}")))?;
    candidate.dependencies = wanted.clone();
    let report = crate::deps::install(&candidate, crate::deps::Options::from_env(&candidate))
        .await
        .map_err(|e| PlatformError::BadRequest(format!("the dependencies were not changed: {e:#}")))?;
    let runtime = app.store.functions.update_runtime(|r| r.dependencies = wanted).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, %changes, "runtime dependencies changed through the Platform API");
    let installed = json!({ "packages": report.packages, "downloaded": report.downloaded, "from_cache": report.from_cache, "skipped_install_scripts": report.skipped_scripts });
    Ok(Json(json!({ "runtime": runtime_json(&runtime), "changes": changes, "installed": installed })))
}

#[derive(Deserialize)]
pub struct InitializationScript {
    script: String,
    /// chatfn's: the file (relative to the app directory) the script runs as, so its relative
    /// `require`s work; by default the last one's, else `initialization-script.ts`.
    #[serde(default)]
    file: Option<String>,
}

/// `PUT /v1/runtimes/nodejs/initialization-script`: `{"script": "..."}`; a syntax error is
/// answered 400 with its line and column. The same script again changes nothing.
pub async fn set_initialization_script(Authorized(app): Authorized, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let InitializationScript { script, file } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let current = app.store.functions.runtime()?;
    let file = match file {
        Some(file) => super::app_file(&file)?,
        None => current.initialization_script.as_ref().map(|s| s.file.clone()).unwrap_or_else(|| INIT_SCRIPT_FILE.to_string()),
    };
    let wanted = Script { file, script };
    if current.initialization_script.as_ref() == Some(&wanted) {
        return Ok(Json(changed(runtime_json(&current), false)));
    }
    compile_check(&wanted.file, &wanted.script)?;
    let runtime = app.store.functions.update_runtime(|r| r.initialization_script = Some(wanted)).await?;
    app.redeploy()?;
    Ok(Json(changed(runtime_json(&runtime), true)))
}

/// chatfn's `changed` field: whether a PUT changed anything (so `chatfn apply` can tell).
fn changed(mut runtime: Value, changed: bool) -> Value {
    runtime["changed"] = json!(changed);
    runtime
}

/// `PUT /v1/runtimes/nodejs/environment-variables`: the whole map of names to values. The
/// same map again changes nothing (values cannot be read back, so this is how to compare).
pub async fn set_environment(Authorized(app): Authorized, body: Bytes) -> Result<(StatusCode, Json<Value>), PlatformError> {
    let wanted: BTreeMap<String, String> = json_body(&body)?;
    for name in wanted.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(PlatformError::BadRequest(format!("{name:?} cannot be an environment variable name")));
        }
    }
    let _one_at_a_time = app.changing.lock().await;
    let current = app.store.functions.runtime()?;
    if current.environment == wanted {
        return Ok((StatusCode::OK, Json(changed(runtime_json(&current), false))));
    }
    let names: Vec<&String> = wanted.keys().collect();
    tracing::info!(app = %app.app.name, ?names, "environment variables changed through the Platform API");
    let runtime = app.store.functions.update_runtime(|r| r.environment = wanted.clone()).await?;
    app.redeploy()?;
    Ok((StatusCode::OK, Json(changed(runtime_json(&runtime), true))))
}
