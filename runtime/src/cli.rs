//! Command-line arguments as typed by the user (raw), and their validation into what the
//! commands run (`ServeConfig`, `InvokeConfig`), so a bad flag is reported before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{App, SharedStore};

#[derive(Parser, Debug)]
#[command(name = "chatfn", version, about = "Self-hosted runtime for chat functions")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the session API of one or more apps over HTTP.
    Serve {
        /// The app directory (holding chatfn.toml) or an app file. Repeat it to host several
        /// apps, each in its own isolate and store; the first one also answers /v1/sessions.
        #[arg(long, default_value = ".")]
        app: Vec<PathBuf>,
        /// Where the embedded store keeps the app's users.
        #[arg(long, default_value = "./.chatfn")]
        data: PathBuf,
        /// A PostgreSQL database shared with other chatfn nodes (postgres://user:password@host/db;
        /// also CHATFN_STORE_URL, or [store] url in chatfn.toml); users, settings and Platform
        /// API credentials live there instead of under --data.
        #[arg(long)]
        store: Option<String>,
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Threads that run JavaScript, shared by all apps; half of them (rounded up) also serve
        /// the HTTP connections (default: two per core; also CHATFN_ISOLATE_THREADS).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        isolate_threads: Option<u16>,
        /// Microseconds a serving thread keeps polling for the next request after answering one,
        /// before it sleeps: less latency for a client's next request at the cost of that CPU
        /// time (0 turns it off).
        #[arg(long, default_value_t = crate::worker::busy_poll::DEFAULT_WINDOW.as_micros() as u32, value_parser = clap::value_parser!(u32).range(0..=10_000))]
        busy_poll_us: u32,
    },
    /// Manage the app's npm dependencies.
    Deps {
        #[command(subcommand)]
        command: DepsCommand,
    },
    /// Run the app's sandboxed function tests (*.test.json files): each in a scratch store and
    /// a fresh isolate. Exits 1 when a test fails.
    Test {
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Manage the app's Platform API credentials (OAuth2 client id and secret). Works while
    /// the server runs; a revoked key's tokens stop working at once.
    Keys {
        #[arg(long, default_value = ".", global = true)]
        app: PathBuf,
        #[arg(long, default_value = "./.chatfn", global = true)]
        data: PathBuf,
        /// The PostgreSQL database the servers share (as `serve --store`; also CHATFN_STORE_URL).
        #[arg(long, global = true)]
        store: Option<String>,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Make a running server's app match the app directory (settings, dependencies,
    /// environment, initialization script, functions) through its Platform API, and print
    /// what changed. Running it again changes nothing.
    Apply {
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// The server, e.g. http://127.0.0.1:8787.
        #[arg(long)]
        server: String,
        /// CLIENT_ID:CLIENT_SECRET from `chatfn keys create` (or the CHATFN_KEY variable).
        #[arg(long)]
        key: Option<String>,
    },
    /// Run a recorded invocation again on a running server (the same event, Users answers, HTTP
    /// responses and clock), on its own version or another, without touching live users.
    Replay {
        /// The invocation's id (from GET /v1/functions/{id}/invocations).
        id: u64,
        /// Run this version of the function instead of the one that ran it.
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        server: String,
        /// CLIENT_ID:CLIENT_SECRET from `chatfn keys create` (or the CHATFN_KEY variable).
        #[arg(long)]
        key: Option<String>,
    },
    /// Move apps' data between stores.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// A running server's chat events: report some, see the counts, list, redrive or delete
    /// dead letters (through its Platform API).
    Events {
        /// The server, e.g. http://127.0.0.1:8787.
        #[arg(long, global = true)]
        server: Option<String>,
        /// CLIENT_ID:CLIENT_SECRET from `chatfn keys create` (or the CHATFN_KEY variable).
        #[arg(long, global = true)]
        key: Option<String>,
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// A running server's invocation records, oldest first, with their console output; with
    /// --follow, then every new one as it happens.
    Logs {
        /// Only this function's (its id, from GET /v1/runtimes/nodejs/functions).
        #[arg(long)]
        function: Option<u64>,
        /// Keep printing new invocations as they happen.
        #[arg(long, short)]
        follow: bool,
        /// How many recent records to print first (per function).
        #[arg(long, default_value_t = 20)]
        last: usize,
        #[arg(long)]
        server: String,
        /// CLIENT_ID:CLIENT_SECRET from `chatfn keys create` (or the CHATFN_KEY variable).
        #[arg(long)]
        key: Option<String>,
    },
    /// Print the Platform API's OpenAPI document (the one served at /openapi.json).
    Openapi,
    /// Internal: takes the V8 snapshot of an app runtime for a running server
    /// (`worker::snapshot`), reading what to take from stdin.
    #[command(name = "__snapshot", hide = true)]
    Snapshot,
    /// Write a running server's app out as an app directory (chatfn.toml and the code).
    Export {
        /// The directory to write; it must not hold a chatfn.toml yet.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        server: String,
        /// CLIENT_ID:CLIENT_SECRET from `chatfn keys create` (or the CHATFN_KEY variable).
        #[arg(long)]
        key: Option<String>,
    },
    /// Run the session-start function once for an event file, print the outcome as JSON, and
    /// exit with 0 when the session is allowed, 1 when it is denied.
    Invoke {
        #[arg(long, default_value = ".")]
        app: PathBuf,
        #[arg(long, default_value = "./.chatfn")]
        data: PathBuf,
        /// A JSON file with the start-session body: {"username": ..., "authParams": {...}}.
        #[arg(long)]
        event: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DepsCommand {
    /// Install [runtime.dependencies] into the app's node_modules and write its lockfile.
    Install {
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// Unpack again even if node_modules already matches the lockfile.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum EventsCommand {
    /// Report the events of a JSON file (one event {"type", "id", "event"}, or an array).
    Send { file: PathBuf },
    /// The counts: accepted, delivered, failed runs, queued, dead letters...
    Stats,
    /// List the dead letters, oldest first, with each one's last error.
    DeadLetters,
    /// Send dead letters back to the queue, to run now.
    Redrive {
        #[command(flatten)]
        filter: DeadLetterFilter,
    },
    /// Delete dead letters.
    Delete {
        #[command(flatten)]
        filter: DeadLetterFilter,
    },
}

/// Which dead letters: by sequence number, trigger or key, or all.
#[derive(clap::Args, Debug, Clone)]
pub struct DeadLetterFilter {
    /// A dead letter's sequence number (repeat for several).
    #[arg(long)]
    pub seq: Vec<u64>,
    /// Those of this trigger, e.g. user.sent.message.
    #[arg(long = "type")]
    pub trigger: Option<String>,
    /// Those of this ordering key, e.g. channel/7 (`--key` is the Platform API key).
    #[arg(long = "event-key", id = "event_key")]
    pub key: Option<String>,
    /// All of them.
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy apps' users (with secrets), settings, runtime, functions and versions, and
    /// Platform API keys from a sled data directory to a PostgreSQL database or back; each
    /// part is read back from the target and compared (counts and SHA-256 printed).
    Copy {
        /// A data directory (as `serve --data`) or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// A data directory or a postgres:// URL; the apps must have no data there yet.
        #[arg(long)]
        to: String,
        /// The app to copy (repeat for several); default: every app the source holds.
        #[arg(long)]
        app: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new client id and secret; prints them (the secret only this once).
    Create,
    /// List the app's client ids.
    List,
    /// Delete a key.
    Revoke { client_id: String },
}

pub struct ServeConfig {
    /// At least one; names are unique.
    pub apps: Vec<App>,
    pub data: PathBuf,
    /// The PostgreSQL database shared with other nodes; sled under `data` when absent.
    pub store: Option<SharedStore>,
    pub listen: SocketAddr,
    pub isolate_threads: Option<usize>,
    /// How long serving threads poll for the next request after answering one.
    pub busy_poll: std::time::Duration,
}

pub struct InvokeConfig {
    pub app: App,
    pub data: PathBuf,
    pub event: serde_json::Value,
}

pub enum Validated {
    Serve(ServeConfig),
    Invoke(InvokeConfig),
    DepsInstall { app: App, force: bool },
    Test { app: App, junit: Option<PathBuf> },
    Keys { app: App, data: PathBuf, store: Option<SharedStore>, command: KeysCommand },
    Apply { app: App, server: String, key: String },
    Export { dir: PathBuf, server: String, key: String },
    Openapi,
    Snapshot,
    StoreCopy { from: String, to: String, apps: Vec<String> },
    Replay { id: u64, version: Option<u64>, server: String, key: String },
    Events { command: EventsCommand, server: String, key: String },
    Logs { function: Option<u64>, follow: bool, last: usize, server: String, key: String },
}

/// The database a server shares with other nodes: `--store`, else `CHATFN_STORE_URL`, else
/// the apps' `[store]` (which must agree); none means sled.
fn shared_store(flag: Option<String>, apps: &[App]) -> anyhow::Result<Option<SharedStore>> {
    let pool_size = apps.iter().find_map(|a| a.store.as_ref().map(|s| s.pool_size));
    let given = flag.or_else(|| std::env::var("CHATFN_STORE_URL").ok().filter(|u| !u.is_empty()));
    if let Some(url) = given {
        return Ok(Some(SharedStore::from_url(url, pool_size).map_err(|e| anyhow::anyhow!(e))?));
    }
    let mut named = apps.iter().filter_map(|a| a.store.as_ref().map(|s| (a, s)));
    let Some((first_app, first)) = named.next() else { return Ok(None) };
    if let Some((other, _)) = named.find(|(_, s)| s.url != first.url) {
        anyhow::bail!(
            "apps {:?} and {:?} name different [store] urls; the apps of one server share one store",
            first_app.name,
            other.name
        );
    }
    Ok(Some(first.clone()))
}

fn key_or_env(key: Option<String>) -> anyhow::Result<String> {
    key.or_else(|| std::env::var("CHATFN_KEY").ok()).ok_or_else(|| {
        anyhow::anyhow!(
            "give the Platform API key with --key CLIENT_ID:CLIENT_SECRET or CHATFN_KEY"
        )
    })
}

impl Cli {
    pub fn validate(self) -> anyhow::Result<Validated> {
        Ok(match self.command {
            Command::Serve { app, data, store, listen, isolate_threads, busy_poll_us } => {
                let apps = app.iter().map(|a| App::load(a)).collect::<Result<Vec<_>, _>>()?;
                let mut names = std::collections::BTreeSet::new();
                for app in &apps {
                    if !names.insert(app.name.as_str()) {
                        anyhow::bail!(
                            "two apps are named {:?}; give each a distinct [app] name",
                            app.name
                        );
                    }
                }
                let store = shared_store(store, &apps)?;
                Validated::Serve(ServeConfig {
                    apps,
                    data,
                    store,
                    listen,
                    isolate_threads: isolate_threads.map(usize::from),
                    busy_poll: std::time::Duration::from_micros(busy_poll_us.into()),
                })
            }
            Command::Deps { command: DepsCommand::Install { app, force } } => {
                Validated::DepsInstall { app: App::load(&app)?, force }
            }
            Command::Test { app, junit } => Validated::Test { app: App::load(&app)?, junit },
            Command::Keys { app, data, store, command } => {
                let app = App::load(&app)?;
                let store = shared_store(store, std::slice::from_ref(&app))?;
                Validated::Keys { app, data, store, command }
            }
            Command::Openapi => Validated::Openapi,
            Command::Store { command: StoreCommand::Copy { from, to, app } } => {
                Validated::StoreCopy { from, to, apps: app }
            }
            Command::Logs { function, follow, last, server, key } => {
                Validated::Logs { function, follow, last, server, key: key_or_env(key)? }
            }
            Command::Events { server, key, command } => {
                let filter = match &command {
                    EventsCommand::Redrive { filter } | EventsCommand::Delete { filter } => {
                        Some(filter)
                    }
                    _ => None,
                };
                if filter.is_some_and(|f| {
                    f.seq.is_empty() && f.trigger.is_none() && f.key.is_none() && !f.all
                }) {
                    anyhow::bail!(
                        "say which dead letters: --seq N, --type TRIGGER, --event-key KEY or --all"
                    );
                }
                let server = server.ok_or_else(|| {
                    anyhow::anyhow!("give the server with --server, e.g. http://127.0.0.1:8787")
                })?;
                Validated::Events { command, server, key: key_or_env(key)? }
            }
            Command::Snapshot => Validated::Snapshot,
            Command::Replay { id, version, server, key } => {
                Validated::Replay { id, version, server, key: key_or_env(key)? }
            }
            Command::Apply { app, server, key } => {
                Validated::Apply { app: App::load(&app)?, server, key: key_or_env(key)? }
            }
            Command::Export { dir, server, key } => {
                if dir.join(crate::config::APP_FILE_NAME).exists() {
                    anyhow::bail!(
                        "{} already holds a chatfn.toml; export into a new directory",
                        dir.display()
                    );
                }
                Validated::Export { dir, server, key: key_or_env(key)? }
            }
            Command::Invoke { app, data, event } => {
                let text = std::fs::read_to_string(&event).map_err(|e| {
                    anyhow::anyhow!("cannot read the event file {}: {e}", event.display())
                })?;
                let event = serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("the event file {} is not valid JSON: {e}", event.display())
                })?;
                Validated::Invoke(InvokeConfig { app: App::load(&app)?, data, event })
            }
        })
    }
}
