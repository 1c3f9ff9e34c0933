//! The chat events of an app in its sled database: the queue, the idempotency keys seen, and
//! the dead letters, in one tree (one tree rather than three: every tree is a write to the
//! database's list of trees at its first open, and a server opens thousands of apps).
//!
//! Keys: `q/<seq>` a queued event, `d/<seq>` a dead letter, `i/<id>` the sequence number an
//! event id was accepted as, `n/<counter>` counts. `<seq>` is big-endian, so the queue and the
//! dead letters iterate in the order the events were accepted (a redriven event gets a new one).
//! Every change is flushed before it is answered: an accepted event survives a crash, and so
//! does an event's removal once its run succeeded.

use std::sync::atomic::{AtomicUsize, Ordering};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Accepted, EventCounts, EventsExport, NewEvent, QueuedEvent, COUNTERS};
use crate::store::error::StoreError;

#[derive(Clone)]
pub struct SledEvents {
    space: crate::store::Space,
    tree: sled::Tree,
    queued: std::sync::Arc<AtomicUsize>,
    /// Held while events join the queue (a batch, a redriven dead letter).
    accepting: std::sync::Arc<std::sync::Mutex<()>>,
}

const QUEUE: &[u8] = b"q/";

/// What `queue_batch` found of an event's id: accepted before as this sequence number, or
/// the same as the event at this index of the batch.
enum Seen {
    Stored(u64),
    InBatch(usize),
}

const DEAD: &[u8] = b"d/";
const IDS: &[u8] = b"i/";
const COUNTS: &[u8] = b"n/";

fn key(prefix: &[u8], seq: u64) -> Vec<u8> {
    [prefix, &seq.to_be_bytes()].concat()
}

/// An id's entry: the sequence number it was accepted (or last redriven) as, and when.
fn id_entry(value: &[u8]) -> (u64, u64) {
    let number = |range: std::ops::Range<usize>| {
        value.get(range).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes)
    };
    (number(0..8), number(8..16))
}

fn count_key(name: &str) -> Vec<u8> {
    [COUNTS, name.as_bytes()].concat()
}

/// A counter's value as stored (none yet: 0).
fn count_value(stored: Option<&[u8]>) -> u64 {
    stored.and_then(|v| v.try_into().ok()).map_or(0, u64::from_be_bytes)
}

/// Adds `by` to a counter inside a transaction.
fn bump(
    tree: &sled::transaction::TransactionalTree,
    name: &str,
    by: u64,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    let key = count_key(name);
    let now = count_value(tree.get(&key)?.as_deref());
    tree.insert(key, &(now + by).to_be_bytes())?;
    Ok(())
}

impl SledEvents {
    pub fn open(space: &crate::store::Space) -> Result<SledEvents, StoreError> {
        let tree = space.tree("events")?;
        let queued = tree.scan_prefix(QUEUE).count();
        Ok(SledEvents {
            space: space.clone(),
            tree,
            queued: std::sync::Arc::new(AtomicUsize::new(queued)),
            accepting: std::sync::Arc::default(),
        })
    }

    /// Events in the queue now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Queues every event of `batch` whose id was not accepted before, all or none (a crash
    /// part way aside: see `queue_batch`), and flushes: the answer means they are durable.
    /// `Conflict` when they would take the queue past `max_queue` (then nothing is queued).
    /// `unhandled` events are only counted.
    pub async fn accept(
        &self,
        batch: Vec<NewEvent>,
        unhandled: usize,
        max_queue: usize,
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        // A batch is up to a thousand events: milliseconds of work, done on a blocking thread
        // of the events' runtime, not on the serving thread that read the request.
        let events = self.clone();
        let answers = crate::events::delivery::background()
            .spawn_blocking(move || events.queue_batch(batch, unhandled, max_queue, now_ms))
            .await
            .map_err(|e| StoreError::Database(format!("queueing the events failed: {e}")))??;
        self.space.flush().await?;
        Ok(answers)
    }

    /// `accept`'s writes (not flushed). Not a sled transaction: a transaction's commit holds
    /// a lock that every read of every sled database in the process waits for (sled's
    /// `concurrency_control`), and a batch's commit would hold session attempts' user lookups
    /// for milliseconds. Batches of one app are queued one at a time instead (the depth check
    /// and the duplicates are exact), each event's queue entry written before its id, so a
    /// crash part way leaves events the backend was not answered for (it sends them again:
    /// those queued are duplicates then), never an id without its event.
    fn queue_batch(
        &self,
        batch: Vec<NewEvent>,
        unhandled: usize,
        max_queue: usize,
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let _one_batch_at_a_time = self.accepting.lock().unwrap();
        // Each event: accepted before (its sequence number), a repeat of an event earlier in
        // this batch (that one's index), or new.
        let mut first_in_batch = std::collections::HashMap::new();
        let mut seen = Vec::with_capacity(batch.len());
        for (i, event) in batch.iter().enumerate() {
            let before = match first_in_batch.get(event.id.as_str()) {
                Some(&first) => Some(Seen::InBatch(first)),
                None => {
                    let stored = self.tree.get([IDS, event.id.as_bytes()].concat())?;
                    stored.map(|v| Seen::Stored(id_entry(&v).0))
                }
            };
            if before.is_none() {
                first_in_batch.insert(event.id.as_str(), i);
            }
            seen.push(before);
        }
        let fresh = seen.iter().filter(|s| s.is_none()).count();
        if self.queued() + fresh > max_queue {
            return Err(StoreError::Conflict(format!(
                "the app's event queue is full ({} queued, at most {max_queue}; {fresh} more asked for)",
                self.queued()
            )));
        }
        let mut answers: Vec<Accepted> = Vec::with_capacity(batch.len());
        for (event, before) in batch.iter().zip(seen) {
            let (seq, duplicate) = match before {
                Some(Seen::Stored(seq)) => (seq, true),
                Some(Seen::InBatch(first)) => (answers[first].seq, true),
                None => (self.queue_one(event, now_ms)?, false),
            };
            answers.push(Accepted { id: event.id.clone(), seq, duplicate });
        }
        let duplicates = answers.iter().filter(|a| a.duplicate).count() as u64;
        self.count("accepted", (fresh + unhandled) as u64)?;
        self.count("duplicates", duplicates)?;
        self.count("unhandled", unhandled as u64)?;
        self.queued.fetch_add(fresh, Ordering::SeqCst);
        Ok(answers)
    }

    /// Writes a new event into the queue, then its id; answers its sequence number.
    fn queue_one(&self, event: &NewEvent, now_ms: u64) -> Result<u64, StoreError> {
        // sled's ids only grow (also across restarts); numbered from 1.
        let seq = self.space.generate_id()? + 1;
        let queued = QueuedEvent {
            seq,
            id: event.id.clone(),
            trigger: event.trigger.clone(),
            key: event.key.clone(),
            event: event.event.clone(),
            received_at: now_ms,
            next_at: now_ms,
            failures: Vec::new(),
            runs: 0,
            redriven: 0,
        };
        let bytes = serde_json::to_vec(&queued).expect("an event serializes");
        self.tree.insert(key(QUEUE, seq), bytes)?;
        self.tree.insert(
            [IDS, event.id.as_bytes()].concat(),
            [seq.to_be_bytes(), now_ms.to_be_bytes()].concat(),
        )?;
        Ok(seq)
    }

    /// Adds `by` to a counter, outside a transaction (an atomic update of its one key).
    fn count(&self, name: &str, by: u64) -> Result<(), StoreError> {
        if by > 0 {
            self.tree.update_and_fetch(count_key(name), |old| {
                Some((count_value(old) + by).to_be_bytes().to_vec())
            })?;
        }
        Ok(())
    }

    /// Every queued event's sequence number, key and next run time, in order.
    pub fn schedule(&self) -> Result<Vec<(u64, String, u64)>, StoreError> {
        let mut all = Vec::new();
        for entry in self.tree.scan_prefix(QUEUE) {
            let (_, value) = entry?;
            let event: QueuedEvent = serde_json::from_slice(&value)?;
            all.push((event.seq, event.key, event.next_at));
        }
        Ok(all)
    }

    pub fn get(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        match self.tree.get(key(QUEUE, seq))? {
            Some(value) => Ok(Some(serde_json::from_slice(&value)?)),
            None => Ok(None),
        }
    }

    /// The event's run succeeded: it leaves the queue (durably, before this returns).
    /// (Not a transaction, as in `queue_batch`: one runs for every event delivered. A crash
    /// between the removal and its count loses one step of the count, nothing else.)
    pub async fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        if self.tree.remove(key(QUEUE, seq))?.is_some() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            self.count("delivered", 1)?;
        }
        self.space.flush().await
    }

    /// The event's run failed: `event` (with the failure added and its next run time) replaces
    /// the queued one; or, when `dead` is set, it moves to the dead letters.
    pub async fn failed(&self, event: &QueuedEvent, dead: bool) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(event).expect("an event serializes");
        let moved = self.tree.transaction(|tree| {
            let was_queued = tree.remove(key(QUEUE, event.seq))?.is_some();
            bump(tree, "failed_runs", 1)?;
            if dead {
                tree.insert(key(DEAD, event.seq), bytes.clone())?;
                bump(tree, "dead_lettered", 1)?;
            } else {
                tree.insert(key(QUEUE, event.seq), bytes.clone())?;
            }
            Ok::<_, ConflictableTransactionError<()>>(was_queued && dead)
        });
        if moved.map_err(transaction_error)? {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
        self.space.flush().await
    }

    /// The dead letters, oldest first: `size` of them from `page * size`, and how many there are.
    pub fn dead_letters(
        &self,
        page: usize,
        size: usize,
    ) -> Result<(Vec<QueuedEvent>, usize), StoreError> {
        let mut total = 0;
        let mut letters = Vec::new();
        for entry in self.tree.scan_prefix(DEAD) {
            let (_, value) = entry?;
            if total >= page * size && letters.len() < size {
                letters.push(serde_json::from_slice(&value)?);
            }
            total += 1;
        }
        Ok((letters, total))
    }

    pub fn dead_letter(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        match self.tree.get(key(DEAD, seq))? {
            Some(value) => Ok(Some(serde_json::from_slice(&value)?)),
            None => Ok(None),
        }
    }

    /// The dead letters `chosen` picks.
    fn dead_matching(
        &self,
        chosen: &(dyn Fn(&QueuedEvent) -> bool + Sync),
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        let mut picked = Vec::new();
        for entry in self.tree.scan_prefix(DEAD) {
            let (_, value) = entry?;
            let letter: QueuedEvent = serde_json::from_slice(&value)?;
            if chosen(&letter) {
                picked.push(letter);
            }
        }
        Ok(picked)
    }

    /// Sends the dead letters `chosen` picks back to the queue, each under a new sequence
    /// number (after the events of its key accepted since), to run now; answers them.
    pub async fn redrive(
        &self,
        chosen: &(dyn Fn(&QueuedEvent) -> bool + Sync),
        now_ms: u64,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        let letters = self.dead_matching(chosen)?;
        let mut moved = Vec::new();
        for letter in letters {
            let mut event = letter.clone();
            event.seq = self.space.generate_id()? + 1;
            event.next_at = now_ms;
            event.redriven += 1;
            event.runs = 0;
            let bytes = serde_json::to_vec(&event).expect("an event serializes");
            let _no_batch_meanwhile = self.accepting.lock().unwrap();
            let done = self.tree.transaction(|tree| {
                if tree.remove(key(DEAD, letter.seq))?.is_none() {
                    return Ok(false);
                }
                tree.insert(key(QUEUE, event.seq), bytes.clone())?;
                let entry = [event.seq.to_be_bytes(), now_ms.to_be_bytes()].concat();
                tree.insert([IDS, event.id.as_bytes()].concat(), entry)?;
                bump(tree, "redriven", 1)?;
                Ok::<_, ConflictableTransactionError<()>>(true)
            });
            if done.map_err(transaction_error)? {
                self.queued.fetch_add(1, Ordering::SeqCst);
                moved.push(event);
            }
        }
        self.space.flush().await?;
        Ok(moved)
    }

    /// Deletes the dead letters `chosen` picks; answers how many.
    pub async fn delete_dead(
        &self,
        chosen: &(dyn Fn(&QueuedEvent) -> bool + Sync),
    ) -> Result<usize, StoreError> {
        let letters = self.dead_matching(chosen)?;
        let mut deleted = 0;
        for letter in letters {
            if self.tree.remove(key(DEAD, letter.seq))?.is_some() {
                deleted += 1;
            }
        }
        self.space.flush().await?;
        Ok(deleted)
    }

    /// Forgets the ids of events accepted before `before_ms` (ms since the epoch) that are no
    /// longer queued or dead-lettered: an event re-sent after that is new. Answers how many.
    pub async fn forget_ids(&self, before_ms: u64) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for entry in self.tree.scan_prefix(IDS) {
            let (id_key, value) = entry?;
            let (seq, accepted) = id_entry(&value);
            let settled = !self.tree.contains_key(key(QUEUE, seq))?
                && !self.tree.contains_key(key(DEAD, seq))?;
            if accepted < before_ms && settled {
                self.tree.remove(id_key)?;
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            self.space.flush().await?;
        }
        Ok(forgotten)
    }

    pub fn export(&self) -> Result<EventsExport, StoreError> {
        let events = |prefix: &[u8]| -> Result<Vec<QueuedEvent>, StoreError> {
            self.tree
                .scan_prefix(prefix)
                .values()
                .map(|v| Ok(serde_json::from_slice(&v?)?))
                .collect()
        };
        let mut ids = Vec::new();
        for entry in self.tree.scan_prefix(IDS) {
            let (key, value) = entry?;
            let (seq, at) = id_entry(&value);
            ids.push((String::from_utf8_lossy(&key[IDS.len()..]).into_owned(), seq, at));
        }
        let mut counts = std::collections::BTreeMap::new();
        for name in COUNTERS {
            let value = self.tree.get(count_key(name))?;
            counts.insert(name.to_string(), count_value(value.as_deref()));
        }
        Ok(EventsExport { queued: events(QUEUE)?, dead: events(DEAD)?, ids, counts })
    }

    pub async fn import(&self, all: &EventsExport) -> Result<(), StoreError> {
        for event in &all.queued {
            self.tree.insert(key(QUEUE, event.seq), serde_json::to_vec(event)?)?;
        }
        for event in &all.dead {
            self.tree.insert(key(DEAD, event.seq), serde_json::to_vec(event)?)?;
        }
        for (id, seq, at) in &all.ids {
            self.tree.insert(
                [IDS, id.as_bytes()].concat(),
                [seq.to_be_bytes(), at.to_be_bytes()].concat(),
            )?;
        }
        for (name, value) in &all.counts {
            self.tree.insert(count_key(name), &value.to_be_bytes())?;
        }
        self.queued.fetch_add(all.queued.len(), Ordering::SeqCst);
        // sled's ids only grow: take them past the imported sequence numbers.
        let last = all.queued.iter().chain(&all.dead).map(|e| e.seq).max().unwrap_or(0);
        while self.space.generate_id()? < last {}
        self.space.flush().await
    }

    pub fn counts(&self) -> Result<EventCounts, StoreError> {
        let get = |name: &str| -> Result<u64, StoreError> {
            Ok(count_value(self.tree.get(count_key(name))?.as_deref()))
        };
        Ok(EventCounts {
            accepted: get("accepted")?,
            duplicates: get("duplicates")?,
            unhandled: get("unhandled")?,
            delivered: get("delivered")?,
            failed_runs: get("failed_runs")?,
            dead_lettered: get("dead_lettered")?,
            redriven: get("redriven")?,
            queued: self.queued() as u64,
            dead_letters: self.tree.scan_prefix(DEAD).count() as u64,
        })
    }
}

fn transaction_error(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Abort(()) => unreachable!("these transactions do not abort"),
        TransactionError::Storage(e) => e.into(),
    }
}
