//! V8 startup snapshots of an app's runtime: chatfn's bootstrap, the globals, the app's
//! environment and its initialization script run (firebase-admin required and initialized),
//! taken once and restored by every later isolate of that runtime instead of building it
//! again. An isolate restored from one only loads the functions (`__chatfnStart` in
//! `js/worker.js`); one built cold runs `__chatfnPrepare` first.
//!
//! A snapshot is taken in a child process (`chatfn __snapshot`, fed a [`Spec`] on stdin), one at
//! a time and at a lower priority, so the server never runs V8's snapshot creator beside its
//! isolates, and an initialization script that misbehaves while it is taken (spins, crashes
//! V8) costs a child, never the server. It is taken only when the script ran without an error,
//! left no work pending (timers, requests) once its event loop settled within the wall limit,
//! and imported no ES module; otherwise the app keeps building its isolates cold.
//!
//! Snapshots live in `DATA/.snapshots/<app>.<key>.v8`, where the key hashes everything the
//! snapshot depends on: this binary (its size and modification time), the V8 flags, the app's
//! directory, initialization script, environment variables, lockfile, network policy and
//! fixtures (what the script could fetch). A changed runtime has another key, so its old
//! snapshot is never used (and is removed when the new one is written). The file also lists
//! every module the script loaded, with its size and modification time, and the blob's CRC-32:
//! a snapshot whose files changed or whose bytes do not check out is not used. Each snapshot
//! taken is also put in the machine's cache (`shared_dir`), where a server on another data
//! directory finds its runtime's. V8 reseeds `Math.random` in a restored context; a JavaScript
//! library that cached random bytes while the script ran keeps them (as in Node's snapshots).
//!
//! An isolate built without its runtime's snapshot starts from chatfn's own bootstrap snapshot
//! (`bootstrap`: the extension's modules evaluated, nothing of an app), kept in the cache
//! directory for every data directory and `chatfn test`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use deno_core::{
    serde_v8, v8, JsRuntime, JsRuntimeForSnapshot, PollEventLoopOptions, RuntimeOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::code_cache::PackageCode;
use super::mapped::Mapped;
use crate::config::App;
use crate::js::esm::{evaluate_commonjs, EsmLoader};
use crate::net::{Fixture, NetworkPolicy, Outbound};
use crate::ops::modules::ModuleRoots;
use crate::ops::worker::{AppView, CodeView};

const MAGIC: &[u8] = b"chatfn-snapshot-1\n";
/// The name of the hidden command that takes a snapshot.
pub const COMMAND: &str = "__snapshot";

/// A V8 startup snapshot of one app runtime (or of chatfn's bootstrap), its file mapped.
pub struct Snapshot {
    file: Mapped,
    /// Where the blob is in the file.
    blob: std::ops::Range<usize>,
    /// The modules it holds (their files).
    files: Vec<String>,
    /// What it was taken of (its runtime's key, or the bootstrap's).
    key: String,
}

impl Snapshot {
    /// The blob, as deno_core takes it.
    ///
    /// # Safety
    /// The caller keeps this `Snapshot` alive for as long as the runtime built from the blob
    /// (`worker::isolate::Isolate` holds its `Arc` and drops it after its runtime).
    pub unsafe fn startup_data(&self) -> &'static [u8] {
        // SAFETY: see above: the mapping outlives every use V8 makes of it.
        unsafe { &*(&self.file.bytes()[self.blob.clone()] as *const [u8]) }
    }

    pub fn bytes(&self) -> usize {
        self.blob.len()
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether it holds the module at `file`.
    pub fn holds(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file)
    }

    /// Called once an isolate was made from it: the pages V8 read leave the process's memory
    /// (they stay in the page cache, and fault in again for the next isolate), as those
    /// `read` checked did. A Firebase app's snapshot is 3.5 MB that each restored app would
    /// otherwise hold.
    pub fn release_pages(&self) {
        self.file.release();
    }
}

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Turns snapshots on, kept in `dir` (`chatfn serve`: `DATA/.snapshots`); before the first
/// isolate. Without it (`chatfn invoke`, `chatfn test`) every isolate is built cold.
pub fn configure(dir: PathBuf) {
    // This binary as it is now: if it is replaced on disk while the server runs, a snapshot
    // process would run the new one, whose snapshots this process cannot restore.
    binary_identity();
    let _ = DIR.set(dir);
}

pub fn enabled() -> bool {
    DIR.get().is_some()
}

/// What the child process needs to run an app's initialization script as its isolates would.
#[derive(Serialize, Deserialize)]
struct Spec {
    name: String,
    root: PathBuf,
    init_script: Option<CodeView>,
    env: BTreeMap<String, String>,
    allow_hosts: Vec<String>,
    fixtures: Vec<(String, Fixture)>,
    heap_bytes: usize,
    wall_ms: u64,
    max_pending_ops: usize,
    /// The server's binary (`binary_identity`): the snapshot process must be the same one.
    binary: String,
    /// Module files to load after the initialization script (see `take_later`).
    preload: Vec<String>,
    /// chatfn's bootstrap alone (see `bootstrap`): nothing of the app runs.
    #[serde(default)]
    bootstrap: bool,
    key: String,
    out: PathBuf,
}

/// The file's header: what the blob was taken from.
#[derive(Serialize, Deserialize)]
struct Header {
    key: String,
    /// The modules the initialization script loaded: path, size, modification time (ns).
    files: Vec<(String, u64, u128)>,
    crc: u32,
    len: usize,
}

/// This binary, as far as a snapshot is concerned: one taken by another build cannot be used.
pub(super) fn binary_identity() -> &'static str {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let meta = exe.as_ref().and_then(|e| std::fs::metadata(e).ok());
        let modified = meta.as_ref().and_then(|m| m.modified().ok()).map(nanos).unwrap_or(0);
        format!("{} {} {}", env!("CARGO_PKG_VERSION"), meta.map(|m| m.len()).unwrap_or(0), modified)
    })
}

fn nanos(time: std::time::SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The key of an app's runtime: what its snapshot depends on.
fn key(app: &App) -> String {
    let mut hash = Sha256::new();
    let mut put = |part: &[u8]| {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    };
    put(binary_identity().as_bytes());
    put(std::env::var("CHATFN_V8_FLAGS").unwrap_or_default().as_bytes());
    put(app.name.as_bytes());
    put(app.root.as_os_str().as_encoded_bytes());
    if let Some(script) = &app.initialization_script {
        put(script.path.as_os_str().as_encoded_bytes());
        put(script.code.as_deref().unwrap_or("\0from the file").as_bytes());
    }
    for (name, value) in &app.environment {
        put(name.as_bytes());
        put(value.as_bytes());
    }
    put(&std::fs::read(crate::deps::lockfile::Lockfile::path_for(&app.file)).unwrap_or_default());
    // What the script could fetch: the network policy and the fixtures (in a stable order).
    let fixtures: BTreeMap<_, _> = app.fixtures.iter().collect();
    put(&serde_json::to_vec(&(&app.allow_hosts, fixtures)).unwrap_or_default());
    crate::hex::hex(&hash.finalize()[..12])
}

fn file_of(dir: &Path, app: &App, key: &str) -> PathBuf {
    dir.join(format!("{}.{key}.v8", app.name))
}

/// The app's snapshot, when one was taken of its current runtime (by this server, or by any on
/// this machine: see `shared_dir`) and still holds.
pub fn load(app: &App) -> Option<Arc<Snapshot>> {
    let dir = DIR.get()?;
    let key = key(app);
    let path = file_of(dir, app, &key);
    adopt_shared(&path);
    match read(&path, &key) {
        Ok(snapshot) => {
            // (Taken here by a server that stopped before it could share it.)
            if !shared_dir().join(file_name(&path)).exists() {
                share(&app.name, &path);
            }
            Some(snapshot)
        }
        Err(why) => {
            if path.exists() {
                tracing::info!(app = %app.name, file = %path.display(), "not using the snapshot: {why}");
                let _ = std::fs::remove_file(&path);
                // (Its shared copy is the same file, or was taken of the same files.)
                let _ = std::fs::remove_file(shared_dir().join(file_name(&path)));
            }
            None
        }
    }
}

/// Whether a snapshot of the app's current runtime is on disk (not read or checked).
pub fn exists(app: &App) -> bool {
    DIR.get().is_some_and(|dir| {
        let path = file_of(dir, app, &key(app));
        adopt_shared(&path);
        path.exists()
    })
}

/// The machine's snapshots of app runtimes, shared by every data directory:
/// `$CHATFN_SNAPSHOT_CACHE_DIR`, else `snapshots` in chatfn's cache directory, beside the npm
/// packages. A runtime's key names everything its snapshot depends on (the app's directory, its
/// environment, lockfile, this binary...) and nothing of a data directory, so a server on a new
/// data directory (a test run in CI, a new node, a store moved) restores its isolates from the
/// snapshot another server took of the same runtime instead of building them cold. The files
/// hold the apps' environment variables: they are readable by their owner only.
fn shared_dir() -> PathBuf {
    std::env::var_os("CHATFN_SNAPSHOT_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::deps::cache::dir().join("snapshots"))
}

fn file_name(path: &Path) -> &std::ffi::OsStr {
    path.file_name().unwrap_or_default()
}

/// A snapshot missing at `path` (in the data directory) that the shared cache has: linked
/// there (copied across file systems), so that it is read, checked and replaced as one taken
/// here. Its checks still decide whether it is used.
fn adopt_shared(path: &Path) {
    if path.exists() {
        return;
    }
    let shared = shared_dir().join(file_name(path));
    if !shared.exists() || path.parent().is_some_and(|dir| std::fs::create_dir_all(dir).is_err()) {
        return;
    }
    if place(&shared, path).is_ok() {
        tracing::debug!(file = %path.display(), "a snapshot of this runtime from the machine's cache");
    }
}

/// Publishes the snapshot just written at `out` (of `app`'s runtime) to the shared cache, where
/// the app's snapshots of other runtimes go once unused for a day.
fn share(app: &str, out: &Path) {
    let dir = shared_dir();
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| place(out, &dir.join(file_name(out))).map_err(|e| e.to_string()));
    if let Err(why) = made {
        tracing::info!(app, dir = %dir.display(), "the snapshot is not shared: {why}");
        return;
    }
    remove_others(&dir.join(file_name(out)), |name, entry| {
        is_runtime_of(app, name) && unused_for_a_day(entry)
    });
}

/// Puts the file `from` at `to` as a whole (a hard link, else a copy; then renamed into place):
/// a server reading `to` meanwhile sees the old file or the new one.
fn place(from: &Path, to: &Path) -> std::io::Result<()> {
    let partial = to.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    if std::fs::hard_link(from, &partial).is_err() {
        std::fs::copy(from, &partial)?;
    }
    std::fs::rename(&partial, to).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })
}

/// The snapshot in the file at `path`, if it is whole and was taken with `key` of files as
/// they are now.
fn read(path: &Path, key: &str) -> Result<Arc<Snapshot>, String> {
    let file = Mapped::open(path).map_err(|e| e.to_string())?;
    let (blob, files) = check(file.bytes(), key)?;
    let start = blob.as_ptr() as usize - file.bytes().as_ptr() as usize;
    let blob = start..start + blob.len();
    // Checking read every page; the isolates made from it fault them in again.
    file.release();
    Ok(Arc::new(Snapshot { file, blob, files, key: key.to_string() }))
}

/// The blob of a snapshot file and the modules it holds, if it is whole and its key and files
/// are as they were.
fn check<'a>(bytes: &'a [u8], key: &str) -> Result<(&'a [u8], Vec<String>), String> {
    let (header, blob) = header_of(bytes)?;
    if header.key != key {
        return Err("taken of another runtime".into());
    }
    if blob.len() != header.len || crc32fast::hash(blob) != header.crc {
        return Err("its bytes do not check out".into());
    }
    for (file, len, modified) in &header.files {
        let now =
            std::fs::metadata(file).ok().map(|m| (m.len(), m.modified().map(nanos).unwrap_or(0)));
        if now != Some((*len, *modified)) {
            return Err(format!("{file} changed since"));
        }
    }
    Ok((blob, header.files.into_iter().map(|(file, _, _)| file).collect()))
}

/// The header of a snapshot file's `bytes` (from its start), and what follows it: the blob.
fn header_of(bytes: &[u8]) -> Result<(Header, &[u8]), String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("not a chatfn snapshot")?;
    let end = rest.iter().position(|&b| b == b'\n').ok_or("no header")?;
    let header = serde_json::from_slice(&rest[..end]).map_err(|e| e.to_string())?;
    Ok((header, &rest[end + 1..]))
}

/// A snapshot of chatfn's bootstrap alone (the extension's modules evaluated, nothing of an
/// app), for an isolate built without a snapshot of its runtime (an app's first, one whose
/// runtime cannot be snapshotted, `chatfn test`): it then runs only the app's part
/// (`__chatfnPrepare`, 27 ms cold for the Firebase app's isolate without it). Holding nothing of
/// an app, it is kept in the cache directory (`deps::cache`, beside the npm packages), shared
/// by every data directory; taken in the background the first time one is missing.
pub fn bootstrap() -> Option<Arc<Snapshot>> {
    enum Boot {
        Unknown,
        Ready(Arc<Snapshot>),
        /// Being taken, or it could not be: isolates are built without it until the next start.
        Missing,
    }
    static BOOT: Mutex<Boot> = Mutex::new(Boot::Unknown);
    let mut boot = BOOT.lock().unwrap_or_else(|e| e.into_inner());
    if let Boot::Unknown = *boot {
        let key = bootstrap_key();
        let path = crate::deps::cache::dir().join(format!("bootstrap.{key}.v8"));
        *boot = match read(&path, &key) {
            Ok(snapshot) => Boot::Ready(snapshot),
            Err(_) => {
                in_turn(Box::new(move || {
                    let taken = take_bootstrap(&path, key.clone()).and_then(|()| read(&path, &key));
                    let mut boot = BOOT.lock().unwrap_or_else(|e| e.into_inner());
                    *boot = match taken {
                        Ok(snapshot) => Boot::Ready(snapshot),
                        Err(why) => {
                            tracing::info!("no snapshot of chatfn's bootstrap: {why}");
                            Boot::Missing
                        }
                    };
                }));
                Boot::Missing
            }
        };
    }
    match &*boot {
        Boot::Ready(snapshot) => Some(snapshot.clone()),
        Boot::Unknown | Boot::Missing => None,
    }
}

/// What the bootstrap's snapshot depends on: this binary and the V8 flags.
fn bootstrap_key() -> String {
    let mut hash = Sha256::new();
    hash.update(binary_identity().as_bytes());
    hash.update([0]);
    hash.update(std::env::var("CHATFN_V8_FLAGS").unwrap_or_default().as_bytes());
    crate::hex::hex(&hash.finalize()[..12])
}

fn take_bootstrap(out: &Path, key: String) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let spec = Spec {
        name: String::new(),
        root: out.parent().unwrap_or(Path::new("/")).to_path_buf(),
        init_script: None,
        env: BTreeMap::new(),
        allow_hosts: Vec::new(),
        fixtures: Vec::new(),
        heap_bytes: 64 << 20,
        wall_ms: 10_000,
        max_pending_ops: 0,
        binary: binary_identity().to_string(),
        preload: Vec::new(),
        bootstrap: true,
        out: out.to_path_buf(),
        key,
    };
    run_child(&spec)?;
    // Those of other builds go once unused for a day (binaries side by side keep theirs).
    remove_others(out, |name, entry| name.starts_with("bootstrap.") && unused_for_a_day(entry));
    Ok(())
}

type Done = Box<dyn FnOnce(Option<Arc<Snapshot>>) + Send>;

/// Takes a snapshot of `app`'s runtime in the background, one at a time, and calls `done`
/// with it (or `None` when the runtime cannot be snapshotted). `preload`: module files to
/// load after the initialization script, as the app's functions loaded them in an earlier
/// isolate (firebase-admin loads most of itself at the first `auth()`), so that a restored
/// isolate's first invocation does not load and compile them.
pub fn take_later(
    app: &App,
    preload: Vec<String>,
    done: impl FnOnce(Option<Arc<Snapshot>>) + Send + 'static,
) {
    let app = app.clone();
    let done: Done = Box::new(done);
    in_turn(Box::new(move || {
        let started = Instant::now();
        let snapshot = match take(&app, preload) {
            Ok(()) => load(&app),
            Err(why) => {
                tracing::info!(app = %app.name, "no snapshot of this runtime: {why}");
                None
            }
        };
        if let Some(s) = &snapshot {
            let ms = started.elapsed().as_millis();
            tracing::debug!(app = %app.name, bytes = s.bytes(), ms, "snapshot taken");
        }
        done(snapshot);
    }));
}

/// Runs `job` (which takes a snapshot) on the snapshot thread, after those asked for before it:
/// one snapshot process at a time.
fn in_turn(job: Box<dyn FnOnce() + Send>) {
    type Job = Box<dyn FnOnce() + Send>;
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (send, receive) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("chatfn-snapshots".into())
            .spawn(move || receive.into_iter().for_each(|job| job()))
            .expect("cannot start the snapshot thread");
        Mutex::new(send)
    });
    let _ = queue.lock().unwrap().send(job);
}

/// The snapshot process running now, if any; and whether the server is stopping.
struct Running {
    child: Option<std::process::Child>,
    stopped: bool,
}

static RUNNING: Mutex<Running> = Mutex::new(Running { child: None, stopped: false });

/// For a stopping server: ends the snapshot process running now (and waits until it is gone)
/// and starts no other, so that nothing the server started outlives it.
pub fn stop() {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.stopped = true;
    if let Some(mut child) = running.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs the child process that writes the snapshot file of `app`.
fn take(app: &App, preload: Vec<String>) -> Result<(), String> {
    let dir = DIR.get().ok_or("snapshots are off")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key = key(app);
    let out = file_of(dir, app, &key);
    // Asked for before any attempt said which packages the functions load (the first snapshot
    // of a runtime): those the app's earlier runtime had loaded, if its snapshot is still here.
    let earlier = if preload.is_empty() { earlier_packages(app, &out) } else { Vec::new() };
    let from_earlier = !earlier.is_empty();
    let mut spec = Spec {
        name: app.name.clone(),
        root: app.root.clone(),
        init_script: app.initialization_script.as_ref().map(CodeView::from),
        env: app.environment.clone(),
        allow_hosts: app.allow_hosts.clone(),
        fixtures: app.fixtures.iter().map(|(u, f)| (u.clone(), f.clone())).collect(),
        heap_bytes: app.limits.heap_bytes,
        wall_ms: app.limits.wall.as_millis() as u64,
        max_pending_ops: app.limits.pending_ops,
        binary: binary_identity().to_string(),
        preload: if from_earlier { earlier } else { preload },
        bootstrap: false,
        out,
        key,
    };
    if let Err(why) = run_child(&spec) {
        if spec.preload.is_empty() {
            return Err(why);
        }
        // The new runtime may not load them as the old one did (a package upgraded), or one
        // may not load in a snapshot process.
        let whose = if from_earlier { "the earlier runtime's" } else { "the functions'" };
        tracing::info!(app = %app.name, "a snapshot preloading {whose} packages failed ({why}); taking one without");
        spec.preload.clear();
        run_child(&spec)?;
    }
    remove_older_runtimes(&app.name, &spec.out);
    share(&app.name, &spec.out);
    Ok(())
}

/// The packages' files that the app's snapshots of other runtimes beside `out` held (what its
/// functions went on to load, preloaded into them) and that are still there.
fn earlier_packages(app: &App, out: &Path) -> Vec<String> {
    let mut packages = std::collections::BTreeSet::new();
    for (name, entry) in others_beside(out) {
        if !is_runtime_of(&app.name, &name) {
            continue;
        }
        let Ok(header) = read_header(&entry.path()) else { continue };
        let held = header.files.into_iter().map(|(file, _, _)| file);
        packages.extend(held.filter(|f| f.contains("/node_modules/") && Path::new(f).is_file()));
    }
    packages.into_iter().collect()
}

/// The header of the snapshot file at `path`, without reading its blob.
fn read_header(path: &Path) -> Result<Header, String> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    // Its first two lines: the magic and the header.
    let mut start = Vec::new();
    for _ in 0..2 {
        reader.read_until(b'\n', &mut start).map_err(|e| e.to_string())?;
    }
    header_of(&start).map(|(header, _)| header)
}

/// Removes the app's snapshots beside `out` other than `out`: they are of runtimes it no
/// longer runs.
fn remove_older_runtimes(app: &str, out: &Path) {
    remove_others(out, |name, _| is_runtime_of(app, name));
}

/// Whether no server read the file `entry` for a day.
fn unused_for_a_day(entry: &std::fs::DirEntry) -> bool {
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(24 * 3600);
    entry.metadata().and_then(|m| m.accessed()).is_ok_and(|t| t < day_ago)
}

/// Whether the file `name` is a snapshot of one of `app`'s runtimes (`<app>.<key>.v8`).
fn is_runtime_of(app: &str, name: &str) -> bool {
    let key = name.strip_prefix(app).and_then(|r| r.strip_prefix('.')?.strip_suffix(".v8"));
    key.is_some_and(|key| key.len() == 24)
}

/// Removes the snapshot files (`*.v8`) beside `out`, other than `out`, that `stale` picks by
/// their name and directory entry.
fn remove_others(out: &Path, stale: impl Fn(&str, &std::fs::DirEntry) -> bool) {
    for (name, entry) in others_beside(out) {
        if stale(&name, &entry) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The snapshot files (`*.v8`) in `out`'s directory other than `out`, with their names.
fn others_beside(out: &Path) -> impl Iterator<Item = (String, std::fs::DirEntry)> + '_ {
    let entries = out.parent().map(std::fs::read_dir).into_iter().flatten().flatten().flatten();
    entries.filter_map(move |entry| {
        let name = entry.file_name().into_string().ok()?;
        (name.ends_with(".v8") && entry.path() != out).then_some((name, entry))
    })
}

/// Runs the child process that writes the snapshot file `spec` asks for.
fn run_child(spec: &Spec) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.arg(COMMAND).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only makes async-signal-safe system calls.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            // The child ends with the server. (It lowers its priority itself, after the exec:
            // until then it holds the server's files.)
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (mut stdin, mut stderr) = {
        let mut running = RUNNING.lock().unwrap();
        if running.stopped {
            return Err("the server is stopping".into());
        }
        // Under the lock until the exec is done (spawn returns after it): a stopping server
        // never exits while a forked child still holds its files, such as a store's lock.
        let mut child =
            command.spawn().map_err(|e| format!("cannot start the snapshot process: {e}"))?;
        let pipes = (child.stdin.take().expect("piped"), child.stderr.take().expect("piped"));
        running.child = Some(child);
        pipes
    };
    let input = serde_json::to_vec(spec).map_err(|e| e.to_string())?;
    let _ = stdin.write_all(&input);
    drop(stdin);
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_millis(spec.wall_ms) + Duration::from_secs(10);
    let status = loop {
        let mut running = RUNNING.lock().unwrap();
        let Some(child) = running.child.as_mut() else {
            return Err("the server is stopping".into());
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                running.child = None;
                break status;
            }
            Ok(None) if Instant::now() < deadline => {
                drop(running);
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                running.child = None;
                return Err("the snapshot process took too long".into());
            }
        }
    };
    let errors = reader.join().unwrap_or_default();
    if !status.success() {
        let why = errors.trim();
        return Err(if why.is_empty() {
            format!("the snapshot process ended with {status}")
        } else {
            why.chars().take(2000).collect()
        });
    }
    Ok(())
}

/// A value the snapshot-taking runtime answered, as Rust data.
fn from_js<T: serde::de::DeserializeOwned>(
    js: &mut JsRuntime,
    value: v8::Global<v8::Value>,
) -> anyhow::Result<T> {
    js_scope!(scope, js);
    let local = v8::Local::new(scope, value);
    Ok(serde_v8::from_v8(scope, local)?)
}

/// `chatfn __snapshot`: reads a [`Spec`] from stdin, runs the app's initialization script in a
/// snapshot-taking runtime, and writes the snapshot file; fails with the reason when the
/// runtime cannot be snapshotted.
pub fn take_from_stdin() -> anyhow::Result<()> {
    take_as_asked(serde_json::from_reader(std::io::stdin().lock())?)
}

fn take_as_asked(spec: Spec) -> anyhow::Result<()> {
    let started = Instant::now();
    // Serving attempts comes first.
    // SAFETY: nice(2) has no preconditions.
    unsafe { libc::nice(10) };
    anyhow::ensure!(
        spec.binary == binary_identity(),
        "the chatfn binary was replaced since the server started (restart it to use snapshots)"
    );
    // V8 as the server runs it (not deno_core's predictable mode for snapshots), except that
    // the snapshot keeps V8's own read-only heap as it is: V8 shares that heap between all the
    // isolates of a process, so isolates restored from different snapshots, and isolates built
    // without one, can only live side by side if no snapshot extends it.
    super::engine::set_v8_flags();
    let unknown =
        deno_core::v8_set_flags(vec!["chatfn".into(), "--no-extensible-ro-snapshot".into()]);
    anyhow::ensure!(unknown.len() == 1, "this V8 does not take {:?}", &unknown[1..]);
    JsRuntime::init_platform(None);
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let _entered = tokio.enter();
    let roots = ModuleRoots::new(vec![spec.root.clone()]);
    let loader = Rc::new(EsmLoader::new(roots.clone()));
    let options = || RuntimeOptions {
        extensions: vec![crate::js::chatfn::init()],
        module_loader: Some(loader.clone()),
        custom_module_evaluation_cb: Some(Box::new(evaluate_commonjs)),
        create_params: Some(v8::CreateParams::default().heap_limits(0, spec.heap_bytes)),
        ..Default::default()
    };
    let mut js = JsRuntimeForSnapshot::new(options());
    if spec.bootstrap {
        return write_file(&spec.out, spec.key, Vec::new(), js.snapshot());
    }
    let wall = Duration::from_millis(spec.wall_ms);
    let files = load_runtime(&mut js, &spec, &roots, &tokio, wall)?;
    anyhow::ensure!(!loader.loaded_any(), "the initialization script imported ES modules");
    js.execute_script("[chatfn:snapshot]", "globalThis.__chatfnBeforeSnapshot()")
        .map_err(|e| anyhow::anyhow!("cannot prepare the snapshot: {e}"))?;
    // (The scripts it holds go before the snapshot: V8 takes none with handles left.)
    let compiled_without_entries = js
        .op_state()
        .borrow_mut()
        .try_take::<PackageCode>()
        .is_some_and(|mut code| !code.take_unmade().is_empty());

    let files = files
        .into_iter()
        .filter_map(|file| {
            let meta = std::fs::metadata(&file).ok()?;
            let modified = meta.modified().map(nanos).unwrap_or(0);
            Some((file, meta.len(), modified))
        })
        .collect();
    write_file(&spec.out, spec.key.clone(), files, js.snapshot())?;
    // (Within the server's deadline for this process: its wall time and 10 s.)
    if compiled_without_entries && started.elapsed() < ENTRIES_WITHIN {
        // V8 makes no code cache entries in an isolate that takes a snapshot: one that does
        // not loads the same modules and makes them, for the snapshot processes to come (the
        // next runtime's, or another app's with the same packages). Its failure costs them
        // only their speed.
        let mut plain = JsRuntime::new(options());
        if load_runtime(&mut plain, &spec, &roots, &tokio, ENTRIES_WITHIN).is_ok() {
            let unmade = plain.op_state().borrow_mut().try_take::<PackageCode>();
            js_scope!(scope, plain);
            if let Some(mut code) = unmade {
                super::code_cache::make_entries(scope, code.take_unmade());
            }
            super::code_cache::flush();
        }
    }
    Ok(())
}

/// The code cache entries snapshot processes compile package files from: their isolates
/// start from no snapshot, with V8 flags of their own, so they cannot take the server's. The
/// Firebase app's snapshot process (firebase-admin loaded as its first session loads it):
/// 177-198 ms compiling from source, 136-157 ms from these entries. The process that makes
/// them runs the initialization script a second time, in an isolate it then drops (once for
/// each set of package files, as long as the entries stay in the cache directory).
const SNAPSHOT_PROCESS_CODE: &str = "snapshot-process";

/// How long a snapshot process may have taken for it to make those entries, and may take for
/// them.
const ENTRIES_WITHIN: Duration = Duration::from_secs(5);

/// Loads the app's runtime into `js` as a snapshot holds it: the initialization script, the
/// modules to preload, their pending work settled, within `wall` and the app's heap. Answers
/// the module files it loaded.
fn load_runtime(
    js: &mut JsRuntime,
    spec: &Spec,
    roots: &ModuleRoots,
    tokio: &tokio::runtime::Runtime,
    wall: Duration,
) -> anyhow::Result<Vec<String>> {
    let isolate = js.v8_isolate().thread_safe_handle();
    std::thread::spawn(move || {
        std::thread::sleep(wall);
        isolate.terminate_execution();
    });
    js.add_near_heap_limit_callback(|_, _| {
        eprintln!("the initialization script reached the heap limit");
        std::process::exit(2)
    });
    let view = AppView {
        name: spec.name.clone(),
        root: spec.root.display().to_string(),
        init_script: spec.init_script.clone(),
        functions: Default::default(),
        triggers: Vec::new(),
        env: spec.env.clone().into_iter().collect(),
        init_failure: None,
        max_pending_ops: spec.max_pending_ops,
    };
    let outbound = Outbound::new(
        NetworkPolicy::new(spec.allow_hosts.clone()),
        spec.fixtures.iter().cloned().collect(),
    )?;
    super::isolate::put_op_state(
        js,
        view,
        None,
        roots.clone(),
        outbound,
        super::memory::MemoryBudget::new(spec.heap_bytes),
        None,
    );
    js.op_state().borrow_mut().put(PackageCode::new(SNAPSHOT_PROCESS_CODE));

    let error = js
        .execute_script("[chatfn:prepare]", "globalThis.__chatfnPrepare()")
        .map_err(|e| anyhow::anyhow!("the initialization script failed: {e}"))?;
    if let Some(error) = from_js::<Option<String>>(js, error)? {
        anyhow::bail!("{error}");
    }
    let preload = serde_json::to_string(&spec.preload)?;
    let files = js
        .execute_script("[chatfn:preload]", format!("globalThis.__chatfnPreload({preload})"))
        .map_err(|e| anyhow::anyhow!("loading the modules to preload failed: {e}"))?;
    let files: Vec<String> = from_js(js, files)?;
    tokio
        .block_on(async {
            tokio::time::timeout(wall, js.run_event_loop(PollEventLoopOptions::default())).await
        })
        .map_err(|_| {
            anyhow::anyhow!("the initialization script left work pending (timers or requests)")
        })?
        .map_err(|e| anyhow::anyhow!("the initialization script's pending work failed: {e}"))?;
    Ok(files)
}

/// Writes a snapshot file: the magic line, the header, the blob (whole or not at all).
fn write_file(
    out: &Path,
    key: String,
    files: Vec<(String, u64, u128)>,
    blob: Box<[u8]>,
) -> anyhow::Result<()> {
    let header = Header { key, files, crc: crc32fast::hash(&blob), len: blob.len() };
    let mut bytes = MAGIC.to_vec();
    serde_json::to_writer(&mut bytes, &header)?;
    bytes.push(b'\n');
    bytes.extend_from_slice(&blob);
    write_whole(out, &bytes)?;
    Ok(())
}

/// Writes the file at `path` whole or not at all, readable by its owner only (an app's
/// snapshot holds its environment variables): under its own name while written (servers
/// sharing the cache may write the same file at once), then renamed into place, so a reader
/// sees the old file or the new one.
pub(super) fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the app's snapshot files of other runtimes go; a file of another name (here one
    /// whose name is the app's with no key) stays and stops nothing.
    #[test]
    fn an_apps_older_snapshots_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let key = |c: char| c.to_string().repeat(24);
        let out = dir.path().join(format!("app.{}.v8", key('a')));
        let names =
            [format!("app.{}.v8", key('b')), "app.v8".into(), format!("app2.{}.v8", key('c'))];
        for name in names.iter().chain([&out.file_name().unwrap().to_string_lossy().into()]) {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        remove_older_runtimes("app", &out);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [format!("app.{}.v8", key('a')), "app.v8".into(), names[2].clone()]);
    }

    /// Reading a snapshot checks every byte of its blob; those pages leave the process's memory
    /// once checked, rather than staying until an isolate is made from it (an app's snapshot is
    /// loaded when taken and kept for its next isolate: a Firebase app's held 3.5 MB idle).
    #[test]
    fn a_snapshot_read_and_checked_does_not_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.v8");
        let blob: Box<[u8]> =
            (0..64u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let crc = crc32fast::hash(&blob);
        write_file(&out, "the key".into(), Vec::new(), blob).unwrap();
        let before = super::super::mapped::resident_kb();
        let snapshot = read(&out, "the key").unwrap();
        let after = super::super::mapped::resident_kb();
        // (Other tests run beside this one; the margin is theirs.)
        assert!(
            after.saturating_sub(before) < 40 << 10,
            "a 64 MB snapshot read: {before} KB resident before, {after} KB after"
        );
        // SAFETY: `snapshot` outlives the slice.
        assert_eq!(crc32fast::hash(unsafe { snapshot.startup_data() }), crc);
    }

    /// A server whose binary was replaced on disk asks the new binary for a snapshot, which it
    /// could not restore: the snapshot process refuses before it runs anything.
    #[test]
    fn a_snapshot_process_of_another_binary_refuses() {
        let spec = Spec {
            name: "app".into(),
            root: "/nonexistent".into(),
            init_script: None,
            env: BTreeMap::new(),
            allow_hosts: Vec::new(),
            fixtures: Vec::new(),
            heap_bytes: 64 << 20,
            wall_ms: 1000,
            max_pending_ops: 10,
            binary: "an older chatfn".into(),
            preload: Vec::new(),
            bootstrap: false,
            key: "0".repeat(24),
            out: "/nonexistent/app.v8".into(),
        };
        let refused = take_as_asked(spec).unwrap_err().to_string();
        assert!(refused.contains("binary was replaced"), "{refused}");
    }
}
