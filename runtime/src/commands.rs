//! The commands behind the CLI: `serve` (the HTTP API over one app) and `invoke` (one session
//! attempt, no server). Both assemble the same parts: store, worker, sessions.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::cli::{InvokeConfig, ServeConfig};
use crate::config::{App, SharedStore};
use crate::hosting::{self, Hosting};
use crate::session::{AttemptRequest, Decision};
use crate::worker::Start;
use crate::{deps, http, platform, store, testing};

/// `chatfn apply`: prints one line per change.
pub async fn apply(app: &App, server: &str, key: &str) -> anyhow::Result<()> {
    let remote = crate::remote::Remote::connect(server, key).await?;
    let changes = crate::apply::apply(app, &remote).await?;
    if changes.is_empty() {
        println!("chatfn: {server} already matches {}; nothing changed", app.file.display());
    }
    for change in changes {
        println!("changed: {change}");
    }
    Ok(())
}

/// `chatfn replay`: prints the replay; true when it ended as the original did.
pub async fn replay(
    id: u64,
    version: Option<u64>,
    server: &str,
    key: &str,
) -> anyhow::Result<bool> {
    let remote = crate::remote::Remote::connect(server, key).await?;
    let body = json!({ "version_number": version });
    let run = remote
        .send(reqwest::Method::POST, &format!("/v1/function-invocations/{id}/replay"), body)
        .await?;
    println!("{}", serde_json::to_string_pretty(&run)?);
    let same = run["same_outcome"] == true;
    eprintln!(
        "chatfn: invocation {id} (version {}, {}) replayed on version {}: {}",
        run["original_version_number"],
        run["original_status"].as_str().unwrap_or("?"),
        run["replay"]["version_number"],
        if same { "same outcome" } else { "a different outcome" }
    );
    Ok(same)
}

/// `chatfn logs [--follow]`: a server's invocation records as lines, with their console output.
pub async fn logs(
    function: Option<u64>,
    follow: bool,
    last: usize,
    server: &str,
    key: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    let remote = crate::remote::Remote::connect(server, key).await?;
    let print = |record: &serde_json::Value| {
        let result = &record["result"];
        let why = result["error"]["message"]
            .as_str()
            .or(result["decision"]["message"].as_str())
            .or(result["message"].as_str())
            .unwrap_or("");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} {} #{} v{} {} {:.1} ms {}",
            record["created_time"].as_str().unwrap_or("?"),
            record["type"].as_str().unwrap_or("?"),
            record["id"],
            record["version_number"],
            record["status"].as_str().unwrap_or("?"),
            record["duration_ms"].as_f64().unwrap_or(0.0),
            why
        );
        for line in record["logs"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  | {}: {}",
                line["level"].as_str().unwrap_or("log"),
                line["message"].as_str().unwrap_or("")
            );
        }
        let _ = out.flush();
    };
    let ids: Vec<u64> = match function {
        Some(id) => vec![id],
        None => remote.functions().await?.values().filter_map(|f| f["id"].as_u64()).collect(),
    };
    let mut recent = Vec::new();
    for id in ids {
        let page = remote.get(&format!("/v1/functions/{id}/invocations?size={last}")).await?;
        recent.extend(page["_embedded"]["invocations"].as_array().cloned().unwrap_or_default());
    }
    recent.sort_by_key(|r| r["id"].as_u64().unwrap_or(0));
    recent.iter().for_each(print);
    if follow {
        let path = match function {
            Some(id) => format!("/v1/function-invocations/live?function_id={id}"),
            None => "/v1/function-invocations/live".to_string(),
        };
        let open = || eprintln!("chatfn: following new invocations (Ctrl-C stops)");
        remote
            .follow(&path, open, |event, data| match event {
                "invocation" => {
                    if let Ok(record) = serde_json::from_str(data) {
                        print(&record);
                    }
                }
                "lagged" => eprintln!("chatfn: {data} invocations were missed (too many at once)"),
                _ => {}
            })
            .await?;
    }
    Ok(())
}

/// `chatfn events ...`: a server's chat events through its Platform API.
pub async fn events(
    command: &crate::cli::EventsCommand,
    server: &str,
    key: &str,
) -> anyhow::Result<()> {
    use crate::cli::EventsCommand;
    let remote = crate::remote::Remote::connect(server, key).await?;
    let filter = |f: &crate::cli::DeadLetterFilter| {
        json!({
            "seqs": (!f.seq.is_empty()).then_some(&f.seq),
            "type": f.trigger,
            "key": f.key,
            "all": f.all,
        })
    };
    match command {
        EventsCommand::Send { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let events: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let answer = remote.send(reqwest::Method::POST, "/v1/events", events).await?;
            for receipt in answer["events"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}",
                    receipt["status"].as_str().unwrap_or("?"),
                    receipt["seq"],
                    receipt["id"].as_str().unwrap_or("?")
                );
            }
        }
        EventsCommand::Stats => {
            println!("{}", serde_json::to_string_pretty(&remote.get("/v1/events/stats").await?)?);
        }
        EventsCommand::DeadLetters => {
            for page in 0.. {
                let answer =
                    remote.get(&format!("/v1/events/dead-letters?page={page}&size=1000")).await?;
                let letters =
                    answer["_embedded"]["deadLetters"].as_array().cloned().unwrap_or_default();
                if letters.is_empty() {
                    break;
                }
                for letter in letters {
                    let last = letter["failures"].as_array().and_then(|f| f.last()).cloned();
                    let error = last
                        .as_ref()
                        .map(|f| {
                            let e = &f["error"];
                            e["error"]["message"].as_str().or(e["message"].as_str()).map_or_else(
                                || e["status"].as_str().unwrap_or("failed").to_string(),
                                str::to_string,
                            )
                        })
                        .unwrap_or_default();
                    println!(
                        "{}\t{}\t{}\t{}\t{} runs\t{}",
                        letter["seq"],
                        letter["type"].as_str().unwrap_or("?"),
                        letter["key"].as_str().unwrap_or("?"),
                        letter["id"].as_str().unwrap_or("?"),
                        letter["runs"],
                        error
                    );
                }
            }
        }
        EventsCommand::Redrive { filter: f } => {
            let answer = remote
                .send(reqwest::Method::POST, "/v1/events/dead-letters/redrive", filter(f))
                .await?;
            println!("redriven: {}", answer["count"]);
        }
        EventsCommand::Delete { filter: f } => {
            let answer = remote
                .send(reqwest::Method::POST, "/v1/events/dead-letters/delete", filter(f))
                .await?;
            println!("deleted: {}", answer["count"]);
        }
    }
    Ok(())
}

/// `chatfn export`.
pub async fn export(dir: &std::path::Path, server: &str, key: &str) -> anyhow::Result<()> {
    let remote = crate::remote::Remote::connect(server, key).await?;
    let name =
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "app".into());
    for file in crate::apply::export(&remote, dir, &name).await? {
        println!("wrote {}", dir.join(file).display());
    }
    Ok(())
}

/// The database a server or command shares with other nodes, connected and migrated.
async fn connect(
    shared: Option<&SharedStore>,
) -> anyhow::Result<Option<store::postgres::Database>> {
    let Some(shared) = shared else { return Ok(None) };
    let db = store::postgres::Database::connect(&shared.url, shared.pool_size).await.with_context(
        || format!("cannot use the store {}", store::postgres::redact(&shared.url)),
    )?;
    tracing::info!(store = %db.shown(), "users, settings and Platform API keys live in PostgreSQL");
    Ok(Some(db))
}

/// `chatfn keys create|list|revoke`: the app's Platform API credentials.
pub async fn keys(
    app: &App,
    data: &std::path::Path,
    shared: Option<&SharedStore>,
    command: &crate::cli::KeysCommand,
) -> anyhow::Result<()> {
    use crate::cli::KeysCommand;
    let db = connect(shared).await?;
    let keys = hosting::keys_of(app, data, db.as_ref());
    match command {
        KeysCommand::Create => {
            let (id, secret) = keys.create().await?;
            eprintln!(
                "chatfn: new Platform API key for app '{}'; the secret is shown only now:",
                app.name
            );
            println!("client_id={id}\nclient_secret={secret}");
        }
        KeysCommand::List => {
            for key in keys.list().await? {
                println!("{}\tcreated {}", key.client_id, key.created_time);
            }
        }
        KeysCommand::Revoke { client_id } => {
            if !keys.revoke(client_id).await? {
                anyhow::bail!("app '{}' has no key {client_id}", app.name);
            }
            eprintln!("chatfn: revoked {client_id}; its tokens stop working now");
        }
    }
    Ok(())
}

/// `chatfn deps install`.
pub async fn deps_install(app: &App, force: bool) -> anyhow::Result<()> {
    if app.dependencies.is_empty() {
        eprintln!(
            "chatfn: {} has no [runtime.dependencies]; nothing to install",
            app.file.display()
        );
        return Ok(());
    }
    let options = deps::Options {
        progress: deps::Progress::for_terminal(),
        force,
        ..deps::Options::from_env(app)
    };
    let report = deps::install(app, options).await?;
    print_install_report(&report);
    Ok(())
}

pub(crate) fn print_install_report(report: &deps::InstallReport) {
    let source =
        if report.from_lockfile { "from the lockfile" } else { "resolved from the registry" };
    if report.changed {
        eprintln!(
            "chatfn: installed {} packages {source} ({} downloaded, {} from the cache); lockfile {}",
            report.packages,
            report.downloaded,
            report.from_cache,
            report.lockfile.display()
        );
    } else {
        eprintln!(
            "chatfn: node_modules is up to date ({} packages, {})",
            report.packages,
            report.lockfile.display()
        );
    }
    if !report.skipped_scripts.is_empty() {
        eprintln!(
            "chatfn: skipped install scripts (chatfn never runs them) of: {}",
            report.skipped_scripts.join(", ")
        );
    }
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    if let Some(threads) = config.isolate_threads {
        crate::worker::engine::configure(threads);
    }
    crate::worker::busy_poll::configure(config.busy_poll);
    crate::worker::snapshot::configure(config.data.join(".snapshots"));
    let shared = connect(config.store.as_ref()).await?;
    // With a shared database, one node at a time delivers the chat events.
    let leader = shared.as_ref().map(crate::events::leader::contend);
    let apps = Hosting::apps(&config.apps, &config.data, shared.as_ref(), leader);
    // Nodes on a shared database follow each other's changes to every app: they open theirs
    // before serving, as does a server of a few apps (see `hosting`).
    let in_background = shared.is_none() && apps.len() > hosting::OPEN_BEFORE_SERVING;
    if !in_background {
        hosting::open_all(&apps).await.map_err(anyhow::Error::msg)?;
    }
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    let shown = hosting::shown(&config.apps);
    tracing::info!(apps = apps.len(), data = %config.data.display(), "serving {shown}");
    // One line on stdout, for people and for scripts that started us on port 0.
    println!("chatfn: serving {shown} on http://{addr}");
    let platform = Arc::new(platform::Platform::new(apps.clone(), shared.as_ref()));
    if let Some(db) = &shared {
        crate::cluster::follow(db, platform.apps().cloned().collect());
    }
    let sessions = Arc::new(http::Apps::hosted(apps.clone()));
    if in_background {
        hosting::open_in_background(apps);
    }
    http::serve(listener, sessions, platform, shutdown).await?;
    Ok(())
}

/// Resolves at SIGINT or SIGTERM. The handlers are in place when this returns: a server calls
/// it before it says it serves, so that a signal right after the line stops it gracefully (a
/// handler installed later left a moment where SIGTERM killed the process).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

/// `chatfn test`: returns whether every test passed.
pub async fn test(app: &App, junit: Option<&std::path::Path>) -> anyhow::Result<bool> {
    if !app.dependencies.is_empty() {
        deps::install(app, deps::Options::from_env(app))
            .await
            .context("installing the app's npm dependencies")?;
    }
    let files = testing::discover(app);
    if files.is_empty() {
        anyhow::bail!("no *.test.json files next to the functions of {}", app.file.display());
    }
    let results = testing::run_all(app, &files).await;
    let all_passed = testing::report(&results);
    if let Some(path) = junit {
        testing::write_junit(path, &app.name, &results)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(all_passed)
}

/// Runs one attempt and prints it; returns whether the session was allowed.
pub async fn invoke(config: InvokeConfig) -> anyhow::Result<bool> {
    let (sessions, _) =
        hosting::open_app(&config.app, &config.data, None, false, Start::Warm).await?;
    let request =
        AttemptRequest::from_event(config.event.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let attempt = sessions.attempt(request).await?;
    let (allowed, mut out) = match &attempt.decision {
        Decision::Allowed { session, user } => {
            (true, json!({ "allowed": true, "session": session, "user": user }))
        }
        Decision::Denied(d) => {
            (false, json!({ "allowed": false, "code": d.code, "message": d.message }))
        }
    };
    out["invocation"] = serde_json::to_value(&attempt.invocation)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(allowed)
}
