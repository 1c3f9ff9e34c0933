//! `GET /v1/runtimes/nodejs`: the app's runtime as chatfn.toml configures it: dependencies,
//! initialization script and environment variables (names only; values are never shown).

use axum::Json;
use serde_json::{json, Value};

use super::{self_link, Authorized};

pub async fn get(Authorized(app): Authorized) -> Json<Value> {
    let app = &app.app;
    let dependencies: Vec<Value> =
        app.dependencies.iter().map(|(name, version)| json!({ "name": name, "version": version, "default_dependency": false })).collect();
    let script = app.initialization_script.as_ref().and_then(|f| std::fs::read_to_string(&f.path).ok());
    let environment: serde_json::Map<String, Value> = app.environment.keys().map(|k| (k.clone(), json!("********"))).collect();
    Json(json!({
        "type": "NODEJS",
        "id": 1,
        "version": "v22.0.0",
        "dependencies": dependencies,
        "initialization_script": script.map(|script| json!({ "script": script })),
        "environment_variables": environment,
        "_links": self_link("/v1/runtimes/nodejs"),
    }))
}
