//! Chat events in PostgreSQL: `chatfn_events` (the queue and the dead letters, each event kept
//! whole as JSON), `chatfn_event_ids` (the idempotency keys seen) and the app's `events.*`
//! counters in `chatfn_counters` (`events.queued` is the queue's depth, kept in the same
//! transactions, so a full queue is refused exactly). Any node accepts events; each change
//! that queues events announces their numbers, so the node delivering them (one at a time,
//! `events::leader`) schedules them at once.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use serde_json::Value;

use super::{Accepted, Chosen, EventCounts, EventsExport, NewEvent, QueuedEvent, COUNTERS};
use crate::store::error::StoreError;
use crate::store::postgres::{bump_counter, error, notify, raise_counter, Change, Database};

#[derive(Clone)]
pub struct PgEvents {
    db: Database,
    app: Arc<str>,
}

fn event_of(value: Value) -> Result<QueuedEvent, StoreError> {
    Ok(serde_json::from_value(value)?)
}

impl PgEvents {
    pub fn new(db: &Database, app: &str) -> PgEvents {
        PgEvents { db: db.clone(), app: app.into() }
    }

    /// Announces, at commit, that events `from..=to` were queued.
    async fn announce(&self, tx: &Transaction<'_>, from: u64, to: u64) -> Result<(), StoreError> {
        notify(tx, &self.app, Change::EVENTS, Some(&format!("{from}-{to}"))).await
    }

    pub async fn accept(
        &self,
        batch: Vec<NewEvent>,
        unhandled: usize,
        max_queue: usize,
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let app: &str = &self.app;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let n = batch.len() as i64;
        let last = bump_counter(&tx, app, "event", n).await?;
        let first = (last - n + 1) as u64;
        let ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
        let seqs: Vec<i64> = (0..n).map(|i| first as i64 + i).collect();
        // Each id claimed once: a duplicate (also within the batch) is not inserted again.
        let claimed: HashMap<String, i64> = tx
            .query(
                "INSERT INTO chatfn_event_ids (app, id, seq, accepted_ms)
                 SELECT $1, t.id, t.seq, $4 FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS t(id, seq)
                 ON CONFLICT (app, id) DO NOTHING
                 RETURNING id, seq",
                &[&app, &ids, &seqs, &(now_ms as i64)],
            )
            .await
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let earlier: HashMap<String, i64> = tx
            .query(
                "SELECT id, seq FROM chatfn_event_ids WHERE app = $1 AND id = ANY($2::TEXT[])",
                &[&app, &ids],
            )
            .await
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut answers = Vec::with_capacity(batch.len());
        let (mut fresh_seqs, mut records) = (Vec::new(), Vec::new());
        for (event, seq) in batch.into_iter().zip(first..) {
            if claimed.get(&event.id) == Some(&(seq as i64)) {
                let queued = QueuedEvent {
                    seq,
                    id: event.id.clone(),
                    trigger: event.trigger,
                    key: event.key,
                    event: event.event,
                    received_at: now_ms,
                    next_at: now_ms,
                    failures: Vec::new(),
                    runs: 0,
                    redriven: 0,
                };
                fresh_seqs.push(seq as i64);
                records.push(serde_json::to_value(&queued)?);
                answers.push(Accepted { id: event.id, seq, duplicate: false });
            } else {
                let first = claimed.get(&event.id).or(earlier.get(&event.id)).copied();
                let seq = first.unwrap_or(0).max(0) as u64;
                answers.push(Accepted { id: event.id, seq, duplicate: true });
            }
        }
        let fresh = fresh_seqs.len() as i64;
        if fresh > 0 {
            tx.execute(
                "INSERT INTO chatfn_events (app, seq, dead, record)
                 SELECT $1, t.seq, FALSE, t.record FROM UNNEST($2::BIGINT[], $3::JSONB[]) AS t(seq, record)",
                &[&app, &fresh_seqs, &records],
            )
            .await
            .map_err(error)?;
        }
        let queued = bump_counter(&tx, app, "events.queued", fresh).await?;
        if queued as usize > max_queue {
            // Dropping the transaction rolls it back: nothing is stored.
            return Err(StoreError::Conflict(format!(
                "the app's event queue is full ({} queued, at most {max_queue}; {fresh} more asked for)",
                queued - fresh
            )));
        }
        let duplicates = answers.iter().filter(|a| a.duplicate).count() as i64;
        bump_counter(&tx, app, "events.accepted", fresh + unhandled as i64).await?;
        bump_counter(&tx, app, "events.duplicates", duplicates).await?;
        bump_counter(&tx, app, "events.unhandled", unhandled as i64).await?;
        if fresh > 0 {
            self.announce(&tx, first, last as u64).await?;
        }
        tx.commit().await.map_err(error)?;
        Ok(answers)
    }

    pub async fn schedule(
        &self,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<(u64, String, u64)>, StoreError> {
        let (from, to) = range.map_or((0, i64::MAX), |(a, b)| (a as i64, b as i64));
        let rows = self
            .db
            .client()
            .await?
            .query(
                "SELECT record FROM chatfn_events
                 WHERE app = $1 AND NOT dead AND seq BETWEEN $2 AND $3 ORDER BY seq",
                &[&&*self.app, &from, &to],
            )
            .await
            .map_err(error)?;
        rows.into_iter()
            .map(|r| {
                let event = event_of(r.get(0))?;
                Ok((event.seq, event.key, event.next_at))
            })
            .collect()
    }

    async fn one(&self, seq: u64, dead: bool) -> Result<Option<QueuedEvent>, StoreError> {
        let row = self
            .db
            .client()
            .await?
            .query_opt(
                "SELECT record FROM chatfn_events WHERE app = $1 AND seq = $2 AND dead = $3",
                &[&&*self.app, &(seq as i64), &dead],
            )
            .await
            .map_err(error)?;
        row.map(|r| event_of(r.get(0))).transpose()
    }

    pub async fn get(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        self.one(seq, false).await
    }

    pub async fn dead_letter(&self, seq: u64) -> Result<Option<QueuedEvent>, StoreError> {
        self.one(seq, true).await
    }

    pub async fn delivered(&self, seq: u64) -> Result<(), StoreError> {
        let app: &str = &self.app;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let removed = tx
            .execute(
                "DELETE FROM chatfn_events WHERE app = $1 AND seq = $2 AND NOT dead",
                &[&app, &(seq as i64)],
            )
            .await
            .map_err(error)?;
        if removed > 0 {
            bump_counter(&tx, app, "events.delivered", 1).await?;
            bump_counter(&tx, app, "events.queued", -1).await?;
        }
        tx.commit().await.map_err(error)
    }

    pub async fn failed(&self, event: &QueuedEvent, dead: bool) -> Result<(), StoreError> {
        let app: &str = &self.app;
        let record = serde_json::to_value(event)?;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let updated = tx
            .execute(
                "UPDATE chatfn_events SET dead = $3, record = $4
                 WHERE app = $1 AND seq = $2 AND NOT dead",
                &[&app, &(event.seq as i64), &dead, &record],
            )
            .await
            .map_err(error)?;
        bump_counter(&tx, app, "events.failed_runs", 1).await?;
        if dead {
            bump_counter(&tx, app, "events.dead_lettered", 1).await?;
            if updated > 0 {
                bump_counter(&tx, app, "events.queued", -1).await?;
            }
        }
        tx.commit().await.map_err(error)
    }

    pub async fn dead_letters(
        &self,
        page: usize,
        size: usize,
    ) -> Result<(Vec<QueuedEvent>, usize), StoreError> {
        let c = self.db.client().await?;
        let app: &str = &self.app;
        let total: i64 = c
            .query_one("SELECT COUNT(*) FROM chatfn_events WHERE app = $1 AND dead", &[&app])
            .await
            .map_err(error)?
            .get(0);
        let rows = c
            .query(
                "SELECT record FROM chatfn_events WHERE app = $1 AND dead ORDER BY seq
                 LIMIT $2 OFFSET $3",
                &[&app, &(size as i64), &(page.saturating_mul(size) as i64)],
            )
            .await
            .map_err(error)?;
        let letters = rows.into_iter().map(|r| event_of(r.get(0))).collect::<Result<_, _>>()?;
        Ok((letters, total.max(0) as usize))
    }

    /// Every dead letter `chosen` picks.
    async fn dead_matching(&self, chosen: Chosen<'_>) -> Result<Vec<QueuedEvent>, StoreError> {
        let rows = self
            .db
            .client()
            .await?
            .query(
                "SELECT record FROM chatfn_events WHERE app = $1 AND dead ORDER BY seq",
                &[&&*self.app],
            )
            .await
            .map_err(error)?;
        let mut picked = Vec::new();
        for row in rows {
            let letter = event_of(row.get(0))?;
            if chosen(&letter) {
                picked.push(letter);
            }
        }
        Ok(picked)
    }

    pub async fn redrive(
        &self,
        chosen: Chosen<'_>,
        now_ms: u64,
    ) -> Result<Vec<QueuedEvent>, StoreError> {
        let letters = self.dead_matching(chosen).await?;
        if letters.is_empty() {
            return Ok(Vec::new());
        }
        let app: &str = &self.app;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let n = letters.len() as i64;
        let last = bump_counter(&tx, app, "event", n).await?;
        let first = (last - n + 1) as u64;
        let mut moved = Vec::new();
        for (letter, seq) in letters.into_iter().zip(first..) {
            let mut event = letter.clone();
            event.seq = seq;
            event.next_at = now_ms;
            event.redriven += 1;
            event.runs = 0;
            let record = serde_json::to_value(&event)?;
            let updated = tx
                .execute(
                    "UPDATE chatfn_events SET seq = $3, dead = FALSE, record = $4
                     WHERE app = $1 AND seq = $2 AND dead",
                    &[&app, &(letter.seq as i64), &(seq as i64), &record],
                )
                .await
                .map_err(error)?;
            if updated == 0 {
                continue;
            }
            tx.execute(
                "UPDATE chatfn_event_ids SET seq = $3, accepted_ms = $4 WHERE app = $1 AND id = $2",
                &[&app, &event.id, &(seq as i64), &(now_ms as i64)],
            )
            .await
            .map_err(error)?;
            moved.push(event);
        }
        let count = moved.len() as i64;
        bump_counter(&tx, app, "events.redriven", count).await?;
        bump_counter(&tx, app, "events.queued", count).await?;
        if count > 0 {
            self.announce(&tx, first, last as u64).await?;
        }
        tx.commit().await.map_err(error)?;
        Ok(moved)
    }

    pub async fn delete_dead(&self, chosen: Chosen<'_>) -> Result<usize, StoreError> {
        let seqs: Vec<i64> =
            self.dead_matching(chosen).await?.iter().map(|e| e.seq as i64).collect();
        if seqs.is_empty() {
            return Ok(0);
        }
        let deleted = self
            .db
            .client()
            .await?
            .execute(
                "DELETE FROM chatfn_events WHERE app = $1 AND dead AND seq = ANY($2::BIGINT[])",
                &[&&*self.app, &seqs],
            )
            .await
            .map_err(error)?;
        Ok(deleted as usize)
    }

    pub async fn forget_ids(&self, before_ms: u64) -> Result<usize, StoreError> {
        let forgotten = self
            .db
            .client()
            .await?
            .execute(
                "DELETE FROM chatfn_event_ids i WHERE i.app = $1 AND i.accepted_ms < $2
                 AND NOT EXISTS (SELECT 1 FROM chatfn_events e WHERE e.app = i.app AND e.seq = i.seq)",
                &[&&*self.app, &(before_ms as i64)],
            )
            .await
            .map_err(error)?;
        Ok(forgotten as usize)
    }

    pub async fn export(&self) -> Result<EventsExport, StoreError> {
        let c = self.db.client().await?;
        let app: &str = &self.app;
        let rows = c
            .query("SELECT dead, record FROM chatfn_events WHERE app = $1 ORDER BY seq", &[&app])
            .await
            .map_err(error)?;
        let mut all = EventsExport::default();
        for row in rows {
            let event = event_of(row.get(1))?;
            if row.get(0) {
                all.dead.push(event)
            } else {
                all.queued.push(event)
            }
        }
        let ids = c
            .query(
                "SELECT id, seq, accepted_ms FROM chatfn_event_ids WHERE app = $1 ORDER BY id",
                &[&app],
            )
            .await
            .map_err(error)?;
        all.ids = ids
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64, r.get::<_, i64>(2) as u64))
            .collect();
        let counted = self.counts().await?;
        for (name, value) in COUNTERS.iter().zip([
            counted.accepted,
            counted.duplicates,
            counted.unhandled,
            counted.delivered,
            counted.failed_runs,
            counted.dead_lettered,
            counted.redriven,
        ]) {
            all.counts.insert(name.to_string(), value);
        }
        Ok(all)
    }

    pub async fn import(&self, all: &EventsExport) -> Result<(), StoreError> {
        let app: &str = &self.app;
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        for (dead, events) in [(false, &all.queued), (true, &all.dead)] {
            for event in events {
                tx.execute(
                    "INSERT INTO chatfn_events (app, seq, dead, record) VALUES ($1, $2, $3, $4)",
                    &[&app, &(event.seq as i64), &dead, &serde_json::to_value(event)?],
                )
                .await
                .map_err(error)?;
            }
        }
        for (id, seq, at) in &all.ids {
            tx.execute(
                "INSERT INTO chatfn_event_ids (app, id, seq, accepted_ms) VALUES ($1, $2, $3, $4)",
                &[&app, id, &(*seq as i64), &(*at as i64)],
            )
            .await
            .map_err(error)?;
        }
        let counters = all.counts.iter().map(|(n, v)| (format!("events.{n}"), *v as i64));
        let queued = ("events.queued".to_string(), all.queued.len() as i64);
        for (name, value) in counters.chain([queued]) {
            tx.execute(
                "INSERT INTO chatfn_counters (app, name, value) VALUES ($1, $2, $3)
                 ON CONFLICT (app, name) DO UPDATE SET value = EXCLUDED.value",
                &[&app, &name, &value],
            )
            .await
            .map_err(error)?;
        }
        let last = all.queued.iter().chain(&all.dead).map(|e| e.seq as i64).max().unwrap_or(0);
        raise_counter(&tx, app, "event", last).await?;
        if let (Some(first), Some(last)) = (all.queued.first(), all.queued.last()) {
            self.announce(&tx, first.seq, last.seq).await?;
        }
        tx.commit().await.map_err(error)
    }

    pub async fn counts(&self) -> Result<EventCounts, StoreError> {
        let c = self.db.client().await?;
        let app: &str = &self.app;
        let rows = c
            .query(
                "SELECT name, value FROM chatfn_counters WHERE app = $1 AND name LIKE 'events.%'",
                &[&app],
            )
            .await
            .map_err(error)?;
        let counters: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let get = |name: &str| {
            counters.get(&format!("events.{name}")).copied().unwrap_or(0).max(0) as u64
        };
        let dead: i64 = c
            .query_one("SELECT COUNT(*) FROM chatfn_events WHERE app = $1 AND dead", &[&app])
            .await
            .map_err(error)?
            .get(0);
        Ok(EventCounts {
            accepted: get("accepted"),
            duplicates: get("duplicates"),
            unhandled: get("unhandled"),
            delivered: get("delivered"),
            failed_runs: get("failed_runs"),
            dead_lettered: get("dead_lettered"),
            redriven: get("redriven"),
            queued: get("queued"),
            dead_letters: dead.max(0) as u64,
        })
    }
}

/// How many events each app has queued in `db` (apps with none are left out).
pub async fn queued_counts(db: &Database) -> Result<HashMap<String, usize>, StoreError> {
    let rows = db
        .client()
        .await?
        .query("SELECT app, COUNT(*) FROM chatfn_events WHERE NOT dead GROUP BY app", &[])
        .await
        .map_err(error)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as usize)).collect())
}
