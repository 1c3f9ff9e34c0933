//! The tarball cache, content-addressed by the SHA-512 of each tarball: a second install of
//! the same lockfile reads from here and needs no network. Entries are re-verified on use, so
//! a corrupted cache file is fetched again rather than trusted.
//! Location: `$CHATFN_CACHE_DIR`, else `$XDG_CACHE_HOME/chatfn`, else `~/.cache/chatfn`.

use std::path::{Path, PathBuf};

use base64::Engine;

pub struct Cache {
    dir: PathBuf,
}

/// chatfn's cache directory (the npm tarballs are in its `npm`).
pub fn dir() -> PathBuf {
    std::env::var_os("CHATFN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("chatfn")))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/chatfn")))
        .unwrap_or_else(|| std::env::temp_dir().join("chatfn-cache"))
}

impl Cache {
    pub fn at(dir: &Path) -> Cache {
        Cache { dir: dir.join("npm") }
    }

    pub fn from_env() -> Cache {
        Cache { dir: dir().join("npm") }
    }

    /// The file for a `sha512-…` SRI string, if it has that form.
    fn file_for(&self, integrity: &str) -> Option<PathBuf> {
        let digest = integrity.split_whitespace().find_map(|e| e.strip_prefix("sha512-"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(digest).ok()?;
        let hex = crate::hex::hex(&bytes);
        Some(self.dir.join(&hex[..2]).join(format!("{hex}.tgz")))
    }

    pub fn get(&self, integrity: Option<&str>) -> Option<Vec<u8>> {
        std::fs::read(self.file_for(integrity?)?).ok()
    }

    /// Stores verified bytes under their sha512 SRI (best effort: a full disk only costs a re-download).
    pub fn put(&self, sha512_integrity: &str, bytes: &[u8]) {
        let Some(file) = self.file_for(sha512_integrity) else { return };
        if file.exists() {
            return;
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let stored = file.parent().map(std::fs::create_dir_all).transpose().is_ok()
            && std::fs::write(&tmp, bytes).is_ok()
            && std::fs::rename(&tmp, &file).is_ok();
        if !stored {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
