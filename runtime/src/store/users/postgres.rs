//! Chat users in PostgreSQL (`chatfn_users`, `chatfn_user_secrets`), shared by every node.
//!
//! A user's name is claimed by the unique (app, name) index: of two nodes creating one name at
//! once, the second waits for the first's commit and gets a conflict. Ids come from the app's
//! row in `chatfn_counters`, bumped in the statement that inserts the user. A write returns
//! after its transaction committed. Session attempts hold their name with a lock of the
//! database (see [`PgUsers::hold_name`]).

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Row;

use super::{apply_patch, prepare, NewUser, User, UserPage, UserPatch};
use crate::store::error::{StoreError, Subject};
use crate::store::postgres::{error, raise_counter, Database, Held};
use crate::time::now_rfc3339;

const COLUMNS: &str = "id, name, display_name, is_guest, properties, created_time";

#[derive(Clone)]
pub struct PgUsers {
    db: Database,
    app: Arc<str>,
    /// Name holds keep a connection each for a whole attempt; at most half the pool does, so
    /// the functions of the attempts holding them always find one for their Users calls.
    holds: Arc<Semaphore>,
}

fn user(row: &Row) -> Result<User, StoreError> {
    let properties = match row.get::<_, Value>(4) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok(User {
        id: u64::try_from(row.get::<_, i64>(0))
            .map_err(|_| StoreError::Database("a user id below zero".into()))?,
        name: row.get(1),
        display_name: row.get(2),
        is_guest: row.get(3),
        properties,
        created_time: row.get(5),
    })
}

/// An id as PostgreSQL's BIGINT holds it; larger ones name no user.
fn db_id(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

impl PgUsers {
    pub fn new(db: &Database, app: &str) -> PgUsers {
        PgUsers {
            db: db.clone(),
            app: app.into(),
            holds: Arc::new(Semaphore::new((db.pool_size() / 2).max(1))),
        }
    }

    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let (name, display_name, is_guest, properties) = prepare(new)?;
        let app = self.app.to_string();
        let created_time = now_rfc3339();
        self.db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(&format!(
                        "WITH next AS (
                            INSERT INTO chatfn_counters (app, name, value) VALUES ($1, 'user', 1)
                            ON CONFLICT (app, name) DO UPDATE SET value = chatfn_counters.value + 1
                            RETURNING value)
                        INSERT INTO chatfn_users (app, id, name, display_name, is_guest, properties, created_time)
                        SELECT $1, value, $2, $3, $4, $5, $6 FROM next
                        ON CONFLICT (app, name) DO NOTHING
                        RETURNING {COLUMNS}"
                    ))
                    .await
                    .map_err(error)?;
                let properties = Value::Object(properties);
                let row = c
                    .query_opt(
                        &statement,
                        &[&app, &name, &display_name, &is_guest, &properties, &created_time],
                    )
                    .await
                    .map_err(error)?;
                match row {
                    Some(row) => user(&row),
                    None => Err(StoreError::Conflict(format!("a user named {name:?} already exists"))),
                }
            })
            .await
    }

    async fn one(
        &self,
        sql: &'static str,
        key: impl tokio_postgres::types::ToSql + Send + Sync + 'static,
    ) -> Result<Option<User>, StoreError> {
        let app = self.app.to_string();
        self.db
            .run(move |c| async move {
                let statement = c.prepare_cached(sql).await.map_err(error)?;
                let row = c.query_opt(&statement, &[&app, &key]).await.map_err(error)?;
                row.as_ref().map(user).transpose()
            })
            .await
    }

    pub async fn get(&self, id: u64) -> Result<Option<User>, StoreError> {
        let Some(id) = db_id(id) else { return Ok(None) };
        self.one(
            "SELECT id, name, display_name, is_guest, properties, created_time
             FROM chatfn_users WHERE app = $1 AND id = $2",
            id,
        )
        .await
    }

    /// The user of that (NFC) name.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.one(
            "SELECT id, name, display_name, is_guest, properties, created_time
             FROM chatfn_users WHERE app = $1 AND name = $2",
            name.to_string(),
        )
        .await
    }

    /// Whether a user of that (NFC) name exists.
    pub async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let (app, name) = (self.app.to_string(), name.to_string());
        self.db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached("SELECT 1 FROM chatfn_users WHERE app = $1 AND name = $2")
                    .await
                    .map_err(error)?;
                Ok(c.query_opt(&statement, &[&app, &name]).await.map_err(error)?.is_some())
            })
            .await
    }

    /// Reads, patches and writes the user in one transaction, its row locked meanwhile.
    pub async fn update(&self, id: u64, patch: UserPatch) -> Result<User, StoreError> {
        let Some(db_id) = db_id(id) else { return Err(StoreError::NotFound(Subject::User(id))) };
        let app = self.app.to_string();
        self.db
            .run(move |mut c| async move {
                let tx = c.transaction().await.map_err(error)?;
                let select = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM chatfn_users WHERE app = $1 AND id = $2 FOR UPDATE"
                    ))
                    .await
                    .map_err(error)?;
                let Some(row) = tx.query_opt(&select, &[&app, &db_id]).await.map_err(error)? else {
                    return Err(StoreError::NotFound(Subject::User(id)));
                };
                let mut user = user(&row)?;
                apply_patch(&mut user, &patch);
                let update = tx
                    .prepare_cached(
                        "UPDATE chatfn_users SET display_name = $3, is_guest = $4, properties = $5
                         WHERE app = $1 AND id = $2",
                    )
                    .await
                    .map_err(error)?;
                let properties = Value::Object(user.properties.clone());
                tx.execute(
                    &update,
                    &[&app, &db_id, &user.display_name, &user.is_guest, &properties],
                )
                .await
                .map_err(error)?;
                tx.commit().await.map_err(error)?;
                Ok(user)
            })
            .await
    }

    /// Deletes the user; its secrets go with it (ON DELETE CASCADE).
    pub async fn delete(&self, id: u64) -> Result<User, StoreError> {
        let Some(db_id) = db_id(id) else { return Err(StoreError::NotFound(Subject::User(id))) };
        let app = self.app.to_string();
        self.db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(&format!(
                        "DELETE FROM chatfn_users WHERE app = $1 AND id = $2 RETURNING {COLUMNS}"
                    ))
                    .await
                    .map_err(error)?;
                match c.query_opt(&statement, &[&app, &db_id]).await.map_err(error)? {
                    Some(row) => user(&row),
                    None => Err(StoreError::NotFound(Subject::User(id))),
                }
            })
            .await
    }

    /// Users in id order; `page` counts from 0.
    pub async fn list(&self, page: usize, size: usize) -> Result<UserPage, StoreError> {
        let app = self.app.to_string();
        let limit = i64::try_from(size).unwrap_or(i64::MAX);
        let offset = i64::try_from(page.saturating_mul(size)).unwrap_or(i64::MAX);
        self.db
            .run(move |c| async move {
                let count = c
                    .prepare_cached("SELECT COUNT(*) FROM chatfn_users WHERE app = $1")
                    .await
                    .map_err(error)?;
                let select = c
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM chatfn_users WHERE app = $1
                         ORDER BY id LIMIT $2 OFFSET $3"
                    ))
                    .await
                    .map_err(error)?;
                let (counted, listed) =
                    (&[&app as _][..], &[&app as _, &limit as _, &offset as _][..]);
                let (total, rows) =
                    futures::try_join!(c.query_one(&count, counted), c.query(&select, listed))
                        .map_err(error)?;
                let users = rows.iter().map(user).collect::<Result<Vec<_>, _>>()?;
                Ok(UserPage { users, total: total.get::<_, i64>(0).max(0) as usize })
            })
            .await
    }

    /// The user, or not found.
    async fn existing(&self, id: u64) -> Result<User, StoreError> {
        self.get(id).await?.ok_or(StoreError::NotFound(Subject::User(id)))
    }

    pub async fn set_secret(&self, id: u64, name: &str, value: &Value) -> Result<User, StoreError> {
        let user = self.existing(id).await?;
        let (app, name, value) = (self.app.to_string(), name.to_string(), value.clone());
        let db_id = user.id as i64;
        let written = self
            .db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(
                        "INSERT INTO chatfn_user_secrets (app, user_id, name, value)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (app, user_id, name) DO UPDATE SET value = EXCLUDED.value",
                    )
                    .await
                    .map_err(error)?;
                c.execute(&statement, &[&app, &db_id, &name, &value]).await.map_err(error)
            })
            .await;
        match written {
            Ok(_) => Ok(user),
            // The user was deleted between the read and the write.
            Err(StoreError::Database(m)) if m.contains("foreign key") => {
                Err(StoreError::NotFound(Subject::User(id)))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn get_secret(&self, id: u64, name: &str) -> Result<Value, StoreError> {
        let user = self.existing(id).await?;
        let (app, secret) = (self.app.to_string(), name.to_string());
        let value = self
            .db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(
                        "SELECT value FROM chatfn_user_secrets
                         WHERE app = $1 AND user_id = $2 AND name = $3",
                    )
                    .await
                    .map_err(error)?;
                let row = c
                    .query_opt(&statement, &[&app, &(user.id as i64), &secret])
                    .await
                    .map_err(error)?;
                Ok(row.map(|r| r.get::<_, Value>(0)))
            })
            .await?;
        value.ok_or_else(|| StoreError::NotFound(Subject::Secret { user: id, name: name.into() }))
    }

    pub async fn secret_names(&self, id: u64) -> Result<Vec<String>, StoreError> {
        let user = self.existing(id).await?;
        let app = self.app.to_string();
        self.db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(
                        "SELECT name FROM chatfn_user_secrets WHERE app = $1 AND user_id = $2
                         ORDER BY name",
                    )
                    .await
                    .map_err(error)?;
                let rows = c.query(&statement, &[&app, &(user.id as i64)]).await.map_err(error)?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
            .await
    }

    pub async fn remove_secret(&self, id: u64, name: &str) -> Result<User, StoreError> {
        let user = self.existing(id).await?;
        let (app, secret) = (self.app.to_string(), name.to_string());
        let db_id = user.id as i64;
        let removed = self
            .db
            .run(move |c| async move {
                let statement = c
                    .prepare_cached(
                        "DELETE FROM chatfn_user_secrets
                         WHERE app = $1 AND user_id = $2 AND name = $3",
                    )
                    .await
                    .map_err(error)?;
                c.execute(&statement, &[&app, &db_id, &secret]).await.map_err(error)
            })
            .await?;
        if removed == 0 {
            return Err(StoreError::NotFound(Subject::Secret { user: id, name: name.into() }));
        }
        Ok(user)
    }

    /// Whether the database answers now.
    pub async fn check_reachable(&self) -> Result<(), StoreError> {
        self.db.client().await?.simple_query("SELECT 1").await.map_err(error)?;
        Ok(())
    }

    /// Stores users as they are (ids, names, times), with their secrets, in one transaction;
    /// the id counter moves past them. A name or id already taken is a conflict.
    pub async fn import(&self, users: &[(User, Vec<(String, Value)>)]) -> Result<(), StoreError> {
        let mut c = self.db.client().await?;
        let tx = c.transaction().await.map_err(error)?;
        let app: &str = &self.app;
        let insert = tx
            .prepare(
                "INSERT INTO chatfn_users (app, id, name, display_name, is_guest, properties, created_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(error)?;
        let secret = tx
            .prepare("INSERT INTO chatfn_user_secrets (app, user_id, name, value) VALUES ($1, $2, $3, $4)")
            .await
            .map_err(error)?;
        let mut highest = 0i64;
        for (user, secrets) in users {
            let id = db_id(user.id)
                .ok_or(StoreError::Invalid(format!("user id {} is too large", user.id)))?;
            highest = highest.max(id);
            let properties = Value::Object(user.properties.clone());
            let inserted = tx
                .execute(
                    &insert,
                    &[
                        &app,
                        &id,
                        &user.name,
                        &user.display_name,
                        &user.is_guest,
                        &properties,
                        &user.created_time,
                    ],
                )
                .await;
            match inserted.map_err(error) {
                Ok(_) => {}
                Err(StoreError::Database(m)) if m.contains("duplicate key") => {
                    return Err(StoreError::Conflict(format!(
                        "user {} ({:?}) is already there",
                        user.id, user.name
                    )))
                }
                Err(e) => return Err(e),
            }
            for (name, value) in secrets {
                tx.execute(&secret, &[&app, &id, name, value]).await.map_err(error)?;
            }
        }
        raise_counter(&tx, app, "user", highest).await?;
        tx.commit().await.map_err(error)
    }

    /// Holds `name` until the returned hold is released or dropped: a transaction that holds
    /// the name's lock. On PostgreSQL, an advisory lock on a 64-bit key made from the app and
    /// the name (it writes nothing, so the commit that lets it go waits for no disk); where
    /// the database has no advisory locks (CockroachDB), the name's row in
    /// `chatfn_name_holds`, locked with SELECT ... FOR UPDATE (inserted the first time).
    pub async fn hold_name(&self, name: &str) -> Result<Hold, StoreError> {
        let permit = self.holds.clone().acquire_owned().await.expect("the semaphore stays open");
        let (app, name) = (self.app.to_string(), name.to_string());
        let advisory = self.db.has_advisory_locks();
        let held = self
            .db
            .run(move |c| async move {
                if advisory {
                    let lock = c
                        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
                        .await
                        .map_err(error)?;
                    let key = name_key(&app, &name);
                    let key: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&key];
                    let held = Held::new(c);
                    let c = held.client();
                    // Sent together: one round trip.
                    let (began, locked) =
                        futures::join!(c.batch_execute("BEGIN"), c.execute(&lock, key));
                    began.map_err(error)?;
                    locked.map_err(error)?;
                    return Ok(held);
                }
                let lock = c
                    .prepare_cached(
                        "SELECT 1 FROM chatfn_name_holds WHERE app = $1 AND name = $2 FOR UPDATE",
                    )
                    .await
                    .map_err(error)?;
                let held = Held::new(c);
                let c = held.client();
                // Sent together: one round trip when the row is there (every attempt but
                // a name's first).
                let key: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&app, &name];
                let (began, locked) =
                    futures::join!(c.batch_execute("BEGIN"), c.query_opt(&lock, key));
                began.map_err(error)?;
                if locked.map_err(error)?.is_none() {
                    let insert = c
                        .prepare_cached(
                            "INSERT INTO chatfn_name_holds (app, name) VALUES ($1, $2)
                             ON CONFLICT (app, name) DO NOTHING",
                        )
                        .await
                        .map_err(error)?;
                    // Inserted: the new row is ours until the commit. Not inserted: another
                    // transaction inserted it meanwhile and has committed; lock it.
                    if c.execute(&insert, &[&app, &name]).await.map_err(error)? == 0 {
                        c.query_opt(&lock, &[&app, &name]).await.map_err(error)?;
                    }
                }
                Ok(held)
            })
            .await?;
        Ok(Hold { held, permit })
    }
}

/// The advisory lock key of a user name of an app: the first 8 bytes of a SHA-256 of both (a
/// collision only makes two names wait for each other).
fn name_key(app: &str, name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(app).chain_update([0]).chain_update(name).finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// A name's lock: a transaction held on a connection of its own (closed, if the hold is
/// dropped unreleased), and a place among the holds the pool allows at once.
pub struct Hold {
    held: Held,
    permit: OwnedSemaphorePermit,
}

impl Hold {
    /// Ends the transaction, and with it the lock, in the background (the attempt's answer
    /// does not wait for it); then the connection goes back to the pool.
    pub fn release(self) {
        let Hold { held, permit } = self;
        crate::store::postgres::spawn(async move {
            held.commit().await;
            drop(permit);
        });
    }
}
