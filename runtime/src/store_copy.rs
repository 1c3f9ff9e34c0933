//! `chatfn store copy --from DIR_OR_URL --to DIR_OR_URL`: moves apps' data between a sled data
//! directory and a PostgreSQL database (either way): users with their secrets, settings, the
//! runtime, functions and versions, Platform API keys, invocation records, and the chat
//! events' queue, dead letters, ids and counts, with their ids. Each part is read from the
//! source, written to the target (where the app must have no data yet), read back from the
//! target, and compared by count and SHA-256; a difference fails the copy. (Bearer tokens are
//! not copied: clients sign in again.)

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::GuestUsers;
use crate::platform::keys::{KeyFile, Keys, StoredKey};
use crate::store::events::EventsExport;
use crate::store::functions::Everything;
use crate::store::invocations::InvocationRecord;
use crate::store::postgres::{redact, Database};
use crate::store::{self, Store, User};

/// Where data is: a sled data directory (one folder per app) or a PostgreSQL URL.
pub enum Place {
    Sled(PathBuf),
    Postgres(String),
}

impl Place {
    pub fn parse(given: &str) -> Place {
        if given.starts_with("postgres://") || given.starts_with("postgresql://") {
            Place::Postgres(given.to_string())
        } else {
            Place::Sled(PathBuf::from(given))
        }
    }

    fn shown(&self) -> String {
        match self {
            Place::Sled(dir) => dir.display().to_string(),
            Place::Postgres(url) => redact(url),
        }
    }
}

/// A place opened: its apps' stores and keys.
struct Opened {
    place: Place,
    db: Option<Database>,
    /// With PostgreSQL, where the stores' per-node files go meanwhile (they are not copied).
    scratch: tempfile::TempDir,
}

impl Opened {
    async fn open(place: Place) -> anyhow::Result<Opened> {
        let db = match &place {
            Place::Postgres(url) => Some(
                Database::connect(url, 4)
                    .await
                    .with_context(|| format!("cannot use the store {}", redact(url)))?,
            ),
            Place::Sled(_) => None,
        };
        Ok(Opened { place, db, scratch: tempfile::tempdir()? })
    }

    /// The apps that have data here.
    async fn apps(&self) -> anyhow::Result<Vec<String>> {
        match (&self.place, &self.db) {
            (Place::Sled(dir), _) => {
                let mut apps: Vec<String> = std::fs::read_dir(dir)
                    .with_context(|| format!("cannot read the data directory {}", dir.display()))?
                    .flatten()
                    .filter(|e| e.path().join("db").is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                apps.sort();
                Ok(apps)
            }
            (_, Some(db)) => Ok(store::postgres::apps(db).await?),
            (Place::Postgres(_), None) => unreachable!("a database place is connected"),
        }
    }

    async fn store(&self, app: &str) -> anyhow::Result<Store> {
        Ok(match (&self.place, &self.db) {
            (Place::Sled(dir), _) => store::open(&dir.join(app), 1000).with_context(|| {
                format!("cannot open {} (is a server using it?)", dir.join(app).display())
            })?,
            (_, Some(db)) => {
                let local = self.scratch.path().join(uuid::Uuid::new_v4().to_string());
                store::open_shared(&local, 1000, db, app).await?
            }
            (Place::Postgres(_), None) => unreachable!("a database place is connected"),
        })
    }

    fn keys(&self, app: &str) -> Keys {
        match (&self.place, &self.db) {
            (Place::Sled(dir), _) => Keys::File(KeyFile::in_dir(&dir.join(app))),
            (_, Some(db)) => Keys::Postgres { db: db.clone(), app: app.to_string() },
            (Place::Postgres(_), None) => unreachable!("a database place is connected"),
        }
    }
}

/// An app's data as copied, each part in a fixed order.
#[derive(Debug, PartialEq)]
struct AppData {
    users: Vec<(User, Vec<(String, Value)>)>,
    settings: Option<GuestUsers>,
    functions: Everything,
    keys: Vec<StoredKey>,
    records: Vec<InvocationRecord>,
    events: EventsExport,
}

impl AppData {
    /// Whether the app has nothing here that a copy would write.
    fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.functions.functions.is_empty()
            && self.keys.is_empty()
            && self.records.is_empty()
            && self.events.queued.is_empty()
            && self.events.dead.is_empty()
            && self.events.ids.is_empty()
    }
}

async fn read(store: &Store, keys: &Keys) -> anyhow::Result<AppData> {
    let mut users = Vec::new();
    for user in store.users.list(0, usize::MAX, None).await?.users {
        let mut secrets = Vec::new();
        for name in store.users.secret_names(user.id).await? {
            let value = store.users.get_secret(user.id, &name).await?;
            secrets.push((name, value));
        }
        secrets.sort_by(|a, b| a.0.cmp(&b.0));
        users.push((user, secrets));
    }
    let mut keys = keys.list().await?;
    keys.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(AppData {
        users,
        settings: store.settings.guest_users().await?,
        functions: store.functions.everything()?,
        keys,
        records: store.invocations.all().await?,
        events: store.events.export().await?,
    })
}

/// `value` with every object's keys in order (PostgreSQL's JSONB keeps them in an order of
/// its own), so equal data digests equally on both sides.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Counts and digests of each part.
fn summary(data: &AppData) -> Vec<(&'static str, usize, String)> {
    fn digest(value: &impl Serialize) -> String {
        let value = canonical(serde_json::to_value(value).expect("serializable"));
        let bytes = serde_json::to_vec(&value).expect("serializable");
        crate::hex::hex(&Sha256::digest(bytes))[..16].to_string()
    }
    let secrets: Vec<_> =
        data.users.iter().flat_map(|(u, s)| s.iter().map(move |s| (u.id, s))).collect();
    let users: Vec<&User> = data.users.iter().map(|(u, _)| u).collect();
    vec![
        ("users", users.len(), digest(&users)),
        ("user secrets", secrets.len(), digest(&secrets)),
        ("settings", data.settings.iter().count(), digest(&data.settings)),
        ("runtime", 1, digest(&data.functions.runtime)),
        ("functions", data.functions.functions.len(), digest(&data.functions.functions)),
        ("versions", data.functions.versions.len(), digest(&data.functions.versions)),
        ("applied", data.functions.applied.len(), digest(&data.functions.applied)),
        ("platform keys", data.keys.len(), digest(&data.keys)),
        ("invocations", data.records.len(), digest(&data.records)),
        ("queued events", data.events.queued.len(), digest(&data.events.queued)),
        ("dead letters", data.events.dead.len(), digest(&data.events.dead)),
        ("event ids", data.events.ids.len(), digest(&data.events.ids)),
        (
            "event counts",
            data.events.counts.values().sum::<u64>() as usize,
            digest(&data.events.counts),
        ),
    ]
}

/// Copies `apps` (all the source has when empty) from `from` to `to`; prints what it did.
pub async fn copy(from: Place, to: Place, apps: &[String]) -> anyhow::Result<()> {
    if let (Place::Sled(a), Place::Sled(b)) = (&from, &to) {
        anyhow::bail!("{} and {}: one side must be a postgres:// URL", a.display(), b.display());
    }
    let (from, to) = (Opened::open(from).await?, Opened::open(to).await?);
    let apps = if apps.is_empty() { from.apps().await? } else { apps.to_vec() };
    if apps.is_empty() {
        anyhow::bail!("{} holds no app's data", from.place.shown());
    }
    for app in &apps {
        let source = from.store(app).await?;
        let data = read(&source, &from.keys(app)).await?;
        drop(source);
        let target = to.store(app).await?;
        let target_keys = to.keys(app);
        let already = read(&target, &target_keys).await?;
        if !already.is_empty() {
            anyhow::bail!(
                "app '{app}' already has data in {} ({} users, {} functions, {} keys, {} \
                 records, {} events); the copy does not merge",
                to.place.shown(),
                already.users.len(),
                already.functions.functions.len(),
                already.keys.len(),
                already.records.len(),
                already.events.queued.len() + already.events.dead.len()
            );
        }
        target.users.import(&data.users).await?;
        if let Some(guests) = data.settings {
            target.settings.set_guest_users(guests).await?;
        }
        target.functions.import(&data.functions).await?;
        target_keys.import(&data.keys).await?;
        target.invocations.import(data.records.clone()).await?;
        target.events.import(&data.events).await?;
        target.functions.flush().await?;
        drop(target);

        // Read back from a fresh opening, as a server would.
        let copied = read(&to.store(app).await?, &to.keys(app)).await?;
        let (wanted, got) = (summary(&data), summary(&copied));
        println!("app '{app}': {} → {}", from.place.shown(), to.place.shown());
        for ((part, count, digest), (_, copied_count, copied_digest)) in wanted.iter().zip(&got) {
            let same = count == copied_count && digest == copied_digest;
            println!(
                "  {part:<14} {count:>8}  sha256 {digest}  {}",
                if same { "= target" } else { "DIFFERS in the target" }
            );
        }
        if wanted != got || data != copied {
            anyhow::bail!("app '{app}': the target does not hold what the source does (see above)");
        }
    }
    println!("chatfn: copied {} app(s); every part verified", apps.len());
    Ok(())
}
