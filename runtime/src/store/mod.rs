//! The embedded store: one sled database per data directory (`DATA/db`), shared by the apps
//! served from it, each in its own trees (`<app>/<tree>`): one page cache and one set of sled
//! threads however many apps there are. An app's store holds its chat users (`users`), the
//! application settings (`settings`), the runtime and function versions (`functions`) and
//! invocation records (`invocations`). Scratch runs use a database of their own.

pub mod error;
pub mod functions;
pub mod invocations;
pub mod settings;
pub mod users;

use std::path::{Path, PathBuf};

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

/// sled's page cache: chatfn's reads are users (small) and recent invocation records, for which
/// this much is plenty (sled's default would grow to 1 GiB).
const CACHE_BYTES: u64 = 64 << 20;

/// One app's part of a database: its trees, named `<app>/<tree>` (app names have no `/`).
#[derive(Clone)]
pub struct Space {
    db: sled::Db,
    prefix: String,
}

impl Space {
    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(format!("{}{name}", self.prefix))?)
    }

    /// Makes every write so far durable (of every app of the database: one write of its log).
    async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush()).await.expect("a flush does not panic")?;
        Ok(())
    }

    /// A new id, greater than every one given before in this database (also across restarts).
    fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// A database of its own at `path`, for one store's tests.
    #[cfg(test)]
    pub(crate) fn alone(path: &Path) -> Space {
        Space { db: sled::open(path).unwrap(), prefix: String::new() }
    }
}

impl Store {
    fn open(space: Space, retention: usize) -> Result<Store, StoreError> {
        Ok(Store {
            users: UsersStore::open(&space)?,
            settings: SettingsStore::open(&space)?,
            functions: functions::FunctionsStore::open(&space)?,
            invocations: invocations::InvocationsStore::open(&space, retention)?,
        })
    }
}

/// The database of a data directory, holding the store of every app served from it.
#[derive(Clone)]
pub struct Database {
    db: sled::Db,
    root: PathBuf,
}

impl Database {
    /// Opens (or creates) `DATA/db` under `data_root`.
    pub fn open(data_root: &Path) -> Result<Database, StoreError> {
        let db = open_sled(&data_root.join("db"))?;
        Ok(Database { db, root: data_root.to_path_buf() })
    }

    /// The store of app `name`, keeping `retention` invocation records. An app whose data is
    /// still in a database of its own (`DATA/<app>/db`, before databases were shared) has it
    /// moved here first.
    pub fn app(&self, name: &str, retention: usize) -> Result<Store, StoreError> {
        let space = Space { db: self.db.clone(), prefix: format!("{name}/") };
        let legacy = self.root.join(name).join("db");
        if legacy.join("conf").exists() {
            move_legacy(&legacy, &space)?;
        }
        Store::open(space, retention)
    }
}

fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Storage(e.into()))?;
    }
    Ok(sled::Config::new().path(path).cache_capacity(CACHE_BYTES).open()?)
}

/// Copies every tree of an app's own database into its space of the shared one, makes sure
/// the shared database's ids run past the ones it copied, flushes, and only then sets the old
/// database aside (`db.moved`), so a crash half-way copies again at the next start.
fn move_legacy(legacy: &Path, space: &Space) -> Result<(), StoreError> {
    let old = sled::Config::new().path(legacy).open()?;
    let mut records = 0u64;
    let mut highest_id = 0u64;
    for name in old.tree_names() {
        if name.as_ref() == b"__sled__default" {
            continue;
        }
        let from = old.open_tree(&name)?;
        let to = space.tree(&String::from_utf8_lossy(&name))?;
        to.clear()?;
        for entry in from.iter() {
            let (key, value) = entry?;
            if name.as_ref() == b"invocation_pages" {
                // Keys are the first record id of a page; ids of later records are above.
                let first = invocations::page_id(&key);
                let count =
                    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&value)?.len() as u64;
                highest_id = highest_id.max(first + count);
            }
            to.insert(key, value)?;
            records += 1;
        }
    }
    highest_id = highest_id.max(old.generate_id()?);
    while space.db.generate_id()? < highest_id {}
    space.db.flush()?;
    drop(old);
    let aside = legacy.with_file_name("db.moved");
    std::fs::rename(legacy, &aside).map_err(|e| StoreError::Storage(e.into()))?;
    tracing::info!(
        from = %legacy.display(),
        entries = records,
        "moved the app's own database into the data directory's shared one; the old one is kept as {}",
        aside.display()
    );
    Ok(())
}

/// Opens (or creates) a database of its own under `data_dir` holding one store (scratch runs,
/// tests), keeping `retention` invocation records.
pub fn open(data_dir: &Path, retention: usize) -> Result<Store, StoreError> {
    let db = open_sled(&data_dir.join("db"))?;
    Store::open(Space { db, prefix: String::new() }, retention)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> invocations::InvocationRecord {
        invocations::InvocationRecord {
            id: 0,
            function_id: 1,
            version_number: n,
            trigger: "user.attempted.start_session".into(),
            status: "SUCCEEDED".into(),
            args: serde_json::json!({}),
            result: serde_json::Value::Null,
            logs: Vec::new(),
            duration_ms: 1.0,
            tape: None,
            shadow: None,
            created_time: String::new(),
        }
    }

    fn user(name: &str) -> NewUser {
        NewUser { name: name.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn apps_share_one_database_and_keep_apart() {
        let root = tempfile::tempdir().unwrap();
        let database = Database::open(root.path()).unwrap();
        let (a, b) = (database.app("a", 10).unwrap(), database.app("b", 10).unwrap());
        a.users.create(user("ann")).await.unwrap();
        let bob = b.users.create(user("bob")).await.unwrap();
        assert_eq!(bob.id, 1, "ids count per app");
        assert!(a.users.exists("ann").unwrap() && !b.users.exists("ann").unwrap());
        let (ra, rb) =
            (a.invocations.record(record(1)).unwrap(), b.invocations.record(record(2)).unwrap());
        assert_ne!(ra, rb, "invocation ids are unique in the database");
        assert_eq!(a.invocations.get(rb).unwrap(), None);
        assert_eq!(b.invocations.get(rb).unwrap().unwrap().version_number, 2);
    }

    /// A data directory from before shared databases (`DATA/<app>/db`) loses nothing: users,
    /// their ids, invocation records (new ones numbered after them) and settings move into the
    /// shared database once, and the old database is set aside.
    #[tokio::test]
    async fn an_apps_own_database_moves_into_the_shared_one() {
        let root = tempfile::tempdir().unwrap();
        let (ann, old_record) = {
            let legacy = open(&root.path().join("app"), 10).unwrap();
            let ann = legacy.users.create(user("ann")).await.unwrap();
            legacy.users.create(user("bob")).await.unwrap();
            let mut id = 0;
            for n in 0..50 {
                id = legacy.invocations.record(record(n)).unwrap();
            }
            legacy.invocations.get(id).unwrap().unwrap();
            legacy.settings.set_guest_users(crate::config::GuestUsers::Disabled).await.unwrap();
            (ann, id)
        };
        for _ in 0..2 {
            let database = Database::open(root.path()).unwrap();
            let store = database.app("app", 10).unwrap();
            assert_eq!(store.users.get(ann.id).unwrap(), Some(ann.clone()));
            assert_eq!(store.invocations.get(old_record).unwrap().unwrap().version_number, 49);
            assert_eq!(
                store.settings.guest_users().unwrap(),
                Some(crate::config::GuestUsers::Disabled)
            );
            let carol = store.users.create(user("carol")).await.unwrap();
            assert!(carol.id > 2, "user ids go on after the moved ones");
            assert!(store.invocations.record(record(99)).unwrap() > old_record);
            assert!(
                !root.path().join("app/db").exists() && root.path().join("app/db.moved").exists()
            );
            store.users.delete(carol.id).await.unwrap();
        }
    }
}
