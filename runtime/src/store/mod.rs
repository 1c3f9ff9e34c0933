//! The embedded store: one sled database per data directory. It holds chat users (`users`)
//! and the application settings changed through the Platform API (`settings`); function
//! versions and invocation records will live beside them.

pub mod settings;
pub mod users;

use std::path::Path;

pub use settings::SettingsStore;
pub use users::{NewUser, User, UserPatch, UsersError, UsersStore};

/// One app's store.
pub struct Store {
    pub users: UsersStore,
    pub settings: SettingsStore,
}

/// Opens (or creates) the store under `data_dir`.
pub fn open(data_dir: &Path) -> Result<Store, UsersError> {
    std::fs::create_dir_all(data_dir).map_err(|e| UsersError::Storage(e.into()))?;
    let db = sled::Config::new().path(data_dir.join("db")).open()?;
    Ok(Store { users: UsersStore::open(&db)?, settings: SettingsStore::open(&db)? })
}
