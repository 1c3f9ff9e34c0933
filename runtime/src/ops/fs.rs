//! `op_fs_*`: the read-only file system of `node:fs`. Functions see their app's own files
//! (its code and installed node_modules) and nothing else; every path outside, and every
//! write, is refused with a Node-style error code.

use std::time::UNIX_EPOCH;

use deno_core::{op2, OpState};
use deno_error::JsErrorBox;
use serde::Serialize;

use super::modules::ModuleRoots;

fn denied(path: &str) -> JsErrorBox {
    JsErrorBox::new("Error", format!("ENOENT: no such file or directory (chatfn functions only see their app's files), open '{path}'"))
}

fn io_error(path: &str, e: std::io::Error) -> JsErrorBox {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => "ENOENT: no such file or directory",
        std::io::ErrorKind::PermissionDenied => "EACCES: permission denied",
        _ if e.raw_os_error() == Some(libc::EISDIR) => "EISDIR: illegal operation on a directory",
        _ if e.raw_os_error() == Some(libc::ENOTDIR) => "ENOTDIR: not a directory",
        _ => "EIO: i/o error",
    };
    JsErrorBox::new("Error", format!("{code}, '{path}'"))
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
pub fn op_fs_stat(state: &mut OpState, #[string] path: String) -> Result<FileStat, JsErrorBox> {
    let canonical = state.borrow::<ModuleRoots>().allowed(&path).ok_or_else(|| denied(&path))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| io_error(&path, e))?;
    use std::os::unix::fs::PermissionsExt;
    Ok(FileStat {
        is_file: meta.is_file(),
        is_directory: meta.is_dir(),
        is_symbolic_link: false,
        size: meta.len(),
        mode: meta.permissions().mode() & !0o222,
        mtime_ms: meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0),
    })
}

#[op2]
#[buffer]
pub fn op_fs_read_file(state: &mut OpState, #[string] path: String) -> Result<Vec<u8>, JsErrorBox> {
    let canonical = state.borrow::<ModuleRoots>().allowed(&path).ok_or_else(|| denied(&path))?;
    std::fs::read(&canonical).map_err(|e| io_error(&path, e))
}

#[op2]
#[serde]
pub fn op_fs_read_dir(state: &mut OpState, #[string] path: String) -> Result<Vec<(String, bool)>, JsErrorBox> {
    let canonical = state.borrow::<ModuleRoots>().allowed(&path).ok_or_else(|| denied(&path))?;
    let mut names: Vec<(String, bool)> = std::fs::read_dir(&canonical)
        .map_err(|e| io_error(&path, e))?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    names.sort();
    Ok(names)
}
