//! Chat users: the records behind `context.ChatKitty.Users` and the session endpoint, in one of
//! two stores: sled (`sled.rs`, embedded, the default) or PostgreSQL (`postgres.rs`, shared by
//! several chatfn nodes). Both keep the same rules, checked here: names in NFC and unique per
//! app, ids counted per app from 1, a write answered only once it is durable. This module knows
//! nothing about JavaScript or HTTP.

mod postgres;
mod sled;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::error::StoreError;

pub use self::postgres::PgUsers;
pub use self::sled::SledUsers;

/// Longest user name accepted; ChatKitty names are emails or ids, far shorter than this.
pub const MAX_NAME_LEN: usize = 512;

/// A stored chat user. Field names follow ChatKitty's platform SDK (`chatkitty-platform-sdk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: u64,
    pub name: String,
    pub display_name: String,
    pub is_guest: bool,
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// RFC 3339, UTC.
    pub created_time: String,
}

/// What `createUser` takes. ChatKitty requires `displayName` and `isGuest`; chatfn defaults them
/// (to the name, and to a non-guest) so that hand-written calls stay short.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub name: String,
    #[serde(default, alias = "display_name")]
    pub display_name: Option<String>,
    #[serde(default, alias = "is_guest")]
    pub is_guest: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
}

/// What `updateUser` takes: a merge patch of the mutable fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(default, alias = "display_name")]
    pub display_name: Option<String>,
    #[serde(default, alias = "is_guest")]
    pub is_guest: Option<bool>,
    /// Merged key by key; a key set to `null` is removed (JSON merge patch).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
}

/// One page of users, newest id last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserPage {
    pub users: Vec<User>,
    pub total: usize,
}

/// A user name as chatfn keeps it: Unicode NFC (so "é" typed either way is one user), not
/// empty, at most `MAX_NAME_LEN` bytes, and without control or invisible characters (so no
/// two users differ only by a zero-width or bidi character).
pub fn normalize_name(name: &str) -> Result<String, StoreError> {
    let name = nfc(name).into_owned();
    validate_name(&name)?;
    Ok(name)
}

/// `name` in Unicode NFC: as it is when it is ASCII (every attempt's name, mostly), which NFC
/// leaves alone.
fn nfc(name: &str) -> std::borrow::Cow<'_, str> {
    if name.is_ascii() {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(name.nfc().collect())
    }
}

pub fn validate_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("a user name must not be empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StoreError::Invalid(format!(
            "a user name must be at most {MAX_NAME_LEN} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid("a user name must not contain control characters".into()));
    }
    if let Some(c) = name.chars().find(|c| is_invisible(*c)) {
        return Err(StoreError::Invalid(format!(
            "a user name must not contain invisible characters (U+{:04X})",
            c as u32
        )));
    }
    Ok(())
}

/// Characters that show nothing (zero-width spaces and joiners, bidi controls, fillers, tags).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

fn validate_secret_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(StoreError::Invalid(format!(
            "a secret name must have 1 to {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

fn validate_patch(patch: &UserPatch) -> Result<(), StoreError> {
    if matches!(&patch.display_name, Some(d) if d.trim().is_empty()) {
        return Err(StoreError::Invalid("displayName must not be empty".into()));
    }
    Ok(())
}

/// A new user as it will be stored, less its id: its name normalized, its defaults filled in.
fn prepare(new: NewUser) -> Result<(String, String, bool, Map<String, Value>), StoreError> {
    let name = normalize_name(&new.name)?;
    let display_name = match new.display_name {
        Some(d) if d.trim().is_empty() => {
            return Err(StoreError::Invalid("displayName must not be empty".into()))
        }
        Some(d) => d,
        None => name.clone(),
    };
    Ok((name, display_name, new.is_guest.unwrap_or(false), new.properties.unwrap_or_default()))
}

/// Applies a merge patch to a user.
fn apply_patch(user: &mut User, patch: &UserPatch) {
    if let Some(d) = &patch.display_name {
        user.display_name = d.clone();
    }
    if let Some(g) = patch.is_guest {
        user.is_guest = g;
    }
    if let Some(props) = &patch.properties {
        for (k, v) in props {
            if v.is_null() {
                user.properties.remove(k);
            } else {
                user.properties.insert(k.clone(), v.clone());
            }
        }
    }
}

/// One app's users, in whichever store the server was given.
#[derive(Clone)]
pub enum UsersStore {
    Sled(SledUsers),
    Postgres(PgUsers),
}

/// Holds a user name for one session attempt: no other attempt for that name in this app runs
/// meanwhile, on this node or (with PostgreSQL) any other. Let go when dropped.
pub enum NameHold {
    /// sled has one node: the attempt's in-process lock is enough.
    Local,
    Postgres(Box<self::postgres::Hold>),
}

impl NameHold {
    /// Lets the name go (with PostgreSQL, a moment later, when the database has; on drop, the
    /// connection is closed instead, which lets it go as well).
    pub fn release(self) {
        if let NameHold::Postgres(hold) = self {
            hold.release();
        }
    }
}

impl UsersStore {
    /// Creates a user; fails with [`StoreError::Conflict`] when the name is taken.
    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        match self {
            UsersStore::Sled(s) => s.create(new).await,
            UsersStore::Postgres(p) => p.create(new).await,
        }
    }

    /// Returns the user with this name, creating it with `new` if there is none. The boolean
    /// says whether this call created it. Safe under concurrent calls for the same name.
    pub async fn get_or_create(&self, new: NewUser) -> Result<(User, bool), StoreError> {
        loop {
            if let Some(user) = self.find_by_name(&new.name).await? {
                return Ok((user, false));
            }
            match self.create(new.clone()).await {
                Ok(user) => return Ok((user, true)),
                // Someone else created it between our read and our write: read theirs.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn get(&self, id: u64) -> Result<Option<User>, StoreError> {
        match self {
            UsersStore::Sled(s) => s.get(id),
            UsersStore::Postgres(p) => p.get(id).await,
        }
    }

    /// Whether a user of that name exists (without reading it).
    pub async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let name = nfc(name);
        match self {
            UsersStore::Sled(s) => s.exists(&name),
            UsersStore::Postgres(p) => p.exists(&name).await,
        }
    }

    pub async fn find_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let name = nfc(name);
        match self {
            UsersStore::Sled(s) => s.find_by_name(&name),
            UsersStore::Postgres(p) => p.find_by_name(&name).await,
        }
    }

    pub async fn update(&self, id: u64, patch: UserPatch) -> Result<User, StoreError> {
        validate_patch(&patch)?;
        match self {
            UsersStore::Sled(s) => s.update(id, patch).await,
            UsersStore::Postgres(p) => p.update(id, patch).await,
        }
    }

    /// Deletes a user, its name and its secrets; returns the deleted record.
    pub async fn delete(&self, id: u64) -> Result<User, StoreError> {
        match self {
            UsersStore::Sled(s) => s.delete(id).await,
            UsersStore::Postgres(p) => p.delete(id).await,
        }
    }

    /// Users in id order; `page` counts from 0. `name` filters to that exact name.
    pub async fn list(
        &self,
        page: usize,
        size: usize,
        name: Option<&str>,
    ) -> Result<UserPage, StoreError> {
        if let Some(name) = name {
            let users: Vec<User> = self.find_by_name(name).await?.into_iter().collect();
            let total = users.len();
            let users = if page == 0 { users } else { Vec::new() };
            return Ok(UserPage { users, total });
        }
        match self {
            UsersStore::Sled(s) => s.list(page, size),
            UsersStore::Postgres(p) => p.list(page, size).await,
        }
    }

    pub async fn set_secret(&self, id: u64, name: &str, value: &Value) -> Result<User, StoreError> {
        validate_secret_name(name)?;
        match self {
            UsersStore::Sled(s) => s.set_secret(id, name, value).await,
            UsersStore::Postgres(p) => p.set_secret(id, name, value).await,
        }
    }

    pub async fn get_secret(&self, id: u64, name: &str) -> Result<Value, StoreError> {
        match self {
            UsersStore::Sled(s) => s.get_secret(id, name),
            UsersStore::Postgres(p) => p.get_secret(id, name).await,
        }
    }

    /// The names of a user's secrets (their values stay unread).
    pub async fn secret_names(&self, id: u64) -> Result<Vec<String>, StoreError> {
        match self {
            UsersStore::Sled(s) => s.secret_names(id),
            UsersStore::Postgres(p) => p.secret_names(id).await,
        }
    }

    pub async fn remove_secret(&self, id: u64, name: &str) -> Result<User, StoreError> {
        match self {
            UsersStore::Sled(s) => s.remove_secret(id, name).await,
            UsersStore::Postgres(p) => p.remove_secret(id, name).await,
        }
    }

    /// Stores users as they are, with their secrets (`chatfn store copy`): ids and names kept,
    /// the id counter moved past them; one already there is a conflict.
    pub async fn import(&self, users: &[(User, Vec<(String, Value)>)]) -> Result<(), StoreError> {
        match self {
            UsersStore::Sled(s) => s.import(users).await,
            UsersStore::Postgres(p) => p.import(users).await,
        }
    }

    /// `Unavailable` when the store cannot be reached now (a shared database that is down).
    pub async fn check_reachable(&self) -> Result<(), StoreError> {
        match self {
            UsersStore::Sled(_) => Ok(()),
            UsersStore::Postgres(p) => p.check_reachable().await,
        }
    }

    /// Holds `name` for one session attempt (see [`NameHold`]); the caller already holds it
    /// against this node's other attempts.
    pub async fn hold_name(&self, name: &str) -> Result<NameHold, StoreError> {
        match self {
            UsersStore::Sled(_) => Ok(NameHold::Local),
            UsersStore::Postgres(p) => Ok(NameHold::Postgres(Box::new(p.hold_name(name).await?))),
        }
    }
}
