//! A node among several on one PostgreSQL database: what any node changes in an app's shared
//! state reaches this node's running apps within a moment. Settings are applied to the app's
//! sessions; a change of what the app runs (runtime, functions, versions) is read into the
//! app's copy and deployed here too, after installing changed npm dependencies into this
//! node's app directory; chat events another node queued are scheduled here when this node
//! is the one delivering them (`events::leader`). Changes arrive as notifications (`store::postgres::Change`); after a
//! reconnection and every few seconds, one query per kind finds what a lost one would have
//! said.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use crate::platform::PlatformApp;
use crate::store::functions::{generations, FunctionsStore};
use crate::store::postgres::{Change, Database};
use crate::store::{settings, StoreError};

/// Keeps `apps` in step with what other nodes change, for as long as the process runs.
pub fn follow(db: &Database, apps: Vec<Arc<PlatformApp>>) {
    let mut changes = db.changes();
    let db = db.clone();
    let apps: HashMap<String, Arc<PlatformApp>> =
        apps.into_iter().map(|a| (a.app.name.clone(), a)).collect();
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                // Missed some: look at everything.
                Err(RecvError::Lagged(_)) => Change::everything(),
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
    apps: &HashMap<String, Arc<PlatformApp>>,
    change: &Change,
) -> Result<(), StoreError> {
    match change.app.as_deref() {
        Some(name) => {
            let Some(app) = apps.get(name) else { return Ok(()) };
            if change.concerns(name, Change::SETTINGS) {
                apply_settings(db, apps, Some(name)).await?;
            }
            if change.concerns(name, Change::FUNCTIONS) && app.store.functions.reload().await? {
                redeploy(app).await;
            }
            if change.concerns(name, Change::EVENTS) {
                let range = change.detail.as_deref().and_then(|d| {
                    let (from, to) = d.split_once('-')?;
                    Some((from.parse().ok()?, to.parse().ok()?))
                });
                app.events.refresh(range).await?;
            }
        }
        None => {
            apply_settings(db, apps, None).await?;
            for (name, generation) in generations(db).await? {
                let Some(app) = apps.get(&name) else { continue };
                let FunctionsStore::Postgres(functions) = &app.store.functions else { continue };
                if functions.generation() != generation && functions.reload().await? {
                    redeploy(app).await;
                }
            }
            // Events queued that this node, when it delivers, has not scheduled.
            if apps.values().any(|app| app.events.delivers()) {
                for (name, queued) in crate::store::events::queued_counts(db).await? {
                    let Some(app) = apps.get(&name) else { continue };
                    if app.events.scheduled() != queued {
                        app.events.refresh(None).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

async fn apply_settings(
    db: &Database,
    apps: &HashMap<String, Arc<PlatformApp>>,
    app: Option<&str>,
) -> Result<(), StoreError> {
    for (name, guests) in settings::stored_guest_users(db, app).await? {
        if let Some(app) = apps.get(&name) {
            if app.sessions.guest_users() != guests {
                tracing::info!(app = name, ?guests, "guest_users changed on another node");
                app.sessions.set_guest_users(guests);
            }
        }
    }
    Ok(())
}

/// Deploys what the store now says `app` runs, its npm dependencies installed first.
async fn redeploy(app: &PlatformApp) {
    let redeployed = async {
        let (running, _) = crate::deploy::effective_app(&app.app, &app.store)?;
        crate::deploy::install_dependencies(&running).await?;
        crate::deploy::redeploy(&app.app, &app.store, &app.sessions)
    };
    match redeployed.await {
        Ok(()) => tracing::info!(app = %app.app.name, "deployed a change made on another node"),
        Err(e) => {
            tracing::error!(app = %app.app.name, "cannot deploy a change made on another node: {e:#}")
        }
    }
}
