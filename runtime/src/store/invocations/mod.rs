//! A record of every function invocation: which function and version ran on what event, how
//! it ended (with the error and its stack), its console output and duration. Newest first
//! when listed; the oldest are trimmed past the app's `invocation_retention`.
//!
//! Recording stays off the answer's path: a record gets its id at once and is queued in memory,
//! then written in batches in the background (`sled.rs`: one thread for every app's sled
//! store; `postgres.rs`: one task for every app on the database), or by the next read, which
//! always sees every record.

mod postgres;
mod sled;

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::StoreError;
use crate::worker::protocol::LogLine;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    pub id: u64,
    pub function_id: u64,
    pub version_number: u64,
    pub trigger: String,
    /// ChatKitty's status: `SUCCEEDED` when the function returned, `FAILED` otherwise.
    pub status: String,
    /// The event the function saw.
    pub args: Value,
    /// What came of it: chatfn's outcome (`status`, `error`, `limit`...) and the decision.
    pub result: Value,
    pub logs: Vec<LogLine>,
    pub duration_ms: f64,
    /// What the function saw from outside (Users answers, HTTP responses, its start time),
    /// so it can be replayed: JSON text, parsed only when it is read.
    #[serde(default)]
    pub tape: Option<String>,
    /// How the shadow version did on the same event, when one ran.
    #[serde(default)]
    pub shadow: Option<Value>,
    pub created_time: String,
}

/// A page of records, newest first, and how many there are in all.
pub struct RecordPage {
    pub records: Vec<InvocationRecord>,
    pub total: usize,
}

/// One app's records, in whichever store the server was given, and their live tail.
#[derive(Clone)]
pub struct InvocationsStore {
    backend: Backend,
    /// Every new record, to whoever follows them (the live tail of this node); made at the
    /// first follower (its buffer is allocated whole, and most apps are never followed).
    live: Arc<OnceLock<tokio::sync::broadcast::Sender<InvocationRecord>>>,
}

#[derive(Clone)]
enum Backend {
    Sled(Arc<sled::Records>),
    Postgres(Arc<postgres::PgRecords>),
}

/// Records a slow follower of the live tail may fall behind by.
const LIVE_BACKLOG: usize = 1024;

impl InvocationsStore {
    pub fn open(space: &super::Space, retention: usize) -> Result<InvocationsStore, StoreError> {
        let backend = Backend::Sled(sled::Records::open(space, retention)?);
        Ok(InvocationsStore { backend, live: Arc::default() })
    }

    /// App `app`'s records in `db`.
    pub async fn open_shared(
        db: &super::postgres::Database,
        app: &str,
        retention: usize,
    ) -> Result<InvocationsStore, StoreError> {
        let backend = Backend::Postgres(postgres::PgRecords::open(db, app, retention).await?);
        Ok(InvocationsStore { backend, live: Arc::default() })
    }

    /// Queues `record` under a new id, which it returns.
    pub fn record(&self, mut record: InvocationRecord) -> Result<u64, StoreError> {
        record.id = match &self.backend {
            Backend::Sled(s) => s.next_id()?,
            Backend::Postgres(p) => p.next_id()?,
        };
        let id = record.id;
        if let Some(live) = self.live.get().filter(|live| live.receiver_count() > 0) {
            let _ = live.send(record.clone());
        }
        match &self.backend {
            Backend::Sled(s) => s.queue(record),
            Backend::Postgres(p) => p.queue(record),
        }
        Ok(id)
    }

    /// The records this node makes from now on, as they are made (a follower that falls more
    /// than `LIVE_BACKLOG` behind is told how many it missed).
    pub fn follow(&self) -> tokio::sync::broadcast::Receiver<InvocationRecord> {
        self.live.get_or_init(|| tokio::sync::broadcast::channel(LIVE_BACKLOG).0).subscribe()
    }

    pub async fn get(&self, id: u64) -> Result<Option<InvocationRecord>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.get(id),
            Backend::Postgres(p) => p.get(id).await,
        }
    }

    /// One page of a function's records, newest first, among the newest `retention` records.
    pub async fn list(
        &self,
        function_id: u64,
        page: usize,
        size: usize,
    ) -> Result<RecordPage, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.list(function_id, page, size),
            Backend::Postgres(p) => p.list(function_id, page, size).await,
        }
    }

    /// Adds how the shadow version did to a record (if it is still kept).
    pub async fn set_shadow(&self, id: u64, shadow: Value) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.set_shadow(id, shadow),
            Backend::Postgres(p) => p.set_shadow(id, shadow).await,
        }
    }

    /// Every record kept, in id order (`chatfn store copy`).
    pub async fn all(&self) -> Result<Vec<InvocationRecord>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.all(),
            Backend::Postgres(p) => p.all().await,
        }
    }

    /// Stores records as they are, ids kept (`chatfn store copy`); new records are numbered
    /// after them.
    pub async fn import(&self, records: Vec<InvocationRecord>) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.import(records).await,
            Backend::Postgres(p) => p.import(records).await,
        }
    }

    /// Writes what is queued now (reads do it by themselves).
    pub async fn settle(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => s.settle(),
            Backend::Postgres(p) => p.settle().await,
        }
    }
}
