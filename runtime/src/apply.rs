//! `chatfn apply` and `chatfn export`: the app directory as the dashboard's file form, moved to
//! and from a running server through its Platform API (the same requests any client makes).
//!
//! `apply` makes the server's app match the directory (settings, dependencies, environment,
//! initialization script, functions) and says what it changed; a second run changes nothing.
//! `export` writes a server's app out as a directory that `apply` or `serve` can use.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use crate::config::{App, APP_FILE_NAME};
use crate::remote::Remote;

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Makes the server's app match `app`; answers one line per change.
pub async fn apply(app: &App, remote: &Remote) -> anyhow::Result<Vec<String>> {
    use reqwest::Method;
    let mut changes = Vec::new();

    let settings = remote.get("/v1/application/settings").await?;
    let wanted = serde_json::to_value(app.guest_users)?;
    if settings["guest_users"] != wanted {
        remote
            .send(Method::PUT, "/v1/application/settings", json!({ "guest_users": wanted }))
            .await?;
        changes.push(format!("guest_users: {} -> {}", settings["guest_users"], wanted));
    }

    let runtime = remote.get("/v1/runtimes/nodejs").await?;
    let deployed: BTreeMap<String, String> = runtime["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_string(),
                d["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    if deployed != app.dependencies {
        let list: Vec<Value> = app
            .dependencies
            .iter()
            .map(|(name, version)| json!({ "name": name, "version": version }))
            .collect();
        let answer = remote
            .send(Method::PUT, "/v1/runtimes/nodejs/dependencies", Value::Array(list))
            .await?;
        changes.push(format!("dependencies: {}", answer["changes"]));
    }
    let answer = remote
        .send(
            Method::PUT,
            "/v1/runtimes/nodejs/environment-variables",
            serde_json::to_value(&app.environment)?,
        )
        .await?;
    if answer["changed"] == true {
        let names: Vec<&String> = app.environment.keys().collect();
        changes.push(format!("environment variables: {names:?} (values not shown)"));
    }
    if let Some(script) = &app.initialization_script {
        let body = json!({ "script": read(&script.path)?, "file": script.display });
        let answer =
            remote.send(Method::PUT, "/v1/runtimes/nodejs/initialization-script", body).await?;
        if answer["changed"] == true {
            changes.push(format!("initialization script from {}", script.display));
        }
    }

    let mut functions = remote.functions().await?;
    for (trigger, file) in &app.functions {
        let function = match functions.remove(trigger.name()) {
            Some(f) => f,
            None => {
                let body = json!({ "type": trigger.name(), "name": trigger.name(), "initialize_asynchronously": false });
                let created =
                    remote.send(Method::POST, "/v1/runtimes/nodejs/functions", body).await?;
                changes.push(format!("{}: function created", trigger.name()));
                created
            }
        };
        let id = &function["id"];
        let code = read(&file.path)?;
        let current =
            remote.call(Method::GET, &format!("/v1/functions/{id}/current-version"), None).await?;
        let same = current.as_ref().is_some_and(|v| {
            v["handler_script"] == code.as_str() && v["file"] == file.display.as_str()
        });
        if !same {
            let body = json!({ "handler_script": code, "file": file.display });
            let version =
                remote.send(Method::POST, &format!("/v1/functions/{id}/versions"), body).await?;
            changes.push(format!(
                "{}: version {} from {}",
                trigger.name(),
                version["version_number"],
                file.display
            ));
        }
    }
    // What the server has and the directory does not, goes.
    for (trigger, function) in functions {
        remote.call(Method::DELETE, &format!("/v1/functions/{}", function["id"]), None).await?;
        changes.push(format!("{trigger}: function removed"));
    }
    Ok(changes)
}

/// Writes the server's app into `dir`: chatfn.toml, the initialization script and the current
/// version of each function, each at the file it runs as. Environment values cannot be read
/// back; their names are written with empty values to fill in.
pub async fn export(remote: &Remote, dir: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    let mut write = |rel: &str, text: &str| -> anyhow::Result<()> {
        let path = crate::paths::join_within(dir, Path::new(rel).components())
            .with_context(|| format!("the server named a file outside the directory: {rel}"))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(rel.to_string());
        Ok(())
    };
    let settings = remote.get("/v1/application/settings").await?;
    let runtime = remote.get("/v1/runtimes/nodejs").await?;
    let mut toml =
        format!("[app]\nname = {}\nguest_users = {}\n", json!(name), settings["guest_users"]);
    toml.push_str("\n[runtime]\n");
    if let Some(script) = runtime["initialization_script"].as_object() {
        let file = script["file"].as_str().unwrap_or("initialization-script.ts");
        write(file, script["script"].as_str().unwrap_or_default())?;
        toml.push_str(&format!("initialization_script = {}\n", json!(file)));
    }
    toml.push_str("\n[runtime.dependencies]\n");
    for dep in runtime["dependencies"].as_array().into_iter().flatten() {
        toml.push_str(&format!("{} = {}\n", json!(dep["name"]), dep["version"]));
    }
    toml.push_str("\n# Values are write-only on the server: fill them in before `chatfn apply`.\n[runtime.environment]\n");
    for name in runtime["environment_variables"].as_object().into_iter().flatten().map(|(k, _)| k) {
        toml.push_str(&format!("{} = \"\"\n", json!(name)));
    }
    toml.push_str("\n[functions]\n");
    for (trigger, function) in remote.functions().await? {
        let Some(version) = remote
            .call(
                reqwest::Method::GET,
                &format!("/v1/functions/{}/current-version", function["id"]),
                None,
            )
            .await?
        else {
            continue;
        };
        let file = version["file"].as_str().unwrap_or_default().to_string();
        write(&file, version["handler_script"].as_str().unwrap_or_default())?;
        toml.push_str(&format!("{} = {}\n", json!(trigger), json!(file)));
    }
    write(APP_FILE_NAME, &toml)?;
    Ok(written)
}
