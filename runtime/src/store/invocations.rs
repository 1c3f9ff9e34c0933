//! A record of every function invocation: which function and version ran on what event, how
//! it ended (with the error and its stack), its console output and duration. Newest first
//! when listed; the oldest are trimmed past the app's `invocation_retention`.
//!
//! Recording stays off the answer's path: a record is queued in memory and written to sled
//! in batches, one entry per batch, by one background thread for every app's store (or by
//! the next read, which always sees every record).

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

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

#[derive(Clone)]
pub struct InvocationsStore(Arc<Records>);

pub struct Records {
    space: super::Space,
    /// Pages of records, one per write: key = the first record's id, value = a JSON array.
    /// One sled entry per batch instead of one per record keeps the write cheap.
    tree: sled::Tree,
    retention: usize,
    queued: Mutex<Vec<InvocationRecord>>,
    /// The pages in the tree, oldest first, with how many records each holds.
    pages: Mutex<VecDeque<(u64, usize)>>,
    /// One writer at a time (the background thread, or a read settling the queue).
    writing: Mutex<()>,
    /// Every new record, to whoever follows them (the live tail); made at the first follower
    /// (its buffer is allocated whole, and most apps are never followed).
    live: OnceLock<tokio::sync::broadcast::Sender<InvocationRecord>>,
}

impl Deref for InvocationsStore {
    type Target = Records;

    fn deref(&self) -> &Records {
        &self.0
    }
}

/// Records a slow follower of the live tail may fall behind by.
const LIVE_BACKLOG: usize = 1024;

/// How often queued records are written.
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Every open store, for the one thread that writes their queues (a store goes when its last
/// handle does).
fn writer() -> &'static Mutex<Vec<Weak<Records>>> {
    static STORES: OnceLock<Mutex<Vec<Weak<Records>>>> = OnceLock::new();
    STORES.get_or_init(|| {
        std::thread::Builder::new()
            .name("chatfn-invocation-records".into())
            .spawn(|| loop {
                std::thread::sleep(WRITE_EVERY);
                let stores: Vec<Arc<Records>> = {
                    let mut all = writer().lock().unwrap();
                    all.retain(|s| s.strong_count() > 0);
                    all.iter().filter_map(Weak::upgrade).collect()
                };
                for store in stores {
                    match store.write() {
                        // What it wrote is made durable here (sled flushes nothing by itself).
                        Ok(true) => {
                            if let Err(e) = store.space.flush_now() {
                                tracing::error!("cannot flush invocation records: {e}");
                            }
                        }
                        Ok(false) => {}
                        Err(e) => tracing::error!("cannot write invocation records: {e}"),
                    }
                }
            })
            .expect("cannot start the invocation records thread");
        Mutex::default()
    })
}

impl InvocationsStore {
    pub fn open(space: &super::Space, retention: usize) -> Result<InvocationsStore, StoreError> {
        let tree = space.tree("invocation_pages")?;
        let mut pages = VecDeque::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            let count = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&value)?.len();
            pages.push_back((page_id(&key), count));
        }
        let store = Arc::new(Records {
            space: space.clone(),
            tree,
            retention: retention.max(1),
            queued: Default::default(),
            pages: Mutex::new(pages),
            writing: Default::default(),
            live: OnceLock::new(),
        });
        writer().lock().unwrap().push(Arc::downgrade(&store));
        Ok(InvocationsStore(store))
    }

    /// Queues `record` under a new id, which it returns.
    pub fn record(&self, mut record: InvocationRecord) -> Result<u64, StoreError> {
        // sled's ids grow monotonically (also across restarts), so key order is age order.
        record.id = self.space.generate_id()? + 1;
        let id = record.id;
        if let Some(live) = self.live.get().filter(|live| live.receiver_count() > 0) {
            let _ = live.send(record.clone());
        }
        self.queued.lock().unwrap().push(record);
        Ok(id)
    }

    /// The records made from now on, as they are made (a follower that falls more than
    /// `LIVE_BACKLOG` behind is told how many it missed).
    pub fn follow(&self) -> tokio::sync::broadcast::Receiver<InvocationRecord> {
        self.live.get_or_init(|| tokio::sync::broadcast::channel(LIVE_BACKLOG).0).subscribe()
    }
}

impl Records {
    /// Writes the queued records as one page, then drops the oldest pages that only hold
    /// records past the retention. Answers whether there were records to write.
    fn write(&self) -> Result<bool, StoreError> {
        let _one_writer = self.writing.lock().unwrap();
        let records = std::mem::take(&mut *self.queued.lock().unwrap());
        let Some(first) = records.first() else { return Ok(false) };
        let key = first.id;
        self.tree.insert(key.to_be_bytes(), serde_json::to_vec(&records)?)?;
        let mut pages = self.pages.lock().unwrap();
        pages.push_back((key, records.len()));
        let mut kept: usize = pages.iter().map(|(_, n)| n).sum();
        while let Some(&(oldest, n)) = pages.front() {
            if kept - n < self.retention {
                break;
            }
            self.tree.remove(oldest.to_be_bytes())?;
            pages.pop_front();
            kept -= n;
        }
        Ok(true)
    }

    /// Reads see every record: the queue is written first.
    fn settle(&self) -> Result<(), StoreError> {
        self.write().map(|_| ())
    }

    /// Adds how the shadow version did to a record (if it is still kept).
    pub fn set_shadow(&self, id: u64, shadow: Value) -> Result<(), StoreError> {
        self.settle()?;
        // Holding the writer's lock: a page is not trimmed while it is rewritten.
        let _one_writer = self.writing.lock().unwrap();
        let Some((key, mut records)) = self.page_of(id)? else { return Ok(()) };
        if let Some(record) = records.iter_mut().find(|r| r.id == id) {
            record.shadow = Some(shadow);
            self.tree.insert(key, serde_json::to_vec(&records)?)?;
        }
        Ok(())
    }

    /// The written page that would hold record `id`.
    fn page_of(&self, id: u64) -> Result<Option<(sled::IVec, Vec<InvocationRecord>)>, StoreError> {
        match self.tree.range(..=id.to_be_bytes()).next_back() {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some((key, serde_json::from_slice(&value)?)))
            }
            None => Ok(None),
        }
    }

    pub fn get(&self, id: u64) -> Result<Option<InvocationRecord>, StoreError> {
        self.settle()?;
        Ok(self.page_of(id)?.and_then(|(_, records)| records.into_iter().find(|r| r.id == id)))
    }

    /// One page of a function's records, newest first, among the newest `retention` records.
    pub fn list(
        &self,
        function_id: u64,
        page: usize,
        size: usize,
    ) -> Result<RecordPage, StoreError> {
        self.settle()?;
        let mut records = Vec::new();
        let (mut total, mut seen) = (0, 0);
        'pages: for entry in self.tree.iter().rev() {
            let (_, value) = entry?;
            let stored: Vec<InvocationRecord> = serde_json::from_slice(&value)?;
            for record in stored.into_iter().rev() {
                if seen == self.retention {
                    break 'pages;
                }
                seen += 1;
                if record.function_id != function_id {
                    continue;
                }
                if total >= page * size && records.len() < size {
                    records.push(record);
                }
                total += 1;
            }
        }
        Ok(RecordPage { records, total })
    }
}

pub(super) fn page_id(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().unwrap_or([0; 8]))
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
        let space = super::super::Space::alone(dir.path());
        let store = InvocationsStore::open(&space, 5).unwrap();
        let mut ids = Vec::new();
        for n in 1..=8 {
            ids.push(store.record(record(1, n)).unwrap());
            // One page per write, as if the writer ran between the invocations.
            store.settle().unwrap();
        }
        store.record(record(2, 99)).unwrap();
        let page = store.list(1, 0, 3).unwrap();
        assert_eq!(
            page.records.iter().map(|r| r.version_number).collect::<Vec<_>>(),
            vec![8, 7, 6]
        );
        assert_eq!(page.total, 4, "five kept in all, one of them function 2's");
        assert_eq!(
            store
                .list(1, 1, 3)
                .unwrap()
                .records
                .iter()
                .map(|r| r.version_number)
                .collect::<Vec<_>>(),
            vec![5]
        );
        assert!(store.get(ids[0]).unwrap().is_none(), "the oldest is gone");
        assert_eq!(store.get(ids[7]).unwrap().unwrap().args["username"], "u8");
        store.set_shadow(ids[7], serde_json::json!({ "same_outcome": true })).unwrap();

        // Written records survive a reopen, pages and all.
        drop(store);
        let store = InvocationsStore::open(&space, 5).unwrap();
        assert_eq!(
            store.get(ids[7]).unwrap().unwrap().shadow,
            Some(serde_json::json!({ "same_outcome": true }))
        );
        assert_eq!(store.list(1, 0, 10).unwrap().total, 4);
    }
}
