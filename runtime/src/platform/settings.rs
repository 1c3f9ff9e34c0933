//! `/v1/application/settings`: read, and change with PUT or PATCH (`guest_users`, also
//! accepted as `guestUsers`). A change applies to the next session attempt and is stored.

use axum::body::Bytes;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{json_body, Authorized, ErrorBody, Links, OAuthError, PlatformError};
use crate::config::GuestUsers;

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    #[schema(value_type = String, example = "ENABLED")]
    guest_users: GuestUsers,
    /// chatfn hosts no channels; ChatKitty's settings resource carries the field.
    user_created_channels: &'static str,
    /// chatfn's, read-only (from chatfn.toml): the app's name.
    app: String,
    /// chatfn's, read-only: whether a denial's message reaches the client.
    expose_denial_reason: bool,
    /// chatfn's, read-only: the limits in effect (`[limits]`).
    limits: LimitsView,
    #[serde(rename = "_links")]
    links: Links,
}

/// `[limits]` as they are in effect.
#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    cpu_ms: u128,
    wall_ms: u128,
    heap_mb: usize,
    concurrent_invocations: usize,
    log_kb: usize,
    body_kb: usize,
    pending_ops: usize,
    /// `None`: the engine's default (two per isolate thread).
    isolates: Option<usize>,
    /// `None`: never.
    hibernate_after_s: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
pub struct SettingsChange {
    /// `ENABLED` or `DISABLED`.
    #[serde(default, alias = "guestUsers")]
    #[schema(value_type = Option<String>)]
    guest_users: Option<GuestUsers>,
}

fn view(app: &Authorized) -> Json<SettingsView> {
    let l = &app.0.app.limits;
    Json(SettingsView {
        guest_users: app.0.sessions.guest_users(),
        user_created_channels: "DISABLED",
        app: app.0.app.name.clone(),
        expose_denial_reason: app.0.app.expose_denial_reason,
        limits: LimitsView {
            cpu_ms: l.cpu.as_millis(),
            wall_ms: l.wall.as_millis(),
            heap_mb: l.heap_bytes >> 20,
            concurrent_invocations: l.concurrent_invocations,
            log_kb: l.log_bytes >> 10,
            body_kb: l.body_bytes >> 10,
            pending_ops: l.pending_ops,
            isolates: l.isolates,
            hibernate_after_s: l.hibernate_after.map(|d| d.as_secs()),
        },
        links: Links::to("/v1/application/settings"),
    })
}

#[utoipa::path(get, path = "/v1/application/settings", tag = "application", security(("bearer" = [])),
    responses((status = 200, body = SettingsView), (status = 401, body = OAuthError)))]
pub async fn get(app: Authorized) -> Json<SettingsView> {
    view(&app)
}

#[utoipa::path(put, path = "/v1/application/settings", tag = "application", security(("bearer" = [])), request_body = SettingsChange,
    responses((status = 200, body = SettingsView), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn update(app: Authorized, body: Bytes) -> Result<Json<SettingsView>, PlatformError> {
    let change: SettingsChange = json_body(&body)?;
    if let Some(guests) = change.guest_users {
        app.0.store.settings.set_guest_users(guests).await?;
        app.0.sessions.set_guest_users(guests);
        tracing::info!(app = %app.0.app.name, ?guests, "application settings changed: guest_users");
    }
    Ok(view(&app))
}

/// The same as PUT: only the fields given change.
#[utoipa::path(patch, path = "/v1/application/settings", tag = "application", security(("bearer" = [])), request_body = SettingsChange,
    responses((status = 200, body = SettingsView), (status = 400, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn patch(app: Authorized, body: Bytes) -> Result<Json<SettingsView>, PlatformError> {
    update(app, body).await
}
