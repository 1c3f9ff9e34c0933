//! `op_users_*`: the native side of `context.ChatKitty.Users`. Each op answers like the
//! Platform API would over HTTP (`{ ok, status, data }` or `{ ok: false, status, error, message }`,
//! as JSON text) and the JS side turns that into an axios-style response or rejection. Every op is async; a
//! sled read is ready at once, and deno_core polls an async op once when it is called, so with
//! sled the answer is there without a turn of the event loop. With PostgreSQL, the op waits
//! for the database.

use std::cell::RefCell;
use std::rc::Rc;

use deno_core::{op2, OpState};
use serde::Serialize;
use serde_json::{json, Value};

use crate::store::{NewUser, StoreError, Subject, User, UserPatch, UsersStore};

/// A Platform API answer. It travels back to JavaScript as JSON text ([`ApiReply::into_json`]),
/// which `js/chatkitty.js` parses.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ApiReply {
    Ok { ok: bool, status: u16, data: Value },
    Err { ok: bool, status: u16, error: &'static str, message: String },
}

impl ApiReply {
    fn ok(status: u16, data: Value) -> ApiReply {
        ApiReply::Ok { ok: true, status, data }
    }

    fn err(error: &StoreError) -> ApiReply {
        let (status, code) = match error {
            StoreError::NotFound(_) => (404, "NotFound"),
            StoreError::Conflict(_) => (409, "Conflict"),
            StoreError::Invalid(_) => (400, "BadRequest"),
            StoreError::Unavailable(_) => (503, "StoreUnavailable"),
            StoreError::Storage(_) | StoreError::Corrupt(_) | StoreError::Database(_) => {
                (500, "InternalError")
            }
        };
        let message = match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "the user store is unavailable during a function call");
                "the user store is unavailable; try again later".to_string()
            }
            StoreError::Storage(_) | StoreError::Corrupt(_) | StoreError::Database(_) => {
                tracing::error!(%error, "user store failure during a function call");
                "the user store failed; see the server log".to_string()
            }
            other => other.to_string(),
        };
        ApiReply::Err { ok: false, status, error: code, message }
    }

    fn from_user(status: u16, result: Result<User, StoreError>) -> ApiReply {
        match result {
            Ok(user) => ApiReply::ok(status, user_resource(&user)),
            Err(e) => ApiReply::err(&e),
        }
    }

    /// As JSON text, for JavaScript's `JSON.parse`: serde_v8 would build each object key by key
    /// with `v8::Object::with_prototype_and_properties`, which makes dictionary-mode objects
    /// (no shared shape), slow to read for the function and to stringify for the tape.
    fn into_json(self) -> String {
        serde_json::to_string(&self).expect("a Platform API answer serializes")
    }
}

/// A user as `chatkitty-platform-sdk`'s `ChatUserResource`.
pub fn user_resource(user: &User) -> Value {
    json!({
        "type": "PERSON",
        "id": user.id,
        "name": user.name,
        "displayName": user.display_name,
        "displayPictureUrl": null,
        "isGuest": user.is_guest,
        "presence": { "online": false, "status": "UNAVAILABLE" },
        "properties": user.properties,
        "createdTime": user.created_time,
        "_links": { "self": { "href": format!("/v1/users/{}", user.id) } },
    })
}

fn store(state: &Rc<RefCell<OpState>>) -> UsersStore {
    state.borrow().borrow::<UsersStore>().clone()
}

fn parse_id(id: &str) -> Result<u64, StoreError> {
    id.trim()
        .parse()
        .map_err(|_| StoreError::Invalid(format!("{id:?} is not a user id (ids are numbers)")))
}

fn parse_body<T: serde::de::DeserializeOwned>(what: &str, body: Value) -> Result<T, StoreError> {
    serde_json::from_value(body).map_err(|e| StoreError::Invalid(format!("invalid {what}: {e}")))
}

/// `checkUserExists`'s answer for a user that exists.
const EXISTS: &str = r#"{"ok":true,"status":200,"data":{}}"#;

#[op2]
#[string]
pub async fn op_users_check_exists(state: Rc<RefCell<OpState>>, #[string] name: String) -> String {
    match store(&state).exists(&name).await {
        // (The hot call of a session-start function: its reply written once.)
        Ok(true) => EXISTS.to_string(),
        Ok(false) => {
            ApiReply::err(&StoreError::NotFound(Subject::UserNamed(name.to_string()))).into_json()
        }
        Err(e) => ApiReply::err(&e).into_json(),
    }
}

#[op2]
#[string]
pub async fn op_users_create(
    state: Rc<RefCell<OpState>>,
    #[serde] body: serde_json::Value,
) -> String {
    let store = store(&state);
    let result = match parse_body::<NewUser>("createUser body", body) {
        Ok(new) => store.create(new).await,
        Err(e) => Err(e),
    };
    ApiReply::from_user(201, result).into_json()
}

#[op2]
#[string]
pub async fn op_users_retrieve(state: Rc<RefCell<OpState>>, #[string] id: String) -> String {
    let store = store(&state);
    let result = match parse_id(&id) {
        Ok(id) => {
            store.get(id).await.and_then(|u| u.ok_or(StoreError::NotFound(Subject::User(id))))
        }
        Err(e) => Err(e),
    };
    ApiReply::from_user(200, result).into_json()
}

#[op2]
#[string]
pub async fn op_users_update(
    state: Rc<RefCell<OpState>>,
    #[string] id: String,
    #[serde] patch: serde_json::Value,
) -> String {
    let store = store(&state);
    let result = match (parse_id(&id), parse_body::<UserPatch>("updateUser patch", patch)) {
        (Ok(id), Ok(patch)) => store.update(id, patch).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    ApiReply::from_user(200, result).into_json()
}

#[op2]
#[string]
pub async fn op_users_delete(state: Rc<RefCell<OpState>>, #[string] id: String) -> String {
    let store = store(&state);
    let result = match parse_id(&id) {
        Ok(id) => store.delete(id).await,
        Err(e) => Err(e),
    };
    ApiReply::from_user(200, result).into_json()
}

#[op2]
#[string]
pub async fn op_users_list(
    state: Rc<RefCell<OpState>>,
    #[serde] page: serde_json::Value,
    #[serde] size: serde_json::Value,
    #[serde] name: serde_json::Value,
) -> String {
    let (Some(page), Some(size)) = (page.as_u64(), size.as_u64()) else {
        return ApiReply::err(&StoreError::Invalid(
            "page and size must be non-negative integers".into(),
        ))
        .into_json();
    };
    let size = size.clamp(1, 1000) as usize;
    match store(&state).list(page as usize, size, name.as_str()).await {
        Ok(p) => ApiReply::ok(
            200,
            json!({
                "_embedded": { "users": p.users.iter().map(user_resource).collect::<Vec<_>>() },
                "page": { "number": page, "size": size, "totalElements": p.total, "totalPages": p.total.div_ceil(size) },
                "_links": {},
            }),
        ),
        Err(e) => ApiReply::err(&e),
    }
    .into_json()
}

#[op2]
#[string]
pub async fn op_users_set_secret(
    state: Rc<RefCell<OpState>>,
    #[string] id: String,
    #[string] name: String,
    #[serde] secret: serde_json::Value,
) -> String {
    let store = store(&state);
    let result = match parse_id(&id) {
        Ok(id) => store.set_secret(id, &name, &secret).await,
        Err(e) => Err(e),
    };
    ApiReply::from_user(200, result).into_json()
}

#[op2]
#[string]
pub async fn op_users_retrieve_secret(
    state: Rc<RefCell<OpState>>,
    #[string] id: String,
    #[string] name: String,
) -> String {
    let store = store(&state);
    let result = match parse_id(&id) {
        Ok(id) => store.get_secret(id, &name).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(secret) => ApiReply::ok(200, json!({ "secret": secret })),
        Err(e) => ApiReply::err(&e),
    }
    .into_json()
}

#[op2]
#[string]
pub async fn op_users_remove_secret(
    state: Rc<RefCell<OpState>>,
    #[string] id: String,
    #[string] name: String,
) -> String {
    let store = store(&state);
    let result = match parse_id(&id) {
        Ok(id) => store.remove_secret(id, &name).await,
        Err(e) => Err(e),
    };
    ApiReply::from_user(200, result).into_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_exists_reply_is_the_one_made_for_a_200() {
        assert_eq!(EXISTS, ApiReply::ok(200, json!({})).into_json());
    }
}
