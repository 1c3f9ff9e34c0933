//! The app's configuration: `chatfn.toml`, the dashboard's settings as one declarative file.
//!
//! Parsing happens in two steps, as in ripgrep's low-level/high-level args: [`RawAppFile`] is
//! exactly what the TOML says, and [`App`] is what chatfn runs, validated so that it cannot hold
//! a bad value (paths exist and stay inside the app directory, limits are positive, triggers are
//! known). This module does not read function code; `worker` does that when it builds an isolate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file `chatfn serve --app DIR` looks for inside DIR.
pub const APP_FILE_NAME: &str = "chatfn.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no app file at {path}: create one (README, \"The app file\"), or give --app the directory or file that holds it")]
    Missing { path: PathBuf },
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid chatfn app file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Whether users may start a session without a function vouching for them (ChatKitty's
/// "guest users" application setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GuestUsers {
    #[default]
    Enabled,
    Disabled,
}

/// The chat events a function can handle: the blocking session start, answered while the
/// client waits, and ChatKitty's non-blocking chat events, which the chat backend reports
/// (`POST /v1/events`) and chatfn delivers from its queue (`events/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    UserAttemptedStartSession,
    UserReceivedNotification,
    UserSentMessage,
    UserStartedChatSession,
    UserReadMessage,
    UserReceivedChannelInvite,
    UserTriggeredEvent,
    SystemTriggeredEvent,
    UserReactedToMessage,
}

impl Trigger {
    pub const ALL: [Trigger; 9] = [
        Trigger::UserAttemptedStartSession,
        Trigger::UserReceivedNotification,
        Trigger::UserSentMessage,
        Trigger::UserStartedChatSession,
        Trigger::UserReadMessage,
        Trigger::UserReceivedChannelInvite,
        Trigger::UserTriggeredEvent,
        Trigger::SystemTriggeredEvent,
        Trigger::UserReactedToMessage,
    ];

    /// ChatKitty's name, also the Platform API function `type`.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::UserAttemptedStartSession => "user.attempted.start_session",
            Trigger::UserReceivedNotification => "user.received.notification",
            Trigger::UserSentMessage => "user.sent.message",
            Trigger::UserStartedChatSession => "user.started.chat_session",
            Trigger::UserReadMessage => "user.read.message",
            Trigger::UserReceivedChannelInvite => "user.received.channel_invite",
            Trigger::UserTriggeredEvent => "user.triggered.event",
            Trigger::SystemTriggeredEvent => "system.triggered.event",
            Trigger::UserReactedToMessage => "user.reacted.to_message",
        }
    }

    /// The name a function made for it gets, as ChatKitty's dashboard shows it.
    pub fn display_name(self) -> &'static str {
        match self {
            Trigger::UserAttemptedStartSession => "User Attempted Start Session",
            Trigger::UserReceivedNotification => "User Received Notification",
            Trigger::UserSentMessage => "User Sent Message",
            Trigger::UserStartedChatSession => "User Started Chat Session",
            Trigger::UserReadMessage => "User Read Message",
            Trigger::UserReceivedChannelInvite => "User Received Channel Invite",
            Trigger::UserTriggeredEvent => "User Triggered Event",
            Trigger::SystemTriggeredEvent => "System Triggered Event",
            Trigger::UserReactedToMessage => "User Reacted To Message",
        }
    }

    pub fn from_name(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a caller waits for the function's answer (only the session start).
    pub fn is_blocking(self) -> bool {
        self == Trigger::UserAttemptedStartSession
    }
}

impl serde::Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

// ---- raw file ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAppFile {
    #[serde(default)]
    app: RawAppSection,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    functions: BTreeMap<String, String>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    events: RawEvents,
    chat_backend: Option<RawChatBackend>,
    store: Option<RawStore>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<String>,
    /// The name of an environment variable of the chatfn process holding the URL.
    url_env: Option<String>,
    pool_size: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChatBackend {
    base_url: String,
    token_url: Option<String>,
    client_id: String,
    client_secret: Option<String>,
    /// The name of an environment variable of the chatfn process holding the secret.
    client_secret_env: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    max_attempts: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    max_age_s: Option<u64>,
    max_queue: Option<u64>,
    concurrency: Option<u64>,
    dedupe_window_s: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    #[serde(default, alias = "allowHosts")]
    allow_hosts: Vec<String>,
    #[serde(default)]
    fixtures: Vec<RawFixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    url: String,
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    body_file: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAppSection {
    name: Option<String>,
    #[serde(default, alias = "guestUsers")]
    guest_users: GuestUsers,
    #[serde(alias = "exposeDenialReason")]
    expose_denial_reason: Option<bool>,
    #[serde(default, alias = "failurePolicy")]
    failure_policy: FailurePolicy,
    /// How many invocation records the app keeps (the oldest go first).
    #[serde(alias = "invocationRetention")]
    invocation_retention: Option<usize>,
    /// Event paths (dotted) redacted in invocation records.
    #[serde(alias = "redactInRecords")]
    redact_in_records: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    #[serde(alias = "initializationScript")]
    initialization_script: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default, alias = "environmentVariables")]
    environment: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    cpu_ms: Option<u64>,
    wall_ms: Option<u64>,
    heap_mb: Option<u64>,
    concurrent_invocations: Option<u64>,
    log_kb: Option<u64>,
    body_kb: Option<u64>,
    pending_ops: Option<u64>,
    isolates: Option<u64>,
    hibernate_after_s: Option<u64>,
}

// ---- validated app -------------------------------------------------------------------------

/// Resource limits for one invocation / one isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time one invocation's JavaScript may use, over all its slices.
    pub cpu: Duration,
    /// Wall-clock time from the start of an invocation to its answer.
    pub wall: Duration,
    /// Memory ceiling: the V8 heap of each isolate, and the ArrayBuffer memory of the app.
    pub heap_bytes: usize,
    /// Invocations in flight at once for the app; more wait (within the wall limit).
    pub concurrent_invocations: usize,
    /// Console output kept per invocation.
    pub log_bytes: usize,
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Async operations (Users calls, fetches) one isolate may have in flight.
    pub pending_ops: usize,
    /// Most isolates the app may have at once; `None`: the engine's default (two per isolate
    /// thread).
    pub isolates: Option<usize>,
    /// After this long without an attempt the app hibernates: its last isolate is dropped too,
    /// and the next attempt builds one. `None`: never.
    pub hibernate_after: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_millis(1_000),
            wall: Duration::from_millis(10_000),
            heap_bytes: 128 << 20,
            concurrent_invocations: 64,
            log_bytes: 64 << 10,
            body_bytes: 64 << 10,
            pending_ops: 1024,
            isolates: None,
            hibernate_after: Some(Duration::from_secs(300)),
        }
    }
}

/// The chat backend the app's functions reach through `context.ChatKitty.Channels` and
/// `.Messages` (`[chat_backend]`): ChatKitty's Platform API shape, client credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatBackend {
    /// Without a trailing slash.
    pub base_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// How chat events are delivered (`[events]`): retries with exponential backoff and jitter, the
/// queue's depth, and how many run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDelivery {
    /// Runs of one event before it goes to the dead letters (the first run included).
    pub max_attempts: u32,
    /// The delay before the first retry; each retry doubles it, up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// An event older than this is not retried again.
    pub max_age: Duration,
    /// Events queued at most; more are refused with 429 until the queue drains.
    pub max_queue: usize,
    /// Events of the app running at once (each a different key).
    pub concurrency: usize,
    /// How long an event's id is remembered after it was accepted (a re-sent event within it
    /// is a duplicate; after it, a new event).
    pub dedupe_window: Duration,
}

impl Default for EventDelivery {
    fn default() -> Self {
        EventDelivery {
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_age: Duration::from_secs(86_400),
            max_queue: 100_000,
            concurrency: 2,
            dedupe_window: Duration::from_secs(7 * 86_400),
        }
    }
}

/// What a blocking trigger does when its function cannot answer (load error, limit, crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Deny: no answer is a no (the default; the safe choice for authentication).
    #[default]
    FailClosed,
    /// Allow as if the function had returned.
    FailOpen,
}

/// A JavaScript or TypeScript file of the app, by absolute path and by the path the user wrote.
/// `code`, when set, is what runs (a version saved through the Platform API), as if it were
/// the file at `path`: relative `require`s and stack traces still name that place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub display: String,
    pub code: Option<String>,
}

/// Everything chatfn needs to run one app, validated.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    /// The app directory: function code may `require` files under it and nothing else.
    pub root: PathBuf,
    /// The app file itself (`chatfn.toml`); its lockfile sits beside it.
    pub file: PathBuf,
    pub guest_users: GuestUsers,
    /// Pass the function's thrown message on to the chat client (default) or only say "Access denied".
    pub expose_denial_reason: bool,
    pub failure_policy: FailurePolicy,
    /// `[app] invocation_retention`: invocation records kept; 0 keeps none (and so nothing to
    /// replay or shadow), which saves their cost per invocation.
    pub invocation_retention: usize,
    /// `[app] redact_in_records`: dotted paths of the event kept out of invocation records
    /// (default `["authParams"]`: credentials such as ID tokens are not kept at rest).
    pub redact_in_records: Vec<String>,
    pub initialization_script: Option<SourceFile>,
    pub dependencies: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    pub functions: BTreeMap<Trigger, SourceFile>,
    pub limits: Limits,
    /// Private and loopback hosts functions may reach (public ones always can).
    pub allow_hosts: Vec<String>,
    /// URL → recorded response, answered instead of the network.
    pub fixtures: std::collections::HashMap<String, crate::net::Fixture>,
    pub events: EventDelivery,
    pub chat_backend: Option<ChatBackend>,
    /// `[store]`: the PostgreSQL database shared with other nodes; sled when absent.
    pub store: Option<SharedStore>,
}

/// `[store]`: where a server keeps what its nodes share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStore {
    /// A `postgres://` URL (with its password; show it through `store::postgres::redact`).
    pub url: String,
    /// Connections per node.
    pub pool_size: usize,
}

impl SharedStore {
    /// The store `--store` or `CHATFN_STORE_URL` names, with the pool size of `[store]`.
    pub fn from_url(url: String, pool_size: Option<usize>) -> Result<SharedStore, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(format!(
                "the store {} is not a postgres:// URL (sled, the default, needs none)",
                crate::store::postgres::redact(&url)
            ));
        }
        let pool_size = pool_size.unwrap_or(crate::store::postgres::DEFAULT_POOL_SIZE);
        if !(2..=1000).contains(&pool_size) {
            return Err("[store] pool_size must be 2 to 1000".into());
        }
        Ok(SharedStore { url, pool_size })
    }
}

fn shared_store(raw: RawStore) -> Result<SharedStore, String> {
    let url = match (raw.url, raw.url_env) {
        (Some(url), None) => url,
        (None, Some(name)) => std::env::var(&name)
            .map_err(|_| format!("[store] url_env: the environment variable {name} is not set"))?,
        _ => return Err("[store] needs url or url_env (one of them)".into()),
    };
    SharedStore::from_url(url, raw.pool_size)
}

/// Whether `name` can be an npm package and `range` a version range for it.
pub fn check_dependency(name: &str, range: &str) -> Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['\\', ' '])
        || name.matches('/').count() > usize::from(name.starts_with('@'))
    {
        return Err(format!("`{name}` is not an npm package name"));
    }
    if range.trim().is_empty() {
        return Err(format!(
            "dependency `{name}` needs a version range (for example \"^1\" or \"*\")"
        ));
    }
    Ok(())
}

impl App {
    /// Loads `PATH/chatfn.toml` when `path` is a directory, or `path` itself when it is a file
    /// (so one directory can hold several configurations of the same app).
    pub fn load(path: &Path) -> Result<App, ConfigError> {
        let file = if path.is_dir() { path.join(APP_FILE_NAME) } else { path.to_path_buf() };
        let text = std::fs::read_to_string(&file).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ConfigError::Missing { path: file.clone() },
            _ => ConfigError::Read { path: file.clone(), source },
        })?;
        let root = file
            .parent()
            .map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
            .unwrap_or(Path::new("."))
            .canonicalize()
            .map_err(|source| ConfigError::Read { path: file.clone(), source })?;
        App::from_toml(&text, &root, &file)
    }

    /// Parses and validates the app file's text; `root` is the directory its paths are relative to.
    pub fn from_toml(text: &str, root: &Path, file: &Path) -> Result<App, ConfigError> {
        let raw: RawAppFile = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: file.to_path_buf(), message: e.to_string() })?;
        let invalid = |message: String| ConfigError::Invalid { path: file.to_path_buf(), message };

        let source_file = |what: &str, rel: &str| -> Result<SourceFile, ConfigError> {
            let path = inside_root(root, rel).ok_or_else(|| {
                invalid(format!("{what} `{rel}` must be a relative path inside the app directory"))
            })?;
            if !path.is_file() {
                return Err(invalid(format!(
                    "{what} `{rel}` does not exist (looked for {})",
                    path.display()
                )));
            }
            Ok(SourceFile { path, display: rel.to_string(), code: None })
        };

        for (name, range) in &raw.runtime.dependencies {
            check_dependency(name, range).map_err(invalid)?;
        }

        let mut functions = BTreeMap::new();
        for (trigger, rel) in &raw.functions {
            let t = Trigger::from_name(trigger).ok_or_else(|| {
                let known: Vec<_> = Trigger::ALL.iter().map(|t| t.name()).collect();
                invalid(format!(
                    "unknown trigger `{trigger}` in [functions]; known triggers: {}",
                    known.join(", ")
                ))
            })?;
            functions.insert(t, source_file(&format!("function for `{trigger}`"), rel)?);
        }
        let initialization_script = raw
            .runtime
            .initialization_script
            .as_deref()
            .map(|rel| source_file("initialization script", rel))
            .transpose()?;

        for name in raw.runtime.environment.keys() {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(invalid(format!("environment variable name `{name}` is not valid")));
            }
        }

        let mut fixtures = std::collections::HashMap::new();
        for f in raw.network.fixtures {
            if reqwest::Url::parse(&f.url).is_err() {
                return Err(invalid(format!(
                    "[[network.fixtures]] url {:?} is not a valid URL",
                    f.url
                )));
            }
            let body = match (f.body, f.body_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(format!(
                        "fixture {}: give body or body_file, not both",
                        f.url
                    )))
                }
                (Some(text), None) => text.into_bytes(),
                (None, Some(rel)) => {
                    let path = inside_root(root, &rel).ok_or_else(|| {
                        invalid(format!(
                            "fixture body_file `{rel}` must be inside the app directory"
                        ))
                    })?;
                    std::fs::read(&path)
                        .map_err(|e| invalid(format!("fixture body_file `{rel}`: {e}")))?
                }
                (None, None) => Vec::new(),
            };
            let status = f.status.unwrap_or(200);
            if !(100..=599).contains(&status) {
                return Err(invalid(format!(
                    "fixture {}: status {status} is not an HTTP status",
                    f.url
                )));
            }
            fixtures.insert(f.url, crate::net::Fixture { status, headers: f.headers, body });
        }

        let defaults = Limits::default();
        let positive = |name: &str, v: Option<u64>| -> Result<Option<u64>, ConfigError> {
            match v {
                Some(0) => Err(invalid(format!("[limits] {name} must be greater than 0"))),
                other => Ok(other),
            }
        };
        let kib = |name: &str, v: Option<u64>| -> Result<Option<usize>, ConfigError> {
            match positive(name, v)? {
                Some(kb) if kb > 1 << 20 => {
                    Err(invalid(format!("[limits] {name} must be at most 1048576 (1 GiB)")))
                }
                other => Ok(other.map(|kb| (kb as usize) << 10)),
            }
        };
        let limits = Limits {
            cpu: positive("cpu_ms", raw.limits.cpu_ms)?
                .map(Duration::from_millis)
                .unwrap_or(defaults.cpu),
            wall: positive("wall_ms", raw.limits.wall_ms)?
                .map(Duration::from_millis)
                .unwrap_or(defaults.wall),
            heap_bytes: match positive("heap_mb", raw.limits.heap_mb)? {
                Some(mb) if mb < 16 => {
                    return Err(invalid("[limits] heap_mb must be at least 16".into()))
                }
                Some(mb) if mb > 16 * 1024 => {
                    return Err(invalid("[limits] heap_mb must be at most 16384".into()))
                }
                Some(mb) => (mb as usize) << 20,
                None => defaults.heap_bytes,
            },
            concurrent_invocations: match positive(
                "concurrent_invocations",
                raw.limits.concurrent_invocations,
            )? {
                Some(n) if n > 100_000 => {
                    return Err(invalid(
                        "[limits] concurrent_invocations must be at most 100000".into(),
                    ))
                }
                Some(n) => n as usize,
                None => defaults.concurrent_invocations,
            },
            log_bytes: kib("log_kb", raw.limits.log_kb)?.unwrap_or(defaults.log_bytes),
            body_bytes: kib("body_kb", raw.limits.body_kb)?.unwrap_or(defaults.body_bytes),
            pending_ops: match positive("pending_ops", raw.limits.pending_ops)? {
                Some(n) if n > 1_000_000 => {
                    return Err(invalid("[limits] pending_ops must be at most 1000000".into()))
                }
                Some(n) => n as usize,
                None => defaults.pending_ops,
            },
            isolates: match positive("isolates", raw.limits.isolates)? {
                Some(n) if n > 256 => {
                    return Err(invalid("[limits] isolates must be at most 256".into()))
                }
                other => other.map(|n| n as usize),
            },
            hibernate_after: match raw.limits.hibernate_after_s {
                Some(0) => None,
                Some(s) if s > 86_400 * 365 => {
                    return Err(invalid(
                        "[limits] hibernate_after_s must be at most a year (0: never)".into(),
                    ))
                }
                Some(s) => Some(Duration::from_secs(s)),
                None => defaults.hibernate_after,
            },
        };

        let name = match raw.app.name {
            Some(name) if valid_app_name(&name) => name,
            Some(name) => {
                return Err(invalid(format!(
                    "app name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
                )))
            }
            None => root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| valid_app_name(n))
                .unwrap_or_else(|| "app".into()),
        };
        let chat_backend = raw.chat_backend.map(chat_backend).transpose().map_err(invalid)?;
        let mut allow_hosts = raw.network.allow_hosts;
        // The declared backend is reachable even on a private or loopback address.
        if let Some(backend) = &chat_backend {
            for url in [&backend.base_url, &backend.token_url] {
                if let Some(host) =
                    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string))
                {
                    allow_hosts.push(host.trim_matches(['[', ']']).to_string());
                }
            }
        }
        Ok(App {
            name,
            root: root.to_path_buf(),
            file: root.join(file.file_name().unwrap_or(APP_FILE_NAME.as_ref())),
            guest_users: raw.app.guest_users,
            expose_denial_reason: raw.app.expose_denial_reason.unwrap_or(true),
            failure_policy: raw.app.failure_policy,
            invocation_retention: raw.app.invocation_retention.unwrap_or(1000),
            redact_in_records: match raw.app.redact_in_records {
                Some(paths) => {
                    if let Some(bad) = paths.iter().find(|p| p.split('.').any(str::is_empty)) {
                        return Err(invalid(format!("[app] redact_in_records: {bad:?} is not a dotted path such as \"authParams.idToken\"")));
                    }
                    paths
                }
                None => vec!["authParams".to_string()],
            },
            initialization_script,
            dependencies: raw.runtime.dependencies,
            environment: raw.runtime.environment,
            functions,
            limits,
            allow_hosts,
            fixtures,
            events: event_delivery(raw.events).map_err(invalid)?,
            chat_backend,
            store: raw.store.map(shared_store).transpose().map_err(invalid)?,
        })
    }
}

fn chat_backend(raw: RawChatBackend) -> Result<ChatBackend, String> {
    let http = |what: &str, url: &str| -> Result<String, String> {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(url.trim_end_matches('/').to_string())
            }
            _ => Err(format!("[chat_backend] {what} {url:?} is not an http(s) URL")),
        }
    };
    let base_url = http("base_url", &raw.base_url)?;
    let token_url = match raw.token_url {
        Some(url) => http("token_url", &url)?,
        None => format!("{base_url}/oauth/token"),
    };
    let client_secret = match (raw.client_secret, raw.client_secret_env) {
        (Some(secret), None) => secret,
        (None, Some(name)) => std::env::var(&name).map_err(|_| {
            format!("[chat_backend] client_secret_env: the environment variable {name} is not set")
        })?,
        _ => {
            return Err(
                "[chat_backend] needs client_secret or client_secret_env (one of them)".into()
            )
        }
    };
    Ok(ChatBackend { base_url, token_url, client_id: raw.client_id, client_secret })
}

fn event_delivery(raw: RawEvents) -> Result<EventDelivery, String> {
    let defaults = EventDelivery::default();
    let within = |name: &str, v: Option<u64>, max: u64| match v {
        Some(n) if n == 0 || n > max => Err(format!("[events] {name} must be between 1 and {max}")),
        other => Ok(other),
    };
    let delivery = EventDelivery {
        max_attempts: within("max_attempts", raw.max_attempts.map(u64::from), 100)?
            .map_or(defaults.max_attempts, |n| n as u32),
        retry_base: within("retry_base_ms", raw.retry_base_ms, 3_600_000)?
            .map_or(defaults.retry_base, Duration::from_millis),
        retry_max: within("retry_max_ms", raw.retry_max_ms, 86_400_000)?
            .map_or(defaults.retry_max, Duration::from_millis),
        max_age: within("max_age_s", raw.max_age_s, 30 * 86_400)?
            .map_or(defaults.max_age, Duration::from_secs),
        max_queue: within("max_queue", raw.max_queue, 10_000_000)?
            .map_or(defaults.max_queue, |n| n as usize),
        concurrency: within("concurrency", raw.concurrency, 256)?
            .map_or(defaults.concurrency, |n| n as usize),
        dedupe_window: within("dedupe_window_s", raw.dedupe_window_s, 365 * 86_400)?
            .map_or(defaults.dedupe_window, Duration::from_secs),
    };
    if delivery.retry_max < delivery.retry_base {
        return Err("[events] retry_max_ms must be at least retry_base_ms".into());
    }
    Ok(delivery)
}

/// App names name URL paths and data folders.
fn valid_app_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Joins a relative path to `root`, refusing absolute paths and any `..` that would leave it.
fn inside_root(root: &Path, rel: &str) -> Option<PathBuf> {
    crate::paths::join_within(root, Path::new(rel).components())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("functions")).unwrap();
        std::fs::write(dir.path().join("functions/start.ts"), "async function handleEvent() {}")
            .unwrap();
        dir
    }

    fn parse(dir: &Path, text: &str) -> Result<App, ConfigError> {
        App::from_toml(text, dir, &dir.join("chatfn.toml"))
    }

    #[test]
    fn defaults_follow_chatkitty() {
        let dir = app_dir();
        let app = parse(dir.path(), "").unwrap();
        assert_eq!(app.guest_users, GuestUsers::Enabled);
        assert!(app.functions.is_empty());
        assert_eq!(app.limits, Limits::default());
        assert!(app.expose_denial_reason);
    }

    #[test]
    fn full_file_is_validated_into_an_app() {
        let dir = app_dir();
        let app = parse(
            dir.path(),
            r#"
            [app]
            name = "demo"
            guestUsers = "DISABLED"
            [runtime.environment]
            SECRET = "s3cret"
            [functions]
            "user.attempted.start_session" = "functions/start.ts"
            [limits]
            cpu_ms = 50
            heap_mb = 64
            "#,
        )
        .unwrap();
        assert_eq!(app.name, "demo");
        assert_eq!(app.guest_users, GuestUsers::Disabled);
        assert_eq!(app.environment["SECRET"], "s3cret");
        assert_eq!(
            app.functions[&Trigger::UserAttemptedStartSession].path,
            dir.path().join("functions/start.ts")
        );
        assert_eq!(app.limits.cpu, Duration::from_millis(50));
        assert_eq!(app.limits.wall, Limits::default().wall);
        assert_eq!(app.limits.heap_bytes, 64 << 20);
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let dir = app_dir();
        let cases = [
            ("[app]\nguest_users = \"MAYBE\"", "guest_users"),
            ("[functions]\n\"user.sent.messages\" = \"functions/start.ts\"", "unknown trigger"),
            ("[events]\nmax_attempts = 0", "[events] max_attempts must be between 1 and 100"),
            ("[events]\nretry_base_ms = 500\nretry_max_ms = 100", "retry_max_ms must be at least"),
            ("[events]\nqueue = 5", "unknown field"),
            (
                "[functions]\n\"user.attempted.start_session\" = \"functions/missing.ts\"",
                "does not exist",
            ),
            (
                "[functions]\n\"user.attempted.start_session\" = \"../outside.ts\"",
                "inside the app directory",
            ),
            (
                "[functions]\n\"user.attempted.start_session\" = \"/etc/passwd\"",
                "inside the app directory",
            ),
            ("[limits]\ncpu_ms = 0", "greater than 0"),
            ("[app]\nname = \"../escape\"", "app name"),
            ("[limits]\nbody_kb = 0", "greater than 0"),
            ("[limits]\nconcurrent_invocations = 1000000", "at most 100000"),
            ("[app]\nfailure_policy = \"maybe\"", "failure_policy"),
            ("[limits]\nheap_mb = 1", "at least 16"),
            ("[runtime]\ninit = \"x.js\"", "unknown field"),
            ("not toml at all [", "not a valid chatfn app file"),
        ];
        for (text, expected) in cases {
            let err = parse(dir.path(), text).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{text:?} gave {err:?}, expected it to mention {expected:?}"
            );
        }
    }
}

/// Any text as an app file: a validated app or an error that names the file, never a panic.
#[cfg(test)]
mod hostile_input {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
        #[test]
        fn any_text_is_an_app_or_a_clear_error(
            text in prop_oneof![
                any::<String>(),
                "(\\[(app|runtime|functions|limits|runtime\\.environment|runtime\\.dependencies)\\]\\n([a-z_\"\\.]{1,30} = (\"[^\"\\n]{0,20}\"|-?[0-9]{1,25}|true)\\n){0,4}){0,4}",
            ]
        ) {
            let dir = tempfile::tempdir().unwrap();
            match App::from_toml(&text, dir.path(), &dir.path().join("chatfn.toml")) {
                Ok(app) => {
                    prop_assert!(app.limits.cpu > Duration::ZERO && app.limits.heap_bytes >= 16 << 20);
                    prop_assert!(app.functions.values().all(|f| f.path.starts_with(dir.path())));
                }
                Err(e) => prop_assert!(e.to_string().contains("chatfn.toml"), "{}", e),
            }
        }
    }
}
