//! V8's code cache for installed packages, where a snapshot cannot serve: an isolate built
//! without its runtime's snapshot (an app's first on a machine that never ran its runtime, a
//! runtime that cannot be snapshotted, `chatfn test`, test runs and replays) compiles every
//! module it `require`s from source. For a file under `node_modules`, V8's compiled form of it
//! (its code cache, made once the isolate has run it: [`PackageCode`]) is kept, and the next
//! isolate to load the same source deserializes it instead of parsing it (`require`'s
//! `op_modules_compile`): in memory for this process's isolates
//! (every test of a `chatfn test` run, every app of a server with the same packages), and in
//! chatfn's cache directory (`v8-code/<build>/`, beside the npm packages; other builds' go once
//! unused for a day) for the next process.
//!
//! An entry is named by the SHA-256 of the source it was compiled from (as V8 saw it: the
//! CommonJS wrapper included) and of the snapshot the isolate started from, in a directory of
//! this binary's, so a changed file, package version or chatfn is never served another's code;
//! V8 checks its own version, flags and the source's length again, and an entry it rejects is
//! made again. The app's own files (functions, the initialization script) are not cached:
//! they change with every version.
//!
//! New entries are written to disk by a thread of their own once a second has passed without
//! another (and by [`flush`] when a command ends): an app's first isolate makes a few hundred
//! for firebase-admin, and writing them while it serves its first attempt would hold up that
//! attempt's own write to disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use deno_core::v8;
use sha2::{Digest, Sha256};

/// The code cache of one isolate's package modules, kept in its op state: the key of the
/// snapshot it started from (empty for none: V8 refuses code compiled in an isolate of another
/// startup snapshot, each having its own read-only heap, so their entries are apart), and the
/// scripts it compiled without an entry.
///
/// An entry is made once the isolate has run them ([`make_entries`], after an
/// invocation and by the engine's sweep), not right after compiling: V8 compiles most
/// functions lazily, when first called, and an entry made before the module ran holds only its
/// top level, so every isolate given it compiled the rest again from source (V8's
/// `CompileLazy`, an eighth of a Firebase app's first start).
pub struct PackageCode {
    startup: String,
    unmade: Unmade,
}

/// An entry's name: the first 16 bytes of its digest.
pub(crate) type Name = [u8; 16];

/// Package files compiled without an entry, with the scripts V8 compiled them into.
pub type Unmade = Vec<(Name, v8::Global<v8::UnboundScript>)>;

impl PackageCode {
    pub fn new(startup: &str) -> PackageCode {
        PackageCode { startup: startup.to_string(), unmade: Vec::new() }
    }

    /// The name of the entry for a package file compiled from `source` (the CommonJS wrapper
    /// included), and the entry when this process or an earlier one made it.
    pub(crate) fn find(&self, source: v8::ValueViewData) -> (Name, Option<Arc<[u8]>>) {
        // (The binary is in the entries' directory: `dir`.)
        let mut hash = Sha256::new();
        hash.update(self.startup.as_bytes());
        hash.update([0]);
        match source {
            v8::ValueViewData::OneByte(bytes) => {
                hash.update([1]);
                hash.update(bytes);
            }
            v8::ValueViewData::TwoByte(units) => {
                hash.update([2]);
                // SAFETY: a `u16` slice reads as twice as many bytes (in this machine's order:
                // an entry never leaves it), with no alignment needed.
                hash.update(unsafe {
                    std::slice::from_raw_parts(
                        units.as_ptr().cast::<u8>(),
                        std::mem::size_of_val(units),
                    )
                });
            }
        }
        let name: Name = hash.finalize()[..16].try_into().expect("16 bytes");
        let held = entries().0.lock().unwrap_or_else(|e| e.into_inner()).held.get(&name).cloned();
        let data = held.or_else(|| {
            let data: Arc<[u8]> = std::fs::read(file_of(&name)).ok()?.into();
            hold(name, data.clone(), false);
            Some(data)
        });
        if data.is_some() {
            entries().0.lock().unwrap_or_else(|e| e.into_inner()).offered += 1;
        }
        (name, data)
    }

    /// A package file was compiled without an entry (none, or one V8 rejected): its entry is
    /// made once the isolate has run it.
    pub(crate) fn compiled(&mut self, name: Name, script: v8::Global<v8::UnboundScript>) {
        self.unmade.push((name, script));
    }

    /// The package files compiled without an entry so far (for [`make_entries`]).
    pub fn take_unmade(&mut self) -> Unmade {
        std::mem::take(&mut self.unmade)
    }
}

/// Makes the entries of package files compiled without one, with the functions V8 compiled
/// in them since (taken out of the isolate's op state: [`PackageCode::take_unmade`]).
pub fn make_entries(scope: &mut v8::PinScope, unmade: Unmade) {
    for (name, script) in unmade {
        let script = v8::Local::new(scope, script);
        if let Some(data) = script.create_code_cache() {
            hold(name, Arc::from(&data[..]), true);
        }
    }
}

/// The entries this process read or made (up to `MAX_IN_MEMORY` bytes), and those not yet
/// written to disk.
#[derive(Default)]
struct Entries {
    held: HashMap<Name, Arc<[u8]>>,
    bytes: usize,
    unwritten: Vec<Name>,
    /// Entries made (new, or again after V8 rejected one): the writer waits until this stops
    /// moving.
    made: u64,
    /// Entries given to V8 (from memory or disk).
    offered: u64,
}

const MAX_IN_MEMORY: usize = 64 << 20;
/// How long the writer waits after the last new entry.
const QUIET: Duration = Duration::from_secs(1);

fn entries() -> &'static (Mutex<Entries>, Condvar) {
    static ENTRIES: OnceLock<(Mutex<Entries>, Condvar)> = OnceLock::new();
    ENTRIES.get_or_init(Default::default)
}

/// This binary's entries: `v8-code/<build>/` (no other build can use them).
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let identity = Sha256::digest(super::snapshot::binary_identity().as_bytes());
        crate::deps::cache::dir().join("v8-code").join(crate::hex::hex(&identity[..6]))
    })
}

fn file_of(name: &Name) -> PathBuf {
    dir().join(crate::hex::hex(name))
}

/// Keeps an entry in memory (while there is room), `new` ones to be written.
fn hold(name: Name, data: Arc<[u8]>, new: bool) {
    let (lock, wake) = entries();
    let mut entries = lock.lock().unwrap_or_else(|e| e.into_inner());
    let len = data.len();
    if entries.bytes + len <= MAX_IN_MEMORY {
        if let Some(old) = entries.held.insert(name, data) {
            entries.bytes -= old.len();
        }
        entries.bytes += len;
    }
    if new && entries.held.contains_key(&name) {
        entries.unwritten.push(name);
        entries.made += 1;
        start_writer();
        wake.notify_one();
    }
}

/// The thread that writes new entries once they stop coming for a while.
fn start_writer() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("chatfn-code-cache".into()).spawn(|| {
            let (lock, wake) = entries();
            let mut entries = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                entries = wake.wait_while(entries, |e| e.unwritten.is_empty()).unwrap();
                // Until a `QUIET` passes without a new entry.
                loop {
                    let made = entries.made;
                    entries = wake.wait_timeout(entries, QUIET).unwrap().0;
                    if entries.made == made {
                        break;
                    }
                }
                drop(entries);
                flush();
                entries = lock.lock().unwrap_or_else(|e| e.into_inner());
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("the code cache of packages is not written: {e}");
        }
    });
}

/// Writes the entries not yet on disk (a command calls it before it exits).
pub fn flush() {
    let (lock, _) = entries();
    let unwritten: Vec<(Name, Arc<[u8]>)> = {
        let mut entries = lock.lock().unwrap_or_else(|e| e.into_inner());
        if entries.offered + entries.made > 0 {
            let (offered, made) = (entries.offered, entries.made);
            tracing::debug!(
                offered,
                made,
                "the code cache of packages: entries offered to V8, made"
            );
        }
        let names = std::mem::take(&mut entries.unwritten);
        names.into_iter().filter_map(|n| Some((n, entries.held.get(&n)?.clone()))).collect()
    };
    for (name, data) in unwritten {
        let path = file_of(&name);
        if let Err(e) = write(&path, &data) {
            tracing::debug!(file = %path.display(), "a module's code cache is not kept: {e}");
            return;
        }
    }
}

/// Writes an entry whole or not at all (a reader sees the old file or the new one).
fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    static PRUNED: OnceLock<()> = OnceLock::new();
    PRUNED.get_or_init(|| {
        let day_ago = std::time::SystemTime::now() - Duration::from_secs(24 * 3600);
        remove_other_builds(dir(), day_ago);
    });
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir())?;
    super::snapshot::write_whole(path, data)
}

/// Removes the entries of other builds than the one in `ours` that made none since `before`
/// (every build of chatfn has its own: a developer's or a CI machine's would pile up).
fn remove_other_builds(ours: &Path, before: std::time::SystemTime) {
    let Some(all) = ours.parent() else { return };
    for entry in std::fs::read_dir(all).into_iter().flatten().flatten() {
        let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < before);
        if entry.path() != ours && entry.path().is_dir() && stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Other builds' entries go once they made none for the given time; this build's stay,
    /// and so do files that are not a build's directory.
    #[test]
    fn other_builds_entries_go_once_unused() {
        let all = tempfile::tempdir().unwrap();
        let made = |name: &str| {
            std::fs::create_dir(all.path().join(name)).unwrap();
            std::fs::write(all.path().join(name).join("entry"), b"code").unwrap();
        };
        for name in ["ours", "old-build", "recent-build"] {
            made(name);
        }
        std::fs::write(all.path().join("a-file"), b"kept").unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        std::fs::File::open(all.path().join("recent-build")).unwrap().set_modified(later).unwrap();
        remove_other_builds(
            &all.path().join("ours"),
            std::time::SystemTime::now() + Duration::from_secs(30),
        );
        let mut left: Vec<String> = std::fs::read_dir(all.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["a-file", "ours", "recent-build"]);
        assert!(all.path().join("ours/entry").exists());
    }
}
