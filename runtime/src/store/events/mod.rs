//! The app's chat events on their way to its functions: the queue, the idempotency keys seen,
//! and the dead letters. In the app's sled database (`sled.rs`), or in PostgreSQL
//! (`postgres.rs`), where every node accepts events and one node at a time delivers them (see
//! `events::leader`).

mod postgres;
mod sled;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::StoreError;

pub use self::postgres::{queued_counts, PgEvents};
pub use self::sled::SledEvents;

/// One event as queued: what the chat backend sent and how its runs went so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedEvent {
    pub seq: u64,
    /// The idempotency key: the sender's `id`, or one chatfn made.
    pub id: String,
    /// The trigger's name (`user.sent.message`...).
    #[serde(rename = "type")]
    pub trigger: String,
    /// Events of one key run in order: `channel/<id>` or `user/<id>`.
    pub key: String,
    pub event: Value,
    /// When it was first accepted, in ms since the epoch.
    pub received_at: u64,
    /// When its next run may start (ms since the epoch).
    pub next_at: u64,
    /// Every failed run, oldest first.
    pub failures: Vec<Failure>,
    /// Runs that failed since it was queued or last redriven.
    #[serde(default)]
    pub runs: u32,
    /// Times it was sent back from the dead letters.
    #[serde(default)]
    pub redriven: u32,
}

/// A run that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The run's number (1 for the first run after the event was queued or redriven).
    pub attempt: u32,
    /// When it ended, RFC 3339.
    pub at: String,
    /// What went wrong: chatfn's outcome (`status`, `error`, `limit`...).
    pub error: Value,
    /// Its invocation record, when one was kept.
    pub record_id: Option<u64>,
}

/// An event to accept: its id, trigger, ordering key and body.
pub struct NewEvent {
    pub id: String,
    pub trigger: String,
    pub key: String,
    pub event: Value,
}

/// What became of each event of an accepted batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accepted {
    pub id: String,
    /// Its sequence number; for a duplicate, the one it was first accepted as.
    pub seq: u64,
    /// Its id had been accepted before: nothing was queued again.
    pub duplicate: bool,
}

/// Counts since the store was created.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventCounts {
    pub accepted: u64,
    pub duplicates: u64,
    /// Accepted for a trigger the app had no function for: counted, not queued.
    pub unhandled: u64,
    pub delivered: u64,
    pub failed_runs: u64,
    pub dead_lettered: u64,
    pub redriven: u64,
    /// In the queue now, and in the dead letters now.
    pub queued: u64,
    pub dead_letters: u64,
}

/// An app's events whole, as `chatfn store copy` moves them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventsExport {
    /// In sequence order.
    pub queued: Vec<QueuedEvent>,
    pub dead: Vec<QueuedEvent>,
    /// Each id seen: (id, the sequence number it was accepted or last redriven as, when in ms).
    pub ids: Vec<(String, u64, u64)>,
    /// The counters: `accepted`, `duplicates`, `unhandled`, `delivered`, `failed_runs`,
    /// `dead_lettered`, `redriven`.
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// The counters an export carries.
const COUNTERS: [&str; 7] = [
    "accepted",
    "duplicates",
    "unhandled",
    "delivered",
    "failed_runs",
    "dead_lettered",
    "redriven",
];

/// One app's events, in whichever store the server was given.
#[derive(Clone)]
pub enum EventsStore {
    Sled(SledEvents),
    Postgres(PgEvents),
}

/// A dead-letter filter.
pub type Chosen<'a> = &'a (dyn Fn(&QueuedEvent) -> bool + Sync);

impl EventsStore {
    /// Queues every event of `batch` whose id was not accepted before, all or none, durably
    /// before it answers. `Conflict` when they would take the queue past `max_queue` (then
    /// nothing is queued). `unhandled` events are only counted.
    pub async fn accept(
        &self,
        batch: Vec<NewEvent>,
        unhandled: usize,
        max_queue: usize,
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        match self {
            EventsStore::Sled(s) => s.accept(batch, unhandled, max_queue, now_ms).await,
            EventsStore::Postgres(p) => p.accept(batch, unhandled, max_queue, now_ms).await,
        }
    }

    /// The queued events' sequence numbers, keys and next run times, in order: all of them,
    /// or (with PostgreSQL) those numbered `from..=to`.
    pub async fn schedule(
        &self,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<(u64, String, u64)>, StoreError> {
        match self {
            EventsStore::Sled(s) => s.schedule(),
            EventsStore::Postgres(p) => p.schedule(range).await,
        }
    }

    pub async fn get(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        match self {
            EventsStore::Sled(s) => s.get(seq),
            EventsStore::Postgres(p) => p.get(seq).await,
        }
    }

    /// The event's run succeeded: it leaves the queue (durably, before this returns).
    pub async fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        match self {
            EventsStore::Sled(s) => s.delivered(seq).await,
            EventsStore::Postgres(p) => p.delivered(seq).await,
        }
    }

    /// The event's run failed: `event` (with the failure added and its next run time) replaces
    /// the queued one; or, when `dead` is set, it moves to the dead letters.
    pub async fn failed(&self, event: &QueuedEvent, dead: bool) -> Result<(), StoreError> {
        match self {
            EventsStore::Sled(s) => s.failed(event, dead).await,
            EventsStore::Postgres(p) => p.failed(event, dead).await,
        }
    }

    /// The dead letters, oldest first: `size` of them from `page * size`, and how many there are.
    pub async fn dead_letters(
        &self,
        page: usize,
        size: usize,
    ) -> Result<(Vec<QueuedEvent>, usize), StoreError> {
        match self {
            EventsStore::Sled(s) => s.dead_letters(page, size),
            EventsStore::Postgres(p) => p.dead_letters(page, size).await,
        }
    }

    pub async fn dead_letter(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        match self {
            EventsStore::Sled(s) => s.dead_letter(seq),
            EventsStore::Postgres(p) => p.dead_letter(seq).await,
        }
    }

    /// Sends the dead letters `chosen` picks back to the queue, each under a new sequence
    /// number (after the events of its key accepted since), to run now; answers them.
    pub async fn redrive(
        &self,
        chosen: Chosen<'_>,
        now_ms: u64,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        match self {
            EventsStore::Sled(s) => s.redrive(chosen, now_ms).await,
            EventsStore::Postgres(p) => p.redrive(chosen, now_ms).await,
        }
    }

    /// Deletes the dead letters `chosen` picks; answers how many.
    pub async fn delete_dead(&self, chosen: Chosen<'_>) -> Result<usize, StoreError> {
        match self {
            EventsStore::Sled(s) => s.delete_dead(chosen).await,
            EventsStore::Postgres(p) => p.delete_dead(chosen).await,
        }
    }

    /// Forgets the ids of events accepted before `before_ms` (ms since the epoch) that are no
    /// longer queued or dead-lettered: an event re-sent after that is new. Answers how many.
    pub async fn forget_ids(&self, before_ms: u64) -> Result<usize, StoreError> {
        match self {
            EventsStore::Sled(s) => s.forget_ids(before_ms).await,
            EventsStore::Postgres(p) => p.forget_ids(before_ms).await,
        }
    }

    /// Everything of the app's events (`chatfn store copy`).
    pub async fn export(&self) -> Result<EventsExport, StoreError> {
        match self {
            EventsStore::Sled(s) => s.export(),
            EventsStore::Postgres(p) => p.export().await,
        }
    }

    /// Stores an export as it is, into an app with no events (`chatfn store copy`); new
    /// events are numbered after its.
    pub async fn import(&self, all: &EventsExport) -> Result<(), StoreError> {
        match self {
            EventsStore::Sled(s) => s.import(all).await,
            EventsStore::Postgres(p) => p.import(all).await,
        }
    }

    pub async fn counts(&self) -> Result<EventCounts, StoreError> {
        match self {
            EventsStore::Sled(s) => s.counts(),
            EventsStore::Postgres(p) => p.counts().await,
        }
    }
}
