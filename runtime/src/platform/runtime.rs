//! `/v1/runtimes/nodejs`: the app's Node.js runtime. Dependencies (replacing them installs
//! them first; the answer says what changed), the initialization script (checked before it is
//! saved) and environment variables (write-only: their names are listed, never their values).
//! Every change starts a new isolate and switches the app to it.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    compile_check, json_body, Authorized, ErrorBody, Links, OAuthError, PlatformApp, PlatformError,
};
use crate::store::functions::{RuntimeRecord, Script};

/// The file an initialization script saved through the API runs as.
const INIT_SCRIPT_FILE: &str = "initialization-script.ts";

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Dependency {
    name: String,
    version: String,
    #[serde(default)]
    default_dependency: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ScriptView {
    script: String,
    /// The file it runs as, relative to the app directory.
    file: String,
}

#[derive(Serialize, ToSchema)]
pub struct RuntimeView {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    version: &'static str,
    dependencies: Vec<Dependency>,
    initialization_script: Option<ScriptView>,
    /// Names only: every value reads `********`.
    environment_variables: BTreeMap<String, String>,
    /// Bumped on every change.
    revision: u64,
    /// Whether the request changed anything (chatfn's; PUTs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<bool>,
    #[serde(rename = "_links")]
    links: Links,
}

impl RuntimeView {
    fn of(runtime: &RuntimeRecord, changed: Option<bool>) -> RuntimeView {
        RuntimeView {
            kind: "NODEJS",
            id: 1,
            version: "v22.0.0",
            dependencies: runtime
                .dependencies
                .iter()
                .map(|(name, version)| Dependency {
                    name: name.clone(),
                    version: version.clone(),
                    default_dependency: false,
                })
                .collect(),
            initialization_script: runtime
                .initialization_script
                .as_ref()
                .map(|s| ScriptView { script: s.script.clone(), file: s.file.clone() }),
            environment_variables: runtime
                .environment
                .keys()
                .map(|k| (k.clone(), "********".to_string()))
                .collect(),
            revision: runtime.version,
            changed,
            links: Links::to("/v1/runtimes/nodejs"),
        }
    }
}

#[utoipa::path(get, path = "/v1/runtimes/nodejs", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = RuntimeView), (status = 401, body = OAuthError)))]
pub async fn get(Authorized(app): Authorized) -> Result<Json<RuntimeView>, PlatformError> {
    Ok(Json(RuntimeView::of(&app.store.functions.runtime()?, None)))
}

/// What a dependency change did.
#[derive(Serialize, ToSchema)]
pub struct DependencyChanges {
    added: BTreeMap<String, String>,
    removed: Vec<String>,
    /// Name → `{"from", "to"}` ranges.
    changed: BTreeMap<String, RangeChange>,
}

#[derive(Serialize, ToSchema)]
pub struct RangeChange {
    from: String,
    to: String,
}

#[derive(Serialize, ToSchema)]
pub struct InstallSummary {
    packages: usize,
    downloaded: usize,
    from_cache: usize,
    /// Packages with install scripts, which chatfn never runs.
    skipped_install_scripts: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DependenciesAnswer {
    runtime: RuntimeView,
    changes: DependencyChanges,
    /// Absent when nothing changed.
    installed: Option<InstallSummary>,
}

/// `PUT /v1/runtimes/nodejs/dependencies`: the whole list. The new set is installed before it
/// is saved, so a bad package is answered 400 and nothing changes.
#[utoipa::path(put, path = "/v1/runtimes/nodejs/dependencies", tag = "runtime", security(("bearer" = [])), request_body = Vec<Dependency>,
    responses((status = 200, body = DependenciesAnswer), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn set_dependencies(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<DependenciesAnswer>, PlatformError> {
    let list: Vec<Dependency> = json_body(&body)?;
    let mut wanted = BTreeMap::new();
    for dep in list {
        crate::config::check_dependency(&dep.name, &dep.version)
            .map_err(PlatformError::BadRequest)?;
        wanted.insert(dep.name, dep.version);
    }
    let _one_at_a_time = app.changing.lock().await;
    let before = app.store.functions.runtime()?.dependencies;
    let changes = DependencyChanges {
        added: wanted
            .iter()
            .filter(|(k, _)| !before.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        removed: before.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect(),
        changed: wanted
            .iter()
            .filter_map(|(k, v)| {
                before
                    .get(k)
                    .filter(|old| *old != v)
                    .map(|old| (k.clone(), RangeChange { from: old.clone(), to: v.clone() }))
            })
            .collect(),
    };
    if wanted == before {
        let runtime = app.store.functions.runtime()?;
        return Ok(Json(DependenciesAnswer {
            runtime: RuntimeView::of(&runtime, Some(false)),
            changes,
            installed: None,
        }));
    }
    let (mut candidate, _) = crate::deploy::effective_app(&app.app, &app.store)
        .map_err(|e| PlatformError::Internal(format!("{e:#}")))?;
    candidate.dependencies = wanted.clone();
    let report = crate::deps::install(&candidate, crate::deps::Options::from_env(&candidate))
        .await
        .map_err(|e| {
            PlatformError::BadRequest(format!("the dependencies were not changed: {e:#}"))
        })?;
    let runtime = app.store.functions.update_runtime(|r| r.dependencies = wanted).await?;
    app.redeploy()?;
    tracing::info!(app = %app.app.name, "runtime dependencies changed through the Platform API");
    let installed = InstallSummary {
        packages: report.packages,
        downloaded: report.downloaded,
        from_cache: report.from_cache,
        skipped_install_scripts: report.skipped_scripts,
    };
    Ok(Json(DependenciesAnswer {
        runtime: RuntimeView::of(&runtime, Some(true)),
        changes,
        installed: Some(installed),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct InitializationScript {
    script: String,
    /// chatfn's: the file (relative to the app directory) the script runs as, so its relative
    /// `require`s work; by default the last one's, else `initialization-script.ts`.
    #[serde(default)]
    file: Option<String>,
}

/// `PUT /v1/runtimes/nodejs/initialization-script`: a syntax error is answered 400 with its
/// line and column. The same script again changes nothing.
#[utoipa::path(put, path = "/v1/runtimes/nodejs/initialization-script", tag = "runtime", security(("bearer" = [])), request_body = InitializationScript,
    responses((status = 200, body = RuntimeView), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn set_initialization_script(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<RuntimeView>, PlatformError> {
    let InitializationScript { script, file } = json_body(&body)?;
    let _one_at_a_time = app.changing.lock().await;
    let current = app.store.functions.runtime()?;
    let file = match file {
        Some(file) => super::app_file(&file)?,
        None => current
            .initialization_script
            .as_ref()
            .map(|s| s.file.clone())
            .unwrap_or_else(|| INIT_SCRIPT_FILE.to_string()),
    };
    let wanted = Script { file, script };
    if current.initialization_script.as_ref() == Some(&wanted) {
        return Ok(Json(RuntimeView::of(&current, Some(false))));
    }
    compile_check(&wanted.file, &wanted.script)?;
    let runtime =
        app.store.functions.update_runtime(|r| r.initialization_script = Some(wanted)).await?;
    app.redeploy()?;
    Ok(Json(RuntimeView::of(&runtime, Some(true))))
}

/// `PUT /v1/runtimes/nodejs/environment-variables`: the whole map of names to values. The
/// same map again changes nothing (values cannot be read back, so this is how to compare).
#[utoipa::path(put, path = "/v1/runtimes/nodejs/environment-variables", tag = "runtime", security(("bearer" = [])), request_body = BTreeMap<String, String>,
    responses((status = 200, body = RuntimeView), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn set_environment(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<RuntimeView>, PlatformError> {
    let wanted: BTreeMap<String, String> = json_body(&body)?;
    for name in wanted.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(PlatformError::BadRequest(format!(
                "{name:?} cannot be an environment variable name"
            )));
        }
    }
    let _one_at_a_time = app.changing.lock().await;
    let current = app.store.functions.runtime()?;
    save_environment(&app, &current, wanted).await
}

/// `PATCH /v1/runtimes/nodejs/environment-variables` (chatfn's): sets the variables given and
/// removes those given as `null`, keeping the others (whose values cannot be read back).
#[utoipa::path(patch, path = "/v1/runtimes/nodejs/environment-variables", tag = "runtime", security(("bearer" = [])), request_body = BTreeMap<String, Option<String>>,
    responses((status = 200, body = RuntimeView), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn patch_environment(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<Json<RuntimeView>, PlatformError> {
    let patch: BTreeMap<String, Option<String>> = json_body(&body)?;
    for name in patch.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(PlatformError::BadRequest(format!(
                "{name:?} cannot be an environment variable name"
            )));
        }
    }
    let _one_at_a_time = app.changing.lock().await;
    let current = app.store.functions.runtime()?;
    let mut wanted = current.environment.clone();
    for (name, value) in patch {
        match value {
            Some(value) => wanted.insert(name, value),
            None => wanted.remove(&name),
        };
    }
    save_environment(&app, &current, wanted).await
}

/// Saves `wanted` as the environment and redeploys, unless it is `current`'s already (the
/// caller holds the app's change lock).
async fn save_environment(
    app: &PlatformApp,
    current: &RuntimeRecord,
    wanted: BTreeMap<String, String>,
) -> Result<Json<RuntimeView>, PlatformError> {
    if current.environment == wanted {
        return Ok(Json(RuntimeView::of(current, Some(false))));
    }
    let names: Vec<&String> = wanted.keys().collect();
    tracing::info!(app = %app.app.name, ?names, "environment variables changed through the Platform API");
    let runtime = app.store.functions.update_runtime(|r| r.environment = wanted.clone()).await?;
    app.redeploy()?;
    Ok(Json(RuntimeView::of(&runtime, Some(true))))
}
