//! The embedded store: one sled database per app's data directory. It holds chat users
//! (`users`), the application settings (`settings`), the runtime and function versions
//! (`functions`) and invocation records (`invocations`).

pub mod error;
pub mod functions;
pub mod invocations;
pub mod settings;
pub mod users;

use std::path::Path;

pub use error::{StoreError, Subject};
pub use settings::SettingsStore;
pub use users::{NewUser, User, UserPatch, UsersStore};

/// One app's store.
#[derive(Clone)]
pub struct Store {
    pub users: UsersStore,
    pub settings: SettingsStore,
    pub functions: functions::FunctionsStore,
    pub invocations: invocations::InvocationsStore,
}

/// sled's page cache per app store.
const CACHE_BYTES: u64 = 32 << 20;

/// Opens (or creates) the store under `data_dir`, keeping `retention` invocation records.
pub fn open(data_dir: &Path, retention: usize) -> Result<Store, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Storage(e.into()))?;
    // sled's page cache would grow to 1 GiB by default: chatfn's reads are users (small) and
    // recent invocation records, for which this much is plenty.
    let db = sled::Config::new().path(data_dir.join("db")).cache_capacity(CACHE_BYTES).open()?;
    Ok(Store {
        users: UsersStore::open(&db)?,
        settings: SettingsStore::open(&db)?,
        functions: functions::FunctionsStore::open(&db)?,
        invocations: invocations::InvocationsStore::open(&db, retention)?,
    })
}
