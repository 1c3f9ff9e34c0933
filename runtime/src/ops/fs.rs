//! `op_fs_*`: the read-only file system of `node:fs`. Functions see their app's own files
//! (its code and installed node_modules) and nothing else; every path outside, and every
//! write, is refused with a Node-style error code.

use std::time::UNIX_EPOCH;

use deno_core::{op2, OpState};
use serde::Serialize;

use super::modules::ModuleRoots;

/// A failed file system call as Node reports it: `ENOENT: no such file or directory, open
/// 'a.txt'`, with `code`, `errno`, `syscall` and `path` as properties of the JavaScript error.
#[derive(Debug, thiserror::Error, deno_error::JsError)]
#[class(generic)]
#[property("code" = self.code)]
#[property("errno" = self.errno)]
#[property("syscall" = self.syscall)]
#[property("path" = self.path.clone())]
#[error("{code}: {description}, {syscall} '{path}'")]
pub struct FsError {
    code: &'static str,
    /// Negative, as libuv's.
    errno: i32,
    description: &'static str,
    syscall: &'static str,
    path: String,
}

impl FsError {
    /// A path outside the app directory: as if it did not exist.
    fn outside(syscall: &'static str, path: &str) -> FsError {
        let description = "no such file or directory (chatfn functions only see their app's files)";
        FsError {
            code: "ENOENT",
            errno: -libc::ENOENT,
            description,
            syscall,
            path: path.to_string(),
        }
    }

    fn io(syscall: &'static str, path: &str, e: std::io::Error) -> FsError {
        let (code, errno, description) = match e.kind() {
            std::io::ErrorKind::NotFound => ("ENOENT", libc::ENOENT, "no such file or directory"),
            std::io::ErrorKind::PermissionDenied => ("EACCES", libc::EACCES, "permission denied"),
            _ if e.raw_os_error() == Some(libc::EISDIR) => {
                ("EISDIR", libc::EISDIR, "illegal operation on a directory")
            }
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => {
                ("ENOTDIR", libc::ENOTDIR, "not a directory")
            }
            _ => ("EIO", libc::EIO, "i/o error"),
        };
        FsError { code, errno: -errno, description, syscall, path: path.to_string() }
    }
}

/// The canonical path of `path` and what it is, if the app may read it. A path that does not
/// resolve gets its own error (ENOENT, ENOTDIR) only when it is plainly inside the app (no
/// `..`), so a function cannot tell which files exist elsewhere.
fn allowed(
    state: &OpState,
    syscall: &'static str,
    path: &str,
) -> Result<(std::path::PathBuf, std::fs::Metadata), FsError> {
    let roots = state.borrow::<ModuleRoots>();
    if let Some(entry) = roots.allowed_entry(path) {
        return Ok(entry);
    }
    let lexical = std::path::Path::new(path);
    let plainly_inside = !lexical.components().any(|c| c == std::path::Component::ParentDir)
        && roots.contains(lexical);
    match std::fs::canonicalize(lexical) {
        Err(e) if plainly_inside => Err(FsError::io(syscall, path, e)),
        _ => Err(FsError::outside(syscall, path)),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStat {
    is_file: bool,
    is_directory: bool,
    is_symbolic_link: bool,
    size: u64,
    mode: u32,
    mtime_ms: f64,
}

#[op2]
#[serde]
pub fn op_fs_stat(state: &mut OpState, #[string] path: String) -> Result<FileStat, FsError> {
    let (_, meta) = allowed(state, "stat", &path)?;
    use std::os::unix::fs::PermissionsExt;
    Ok(FileStat {
        is_file: meta.is_file(),
        is_directory: meta.is_dir(),
        is_symbolic_link: false,
        size: meta.len(),
        mode: meta.permissions().mode() & !0o222,
        mtime_ms: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0),
    })
}

#[op2]
#[buffer]
pub fn op_fs_read_file(state: &mut OpState, #[string] path: String) -> Result<Vec<u8>, FsError> {
    let (canonical, _) = allowed(state, "open", &path)?;
    std::fs::read(&canonical).map_err(|e| FsError::io("open", &path, e))
}

#[op2]
#[serde]
pub fn op_fs_read_dir(
    state: &mut OpState,
    #[string] path: String,
) -> Result<Vec<(String, bool)>, FsError> {
    let (canonical, _) = allowed(state, "scandir", &path)?;
    let mut names: Vec<(String, bool)> = std::fs::read_dir(&canonical)
        .map_err(|e| FsError::io("scandir", &path, e))?
        .filter_map(|e| e.ok())
        .map(|e| {
            (e.file_name().to_string_lossy().into_owned(), e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .collect();
    names.sort();
    Ok(names)
}
