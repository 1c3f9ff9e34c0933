//! Chat users on sled, one database per app.
//!
//! Four trees: `users` (id → JSON record), `users_by_name` (name → id, the uniqueness index),
//! `user_secrets` (id ‖ secret name → JSON value) and `meta` (the id counter). Creating a user
//! claims its name and its id in one serializable transaction, so two concurrent creations of
//! the same name cannot both succeed. Every write is flushed to disk before it returns: an
//! answered write survives a crash.

use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::{apply_patch, prepare, NewUser, User, UserPage, UserPatch};
use crate::store::error::{StoreError, Subject};
use crate::time::now_rfc3339;

const NEXT_ID_KEY: &[u8] = b"next_user_id";

#[derive(Clone)]
pub struct SledUsers {
    space: crate::store::Space,
    users: sled::Tree,
    names: sled::Tree,
    secrets: sled::Tree,
    meta: sled::Tree,
}

impl SledUsers {
    pub fn open(space: &crate::store::Space) -> Result<SledUsers, StoreError> {
        Ok(SledUsers {
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

    fn create_unflushed(&self, new: NewUser) -> Result<User, StoreError> {
        let (name, display_name, is_guest, properties) = prepare(new)?;
        let created_time = now_rfc3339();
        let result = (&self.users, &self.names, &self.meta).transaction(|(users, names, meta)| {
            if names.get(name.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            let id = match meta.get(NEXT_ID_KEY)? {
                Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])).max(1),
                None => 1,
            };
            meta.insert(NEXT_ID_KEY, &(id + 1).to_be_bytes())?;
            let user = User {
                id,
                name: name.clone(),
                display_name: display_name.clone(),
                is_guest,
                properties: properties.clone(),
                created_time: created_time.clone(),
            };
            let record = serde_json::to_vec(&user).expect("a user always serializes");
            users.insert(&id.to_be_bytes(), record)?;
            names.insert(name.as_bytes(), &id.to_be_bytes())?;
            Ok(user)
        });
        match result {
            Ok(user) => Ok(user),
            Err(TransactionError::Abort(())) => {
                Err(StoreError::Conflict(format!("a user named {name:?} already exists")))
            }
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    pub fn get(&self, id: u64) -> Result<Option<User>, StoreError> {
        match self.users.get(id.to_be_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether a user of that (NFC) name exists, without reading it.
    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.names.contains_key(name.as_bytes())?)
    }

    /// The user of that (NFC) name.
    pub fn find_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        match self.names.get(name.as_bytes())? {
            Some(id) => self.get(id_from_bytes(&id)),
            None => Ok(None),
        }
    }

    pub async fn update(&self, id: u64, patch: UserPatch) -> Result<User, StoreError> {
        let result = self.users.transaction(|users| {
            let Some(bytes) = users.get(id.to_be_bytes())? else {
                return Err(ConflictableTransactionError::Abort(None));
            };
            let mut user: User = serde_json::from_slice(&bytes)
                .map_err(|e| ConflictableTransactionError::Abort(Some(e)))?;
            apply_patch(&mut user, &patch);
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

    /// Users in id order; `page` counts from 0.
    pub fn list(&self, page: usize, size: usize) -> Result<UserPage, StoreError> {
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

    /// Stores users as they are (ids, names, times), with their secrets; the id counter moves
    /// past them. A name or id already taken is a conflict, and nothing of that user is kept.
    pub async fn import(&self, users: &[(User, Vec<(String, Value)>)]) -> Result<(), StoreError> {
        for (user, secrets) in users {
            let key = user.id.to_be_bytes();
            let result = (&self.users, &self.names, &self.meta).transaction(|(t, names, meta)| {
                if names.get(user.name.as_bytes())?.is_some() || t.get(key)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(()));
                }
                t.insert(&key, serde_json::to_vec(user).expect("a user always serializes"))?;
                names.insert(user.name.as_bytes(), &key)?;
                let next = meta.get(NEXT_ID_KEY)?.map_or(1, |v| id_from_bytes(&v));
                if next <= user.id {
                    meta.insert(NEXT_ID_KEY, &(user.id + 1).to_be_bytes())?;
                }
                Ok(())
            });
            match result {
                Ok(()) => {}
                Err(TransactionError::Abort(())) => {
                    return Err(StoreError::Conflict(format!(
                        "user {} ({:?}) is already there",
                        user.id, user.name
                    )))
                }
                Err(TransactionError::Storage(e)) => return Err(e.into()),
            }
            for (name, value) in secrets {
                self.secrets.insert(secret_key(user.id, name), serde_json::to_vec(value)?)?;
            }
        }
        self.flush().await
    }

    /// Makes every write so far durable (see `Space::flush`).
    async fn flush(&self) -> Result<(), StoreError> {
        self.space.flush().await
    }
}

fn secret_key(id: u64, name: &str) -> Vec<u8> {
    let mut key = id.to_be_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

fn id_from_bytes(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]))
}
