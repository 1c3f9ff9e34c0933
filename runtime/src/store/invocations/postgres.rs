//! Invocation records in PostgreSQL (`chatfn_invocations`), written in batches by one task for
//! every app on the database (on its runtime), each batch one multi-row INSERT followed by the
//! trimming of the app's records past its retention.
//!
//! A record's id is given at once, without a round trip: each node takes ids from blocks of
//! [`ID_BLOCK`] that it reserves in `chatfn_counters` (the next block is fetched in the
//! background when half of the current one is used). Ids are unique across nodes but not in
//! time order, so lists order by time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;

use super::{InvocationRecord, RecordPage};
use crate::store::error::StoreError;
use crate::store::postgres::{block_on, bump_counter, error, raise_counter, spawn, Database};

/// Ids a node reserves at a time.
const ID_BLOCK: i64 = 10_000;

/// How often queued records are written.
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Records kept in memory while the database cannot take them; older ones are dropped.
const MAX_QUEUED: usize = 100_000;

/// Rows per INSERT statement (PostgreSQL takes up to 65,535 parameters).
const ROWS_PER_INSERT: usize = 1000;

pub struct PgRecords {
    db: Database,
    app: Arc<str>,
    retention: usize,
    ids: Mutex<Ids>,
    queued: Mutex<Vec<InvocationRecord>>,
    /// One writer at a time (the background task, or a read settling the queue).
    writing: tokio::sync::Mutex<()>,
    /// Whether the last write failed (said once, not every 100 ms).
    failing: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Ids {
    next: u64,
    end: u64,
    /// The next block, once fetched.
    spare: Option<(u64, u64)>,
    fetching: bool,
}

/// Reserves a block of ids: `[start, end)`.
async fn reserve(db: &Database, app: &str) -> Result<(u64, u64), StoreError> {
    let last = bump_counter(&db.client().await?, app, "invocation", ID_BLOCK).await? as u64;
    Ok((last + 1 - ID_BLOCK as u64, last + 1))
}

/// Every open store, for the one task that writes their queues.
fn writer() -> &'static Mutex<Vec<Weak<PgRecords>>> {
    static STORES: OnceLock<Mutex<Vec<Weak<PgRecords>>>> = OnceLock::new();
    STORES.get_or_init(|| {
        spawn(async {
            loop {
                tokio::time::sleep(WRITE_EVERY).await;
                let stores: Vec<Arc<PgRecords>> = {
                    let mut all = writer().lock().unwrap();
                    all.retain(|s| s.strong_count() > 0);
                    all.iter().filter_map(Weak::upgrade).collect()
                };
                for store in stores {
                    let written = store.settle().await;
                    let failed = store.failing.swap(written.is_err(), Ordering::Relaxed);
                    match written {
                        Err(e) if !failed => tracing::warn!(app = %store.app, "cannot write invocation records yet (kept in memory meanwhile): {e}"),
                        Ok(()) if failed => tracing::info!(app = %store.app, "invocation records are written again"),
                        _ => {}
                    }
                }
            }
        });
        Mutex::default()
    })
}

impl PgRecords {
    pub async fn open(
        db: &Database,
        app: &str,
        retention: usize,
    ) -> Result<Arc<PgRecords>, StoreError> {
        let (next, end) = reserve(db, app).await?;
        let store = Arc::new(PgRecords {
            db: db.clone(),
            app: app.into(),
            retention: retention.max(1),
            ids: Mutex::new(Ids { next, end, ..Default::default() }),
            queued: Mutex::default(),
            writing: Default::default(),
            failing: Default::default(),
        });
        writer().lock().unwrap().push(Arc::downgrade(&store));
        Ok(store)
    }

    /// The next id of this node's block; a new block when it is used up (fetched ahead, or
    /// waited for when records came faster than that).
    pub fn next_id(self: &Arc<Self>) -> Result<u64, StoreError> {
        let mut ids = self.ids.lock().unwrap();
        if ids.next == ids.end {
            let (next, end) = match ids.spare.take() {
                Some(block) => block,
                None => {
                    let (db, app) = (self.db.clone(), self.app.clone());
                    block_on(async move { reserve(&db, &app).await })?
                }
            };
            (ids.next, ids.end) = (next, end);
        }
        let id = ids.next;
        ids.next += 1;
        if ids.spare.is_none() && !ids.fetching && ids.end - ids.next < ID_BLOCK as u64 / 2 {
            ids.fetching = true;
            let store = self.clone();
            spawn(async move {
                let block = reserve(&store.db, &store.app).await;
                let mut ids = store.ids.lock().unwrap();
                ids.fetching = false;
                match block {
                    Ok(block) => ids.spare = Some(block),
                    Err(e) => tracing::warn!("cannot reserve invocation ids yet: {e}"),
                }
            });
        }
        Ok(id)
    }

    pub fn queue(&self, record: InvocationRecord) {
        let mut queued = self.queued.lock().unwrap();
        if queued.len() >= MAX_QUEUED {
            queued.remove(0);
        }
        queued.push(record);
    }

    /// Writes the queued records, then trims the app's records past the retention. Records
    /// the database did not take go back to the queue.
    pub async fn settle(&self) -> Result<(), StoreError> {
        let _one_writer = self.writing.lock().await;
        let records = std::mem::take(&mut *self.queued.lock().unwrap());
        if records.is_empty() {
            return Ok(());
        }
        let written = self.write(&records).await;
        if written.is_err() {
            let mut queued = self.queued.lock().unwrap();
            let newer = std::mem::replace(&mut *queued, records);
            queued.extend(newer);
        }
        written
    }

    async fn write(&self, records: &[InvocationRecord]) -> Result<(), StoreError> {
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let app: &str = &self.app;
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64, Value)> = chunk
                .iter()
                .map(|r| {
                    let json = serde_json::to_value(r).expect("a record serializes");
                    (r.id as i64, r.function_id as i64, json)
                })
                .collect();
            let mut sql = String::from(
                "INSERT INTO chatfn_invocations (app, id, function_id, created_time, record) VALUES ",
            );
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&app];
            for (i, ((id, function_id, json), record)) in rows.iter().zip(chunk).enumerate() {
                let n = 2 + i * 4;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("($1, ${n}, ${}, ${}, ${})", n + 1, n + 2, n + 3));
                params.push(id);
                params.push(function_id);
                params.push(&record.created_time);
                params.push(json);
            }
            tx.execute(&sql, &params).await.map_err(error)?;
        }
        tx.execute(
            "DELETE FROM chatfn_invocations WHERE app = $1 AND (created_time, id) < (
                SELECT created_time, id FROM chatfn_invocations WHERE app = $1
                ORDER BY created_time DESC, id DESC OFFSET $2 LIMIT 1)",
            &[&app, &(self.retention as i64 - 1)],
        )
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)
    }

    /// Every record kept, in id order.
    pub async fn all(&self) -> Result<Vec<InvocationRecord>, StoreError> {
        self.settle().await?;
        let rows = self
            .db
            .client()
            .await?
            .query(
                "SELECT record FROM chatfn_invocations WHERE app = $1 ORDER BY id",
                &[&&*self.app],
            )
            .await
            .map_err(error)?;
        Ok(rows.into_iter().map(|r| serde_json::from_value(r.get(0))).collect::<Result<_, _>>()?)
    }

    /// Stores records as they are (ids kept); the id counter moves past them.
    pub async fn import(&self, records: Vec<InvocationRecord>) -> Result<(), StoreError> {
        let Some(last) = records.iter().map(|r| r.id).max() else { return Ok(()) };
        let _one_writer = self.writing.lock().await;
        self.write(&records).await?;
        raise_counter(&self.db.client().await?, &self.app, "invocation", last as i64).await
    }

    pub async fn get(&self, id: u64) -> Result<Option<InvocationRecord>, StoreError> {
        self.settle().await?;
        let row = self
            .db
            .client()
            .await?
            .query_opt(
                "SELECT record FROM chatfn_invocations WHERE app = $1 AND id = $2",
                &[&&*self.app, &(id as i64)],
            )
            .await
            .map_err(error)?;
        Ok(row.map(|r| serde_json::from_value(r.get(0))).transpose()?)
    }

    pub async fn list(
        &self,
        function_id: u64,
        page: usize,
        size: usize,
    ) -> Result<RecordPage, StoreError> {
        self.settle().await?;
        let c = self.db.client().await?;
        let (app, function_id) = (&*self.app, function_id as i64);
        let (limit, offset) = (size as i64, page.saturating_mul(size) as i64);
        type Params<'a> = [&'a (dyn tokio_postgres::types::ToSql + Sync)];
        let (counted, listed): (&Params, &Params) =
            (&[&app, &function_id], &[&app, &function_id, &limit, &offset]);
        let (total, rows) = futures::try_join!(
            c.query_one(
                "SELECT COUNT(*) FROM chatfn_invocations WHERE app = $1 AND function_id = $2",
                counted
            ),
            c.query(
                "SELECT record FROM chatfn_invocations WHERE app = $1 AND function_id = $2
                 ORDER BY created_time DESC, id DESC LIMIT $3 OFFSET $4",
                listed
            ),
        )
        .map_err(error)?;
        let records = rows
            .iter()
            .map(|r| serde_json::from_value(r.get(0)))
            .collect::<Result<Vec<InvocationRecord>, _>>()?;
        Ok(RecordPage { records, total: total.get::<_, i64>(0).max(0) as usize })
    }

    pub async fn set_shadow(&self, id: u64, shadow: Value) -> Result<(), StoreError> {
        self.settle().await?;
        self.db
            .client()
            .await?
            .execute(
                "UPDATE chatfn_invocations SET record = jsonb_set(record, '{shadow}', $3)
                 WHERE app = $1 AND id = $2",
                &[&&*self.app, &(id as i64), &shadow],
            )
            .await
            .map_err(error)?;
        Ok(())
    }
}
