//! A record of every function invocation: which function and version ran on what event, how
//! it ended (with the error and its stack), its console output and duration. Newest first
//! when listed; the oldest are trimmed past the app's `invocation_retention`.
//!
//! Recording stays off the answer's path: a record is queued in memory and written to sled
//! in batches by a background thread (or by the next read, which always sees every record).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::users::UsersError;
use crate::worker::LogLine;

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

#[derive(Clone)]
pub struct InvocationsStore {
    db: sled::Db,
    tree: sled::Tree,
    retention: usize,
    queued: Arc<Mutex<Vec<InvocationRecord>>>,
    /// Records in the tree (sled counts only by walking it).
    stored: Arc<AtomicUsize>,
    /// One writer at a time (the background thread, or a read settling the queue).
    writing: Arc<Mutex<()>>,
}

/// How often queued records are written.
const WRITE_EVERY: Duration = Duration::from_millis(100);

impl InvocationsStore {
    pub fn open(db: &sled::Db, retention: usize) -> Result<InvocationsStore, UsersError> {
        let tree = db.open_tree("invocations")?;
        let stored = Arc::new(AtomicUsize::new(tree.len()));
        let store = InvocationsStore { db: db.clone(), tree, retention: retention.max(1), queued: Default::default(), stored, writing: Default::default() };
        let writer = Arc::downgrade(&store.queued);
        let background = store.clone_without_queue();
        std::thread::Builder::new()
            .name("chatfn-invocation-records".into())
            .spawn(move || {
                // Ends with the last handle to the store.
                while let Some(queued) = writer.upgrade() {
                    if let Err(e) = background.write(&queued) {
                        tracing::error!("cannot write invocation records: {e}");
                    }
                    drop(queued);
                    std::thread::sleep(WRITE_EVERY);
                }
            })
            .map_err(|e| UsersError::Storage(e.into()))?;
        Ok(store)
    }

    fn clone_without_queue(&self) -> InvocationsStore {
        InvocationsStore { db: self.db.clone(), tree: self.tree.clone(), retention: self.retention, queued: Default::default(), stored: self.stored.clone(), writing: self.writing.clone() }
    }

    /// Queues `record` under a new id, which it returns.
    pub fn record(&self, mut record: InvocationRecord) -> Result<u64, UsersError> {
        // sled's ids grow monotonically (also across restarts), so key order is age order.
        record.id = self.db.generate_id()? + 1;
        let id = record.id;
        self.queued.lock().unwrap().push(record);
        Ok(id)
    }

    /// Writes the queued records in one batch, then trims the oldest past the retention.
    fn write(&self, queued: &Mutex<Vec<InvocationRecord>>) -> Result<(), UsersError> {
        let _one_writer = self.writing.lock().unwrap();
        let records = std::mem::take(&mut *queued.lock().unwrap());
        if records.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for record in &records {
            batch.insert(&record.id.to_be_bytes(), serde_json::to_vec(record)?);
        }
        self.tree.apply_batch(batch)?;
        let stored = self.stored.fetch_add(records.len(), Ordering::Relaxed) + records.len();
        let excess = stored.saturating_sub(self.retention);
        if excess > 0 {
            let mut trim = sled::Batch::default();
            for key in self.tree.iter().keys().take(excess) {
                trim.remove(key?);
            }
            self.tree.apply_batch(trim)?;
            self.stored.fetch_sub(excess, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads see every record: the queue is written first.
    fn settle(&self) -> Result<(), UsersError> {
        self.write(&self.queued)
    }

    /// Adds how the shadow version did to a record (if it is still kept).
    pub fn set_shadow(&self, id: u64, shadow: Value) -> Result<(), UsersError> {
        self.settle()?;
        if let Some(mut record) = self.get(id)? {
            record.shadow = Some(shadow);
            self.tree.insert(id.to_be_bytes(), serde_json::to_vec(&record)?)?;
        }
        Ok(())
    }

    pub fn get(&self, id: u64) -> Result<Option<InvocationRecord>, UsersError> {
        self.settle()?;
        Ok(match self.tree.get(id.to_be_bytes())? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }

    /// One page of a function's records, newest first.
    pub fn list(&self, function_id: u64, page: usize, size: usize) -> Result<RecordPage, UsersError> {
        self.settle()?;
        let mut records = Vec::new();
        let mut total = 0;
        for entry in self.tree.iter().rev() {
            let (_, value) = entry?;
            let record: InvocationRecord = serde_json::from_slice(&value)?;
            if record.function_id != function_id {
                continue;
            }
            if total >= page * size && records.len() < size {
                records.push(record);
            }
            total += 1;
        }
        Ok(RecordPage { records, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(function_id: u64, n: u64) -> InvocationRecord {
        InvocationRecord {
            id: 0,
            function_id,
            version_number: n,
            trigger: "user.attempted.start_session".into(),
            status: "SUCCEEDED".into(),
            args: serde_json::json!({ "username": format!("u{n}") }),
            result: Value::Null,
            logs: Vec::new(),
            duration_ms: 1.0,
            tape: None,
            shadow: None,
            created_time: String::new(),
        }
    }

    #[test]
    fn records_list_newest_first_per_function_and_old_ones_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let store = InvocationsStore::open(&db, 5).unwrap();
        let mut ids = Vec::new();
        for n in 1..=8 {
            ids.push(store.record(record(1, n)).unwrap());
        }
        store.record(record(2, 99)).unwrap();
        let page = store.list(1, 0, 3).unwrap();
        assert_eq!(page.records.iter().map(|r| r.version_number).collect::<Vec<_>>(), vec![8, 7, 6]);
        assert_eq!(page.total, 4, "five kept in all, one of them function 2's");
        assert_eq!(store.list(1, 1, 3).unwrap().records.iter().map(|r| r.version_number).collect::<Vec<_>>(), vec![5]);
        assert!(store.get(ids[0]).unwrap().is_none(), "the oldest is gone");
        assert_eq!(store.get(ids[7]).unwrap().unwrap().args["username"], "u8");
    }
}
