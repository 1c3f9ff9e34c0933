//! What an app runs, in PostgreSQL (`chatfn_runtimes`, `chatfn_functions`,
//! `chatfn_function_versions`, `chatfn_applied`), shared by every node.
//!
//! Each node reads from a copy of the app's rows in memory ([`Copy`]), loaded at start and
//! again after each write and whenever another node announces a change (`cluster.rs`): reads
//! are as quick as with sled, and deploying needs no round trip. Each write is one transaction
//! that also announces the change (NOTIFY, delivered at commit).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{Everything, FunctionRecord, RuntimeRecord, VersionRecord};
use crate::store::error::{StoreError, Subject};
use crate::store::postgres::{bump_counter, error, notify, raise_counter, Change, Database, Held};
use crate::time::now_rfc3339;

/// The app's rows as last read.
#[derive(Debug, Default, Clone, PartialEq)]
struct Copy {
    /// The app's `functions` row of `chatfn_generations` when this copy was read.
    generation: i64,
    runtime: RuntimeRecord,
    functions: BTreeMap<u64, FunctionRecord>,
    versions: BTreeMap<u64, VersionRecord>,
    applied: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct PgFunctions {
    db: Database,
    app: Arc<str>,
    copy: Arc<RwLock<Copy>>,
}

fn u64_of(row: &Row, column: usize) -> u64 {
    row.get::<_, i64>(column).max(0) as u64
}

fn function(row: &Row) -> FunctionRecord {
    FunctionRecord {
        id: u64_of(row, 0),
        trigger: row.get(1),
        name: row.get(2),
        description: row.get(3),
        enabled: row.get(4),
        current_version_number: u64_of(row, 5),
        shadow_version_number: row.get::<_, Option<i64>>(6).map(|n| n.max(0) as u64),
        created_time: row.get(7),
    }
}

const FUNCTION_COLUMNS: &str = "id, trigger, name, description, enabled, current_version_number, \
                                shadow_version_number, created_time";

/// Stores a version as it is.
async fn insert_version(
    tx: &Transaction<'_>,
    app: &str,
    v: &VersionRecord,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO chatfn_function_versions
         (app, id, function_id, version_number, handler_script, file, created_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &app,
            &(v.id as i64),
            &(v.function_id as i64),
            &(v.version_number as i64),
            &v.handler_script,
            &v.file,
            &v.created_time,
        ],
    )
    .await
    .map_err(error)?;
    Ok(())
}

/// The next id of `kind` in `app` (ids count per app, as with sled).
async fn next_id(tx: &Transaction<'_>, app: &str, kind: &str) -> Result<i64, StoreError> {
    bump_counter(tx, app, kind, 1).await
}

impl PgFunctions {
    /// The app's functions, read once now.
    pub async fn open(db: &Database, app: &str) -> Result<PgFunctions, StoreError> {
        let functions =
            PgFunctions { db: db.clone(), app: app.into(), copy: Arc::new(RwLock::default()) };
        functions.reload().await?;
        Ok(functions)
    }

    /// Reads the app's rows again; answers whether anything differed from the copy.
    pub async fn reload(&self) -> Result<bool, StoreError> {
        let c = self.db.client().await?;
        let app: &str = &self.app;
        let key: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&app];
        let functions_sql =
            format!("SELECT {FUNCTION_COLUMNS} FROM chatfn_functions WHERE app = $1");
        // Sent together, answered in one round trip.
        // The generation first: the rows read after it are at least that new.
        let (generation, runtime, functions, versions, applied) = futures::try_join!(
            c.query_opt(
                "SELECT generation FROM chatfn_generations WHERE app = $1 AND what = 'functions'",
                key
            ),
            c.query_opt("SELECT record FROM chatfn_runtimes WHERE app = $1", key),
            c.query(&functions_sql, key),
            c.query(
                "SELECT id, function_id, version_number, handler_script, file, created_time
                 FROM chatfn_function_versions WHERE app = $1",
                key
            ),
            c.query("SELECT item, digest FROM chatfn_applied WHERE app = $1", key),
        )
        .map_err(error)?;
        let copy = Copy {
            generation: generation.map_or(0, |r| r.get(0)),
            runtime: match runtime {
                Some(row) => serde_json::from_value(row.get(0))?,
                None => RuntimeRecord::default(),
            },
            functions: functions.iter().map(function).map(|f| (f.id, f)).collect(),
            versions: versions
                .iter()
                .map(|r| VersionRecord {
                    id: u64_of(r, 0),
                    function_id: u64_of(r, 1),
                    version_number: u64_of(r, 2),
                    handler_script: r.get(3),
                    file: r.get(4),
                    created_time: r.get(5),
                })
                .map(|v| (v.id, v))
                .collect(),
            applied: applied.iter().map(|r| (r.get(0), r.get(1))).collect(),
        };
        let mut current = self.copy.write().unwrap();
        let changed = *current != copy;
        *current = copy;
        Ok(changed)
    }

    /// Runs `write` in a transaction that also announces a change of the app's functions, then
    /// renews the copy.
    async fn write<T>(
        &self,
        write: impl AsyncFnOnce(&Transaction<'_>, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let value = write(&tx, &self.app).await?;
        tx.execute(
            "INSERT INTO chatfn_generations (app, what, generation) VALUES ($1, 'functions', 1)
             ON CONFLICT (app, what) DO UPDATE SET generation = chatfn_generations.generation + 1",
            &[&&*self.app],
        )
        .await
        .map_err(error)?;
        notify(&tx, &self.app, Change::FUNCTIONS, None).await?;
        tx.commit().await.map_err(error)?;
        drop(c);
        self.reload().await?;
        Ok(value)
    }

    /// The generation of the rows the copy holds (see `chatfn_generations`).
    pub fn generation(&self) -> i64 {
        self.copy.read().unwrap().generation
    }

    pub fn runtime(&self) -> Result<RuntimeRecord, StoreError> {
        Ok(self.copy.read().unwrap().runtime.clone())
    }

    /// Applies `change` to the runtime as stored (its row locked meanwhile).
    pub async fn update_runtime(
        &self,
        change: impl FnOnce(&mut RuntimeRecord),
    ) -> Result<RuntimeRecord, StoreError> {
        self.write(async |tx, app| {
            let empty = serde_json::to_value(RuntimeRecord::default())?;
            tx.execute(
                "INSERT INTO chatfn_runtimes (app, record) VALUES ($1, $2)
                 ON CONFLICT (app) DO NOTHING",
                &[&app, &empty],
            )
            .await
            .map_err(error)?;
            let row = tx
                .query_one("SELECT record FROM chatfn_runtimes WHERE app = $1 FOR UPDATE", &[&app])
                .await
                .map_err(error)?;
            let mut runtime: RuntimeRecord = serde_json::from_value(row.get(0))?;
            change(&mut runtime);
            runtime.version += 1;
            let record = serde_json::to_value(&runtime)?;
            tx.execute("UPDATE chatfn_runtimes SET record = $2 WHERE app = $1", &[&app, &record])
                .await
                .map_err(error)?;
            Ok(runtime)
        })
        .await
    }

    pub fn functions(&self) -> Result<Vec<FunctionRecord>, StoreError> {
        Ok(self.copy.read().unwrap().functions.values().cloned().collect())
    }

    pub fn function(&self, id: u64) -> Result<Option<FunctionRecord>, StoreError> {
        Ok(self.copy.read().unwrap().functions.get(&id).cloned())
    }

    pub async fn create_function(
        &self,
        trigger: &str,
        name: &str,
        description: Option<String>,
    ) -> Result<FunctionRecord, StoreError> {
        let created = self
            .write(async |tx, app| {
                let id = next_id(tx, app, "function").await?;
                let row = tx
                    .query_opt(
                        &format!(
                            "INSERT INTO chatfn_functions (app, {FUNCTION_COLUMNS})
                             VALUES ($1, $2, $3, $4, $5, TRUE, 0, NULL, $6)
                             ON CONFLICT (app, trigger) DO NOTHING
                             RETURNING {FUNCTION_COLUMNS}"
                        ),
                        &[&app, &id, &trigger, &name, &description, &now_rfc3339()],
                    )
                    .await
                    .map_err(error)?;
                Ok(row.as_ref().map(function))
            })
            .await?;
        created
            .ok_or_else(|| StoreError::Conflict(format!("a function for {trigger} already exists")))
    }

    pub async fn delete_function(&self, id: u64) -> Result<FunctionRecord, StoreError> {
        let deleted = self
            .write(async |tx, app| {
                let row = tx
                    .query_opt(
                        &format!(
                            "DELETE FROM chatfn_functions WHERE app = $1 AND id = $2
                             RETURNING {FUNCTION_COLUMNS}"
                        ),
                        &[&app, &(id as i64)],
                    )
                    .await
                    .map_err(error)?;
                let Some(record) = row.as_ref().map(function) else { return Ok(None) };
                // Taken from the directory again if it comes back there.
                tx.execute(
                    "DELETE FROM chatfn_applied WHERE app = $1 AND item = $2",
                    &[&app, &format!("function.{}", record.trigger)],
                )
                .await
                .map_err(error)?;
                Ok(Some(record))
            })
            .await?;
        deleted.ok_or(StoreError::NotFound(Subject::Function(id)))
    }

    pub fn versions(&self, function_id: u64) -> Result<Vec<VersionRecord>, StoreError> {
        let copy = self.copy.read().unwrap();
        let mut versions: Vec<VersionRecord> =
            copy.versions.values().filter(|v| v.function_id == function_id).cloned().collect();
        versions.sort_by_key(|v| v.version_number);
        Ok(versions)
    }

    pub fn version(&self, id: u64) -> Result<Option<VersionRecord>, StoreError> {
        Ok(self.copy.read().unwrap().versions.get(&id).cloned())
    }

    /// A new version, numbered after the function's highest (its row locked meanwhile), made
    /// the current one.
    pub async fn add_version(
        &self,
        function_id: u64,
        handler_script: &str,
        file: &str,
    ) -> Result<VersionRecord, StoreError> {
        let fid = function_id as i64;
        let added = self
            .write(async |tx, app| {
                let locked = tx
                    .query_opt(
                        "SELECT id FROM chatfn_functions WHERE app = $1 AND id = $2 FOR UPDATE",
                        &[&app, &fid],
                    )
                    .await
                    .map_err(error)?;
                if locked.is_none() {
                    return Ok(None);
                }
                let highest: i64 = tx
                    .query_one(
                        "SELECT COALESCE(MAX(version_number), 0) FROM chatfn_function_versions
                         WHERE app = $1 AND function_id = $2",
                        &[&app, &fid],
                    )
                    .await
                    .map_err(error)?
                    .get(0);
                let version = VersionRecord {
                    id: next_id(tx, app, "version").await? as u64,
                    function_id,
                    version_number: highest as u64 + 1,
                    handler_script: handler_script.to_string(),
                    file: file.to_string(),
                    created_time: now_rfc3339(),
                };
                insert_version(tx, app, &version).await?;
                tx.execute(
                    "UPDATE chatfn_functions SET current_version_number = $3
                     WHERE app = $1 AND id = $2",
                    &[&app, &fid, &(version.version_number as i64)],
                )
                .await
                .map_err(error)?;
                Ok(Some(version))
            })
            .await?;
        added.ok_or(StoreError::NotFound(Subject::Function(function_id)))
    }

    /// Saves a changed function record (which version is current or in shadow, ...).
    pub async fn save_function(&self, f: &FunctionRecord) -> Result<(), StoreError> {
        let updated = self
            .write(async |tx, app| {
                tx.execute(
                    "UPDATE chatfn_functions SET name = $3, description = $4, enabled = $5,
                     current_version_number = $6, shadow_version_number = $7
                     WHERE app = $1 AND id = $2",
                    &[
                        &app,
                        &(f.id as i64),
                        &f.name,
                        &f.description,
                        &f.enabled,
                        &(f.current_version_number as i64),
                        &f.shadow_version_number.map(|n| n as i64),
                    ],
                )
                .await
                .map_err(error)
            })
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound(Subject::Function(f.id)));
        }
        Ok(())
    }

    /// Every item's digest of what was last taken from the app directory.
    pub fn applied_all(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self.copy.read().unwrap().applied.clone())
    }

    /// Stores `all` as it is (ids kept; the counters move past them), in one transaction.
    pub async fn import(&self, all: &Everything) -> Result<(), StoreError> {
        self.write(async |tx, app| {
            let runtime = serde_json::to_value(&all.runtime)?;
            tx.execute(
                "INSERT INTO chatfn_runtimes (app, record) VALUES ($1, $2)
                 ON CONFLICT (app) DO UPDATE SET record = EXCLUDED.record",
                &[&app, &runtime],
            )
            .await
            .map_err(error)?;
            for f in &all.functions {
                tx.execute(
                    &format!(
                        "INSERT INTO chatfn_functions (app, {FUNCTION_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ),
                    &[
                        &app,
                        &(f.id as i64),
                        &f.trigger,
                        &f.name,
                        &f.description,
                        &f.enabled,
                        &(f.current_version_number as i64),
                        &f.shadow_version_number.map(|n| n as i64),
                        &f.created_time,
                    ],
                )
                .await
                .map_err(error)?;
            }
            for v in &all.versions {
                insert_version(tx, app, v).await?;
            }
            for (item, digest) in &all.applied {
                tx.execute(
                    "INSERT INTO chatfn_applied (app, item, digest) VALUES ($1, $2, $3)
                     ON CONFLICT (app, item) DO UPDATE SET digest = EXCLUDED.digest",
                    &[&app, item, digest],
                )
                .await
                .map_err(error)?;
            }
            for (kind, highest) in [
                ("function", all.functions.iter().map(|f| f.id).max()),
                ("version", all.versions.iter().map(|v| v.id).max()),
            ] {
                let Some(highest) = highest else { continue };
                raise_counter(tx, app, kind, highest as i64).await?;
            }
            Ok(())
        })
        .await
    }

    pub fn applied(&self, item: &str) -> Result<Option<String>, StoreError> {
        Ok(self.copy.read().unwrap().applied.get(item).cloned())
    }

    pub async fn set_applied(&self, item: &str, digest: &str) -> Result<(), StoreError> {
        self.write(async |tx, app| {
            tx.execute(
                "INSERT INTO chatfn_applied (app, item, digest) VALUES ($1, $2, $3)
                 ON CONFLICT (app, item) DO UPDATE SET digest = EXCLUDED.digest",
                &[&app, &item, &digest],
            )
            .await
            .map_err(error)?;
            Ok(())
        })
        .await
    }

    /// Holds the app's lock named `name` until the returned transaction ends: one node at a
    /// time takes the app directory into the store.
    pub async fn lock(&self, name: &str) -> Result<Held, StoreError> {
        let c = self.db.client().await?;
        let app: &str = &self.app;
        c.execute(
            "INSERT INTO chatfn_app_locks (app, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&app, &name],
        )
        .await
        .map_err(error)?;
        let lock = Held::new(c);
        let c = lock.client();
        c.batch_execute("BEGIN").await.map_err(error)?;
        c.query_one(
            "SELECT 1 FROM chatfn_app_locks WHERE app = $1 AND name = $2 FOR UPDATE",
            &[&app, &name],
        )
        .await
        .map_err(error)?;
        // What the node that held it before changed is read now.
        self.reload().await?;
        Ok(lock)
    }
}

/// Every app's generation of its functions in `db`.
pub async fn generations(db: &Database) -> Result<BTreeMap<String, i64>, StoreError> {
    let c = db.client().await?;
    let rows = c
        .query("SELECT app, generation FROM chatfn_generations WHERE what = 'functions'", &[])
        .await
        .map_err(error)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
