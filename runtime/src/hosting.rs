//! The apps one `chatfn serve` hosts, and their opening: an app's store, what its directory
//! changed taken into it, its npm dependencies, its isolate pool, its chat events' delivery.
//!
//! A server of at most `OPEN_BEFORE_SERVING` apps (or on a shared database) opens them all
//! before it serves, and stops on the first that cannot be opened. A larger one serves at once
//! and opens its apps in the background, in the order given; an app asked for before its turn
//! (a session attempt, a Platform API call) is opened for that request. Opening an app's sled
//! database costs a few milliseconds of file system work (sled rewrites and syncs the end of
//! its log), which for 10,000 apps is more than ten seconds. An app that cannot be opened is
//! logged; the others serve, and its requests answer 503 with the reason (and try again).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;

use crate::config::App;
use crate::platform::keys::{KeyFile, Keys};
use crate::platform::PlatformApp;
use crate::session::Sessions;
use crate::store::postgres::Database;
use crate::worker::Start;
use crate::{deploy, store};

/// A server of at most this many apps opens them before it serves, and builds each one's
/// first isolate at once; a larger one starts its apps hibernated (an app's first attempt
/// builds its first isolate, about 20 ms for a small app) and opens them in the background.
pub const OPEN_BEFORE_SERVING: usize = 16;

/// Apps opened at once, at start (each waits for its files, so more than the cores).
const OPENED_AT_ONCE: usize = 16;

/// Where a server keeps its apps, and how it starts them.
pub struct Hosting {
    data: PathBuf,
    shared: Option<Database>,
    /// With a shared database, whether this node delivers the chat events.
    leader: Option<tokio::sync::watch::Receiver<bool>>,
    start: Start,
    /// The runtime apps open in (a request's own thread serves connections: it must not wait
    /// for files).
    runtime: tokio::runtime::Handle,
}

/// One app of the server: its configuration and keys at once, the rest once opened.
pub struct HostedApp {
    pub app: App,
    pub keys: Keys,
    hosting: Arc<Hosting>,
    opened: OnceLock<Arc<PlatformApp>>,
    /// Held for as long as an opening runs (by the opening task, which a caller that stops
    /// waiting does not cancel): one opening at a time.
    opening: Arc<tokio::sync::Mutex<()>>,
}

impl Hosting {
    /// Every app of `apps`, not yet opened.
    pub fn apps(
        apps: &[App],
        data: &Path,
        shared: Option<&Database>,
        leader: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Vec<Arc<HostedApp>> {
        let hosting = Arc::new(Hosting {
            data: data.to_path_buf(),
            shared: shared.cloned(),
            leader,
            start: if apps.len() > OPEN_BEFORE_SERVING { Start::Hibernated } else { Start::Warm },
            runtime: tokio::runtime::Handle::current(),
        });
        apps.iter()
            .map(|app| {
                Arc::new(HostedApp {
                    app: app.clone(),
                    keys: keys_of(app, data, shared),
                    hosting: hosting.clone(),
                    opened: OnceLock::new(),
                    opening: Default::default(),
                })
            })
            .collect()
    }
}

impl HostedApp {
    /// The app, opened now if it was not yet.
    pub async fn open(self: &Arc<Self>) -> Result<Arc<PlatformApp>, String> {
        if let Some(opened) = self.opened.get() {
            return Ok(opened.clone());
        }
        let turn = self.opening.clone().lock_owned().await;
        if let Some(opened) = self.opened.get() {
            return Ok(opened.clone());
        }
        let me = self.clone();
        let runtime = self.hosting.runtime.clone();
        // On a thread of tokio's blocking pool: opening a store waits for files, and a runtime
        // worker waiting for them (the runtime has one per core) would hold up the openings
        // behind it, among them one that a request waits for.
        let opening = self.hosting.runtime.spawn_blocking(move || {
            let _turn = turn;
            let opened = Arc::new(runtime.block_on(me.open_now())?);
            let _ = me.opened.set(opened.clone());
            anyhow::Ok(opened)
        });
        match opening.await {
            Ok(opened) => {
                opened.map_err(|e| format!("app {} cannot be opened: {e:#}", self.app.name))
            }
            Err(e) => Err(format!("opening app {} failed: {e}", self.app.name)),
        }
    }

    /// The app if it is open.
    pub fn opened(&self) -> Option<&Arc<PlatformApp>> {
        self.opened.get()
    }

    async fn open_now(&self) -> anyhow::Result<PlatformApp> {
        let hosting = &*self.hosting;
        let app = &self.app;
        let (sessions, store) =
            open_app(app, &hosting.data, hosting.shared.as_ref(), true, hosting.start).await?;
        let sessions = Arc::new(sessions);
        let records = (app.invocation_retention > 0).then(|| store.invocations.clone());
        let events = crate::events::delivery::Delivery::start(
            app,
            sessions.clone(),
            store.events.clone(),
            records,
            hosting.leader.clone(),
        )
        .await
        .with_context(|| format!("starting the event delivery of app {}", app.name))?;
        Ok(PlatformApp::new(app.clone(), sessions, store, events))
    }
}

/// Opens `apps`, `OPENED_AT_ONCE` at a time, in their order: the first error, if any.
pub async fn open_all(apps: &[Arc<HostedApp>]) -> Result<(), String> {
    let mut opened = futures::stream::iter(apps.iter().cloned())
        .map(|app| async move { app.open().await.map(|_| ()) })
        .buffered(OPENED_AT_ONCE);
    while let Some(result) = opened.next().await {
        result?;
    }
    Ok(())
}

/// Opens `apps` in the background (see the module's note), logs those that cannot be opened,
/// and prints a line on stdout when every app was tried.
pub fn open_in_background(apps: Vec<Arc<HostedApp>>) {
    tokio::spawn(async move {
        let started = Instant::now();
        let failed: usize = futures::stream::iter(apps.iter().cloned())
            .map(|app| async move {
                let result = app.open().await;
                if let Err(e) = &result {
                    tracing::error!(app = %app.app.name, "{e}");
                }
                usize::from(result.is_err())
            })
            .buffered(OPENED_AT_ONCE)
            .fold(0, |n, failed| async move { n + failed })
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let count = apps.len();
        let line = match failed {
            0 => format!("all {count} apps open ({seconds:.1} s after serving)"),
            _ => format!(
                "{} of {count} apps open ({seconds:.1} s after serving); {failed} could not be opened (see the log)",
                count - failed
            ),
        };
        tracing::info!("{line}");
        println!("chatfn: {line}");
    });
}

/// Store (under `data/<app name>`), isolate pool and session rules of one app. What changed
/// in the app directory is taken into the store first (`deploy`); then what the store says
/// runs, its npm dependencies installed first when `install` is set.
pub(crate) async fn open_app(
    app: &App,
    data: &Path,
    shared: Option<&Database>,
    install: bool,
    start: Start,
) -> anyhow::Result<(Sessions, store::Store)> {
    let dir = data.join(&app.name);
    let store = match shared {
        Some(db) => store::open_shared(&dir, app.invocation_retention, db, &app.name).await,
        None => store::open(&dir, app.invocation_retention),
    }
    .with_context(|| {
        format!(
            "cannot open the data directory {} (is another chatfn process using it?)",
            dir.display()
        )
    })?;
    let changes = deploy::take_directory(app, &store)
        .await
        .context("taking the app directory into the store")?;
    if !changes.is_empty() {
        tracing::info!(app = %app.name, "from the app directory: {}", changes.join(", "));
    }
    let (running, versions) = deploy::effective_app(app, &store)?;
    if install {
        let report = deploy::install_dependencies(&running)
            .await
            .with_context(|| format!("installing the npm dependencies of app {}", app.name))?;
        if let Some(report) = report.filter(|r| r.changed) {
            crate::commands::print_install_report(&report);
        }
    }
    let deployment = deploy::launch(&running, versions, &store, &store.users, start)?;
    let records = (app.invocation_retention > 0).then(|| store.invocations.clone());
    let sessions = Sessions::deployed(app, store.users.clone(), deployment, records);
    if let Some(guests) = store.settings.guest_users().await? {
        sessions.set_guest_users(guests);
    }
    Ok((sessions, store))
}

/// An app's Platform API keys: in its data directory, or in the shared database.
pub(crate) fn keys_of(app: &App, data: &Path, shared: Option<&Database>) -> Keys {
    match shared {
        Some(db) => Keys::Postgres { db: db.clone(), app: app.name.clone() },
        None => Keys::File(KeyFile::in_dir(&data.join(&app.name))),
    }
}

/// For `chatfn serve`: a line for people and for scripts, like "app 'example'" or
/// "24 apps ('app0', 'app1', ...)".
pub fn shown(apps: &[App]) -> String {
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    match names.len() {
        n if n > 10 => format!("{n} apps ('{}', '{}', ...)", names[0], names[1]),
        _ => format!("app '{}'", names.join("', '")),
    }
}
