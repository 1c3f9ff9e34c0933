//! Chat users on sled: the records behind `context.ChatKitty.Users` and the session endpoint.
//!
//! Four trees: `users` (id → JSON record), `users_by_name` (name → id, the uniqueness index),
//! `user_secrets` (id ‖ secret name → JSON value) and `meta` (the id counter). Creating a user
//! claims its name and its id in one serializable transaction, so two concurrent creations of
//! the same name cannot both succeed. Every write is flushed to disk before it returns: an
//! answered write survives a crash. This module knows nothing about JavaScript or HTTP.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use unicode_normalization::UnicodeNormalization;

use super::error::{StoreError, Subject};
use crate::time::now_rfc3339;

/// Longest user name accepted; ChatKitty names are emails or ids, far shorter than this.
pub const MAX_NAME_LEN: usize = 512;
const NEXT_ID_KEY: &[u8] = b"next_user_id";

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

#[derive(Clone)]
pub struct UsersStore {
    space: super::Space,
    users: sled::Tree,
    names: sled::Tree,
    secrets: sled::Tree,
    meta: sled::Tree,
}

impl UsersStore {
    pub fn open(space: &super::Space) -> Result<UsersStore, StoreError> {
        Ok(UsersStore {
            space: space.clone(),
            users: space.tree("users")?,
            names: space.tree("users_by_name")?,
            secrets: space.tree("user_secrets")?,
            meta: space.tree("meta")?,
        })
    }

    /// Creates a user; fails with [`StoreError::Conflict`] when the name is taken.
    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let user = self.create_unflushed(new)?;
        self.flush().await?;
        Ok(user)
    }

    fn create_unflushed(&self, mut new: NewUser) -> Result<User, StoreError> {
        new.name = normalize_name(&new.name)?;
        let display_name = match new.display_name {
            Some(d) if d.trim().is_empty() => {
                return Err(StoreError::Invalid("displayName must not be empty".into()))
            }
            Some(d) => d,
            None => new.name.clone(),
        };
        let created_time = now_rfc3339();
        let result = (&self.users, &self.names, &self.meta).transaction(|(users, names, meta)| {
            if names.get(new.name.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            let id = match meta.get(NEXT_ID_KEY)? {
                Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])).max(1),
                None => 1,
            };
            meta.insert(NEXT_ID_KEY, &(id + 1).to_be_bytes())?;
            let user = User {
                id,
                name: new.name.clone(),
                display_name: display_name.clone(),
                is_guest: new.is_guest.unwrap_or(false),
                properties: new.properties.clone().unwrap_or_default(),
                created_time: created_time.clone(),
            };
            let record = serde_json::to_vec(&user).expect("a user always serializes");
            users.insert(&id.to_be_bytes(), record)?;
            names.insert(new.name.as_bytes(), &id.to_be_bytes())?;
            Ok(user)
        });
        match result {
            Ok(user) => Ok(user),
            Err(TransactionError::Abort(())) => {
                Err(StoreError::Conflict(format!("a user named {:?} already exists", new.name)))
            }
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Returns the user with this name, creating it with `new` if there is none. The boolean
    /// says whether this call created it. Safe under concurrent calls for the same name.
    pub async fn get_or_create(&self, new: NewUser) -> Result<(User, bool), StoreError> {
        loop {
            if let Some(user) = self.find_by_name(&new.name)? {
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

    pub fn get(&self, id: u64) -> Result<Option<User>, StoreError> {
        match self.users.get(id.to_be_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether a user of that name exists (without reading it).
    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let name: String = name.nfc().collect();
        Ok(self.names.contains_key(name.as_bytes())?)
    }

    pub fn find_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let name: String = name.nfc().collect();
        match self.names.get(name.as_bytes())? {
            Some(id) => self.get(id_from_bytes(&id)),
            None => Ok(None),
        }
    }

    pub async fn update(&self, id: u64, patch: UserPatch) -> Result<User, StoreError> {
        if matches!(&patch.display_name, Some(d) if d.trim().is_empty()) {
            return Err(StoreError::Invalid("displayName must not be empty".into()));
        }
        let result = self.users.transaction(|users| {
            let Some(bytes) = users.get(id.to_be_bytes())? else {
                return Err(ConflictableTransactionError::Abort(None));
            };
            let mut user: User = serde_json::from_slice(&bytes)
                .map_err(|e| ConflictableTransactionError::Abort(Some(e)))?;
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
            users.insert(
                &id.to_be_bytes(),
                serde_json::to_vec(&user).expect("a user always serializes"),
            )?;
            Ok(user)
        });
        let user = match result {
            Ok(user) => user,
            Err(TransactionError::Abort(None)) => {
                return Err(StoreError::NotFound(Subject::User(id)))
            }
            Err(TransactionError::Abort(Some(e))) => return Err(e.into()),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        self.flush().await?;
        Ok(user)
    }

    /// Deletes a user, its name and its secrets; returns the deleted record.
    pub async fn delete(&self, id: u64) -> Result<User, StoreError> {
        let user = self.get(id)?.ok_or_else(|| StoreError::NotFound(Subject::User(id)))?;
        let result: Result<(), TransactionError<()>> =
            (&self.users, &self.names).transaction(|(users, names)| {
                users.remove(&id.to_be_bytes())?;
                names.remove(user.name.as_bytes())?;
                Ok(())
            });
        if let Err(TransactionError::Storage(e)) = result {
            return Err(e.into());
        }
        for key in self.secrets.scan_prefix(id.to_be_bytes()).keys() {
            self.secrets.remove(key?)?;
        }
        self.flush().await?;
        Ok(user)
    }

    /// Users in id order; `page` counts from 0. `name` filters to that exact name.
    pub fn list(
        &self,
        page: usize,
        size: usize,
        name: Option<&str>,
    ) -> Result<UserPage, StoreError> {
        if let Some(name) = name {
            let users: Vec<User> = self.find_by_name(name)?.into_iter().collect();
            let total = users.len();
            let users = if page == 0 { users } else { Vec::new() };
            return Ok(UserPage { users, total });
        }
        let total = self.users.len();
        let users = self
            .users
            .iter()
            .values()
            .skip(page.saturating_mul(size))
            .take(size)
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect::<Result<Vec<User>, StoreError>>()?;
        Ok(UserPage { users, total })
    }

    pub async fn set_secret(&self, id: u64, name: &str, value: &Value) -> Result<User, StoreError> {
        let user = self.get(id)?.ok_or_else(|| StoreError::NotFound(Subject::User(id)))?;
        validate_secret_name(name)?;
        self.secrets.insert(secret_key(id, name), serde_json::to_vec(value)?)?;
        self.flush().await?;
        Ok(user)
    }

    pub fn get_secret(&self, id: u64, name: &str) -> Result<Value, StoreError> {
        if self.get(id)?.is_none() {
            return Err(StoreError::NotFound(Subject::User(id)));
        }
        match self.secrets.get(secret_key(id, name))? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Err(StoreError::NotFound(Subject::Secret { user: id, name: name.to_string() })),
        }
    }

    /// The names of a user's secrets (their values stay unread).
    pub fn secret_names(&self, id: u64) -> Result<Vec<String>, StoreError> {
        if self.get(id)?.is_none() {
            return Err(StoreError::NotFound(Subject::User(id)));
        }
        self.secrets
            .scan_prefix(id.to_be_bytes())
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?[8..]).into_owned()))
            .collect()
    }

    pub async fn remove_secret(&self, id: u64, name: &str) -> Result<User, StoreError> {
        let user = self.get(id)?.ok_or_else(|| StoreError::NotFound(Subject::User(id)))?;
        if self.secrets.remove(secret_key(id, name))?.is_none() {
            return Err(StoreError::NotFound(Subject::Secret { user: id, name: name.to_string() }));
        }
        self.flush().await?;
        Ok(user)
    }

    /// Makes every write so far durable (see `Space::flush`).
    async fn flush(&self) -> Result<(), StoreError> {
        self.space.flush().await
    }
}

/// A user name as chatfn keeps it: Unicode NFC (so "é" typed either way is one user), not
/// empty, at most `MAX_NAME_LEN` bytes, and without control or invisible characters (so no
/// two users differ only by a zero-width or bidi character).
pub fn normalize_name(name: &str) -> Result<String, StoreError> {
    let name: String = name.nfc().collect();
    validate_name(&name)?;
    Ok(name)
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

fn secret_key(id: u64, name: &str) -> Vec<u8> {
    let mut key = id.to_be_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

fn id_from_bytes(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, UsersStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = UsersStore::open(&super::super::Space::alone(dir.path())).unwrap();
        (dir, store)
    }

    fn new_user(name: &str) -> NewUser {
        NewUser { name: name.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn create_assigns_sequential_ids_and_defaults() {
        let (_d, s) = store();
        let a = s.create(new_user("alice")).await.unwrap();
        let b = s
            .create(NewUser {
                display_name: Some("Bob B.".into()),
                is_guest: Some(true),
                ..new_user("bob")
            })
            .await
            .unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(a.display_name, "alice");
        assert!(!a.is_guest && b.is_guest);
        assert_eq!(s.find_by_name("bob").unwrap().unwrap(), b);
        assert_eq!(s.get(1).unwrap().unwrap(), a);
    }

    #[tokio::test]
    async fn duplicate_names_conflict() {
        let (_d, s) = store();
        s.create(new_user("alice")).await.unwrap();
        assert!(matches!(s.create(new_user("alice")).await, Err(StoreError::Conflict(_))));
        assert_eq!(s.list(0, 10, None).unwrap().total, 1);
    }

    #[tokio::test]
    async fn names_are_nfc_and_invisible_characters_are_refused() {
        let (_d, s) = store();
        let composed = s.create(new_user("Ren\u{e9}e")).await.unwrap();
        // The same name typed with a combining accent is the same user.
        assert!(matches!(s.create(new_user("Rene\u{301}e")).await, Err(StoreError::Conflict(_))));
        assert_eq!(s.find_by_name("Rene\u{301}e").unwrap().unwrap().id, composed.id);
        for sneaky in ["ann\u{200b}", "\u{202e}nna", "a\u{2060}nn", "\u{feff}ann", "ann\u{e0041}"] {
            let err = s.create(new_user(sneaky)).await.unwrap_err();
            assert!(err.to_string().contains("invisible characters"), "{sneaky:?}: {err}");
        }
        // Emoji and scripts other than Latin are names like any other.
        for fine in ["\u{1f600}", "\u{4e2d}\u{6587}", "\u{645}\u{62d}\u{645}\u{62f}"] {
            s.create(new_user(fine)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_get_or_create_makes_one_user() {
        let (_d, s) = store();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.get_or_create(new_user("carol")).await.unwrap() })
            })
            .collect();
        let mut created = 0;
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            let (user, was_created) = t.await.unwrap();
            created += was_created as usize;
            ids.insert(user.id);
        }
        assert_eq!(created, 1);
        assert_eq!(ids.len(), 1);
    }

    #[tokio::test]
    async fn update_merges_properties_and_delete_removes_everything() {
        let (_d, s) = store();
        let mut props = Map::new();
        props.insert("plan".into(), "free".into());
        props.insert("team".into(), "red".into());
        let u = s.create(NewUser { properties: Some(props), ..new_user("dave") }).await.unwrap();
        let mut patch = Map::new();
        patch.insert("plan".into(), "pro".into());
        patch.insert("team".into(), Value::Null);
        let u2 = s
            .update(
                u.id,
                UserPatch {
                    properties: Some(patch),
                    display_name: Some("Dave".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(u2.properties.get("plan"), Some(&Value::from("pro")));
        assert!(!u2.properties.contains_key("team"));
        assert_eq!(u2.display_name, "Dave");

        s.set_secret(u.id, "token", &Value::from("abc")).await.unwrap();
        assert_eq!(s.get_secret(u.id, "token").unwrap(), Value::from("abc"));
        s.delete(u.id).await.unwrap();
        assert!(s.find_by_name("dave").unwrap().is_none());
        assert!(matches!(s.get_secret(u.id, "token"), Err(StoreError::NotFound(_))));
        assert!(matches!(s.update(u.id, UserPatch::default()).await, Err(StoreError::NotFound(_))));
        // The name is free again.
        s.create(new_user("dave")).await.unwrap();
    }

    #[tokio::test]
    async fn invalid_names_are_refused() {
        let (_d, s) = store();
        for bad in ["", "   ", "a\nb"] {
            assert!(
                matches!(s.create(new_user(bad)).await, Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            s.create(new_user(&"x".repeat(MAX_NAME_LEN + 1))).await,
            Err(StoreError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn users_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let space = super::super::Space::alone(dir.path());
            UsersStore::open(&space).unwrap().create(new_user("erin")).await.unwrap();
        }
        let s = UsersStore::open(&super::super::Space::alone(dir.path())).unwrap();
        assert_eq!(s.find_by_name("erin").unwrap().unwrap().id, 1);
        assert_eq!(s.create(new_user("frank")).await.unwrap().id, 2);
    }

    #[tokio::test]
    async fn list_pages_in_id_order() {
        let (_d, s) = store();
        for n in ["a", "b", "c"] {
            s.create(new_user(n)).await.unwrap();
        }
        let p = s.list(1, 2, None).unwrap();
        assert_eq!(p.total, 3);
        assert_eq!(p.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(s.list(0, 10, Some("b")).unwrap().users[0].name, "b");
    }
}
