//! Invocation records in the app's sled database: pages of records, one entry per batch
//! (key = the first record's id, value = a JSON array), written by one background thread for
//! every app's store (or by the next read, which always sees every record).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;

use super::{InvocationRecord, RecordPage};
use crate::store::error::StoreError;

pub struct Records {
    space: crate::store::Space,
    /// Pages of records, one per write: key = the first record's id, value = a JSON array.
    /// One sled entry per batch instead of one per record keeps the write cheap.
    tree: sled::Tree,
    retention: usize,
    queued: Mutex<Vec<InvocationRecord>>,
    /// The pages in the tree, oldest first, with how many records each holds.
    pages: Mutex<VecDeque<(u64, usize)>>,
    /// One writer at a time (the background thread, or a read settling the queue).
    writing: Mutex<()>,
}

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

impl Records {
    pub fn open(space: &crate::store::Space, retention: usize) -> Result<Arc<Records>, StoreError> {
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
        });
        writer().lock().unwrap().push(Arc::downgrade(&store));
        Ok(store)
    }

    /// A new id: sled's grow monotonically (also across restarts), so key order is age order.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.space.generate_id()? + 1)
    }

    /// Every record kept, in id order.
    pub fn all(&self) -> Result<Vec<InvocationRecord>, StoreError> {
        self.settle()?;
        let mut all = Vec::new();
        for page in self.tree.iter().values() {
            all.extend(serde_json::from_slice::<Vec<InvocationRecord>>(&page?)?);
        }
        Ok(all)
    }

    /// Stores records as they are (ids kept), as one page after the ones there; new records
    /// are numbered after them.
    pub async fn import(&self, mut records: Vec<InvocationRecord>) -> Result<(), StoreError> {
        records.sort_by_key(|r| r.id);
        let Some(first) = records.first() else { return Ok(()) };
        let (key, last) = (first.id, records[records.len() - 1].id);
        {
            let _one_writer = self.writing.lock().unwrap();
            self.tree.insert(key.to_be_bytes(), serde_json::to_vec(&records)?)?;
            self.pages.lock().unwrap().push_back((key, records.len()));
            // sled's ids only grow: take them past the imported ones.
            while self.space.generate_id()? < last {}
        }
        self.space.flush().await
    }

    pub fn queue(&self, record: InvocationRecord) {
        self.queued.lock().unwrap().push(record);
    }

    /// Writes the queued records as one page, then drops the oldest pages that only hold
    /// records past the retention. Answers whether there were records to write.
    fn write(&self) -> Result<bool, StoreError> {
        let _one_writer = self.writing.lock().unwrap();
        let mut records = std::mem::take(&mut *self.queued.lock().unwrap());
        // Only the newest `retention` can ever be read (a busy app queues more than that
        // between two writes): the older ones are not written.
        if records.len() > self.retention {
            records.drain(..records.len() - self.retention);
        }
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
    pub fn settle(&self) -> Result<(), StoreError> {
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

fn page_id(key: &[u8]) -> u64 {
    u64::from_be_bytes(key.try_into().unwrap_or([0; 8]))
}
