//! Application settings changed through the Platform API (`guest_users`), kept with the app's
//! data so they survive restarts: in the app's sled database, or in PostgreSQL's
//! `chatfn_settings`, where every node reads them. A value stored here wins over chatfn.toml
//! until the API (or `chatfn apply`) changes it again; `serve` warns when the two differ.

use std::sync::Arc;

use serde_json::Value;

use super::error::StoreError;
use super::postgres::{error, Database};
use crate::config::GuestUsers;

const GUEST_USERS: &str = "guest_users";

#[derive(Clone)]
pub enum SettingsStore {
    Sled { space: super::Space, tree: sled::Tree },
    Postgres { db: Database, app: Arc<str> },
}

impl SettingsStore {
    pub fn open(space: &super::Space) -> Result<SettingsStore, StoreError> {
        Ok(SettingsStore::Sled { space: space.clone(), tree: space.tree("settings")? })
    }

    pub async fn guest_users(&self) -> Result<Option<GuestUsers>, StoreError> {
        let value = match self {
            SettingsStore::Sled { tree, .. } => match tree.get(GUEST_USERS)? {
                Some(bytes) => Some(serde_json::from_slice(&bytes)?),
                None => None,
            },
            SettingsStore::Postgres { db, app } => {
                stored_guest_users(db, Some(app)).await?.pop().map(|(_, guests)| guests)
            }
        };
        Ok(value)
    }

    /// Durable when it returns. With PostgreSQL, the other nodes are told (see
    /// `postgres::Change`).
    pub async fn set_guest_users(&self, value: GuestUsers) -> Result<(), StoreError> {
        match self {
            SettingsStore::Sled { space, tree } => {
                tree.insert(GUEST_USERS, serde_json::to_vec(&value)?)?;
                space.flush().await
            }
            SettingsStore::Postgres { db, app } => {
                let (app, value) = (app.to_string(), serde_json::to_value(value)?);
                db.run(move |mut c| async move {
                    let tx = c.transaction().await.map_err(error)?;
                    tx.execute(
                        "INSERT INTO chatfn_settings (app, name, value) VALUES ($1, $2, $3)
                         ON CONFLICT (app, name) DO UPDATE SET value = EXCLUDED.value",
                        &[&app, &GUEST_USERS, &value],
                    )
                    .await
                    .map_err(error)?;
                    super::postgres::notify(&tx, &app, super::postgres::Change::SETTINGS, None)
                        .await?;
                    tx.commit().await.map_err(error)
                })
                .await
            }
        }
    }
}

/// The `guest_users` stored in `db` for `app`, or for every app.
pub async fn stored_guest_users(
    db: &Database,
    app: Option<&str>,
) -> Result<Vec<(String, GuestUsers)>, StoreError> {
    let app = app.map(str::to_string);
    let rows = db
        .run(move |c| async move {
            c.query(
                "SELECT app, value FROM chatfn_settings
                 WHERE name = $1 AND ($2::TEXT IS NULL OR app = $2)",
                &[&GUEST_USERS, &app],
            )
            .await
            .map_err(error)
        })
        .await?;
    rows.iter().map(|r| Ok((r.get(0), serde_json::from_value(r.get::<_, Value>(1))?))).collect()
}
