//! What an app runs: chatfn.toml's settings, limits and network rules, with the runtime and the
//! current function versions kept in the store (`store::functions`).
//!
//! The app directory and the Platform API both change what is stored. On start, chatfn takes
//! from the directory what changed there since it was last taken (a new function version for
//! an edited file, new dependencies, ...), so the newest change wins whichever side made it.
//! A change is deployed by starting a new isolate with it and switching the app's `Sessions`
//! to it at once: invocations already running finish on the isolate they started on.

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::{App, SourceFile, Trigger};
use crate::session::{Deployment, Sessions, Shadow};
use crate::store::functions::Script;
use crate::store::{Store, UsersStore};
use crate::worker::{Start, Worker};

/// Per trigger, the stored function (id) and the version number of it that runs.
pub type Versions = std::collections::BTreeMap<Trigger, (u64, u64)>;

fn digest(value: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(value).expect("serializable");
    crate::hex::hex(&Sha256::digest(&bytes))
}

/// A directory file as a script to store, or `None` when it cannot be one (not UTF-8 text, or
/// over the module size limit): such a file runs from the directory, so loading it reports why.
fn read_script(file: &SourceFile) -> anyhow::Result<Option<Script>> {
    let bytes = std::fs::read(&file.path)
        .with_context(|| format!("cannot read {}", file.path.display()))?;
    if bytes.len() as u64 > crate::ops::modules::MAX_MODULE_BYTES {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok().map(|script| Script { file: file.display.clone(), script }))
}

/// Stores what changed in the app directory since it was last taken; answers what it did.
pub async fn take_directory(app: &App, store: &Store) -> anyhow::Result<Vec<String>> {
    // Nodes sharing a database that start together take it one at a time: the others then
    // find it taken.
    let lock = store.functions.lock("directory").await?;
    let changes = take_directory_locked(app, store).await;
    if let Some(lock) = lock {
        lock.commit().await;
    }
    changes
}

async fn take_directory_locked(app: &App, store: &Store) -> anyhow::Result<Vec<String>> {
    let functions = &store.functions;
    let mut changes = Vec::new();
    // The digest of an item when it differs from the one last taken.
    let changed = |item: &str, now: String| -> anyhow::Result<Option<String>> {
        if functions.applied(item)?.as_deref() == Some(now.as_str()) {
            return Ok(None);
        }
        Ok(Some(now))
    };

    if let Some(d) = changed("settings.guest_users", digest(&app.guest_users))? {
        store.settings.set_guest_users(app.guest_users).await?;
        functions.set_applied("settings.guest_users", &d).await?;
        changes.push(format!("guest_users = {:?}", app.guest_users));
    }
    if let Some(d) = changed("runtime.dependencies", digest(&app.dependencies))? {
        functions.update_runtime(|r| r.dependencies = app.dependencies.clone()).await?;
        functions.set_applied("runtime.dependencies", &d).await?;
        changes.push("dependencies".into());
    }
    if let Some(d) = changed("runtime.environment", digest(&app.environment))? {
        functions.update_runtime(|r| r.environment = app.environment.clone()).await?;
        functions.set_applied("runtime.environment", &d).await?;
        changes.push("environment variables".into());
    }
    let script = app.initialization_script.as_ref().map(read_script).transpose()?.flatten();
    if let Some(d) = changed("runtime.initialization_script", digest(&script))? {
        functions.update_runtime(|r| r.initialization_script = script.clone()).await?;
        functions.set_applied("runtime.initialization_script", &d).await?;
        changes.push("initialization script".into());
    }
    for (trigger, file) in &app.functions {
        let Some(script) = read_script(file)? else {
            tracing::warn!(app = %app.name, file = %file.display, "not stored as a version: not UTF-8 text, or too large; it runs from the file");
            continue;
        };
        let item = format!("function.{}", trigger.name());
        if let Some(d) = changed(&item, digest(&script))? {
            let function = match functions.function_for(trigger.name())? {
                Some(f) => f,
                None => {
                    functions.create_function(trigger.name(), trigger.display_name(), None).await?
                }
            };
            let version = functions.add_version(function.id, &script.script, &script.file).await?;
            functions.set_applied(&item, &d).await?;
            changes.push(format!(
                "{} version {} from {}",
                trigger.name(),
                version.version_number,
                script.file
            ));
        }
    }
    // A function the directory gave before and no longer has goes (the API's own stay).
    for function in functions.functions()? {
        let from_directory =
            functions.applied(&format!("function.{}", function.trigger))?.is_some();
        let still_there =
            Trigger::from_name(&function.trigger).is_some_and(|t| app.functions.contains_key(&t));
        if from_directory && !still_there {
            functions.delete_function(function.id).await?;
            changes.push(format!(
                "{} removed (no longer in {})",
                function.trigger,
                crate::config::APP_FILE_NAME
            ));
        }
    }
    // What was taken is marked durably, or the next start would not know it came from here.
    functions.flush().await?;
    Ok(changes)
}

/// The app as it runs now: `base` (chatfn.toml) with the stored runtime and current versions.
/// Also answers, per trigger, the stored function and version number that run.
pub fn effective_app(base: &App, store: &Store) -> anyhow::Result<(App, Versions)> {
    let runtime = store.functions.runtime()?;
    let mut app = base.clone();
    app.dependencies = runtime.dependencies;
    app.environment = runtime.environment;
    app.initialization_script = runtime.initialization_script.map(|s| SourceFile {
        path: app.root.join(&s.file),
        display: s.file,
        code: Some(s.script),
    });
    app.functions.clear();
    let mut running = Versions::new();
    for function in store.functions.functions()? {
        let Some(trigger) = Trigger::from_name(&function.trigger) else { continue };
        if !function.enabled || function.current_version_number == 0 {
            continue;
        }
        let Some(version) =
            store.functions.version_by_number(function.id, function.current_version_number)?
        else {
            continue;
        };
        app.functions.insert(
            trigger,
            SourceFile {
                path: app.root.join(&version.file),
                display: version.file,
                code: Some(version.handler_script),
            },
        );
        running.insert(trigger, (function.id, version.version_number));
    }
    // Directory files that could not be stored run as they are, to report their load error.
    for (trigger, file) in &base.functions {
        if read_script(file)?.is_none() {
            app.functions.insert(*trigger, file.clone());
            running.remove(trigger);
        }
    }
    if let Some(file) = &base.initialization_script {
        if read_script(file)?.is_none() {
            app.initialization_script = Some(file.clone());
        }
    }
    Ok((app, running))
}

/// Installs the npm dependencies of `running` (as `effective_app` gave it) the way
/// `chatfn deps install` does, a no-op when node_modules already matches; `None` when it has
/// none. One install at a time in the process: apps may share a directory and its
/// node_modules.
pub async fn install_dependencies(
    running: &App,
) -> anyhow::Result<Option<crate::deps::InstallReport>> {
    if running.dependencies.is_empty() {
        return Ok(None);
    }
    static ONE_INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_INSTALL.lock().await;
    let options = crate::deps::Options::from_env(running);
    Ok(Some(crate::deps::install(running, options).await?))
}

/// Starts an isolate for what `base` and the store say now (and one for a shadow version).
pub fn start(base: &App, store: &Store, users: &UsersStore) -> anyhow::Result<Deployment> {
    let (app, version) = effective_app(base, store)?;
    launch(&app, version, store, users, Start::Warm)
}

/// Starts a pool for `app` as `effective_app` gave it (and one for a shadow version), `start`ed.
pub fn launch(
    app: &App,
    versions: Versions,
    store: &Store,
    users: &UsersStore,
    start: Start,
) -> anyhow::Result<Deployment> {
    let worker = Worker::spawn(app, users.clone(), start)
        .context("cannot start the app's isolate thread")?;
    let mut shadows = std::collections::BTreeMap::new();
    for (&trigger, &(function_id, _)) in &versions {
        if let Some(shadow) = start_shadow(app, store, trigger, function_id, start)? {
            shadows.insert(trigger, shadow);
        }
    }
    Ok(Deployment { worker, triggers: app.functions.keys().copied().collect(), versions, shadows })
}

fn start_shadow(
    app: &App,
    store: &Store,
    trigger: Trigger,
    function_id: u64,
    start: Start,
) -> anyhow::Result<Option<Shadow>> {
    let Some(function) = store.functions.function(function_id)? else { return Ok(None) };
    let Some(number) = function.shadow_version_number else { return Ok(None) };
    let Some(version) = store.functions.version_by_number(function_id, number)? else {
        return Ok(None);
    };
    let mut shadow_app = app.clone();
    shadow_app.name = format!("{}-shadow", app.name);
    shadow_app.functions.insert(
        trigger,
        SourceFile {
            path: app.root.join(&version.file),
            display: version.file.clone(),
            code: Some(version.handler_script),
        },
    );
    // Users calls the live invocation did not make go to an empty scratch store.
    let scratch = tempfile::tempdir()?;
    let users = crate::store::open(scratch.path(), 1)?.users;
    let worker = Worker::spawn(&shadow_app, users, start)
        .context("cannot start the shadow version's isolate")?;
    Ok(Some(Shadow { worker, version_number: number, scratch }))
}

/// Switches `sessions` to a new isolate running what the store says now.
pub fn redeploy(base: &App, store: &Store, sessions: &Sessions) -> anyhow::Result<()> {
    sessions.deploy(start(base, store, sessions.users())?);
    Ok(())
}
