//! `/v1/application/settings`: read, and change with PUT or PATCH (`guest_users`, also
//! accepted as `guestUsers`). A change applies to the next session attempt and is stored.

use axum::body::Bytes;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_body, self_link, Authorized, PlatformError};
use crate::config::GuestUsers;

#[derive(Deserialize)]
struct SettingsChange {
    #[serde(default, alias = "guestUsers")]
    guest_users: Option<GuestUsers>,
}

fn view(Authorized(app): &Authorized) -> Json<Value> {
    Json(json!({
        "guest_users": app.sessions.guest_users(),
        // chatfn hosts no channels; ChatKitty's settings resource carries the field.
        "user_created_channels": "DISABLED",
        "_links": self_link("/v1/application/settings"),
    }))
}

pub async fn get(app: Authorized) -> Json<Value> {
    view(&app)
}

pub async fn update(app: Authorized, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let change: SettingsChange = json_body(&body)?;
    if let Some(guests) = change.guest_users {
        app.0.store.settings.set_guest_users(guests).await?;
        app.0.sessions.set_guest_users(guests);
        tracing::info!(app = %app.0.app.name, ?guests, "application settings changed: guest_users");
    }
    Ok(view(&app))
}
