//! `/v1/users`: list (paged, filtered by name), create, check by name (`HEAD`), read, patch,
//! delete, and user secrets. Users are the ones functions see as `context.ChatKitty.Users`.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{json_body, Authorized, ErrorBody, Links, OAuthError, Page, PageQuery, PlatformError};
use crate::store::{NewUser, User, UserPatch};

/// A user in the Platform API's shape: snake_case, with the camelCase `isGuest` ChatKitty's
/// responses also carry.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    name: String,
    display_name: String,
    display_picture_url: Option<String>,
    is_guest: bool,
    #[serde(rename = "isGuest")]
    is_guest_camel: bool,
    presence: Presence,
    #[schema(value_type = Object)]
    properties: Map<String, Value>,
    created_time: String,
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Serialize, ToSchema)]
pub struct Presence {
    status: &'static str,
    online: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            kind: "PERSON",
            id: user.id,
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            display_picture_url: None,
            is_guest: user.is_guest,
            is_guest_camel: user.is_guest,
            presence: Presence { status: "UNAVAILABLE", online: false },
            properties: user.properties.clone(),
            created_time: user.created_time.clone(),
            links: Links::to(format!("/v1/users/{}", user.id)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Users {
    users: Vec<UserView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    #[serde(default)]
    page: usize,
    size: Option<usize>,
    /// Only the user with this name.
    name: Option<String>,
}

#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Page<Users>), (status = 401, body = OAuthError)))]
pub async fn list(
    Authorized(app): Authorized,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Users>>, PlatformError> {
    let paging = PageQuery { page: q.page, size: q.size };
    let page = app.sessions.users().list(q.page, paging.size(), q.name.as_deref()).await?;
    let users = Users { users: page.users.iter().map(UserView::from).collect() };
    Ok(Json(Page::new(users, q.page, paging.size(), page.total, "/v1/users")))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct NameQuery {
    name: Option<String>,
}

/// `HEAD /v1/users?name=...`: 200 when a user has that name, 404 when none has.
#[utoipa::path(head, path = "/v1/users", tag = "users", security(("bearer" = [])), params(NameQuery),
    responses((status = 200, description = "a user has this name"), (status = 404, description = "no user has this name"), (status = 401, body = OAuthError)))]
pub async fn exists(
    Authorized(app): Authorized,
    Query(q): Query<NameQuery>,
) -> Result<StatusCode, PlatformError> {
    let name = q.name.ok_or_else(|| {
        PlatformError::BadRequest("HEAD /v1/users needs a name query parameter".into())
    })?;
    match app.sessions.users().find_by_name(&name).await? {
        Some(_) => Ok(StatusCode::OK),
        None => Err(PlatformError::NotFound(format!("no user is named {name:?}"))),
    }
}

#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn create(
    Authorized(app): Authorized,
    body: Bytes,
) -> Result<(StatusCode, Json<UserView>), PlatformError> {
    let new: NewUser = json_body(&body)?;
    let user = app.sessions.users().create(new).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

fn user_id(id: &str) -> Result<u64, PlatformError> {
    super::resource_id(id, "user")
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn get(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<UserView>, PlatformError> {
    let user = app
        .sessions
        .users()
        .get(user_id(&id)?)
        .await?
        .ok_or_else(|| PlatformError::NotFound(format!("user {id} not found")))?;
    Ok(Json(UserView::from(&user)))
}

#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn update(
    Authorized(app): Authorized,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<UserView>, PlatformError> {
    let patch: UserPatch = json_body(&body)?;
    Ok(Json(UserView::from(&app.sessions.users().update(user_id(&id)?, patch).await?)))
}

#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = UserView, description = "the deleted user"), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn delete(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<UserView>, PlatformError> {
    let user = app.sessions.users().delete(user_id(&id)?).await?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Secret {
    #[schema(value_type = Object)]
    secret: Value,
}

#[utoipa::path(put, path = "/v1/users/{id}/secrets/{name}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path), ("name" = String, Path)), request_body = Secret,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn set_secret(
    Authorized(app): Authorized,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<UserView>, PlatformError> {
    let body: Secret = json_body(&body)?;
    Ok(Json(UserView::from(
        &app.sessions.users().set_secret(user_id(&id)?, &name, &body.secret).await?,
    )))
}

#[derive(Serialize, ToSchema)]
pub struct SecretNames {
    names: Vec<String>,
}

/// `GET /v1/users/{id}/secrets` (chatfn's): the names of the user's secrets, not their values.
#[utoipa::path(get, path = "/v1/users/{id}/secrets", tag = "users", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = SecretNames), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn secret_names(
    Authorized(app): Authorized,
    Path(id): Path<String>,
) -> Result<Json<SecretNames>, PlatformError> {
    Ok(Json(SecretNames { names: app.sessions.users().secret_names(user_id(&id)?).await? }))
}

#[utoipa::path(get, path = "/v1/users/{id}/secrets/{name}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path), ("name" = String, Path)),
    responses((status = 200, body = Secret), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn get_secret(
    Authorized(app): Authorized,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Secret>, PlatformError> {
    Ok(Json(Secret { secret: app.sessions.users().get_secret(user_id(&id)?, &name).await? }))
}

#[utoipa::path(delete, path = "/v1/users/{id}/secrets/{name}", tag = "users", security(("bearer" = [])), params(("id" = u64, Path), ("name" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 401, body = OAuthError)))]
pub async fn remove_secret(
    Authorized(app): Authorized,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<UserView>, PlatformError> {
    Ok(Json(UserView::from(&app.sessions.users().remove_secret(user_id(&id)?, &name).await?)))
}
