//! `chatfn.lock` (named after the app file: `chatfn.firebase.toml` → `chatfn.firebase.lock`):
//! the exact tree an install produced. While the app's dependency ranges are the ones it was
//! made for, installs follow it exactly and need no registry when the cache has the tarballs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DepsError;

pub const LOCKFILE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    /// The tarball's URL.
    pub resolved: String,
    /// SRI of the tarball (`sha512-…`); chatfn writes the sha512 of the bytes it verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shasum: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_install_script: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lockfile {
    pub lockfile_version: u32,
    /// The app's dependency ranges this tree satisfies.
    pub requires: BTreeMap<String, String>,
    /// Install path (`node_modules/a/node_modules/b`) → package.
    pub packages: BTreeMap<String, LockedPackage>,
}

impl Lockfile {
    /// `chatfn.lock` beside `chatfn.toml`.
    pub fn path_for(app_file: &Path) -> PathBuf {
        app_file.with_extension("lock")
    }

    pub fn read(path: &Path) -> Result<Option<Lockfile>, DepsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DepsError::io(path, e)),
        };
        let lock: Lockfile = serde_json::from_str(&text)
            .map_err(|e| DepsError::Lockfile { path: path.to_path_buf(), detail: e.to_string() })?;
        if lock.lockfile_version != LOCKFILE_VERSION {
            return Err(DepsError::Lockfile {
                path: path.to_path_buf(),
                detail: format!(
                    "lockfile version {} is not {LOCKFILE_VERSION}; delete it to re-resolve",
                    lock.lockfile_version
                ),
            });
        }
        Ok(Some(lock))
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a lockfile.
    pub fn write(&self, path: &Path) -> Result<(), DepsError> {
        let tmp = path.with_extension("lock.tmp");
        let text = serde_json::to_string_pretty(self).expect("a lockfile serializes") + "\n";
        std::fs::write(&tmp, text).map_err(|e| DepsError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| DepsError::io(path, e))
    }
}
