//! The embedded store: one sled database per data directory. Today it holds chat users
//! (`users`); function versions and invocation records will live beside them.

pub mod users;

use std::path::Path;

pub use users::{NewUser, User, UserPatch, UsersError, UsersStore};

/// Opens (or creates) the store under `data_dir`.
pub fn open(data_dir: &Path) -> Result<UsersStore, UsersError> {
    std::fs::create_dir_all(data_dir).map_err(|e| UsersError::Storage(e.into()))?;
    let db = sled::Config::new().path(data_dir.join("db")).open()?;
    UsersStore::open(&db)
}
