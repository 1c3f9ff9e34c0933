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
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Deserialize, ToSchema)]
pub struct SettingsChange {
    /// `ENABLED` or `DISABLED`.
    #[serde(default, alias = "guestUsers")]
    #[schema(value_type = Option<String>)]
    guest_users: Option<GuestUsers>,
}

fn view(app: &Authorized) -> Json<SettingsView> {
    Json(SettingsView {
        guest_users: app.0.sessions.guest_users(),
        user_created_channels: "DISABLED",
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
