//! PostgreSQL, the store several chatfn nodes share (`[store] url`, `--store`,
//! `CHATFN_STORE_URL`). Every app's rows carry its name, so one database holds any number of
//! apps. The schema is versioned: the migrations in `migrations/` are embedded in the binary and
//! applied at start-up by whichever node takes the migration lock first (the others wait, then
//! find nothing to do).
//!
//! All database work runs on one small runtime of its own (`chatfn-postgres`): a connection's
//! task lives where it was made, and an isolate thread's runtime, which also runs JavaScript,
//! must not be the one that drives a connection other threads wait on.
//!
//! When the database cannot be reached, every call fails with [`StoreError::Unavailable`]
//! (HTTP 503) after at most [`WAIT`]; the pool makes new connections once it is back.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::error::StoreError;

/// The longest a call waits for a connection, or to make one.
pub const WAIT: Duration = Duration::from_secs(3);

/// Connections per node unless `[store] pool_size` says otherwise (PostgreSQL's default
/// `max_connections` of 100 leaves room for four nodes and the operator).
pub const DEFAULT_POOL_SIZE: usize = 20;

/// The schema's versions, in order; a version is never edited once released, only added to.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "users, settings, platform keys", include_str!("migrations/0001.sql")),
    (2, "runtimes, functions, versions", include_str!("migrations/0002.sql")),
    (3, "invocation records", include_str!("migrations/0003.sql")),
    (4, "chat events", include_str!("migrations/0004.sql")),
];

/// The schema version this binary migrates to.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock key under which one node at a time migrates (any fixed number).
const MIGRATION_LOCK: i64 = 0x6368_6174_666e;

/// The channel on which nodes tell each other what changed.
const CHANNEL: &str = "chatfn_changes";

/// How often a node re-reads everything anyway, should a notification be lost (they are not
/// while the listening connection stays up; after it reconnects, it re-reads at once).
const RESYNC: Duration = Duration::from_secs(10);

/// A connection pool to one database, cheap to clone.
#[derive(Clone)]
pub struct Database(Arc<Inner>);

struct Inner {
    pool: Pool,
    /// The URL without its password, for messages.
    shown: Arc<str>,
    config: tokio_postgres::Config,
    changes: broadcast::Sender<Change>,
    pool_size: usize,
    /// Whether the server has PostgreSQL's advisory locks (CockroachDB has not).
    advisory_locks: std::sync::atomic::AtomicBool,
}

/// What a node changed in an app's stored state, as the others hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The app, or `None` for every app (a re-read after a reconnection, or the periodic one).
    pub app: Option<String>,
    pub what: String,
    /// More about it, as the kind of change has it (for events: `first-last` queued).
    pub detail: Option<String>,
}

impl Change {
    pub const SETTINGS: &'static str = "settings";
    /// The runtime, functions or versions: what the app runs.
    pub const FUNCTIONS: &'static str = "functions";
    /// Chat events queued (by accepting or redriving them).
    pub const EVENTS: &'static str = "events";

    fn parse(payload: &str) -> Option<Change> {
        let mut parts = payload.splitn(3, '\t');
        let (what, app) = (parts.next()?, parts.next()?);
        let detail = parts.next().map(str::to_string);
        Some(Change { app: Some(app.to_string()), what: what.to_string(), detail })
    }

    /// Look at everything: a change may have been missed.
    pub fn everything() -> Change {
        Change { app: None, what: "everything".into(), detail: None }
    }

    /// Whether this change concerns `app`'s `what`.
    pub fn concerns(&self, app: &str, what: &str) -> bool {
        self.app.as_deref().is_none_or(|a| a == app && self.what == what)
    }
}

/// Tells every node (this one included) that `what` of `app` changed, when `tx` commits;
/// `detail` says more, as the kind of change has it.
pub async fn notify(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    what: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    let payload = match detail {
        Some(detail) => format!("{what}\t{app}\t{detail}"),
        None => format!("{what}\t{app}"),
    };
    tx.query("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(error)?;
    Ok(())
}

/// A transaction held open on a pooled connection for the locks it takes (a session attempt's
/// name, an app's directory lock). `commit` ends it and gives the connection back to the pool;
/// dropped without that (a cancelled or failed holder), the connection is closed instead, which
/// ends the transaction as surely, rather than pooled with the transaction open.
pub struct Held(Option<Object>);

impl Held {
    /// Holds `client`, whose transaction its holder begins.
    pub fn new(client: Object) -> Held {
        Held(Some(client))
    }

    pub fn client(&self) -> &Object {
        self.0.as_ref().expect("held until committed")
    }

    /// Commits (within [`WAIT`]; a commit that fails or hangs closes the connection).
    pub async fn commit(mut self) {
        let Some(client) = self.0.take() else { return };
        let ended = tokio::time::timeout(WAIT, client.batch_execute("COMMIT")).await;
        if !matches!(ended, Ok(Ok(()))) {
            drop(Object::take(client));
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// Adds `by` to the app's counter `name` (`chatfn_counters`, made at `by`); answers its new
/// value. Ids are counted this way, per app and kind.
pub async fn bump_counter(
    client: &impl GenericClient,
    app: &str,
    name: &str,
    by: i64,
) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "INSERT INTO chatfn_counters (app, name, value) VALUES ($1, $2, $3)
             ON CONFLICT (app, name) DO UPDATE SET value = chatfn_counters.value + $3
             RETURNING value",
            &[&app, &name, &by],
        )
        .await
        .map_err(error)?;
    Ok(row.get(0))
}

/// Raises the app's counter `name` to `value` unless it is past it (after an import, the next
/// id comes after the imported ones).
pub async fn raise_counter(
    client: &impl GenericClient,
    app: &str,
    name: &str,
    value: i64,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO chatfn_counters (app, name, value) VALUES ($1, $2, $3)
             ON CONFLICT (app, name)
             DO UPDATE SET value = GREATEST(chatfn_counters.value, EXCLUDED.value)",
            &[&app, &name, &value],
        )
        .await
        .map_err(error)?;
    Ok(())
}

/// Runs `work` on the database's runtime from a thread outside any runtime's async context
/// (or one that may block a moment), and waits for it.
pub fn block_on<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().expect("database work does not panic")
}

/// Spawns `work` on the database's runtime.
pub fn spawn(work: impl Future<Output = ()> + Send + 'static) {
    runtime().spawn(work);
}

/// The runtime every connection and query runs on (process-wide: a runtime cannot be dropped
/// from async code, and one is enough for any number of pools).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("chatfn-postgres")
            .enable_all()
            .build()
            .expect("the PostgreSQL runtime starts")
    })
}

/// `url` with its password replaced by `***`, so it can be logged.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

impl Database {
    /// Connects to `url` (a `postgres://` URL or a libpq key=value string), applies the
    /// migrations this binary has and the database lacks, and keeps up to `pool_size`
    /// connections.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Database, StoreError> {
        let shown: Arc<str> = redact(url).into();
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Invalid(format!("the store URL {shown} is not a PostgreSQL URL: {e}"))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("chatfn");
        }
        config.connect_timeout(WAIT);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool_size = pool_size.max(2);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Invalid(format!("store URL {shown}: {e}")))?;
        let (changes, _) = broadcast::channel(256);
        let database = Database(Arc::new(Inner {
            pool,
            shown,
            config,
            changes,
            pool_size,
            advisory_locks: Default::default(),
        }));
        database.run(migrate).await?;
        let version: String = database
            .client()
            .await?
            .query_one("SELECT version()", &[])
            .await
            .map_err(error)?
            .get(0);
        // CHATFN_NAME_HOLDS=rows takes the row locks on PostgreSQL too (the tests run both).
        let rows = std::env::var("CHATFN_NAME_HOLDS").is_ok_and(|v| v == "rows");
        let advisory = version.starts_with("PostgreSQL") && !version.contains("-YB-") && !rows;
        database.0.advisory_locks.store(advisory, std::sync::atomic::Ordering::Relaxed);
        runtime().spawn(listen(database.0.config.clone(), database.0.changes.clone()));
        Ok(database)
    }

    /// What any node changes from now on.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.0.changes.subscribe()
    }

    /// The connection settings, for a connection of one's own (outside the pool).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.0.config
    }

    /// Whether session attempts hold their names with advisory locks (PostgreSQL) rather than
    /// row locks (databases without them).
    pub fn has_advisory_locks(&self) -> bool {
        self.0.advisory_locks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most connections this node keeps.
    pub fn pool_size(&self) -> usize {
        self.0.pool_size
    }

    /// The URL, without its password.
    pub fn shown(&self) -> &str {
        &self.0.shown
    }

    /// A pooled connection (made on the database's runtime, which drives it; usable from any).
    pub async fn client(&self) -> Result<Object, StoreError> {
        self.run(|client| async move { Ok(client) }).await
    }

    /// Runs `work` with a pooled connection, on the database's runtime.
    pub async fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.0.pool.clone();
        let shown = self.0.shown.clone();
        runtime()
            .spawn(async move {
                let client = pool.get().await.map_err(|e| {
                    StoreError::Unavailable(format!("cannot reach the database {shown}: {e}"))
                })?;
                work(client).await
            })
            .await
            .expect("a database call does not panic")
    }
}

/// The apps that have rows in `db`.
pub async fn apps(db: &Database) -> Result<Vec<String>, StoreError> {
    let rows = db
        .client()
        .await?
        .query(
            "SELECT app FROM chatfn_users UNION SELECT app FROM chatfn_settings
             UNION SELECT app FROM chatfn_runtimes UNION SELECT app FROM chatfn_functions
             UNION SELECT app FROM chatfn_platform_keys ORDER BY app",
            &[],
        )
        .await
        .map_err(error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What a failed statement means for the caller: the database gone (or going) is
/// [`StoreError::Unavailable`]; a value PostgreSQL cannot hold (a NUL character) is the
/// caller's mistake; anything else is a failure of the store.
pub fn error(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection broke or could not be made.
        return StoreError::Unavailable(format!("the database connection failed: {e}"));
    };
    let code = db.code().code();
    match &code[..2] {
        // connection exceptions, operator intervention (shutdown), insufficient resources
        "08" | "57" | "53" => StoreError::Unavailable(format!("the database is unavailable: {e}")),
        // untranslatable character, invalid byte sequence: a NUL in a text or JSON value
        _ if code == "22P05" || code == "22021" => StoreError::Invalid(
            "text and JSON values must not contain the character U+0000 (NUL)".to_string(),
        ),
        _ => StoreError::Database(db.to_string()),
    }
}

/// Applies the missing migrations under the migration lock.
async fn migrate(client: Object) -> Result<(), StoreError> {
    client.query("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(error)?;
    let result = apply_missing(&client).await;
    let unlocked = client.query("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result?;
    unlocked.map_err(error)?;
    Ok(())
}

async fn apply_missing(client: &Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS chatfn_schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_time TEXT NOT NULL
            )",
        )
        .await
        .map_err(error)?;
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM chatfn_schema_migrations", &[])
        .await
        .map_err(error)?;
    let current: i32 = row.get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Invalid(format!(
            "the database has schema version {current}, newer than this chatfn knows ({newest}); \
             run the newer chatfn"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        // Each version in one transaction: a failed one leaves the schema as it was.
        let script = format!(
            "BEGIN;\n{sql}\nINSERT INTO chatfn_schema_migrations (version, name, applied_time) \
             VALUES ({version}, '{name}', '{}');\nCOMMIT;",
            crate::time::now_rfc3339()
        );
        if let Err(e) = client.batch_execute(&script).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(error(e));
        }
        tracing::info!(version, name, "applied a schema migration to the store");
    }
    Ok(())
}

/// Listens on [`CHANNEL`] over a connection of its own, reconnecting when it breaks, and passes
/// what it hears to `changes`; also sends [`Change::everything`] after a reconnection and every
/// [`RESYNC`].
async fn listen(config: tokio_postgres::Config, changes: broadcast::Sender<Change>) {
    let mut connected_before = false;
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel();
            // The connection is driven here; its notifications come out as messages.
            let driver = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(n) = message {
                        if heard.send(n.payload().to_string()).is_err() {
                            break;
                        }
                    }
                }
            });
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                if connected_before {
                    tracing::info!("listening to the store's changes again");
                    let _ = changes.send(Change::everything());
                }
                connected_before = true;
                loop {
                    tokio::select! {
                        payload = hearing.recv() => match payload {
                            Some(payload) => {
                                if let Some(change) = Change::parse(&payload) {
                                    let _ = changes.send(change);
                                }
                            }
                            None => break,
                        },
                        _ = tokio::time::sleep(RESYNC) => {
                            let _ = changes.send(Change::everything());
                        }
                    }
                }
                tracing::warn!("lost the store's change notifications; reconnecting");
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
