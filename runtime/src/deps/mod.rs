//! npm dependencies of an app (`[runtime.dependencies]`), installed into the app's
//! `node_modules` with npm's layout: resolved against the registry (`resolve`, `tree`), locked
//! (`lockfile`), fetched once into a content-addressed cache (`cache`), verified against their
//! integrity and unpacked safely (`tarball`). Install scripts are never run. The new tree is
//! built beside the old one and swapped in whole, so a failed install leaves the previous
//! `node_modules` as it was.

pub mod cache;
pub mod lockfile;
pub mod registry;
pub mod resolve;
pub mod tarball;
pub mod tree;

#[cfg(test)]
mod registry_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use cache::Cache;
use lockfile::{LockedPackage, Lockfile, LOCKFILE_VERSION};
use registry::Registry;

use crate::config::App;

/// Tarballs fetched at once.
const PARALLEL_FETCHES: usize = 8;
/// Written into `node_modules` after a complete install: which lockfile it holds.
const INSTALLED_MARKER: &str = ".chatfn-installed.json";

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("package {package} does not exist in the registry {registry}")]
    UnknownPackage { package: String, registry: String },
    #[error("no version of {package} matches {range:?}{}", latest.as_ref().map(|l| format!(" (latest is {l})")).unwrap_or_default())]
    NoMatchingVersion { package: String, range: String, latest: Option<String> },
    #[error("{package}: dependency spec {spec:?} is not supported (chatfn installs registry versions and ranges)")]
    Unsupported { package: String, spec: String },
    #[error(
        "the tarball of {package} does not match its integrity {expected}; refusing to install it"
    )]
    Integrity { package: String, expected: String },
    #[error("cannot reach the registry {registry} for {package}: {detail}")]
    Unreachable { registry: String, package: String, detail: String },
    #[error("registry error for {what}: {detail}")]
    Registry { what: String, detail: String },
    #[error("the tarball of {package} is unsafe or broken: {detail}")]
    BadTarball { package: String, detail: String },
    #[error("{path}: {detail}")]
    Lockfile { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

impl DepsError {
    fn io(path: &Path, e: std::io::Error) -> DepsError {
        DepsError::Io { path: path.to_path_buf(), detail: e.to_string() }
    }
}

/// What an install did.
#[derive(Debug, Default)]
pub struct InstallReport {
    pub packages: usize,
    pub from_lockfile: bool,
    pub downloaded: usize,
    pub from_cache: usize,
    /// Packages that declare install scripts, which chatfn did not run.
    pub skipped_scripts: Vec<String>,
    pub lockfile: PathBuf,
    /// False when `node_modules` already held exactly this lockfile.
    pub changed: bool,
}

/// Where an install gets packages from and how it reports.
pub struct Options {
    pub registry: String,
    pub cache: Cache,
    pub progress: Progress,
    /// Unpack again even when `node_modules` already holds the lockfile's tree.
    pub force: bool,
}

impl Options {
    /// The registry and cache configured for `app` by the environment and `.npmrc`.
    pub fn from_env(app: &App) -> Options {
        Options {
            registry: Registry::url_for(&app.root),
            cache: Cache::from_env(),
            progress: Progress::hidden(),
            force: false,
        }
    }
}

/// Installs the app's dependencies: follows the lockfile while it matches the app's ranges,
/// else resolves anew; fetches, verifies and unpacks; does nothing when `node_modules` already
/// holds that tree (unless `force`).
pub async fn install(app: &App, options: Options) -> Result<InstallReport, DepsError> {
    let Options { registry, cache, progress, force } = options;
    let lock_path = Lockfile::path_for(&app.file);
    let node_modules = app.root.join("node_modules");
    let mut report = InstallReport { lockfile: lock_path.clone(), ..Default::default() };
    if app.dependencies.is_empty() {
        return Ok(report);
    }
    // Made only when something is fetched: a client reads every system root certificate (3-4 ms
    // of a server's start when its node_modules is up to date).
    let registry_url = registry;
    let mut registry = None;
    let lock = match Lockfile::read(&lock_path)? {
        Some(lock) if lock.requires == app.dependencies => {
            report.from_lockfile = true;
            lock
        }
        _ => {
            let client = registry.insert(Registry::new(&registry_url)?);
            let packages = resolve::resolve(client, &app.dependencies).await?;
            Lockfile {
                lockfile_version: LOCKFILE_VERSION,
                requires: app.dependencies.clone(),
                packages,
            }
        }
    };
    report.packages = lock.packages.len();
    report.skipped_scripts = lock
        .packages
        .values()
        .filter(|p| p.has_install_script)
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();

    let marker = serde_json::to_string(&lock).expect("a lockfile serializes");
    if !force
        && std::fs::read_to_string(node_modules.join(INSTALLED_MARKER)).is_ok_and(|m| m == marker)
    {
        return Ok(report);
    }
    report.changed = true;
    let registry = match registry {
        Some(client) => client,
        None => Registry::new(&registry_url)?,
    };

    // Build the new tree beside the old one.
    let staging = app.root.join(format!(".node_modules.chatfn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let cache = Arc::new(cache);
    progress.start(lock.packages.len());
    let results: Result<Vec<(String, LockedPackage, bool)>, DepsError> =
        stream::iter(lock.packages.clone())
            .map(|(path, package)| {
                let (registry, cache, staging, progress) =
                    (registry.clone(), cache.clone(), staging.clone(), progress.clone());
                async move {
                    let (bytes, fetched) = fetch(&registry, &cache, &package).await?;
                    let verified = tarball::sha512_integrity(&bytes);
                    let dest = staging.join(path.strip_prefix("node_modules/").unwrap_or(&path));
                    let label = format!("{}@{}", package.name, package.version);
                    tokio::task::spawn_blocking(move || tarball::unpack(&label, &bytes, &dest))
                        .await
                        .expect("unpacking does not panic")?;
                    progress.tick(&package.name);
                    Ok((
                        path,
                        LockedPackage { integrity: Some(verified), shasum: None, ..package },
                        fetched,
                    ))
                }
            })
            .buffer_unordered(PARALLEL_FETCHES)
            .try_collect()
            .await;
    progress.finish();
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    report.downloaded = results.iter().filter(|(_, _, fetched)| *fetched).count();
    report.from_cache = results.len() - report.downloaded;
    let packages: BTreeMap<String, LockedPackage> =
        results.into_iter().map(|(p, l, _)| (p, l)).collect();
    let lock = Lockfile { packages, ..lock };
    let marker = serde_json::to_string(&lock).expect("a lockfile serializes");
    std::fs::write(staging.join(INSTALLED_MARKER), &marker)
        .map_err(|e| DepsError::io(&staging, e))?;

    // Swap the trees, then record the lockfile.
    let old = app.root.join(format!(".node_modules.old-{}", std::process::id()));
    if node_modules.exists() {
        std::fs::rename(&node_modules, &old).map_err(|e| DepsError::io(&node_modules, e))?;
    }
    std::fs::rename(&staging, &node_modules).map_err(|e| DepsError::io(&node_modules, e))?;
    let _ = std::fs::remove_dir_all(&old);
    lock.write(&lock_path)?;
    Ok(report)
}

/// The tarball's bytes, from the cache or the registry (then cached); `true` when downloaded.
async fn fetch(
    registry: &Registry,
    cache: &Cache,
    package: &LockedPackage,
) -> Result<(Vec<u8>, bool), DepsError> {
    let label = format!("{}@{}", package.name, package.version);
    if let Some(bytes) = cache.get(package.integrity.as_deref()) {
        if tarball::verify(&label, &bytes, package.integrity.as_deref(), None).is_ok() {
            return Ok((bytes, false));
        }
    }
    let bytes = registry.tarball(&label, &package.resolved).await?;
    tarball::verify(&label, &bytes, package.integrity.as_deref(), package.shasum.as_deref())?;
    cache.put(&tarball::sha512_integrity(&bytes), &bytes);
    Ok((bytes, true))
}

/// A progress bar on a terminal, nothing elsewhere.
#[derive(Clone)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn for_terminal() -> Progress {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} installing [{bar:30}] {pos}/{len} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            Progress(Some(bar))
        } else {
            Progress(None)
        }
    }

    pub fn hidden() -> Progress {
        Progress(None)
    }

    fn start(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
        }
    }

    fn tick(&self, name: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(name.to_string());
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
