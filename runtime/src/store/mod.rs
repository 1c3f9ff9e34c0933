//! The embedded store: one sled database per app's data directory (`DATA/<app>/db`). It holds
//! chat users (`users`), the application settings (`settings`), the runtime and function
//! versions (`functions`), invocation records (`invocations`) and the chat events on their way
//! to functions (`events`: the queue and the dead letters). A database per app rather
//! than one shared by all: sled makes every new tree copy and rewrite the database's list of
//! trees, so 1,000 apps' trees in one database took 7.9 s to open (against 1.5 s apart).

pub mod error;
pub mod events;
pub mod functions;
pub mod invocations;
pub mod postgres;
pub mod settings;
pub mod users;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    pub events: events::EventsStore,
}

/// sled's page cache per app store: chatfn's reads are users (small) and recent invocation
/// records, for which this much is plenty (sled's default would grow to 1 GiB).
const CACHE_BYTES: u64 = 32 << 20;

/// An app's database, as its stores use it: its trees, and its flushes (group commit).
#[derive(Clone)]
pub struct Space {
    db: sled::Db,
    flusher: Arc<Flusher>,
}

/// Group commit for a database: flushes run one at a time, and a flush asked for while one
/// runs waits for the next, which covers every write made before it was asked for. (Not
/// `sled::Db::flush_async`: that parks each caller's flush on sled's own small IO pool, and
/// enough concurrent writers fill the pool with flushes waiting for an IO buffer that only that
/// pool can write, a deadlock the durability test ran into.)
#[derive(Default)]
struct Flusher {
    one_at_a_time: tokio::sync::Mutex<()>,
    /// Flushes started and finished, counted.
    started: AtomicU64,
    finished: AtomicU64,
}

impl Space {
    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Makes every write so far durable.
    async fn flush(&self) -> Result<(), StoreError> {
        let asked = self.flusher.started.load(Ordering::SeqCst);
        let _one = self.flusher.one_at_a_time.lock().await;
        let space = self.clone();
        match tokio::task::spawn_blocking(move || space.flush_unless_covered(asked)).await {
            Ok(flushed) => flushed,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // A runtime shutting down drops the blocking tasks that have not started.
            Err(_) => Err(StoreError::Unavailable("the server is stopping".into())),
        }
    }

    /// `flush`, from a thread outside tokio (the invocation records thread), through the same
    /// group commit.
    fn flush_now(&self) -> Result<(), StoreError> {
        let asked = self.flusher.started.load(Ordering::SeqCst);
        let _one = self.flusher.one_at_a_time.blocking_lock();
        self.flush_unless_covered(asked)
    }

    /// With the flusher's lock held, for a flush asked for when `asked` flushes had started:
    /// one that started after that and finished has covered its writes; otherwise flush.
    fn flush_unless_covered(&self, asked: u64) -> Result<(), StoreError> {
        if self.flusher.finished.load(Ordering::SeqCst) > asked {
            return Ok(());
        }
        let number = self.flusher.started.fetch_add(1, Ordering::SeqCst) + 1;
        self.db.flush()?;
        self.flusher.finished.store(number, Ordering::SeqCst);
        Ok(())
    }

    /// A new id, greater than every one given before (also across restarts).
    fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }
}

impl Store {
    fn open(space: Space, retention: usize) -> Result<Store, StoreError> {
        Ok(Store {
            users: UsersStore::Sled(users::SledUsers::open(&space)?),
            settings: SettingsStore::open(&space)?,
            functions: functions::FunctionsStore::Sled(functions::SledFunctions::open(&space)?),
            invocations: invocations::InvocationsStore::open(&space, retention)?,
            events: events::EventsStore::Sled(events::SledEvents::open(&space)?),
        })
    }
}

fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Storage(e.into()))?;
    }
    // No sled flusher thread per database (one per app): users, settings and functions flush
    // when they write, and the invocation records thread flushes what it wrote.
    let config = sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_BYTES)
        .flush_every_ms(None)
        .segment_size(segment_size(path));
    // A process that just ended (a server killed a moment ago) may still be letting go of the
    // database's lock; another one running keeps it, and opening fails after a while.
    let mut tries = 0;
    loop {
        match config.open() {
            // sled says so only in the message.
            Err(sled::Error::Io(e)) if e.to_string().contains("acquire lock") && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            opened => return Ok(opened?),
        }
    }
}

/// sled's log segment for a new database: 64 KiB rather than sled's 512 KiB. Each opening of a
/// database overwrites the unused rest of its last segment and syncs it, and an empty
/// database's file is a segment: with 10,000 apps, the smaller segment took their restart from
/// 5 GB written (and as much memory set) to 640 MB, and their files on disk from 5 GB to 820 MB.
/// Values over a quarter of a segment (16 KiB: an invocation record with much console output)
/// are kept in files of their own (sled's blobs).
const SEGMENT_BYTES: usize = 64 << 10;

/// The segment size to open a database with: the one it was made with (kept in its `conf`;
/// sled refuses another), `SEGMENT_BYTES` for a new one.
fn segment_size(path: &Path) -> usize {
    let made = std::fs::read(path.join("conf")).ok().and_then(|conf| {
        String::from_utf8_lossy(&conf)
            .lines()
            .find_map(|l| l.strip_prefix("segment_size: ")?.trim().parse().ok())
    });
    made.unwrap_or(SEGMENT_BYTES)
}

/// Opens (or creates) the store under `data_dir`, keeping `retention` invocation records.
pub fn open(data_dir: &Path, retention: usize) -> Result<Store, StoreError> {
    let db = open_sled(&data_dir.join("db"))?;
    Store::open(Space { db, flusher: Arc::default() }, retention)
}

/// App `app`'s store on a node sharing `database` with others: everything of it there (the
/// sled database under `data_dir` is opened, and stays empty).
pub async fn open_shared(
    data_dir: &Path,
    retention: usize,
    database: &postgres::Database,
    app: &str,
) -> Result<Store, StoreError> {
    let mut store = open(data_dir, retention)?;
    store.users = UsersStore::Postgres(users::PgUsers::new(database, app));
    store.settings = SettingsStore::Postgres { db: database.clone(), app: app.into() };
    let functions = functions::PgFunctions::open(database, app).await?;
    store.functions = functions::FunctionsStore::Postgres(functions);
    store.invocations =
        invocations::InvocationsStore::open_shared(database, app, retention).await?;
    store.events = events::EventsStore::Postgres(events::PgEvents::new(database, app));
    Ok(store)
}

#[cfg(test)]
mod tests {
    #[test]
    fn opening_waits_for_a_lock_let_go_of_soon_and_fails_on_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::open(dir.path(), 10).unwrap();
        let (opened, waited) = std::thread::scope(|s| {
            let second = s.spawn(|| {
                let started = std::time::Instant::now();
                (super::open(dir.path(), 10).is_ok(), started.elapsed())
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
            second.join().unwrap()
        });
        assert!(opened && waited >= std::time::Duration::from_millis(250), "{waited:?}");
        let _kept = super::open(dir.path(), 10).unwrap();
        let error = super::open(dir.path(), 10).err().expect("the lock is kept").to_string();
        assert!(error.contains("could not acquire lock"), "{error}");
    }

    /// A database made before the smaller segment (sled's default) opens with its own, its
    /// data there; a new one gets the smaller one.
    #[test]
    fn a_database_keeps_the_segment_size_it_was_made_with() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        {
            let db = sled::Config::new().path(old.join("db")).open().unwrap();
            db.insert("kept", "yes").unwrap();
            db.flush().unwrap();
        }
        assert_eq!(super::segment_size(&old.join("db")), 512 << 10);
        let store = super::open(&old, 10).expect("opens with the segment it was made with");
        drop(store);
        let db = super::open_sled(&old.join("db")).unwrap();
        assert_eq!(db.get("kept").unwrap().as_deref(), Some(&b"yes"[..]));
        drop(db);

        let new = dir.path().join("new");
        drop(super::open(&new, 10).unwrap());
        assert_eq!(super::segment_size(&new.join("db")), super::SEGMENT_BYTES);
        let on_disk = std::fs::metadata(new.join("db/db")).unwrap().len();
        assert!(on_disk <= super::SEGMENT_BYTES as u64, "{on_disk} bytes");
    }
}
