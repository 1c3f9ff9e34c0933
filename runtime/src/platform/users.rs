//! `/v1/users`: list (paged, filtered by name), create, check by name (`HEAD`), read, patch,
//! delete, and user secrets. Users are the ones functions see as `context.ChatKitty.Users`.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{hal_page, json_body, self_link, Authorized, PlatformError};
use crate::store::{NewUser, User, UserPatch};

/// ChatKitty's page size when none is asked for.
const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 1000;

/// A user in the Platform API's shape (snake_case, with the camelCase `isGuest` ChatKitty's
/// responses also carry).
pub(crate) fn user_json(user: &User) -> Value {
    json!({
        "type": "PERSON",
        "id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "display_picture_url": null,
        "is_guest": user.is_guest,
        "isGuest": user.is_guest,
        "presence": { "status": "UNAVAILABLE", "online": false },
        "properties": user.properties,
        "created_time": user.created_time,
        "_links": self_link(&format!("/v1/users/{}", user.id)),
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    page: usize,
    size: Option<usize>,
    name: Option<String>,
}

pub async fn list(Authorized(app): Authorized, Query(q): Query<ListQuery>) -> Result<Json<Value>, PlatformError> {
    let size = q.size.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE);
    let page = app.sessions.users().list(q.page, size, q.name.as_deref())?;
    let users = page.users.iter().map(user_json).collect();
    Ok(Json(hal_page("users", users, q.page, size, page.total, "/v1/users")))
}

#[derive(Deserialize)]
pub struct NameQuery {
    name: Option<String>,
}

/// `HEAD /v1/users?name=...`: 200 when a user has that name, 404 when none has.
pub async fn exists(Authorized(app): Authorized, Query(q): Query<NameQuery>) -> Result<StatusCode, PlatformError> {
    let name = q.name.ok_or_else(|| PlatformError::BadRequest("HEAD /v1/users needs a name query parameter".into()))?;
    match app.sessions.users().find_by_name(&name)? {
        Some(_) => Ok(StatusCode::OK),
        None => Err(PlatformError::NotFound(format!("no user is named {name:?}"))),
    }
}

pub async fn create(Authorized(app): Authorized, body: Bytes) -> Result<(StatusCode, Json<Value>), PlatformError> {
    let new: NewUser = json_body(&body)?;
    let user = app.sessions.users().create(new).await?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

fn user_id(id: &str) -> Result<u64, PlatformError> {
    id.parse().map_err(|_| PlatformError::NotFound(format!("user {id} not found")))
}

pub async fn get(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    let user = app.sessions.users().get(user_id(&id)?)?.ok_or_else(|| PlatformError::NotFound(format!("user {id} not found")))?;
    Ok(Json(user_json(&user)))
}

pub async fn update(Authorized(app): Authorized, Path(id): Path<String>, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let patch: UserPatch = json_body(&body)?;
    Ok(Json(user_json(&app.sessions.users().update(user_id(&id)?, patch).await?)))
}

pub async fn delete(Authorized(app): Authorized, Path(id): Path<String>) -> Result<Json<Value>, PlatformError> {
    let user = app.sessions.users().delete(user_id(&id)?).await?;
    Ok(Json(user_json(&user)))
}

#[derive(Deserialize)]
pub struct SecretBody {
    secret: Value,
}

pub async fn set_secret(Authorized(app): Authorized, Path((id, name)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, PlatformError> {
    let body: SecretBody = json_body(&body)?;
    Ok(Json(user_json(&app.sessions.users().set_secret(user_id(&id)?, &name, &body.secret).await?)))
}

pub async fn get_secret(Authorized(app): Authorized, Path((id, name)): Path<(String, String)>) -> Result<Json<Value>, PlatformError> {
    Ok(Json(json!({ "secret": app.sessions.users().get_secret(user_id(&id)?, &name)? })))
}

pub async fn remove_secret(Authorized(app): Authorized, Path((id, name)): Path<(String, String)>) -> Result<Json<Value>, PlatformError> {
    Ok(Json(user_json(&app.sessions.users().remove_secret(user_id(&id)?, &name).await?)))
}
