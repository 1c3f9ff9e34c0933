//! A node among several on one PostgreSQL database: what any node changes in an app's shared
//! state (its settings) reaches this node's running apps, through the database's change
//! notifications (`store::postgres::Change`), within a moment.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use crate::platform::PlatformApp;
use crate::session::Sessions;
use crate::store::postgres::{Change, Database};
use crate::store::settings;

/// Keeps `apps` in step with what other nodes change, for as long as the process runs.
pub fn follow(db: &Database, apps: &[PlatformApp]) {
    let mut changes = db.changes();
    let db = db.clone();
    let apps: HashMap<String, Arc<Sessions>> =
        apps.iter().map(|a| (a.app.name.clone(), a.sessions.clone())).collect();
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                // Missed some: read everything again.
                Err(RecvError::Lagged(_)) => Change { app: None, what: String::new() },
                Err(RecvError::Closed) => return,
            };
            if let Err(e) = apply(&db, &apps, &change).await {
                tracing::warn!("cannot read what another node changed ({e}); will retry");
            }
        }
    });
}

/// Reads what `change` says changed and applies it to the running apps.
async fn apply(
    db: &Database,
    apps: &HashMap<String, Arc<Sessions>>,
    change: &Change,
) -> Result<(), crate::store::StoreError> {
    let concerned = |app: &str| change.concerns(app, Change::SETTINGS);
    if change.app.as_deref().is_some_and(|app| !apps.contains_key(app) || !concerned(app)) {
        return Ok(());
    }
    for (app, guests) in settings::stored_guest_users(db, change.app.as_deref()).await? {
        if let Some(sessions) = apps.get(&app) {
            if sessions.guest_users() != guests {
                tracing::info!(app, ?guests, "guest_users changed on another node");
                sessions.set_guest_users(guests);
            }
        }
    }
    Ok(())
}
