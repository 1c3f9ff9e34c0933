//! `op_modules_*`: the file access behind `require`. Functions may read the files of their own
//! app directory (their code, and later its installed `node_modules`) and nothing else; paths
//! are resolved through symlinks before the check, so a link cannot lead outside.

use std::path::{Component, Path, PathBuf};

use deno_core::{op2, serde_v8, v8, OpState};
use deno_error::JsErrorBox;

use serde::Serialize;

use crate::js::transpile::{is_typescript, strip_types, TranspileError};
use crate::worker::code_cache::PackageCode;

/// The directories `require` may read below, the `.js` files of packages without a
/// `"type"` that turned out to be ES modules (Node's syntax detection), and the `"type"` of
/// each package.json read, shared by the clones that `require` (in the op state) and the
/// module loader hold.
#[derive(Clone)]
pub struct ModuleRoots(
    pub Vec<PathBuf>,
    pub std::rc::Rc<std::cell::RefCell<std::collections::HashSet<String>>>,
    PackageTypes,
    std::rc::Rc<std::cell::RefCell<Resolved>>,
);

/// What `require`'s probes found, kept for one invocation (`ModuleRoots::forget_resolved`),
/// so a change to the app's files is seen by the next one (functions cannot change them).
/// `require` probes many names in the same directories, and the same `node_modules` up the
/// tree for every package (firebase-admin's first `auth()`: 4,000 probes), and `canonicalize`
/// reads every component's link each time (42,000 `readlink`s per isolate built cold).
#[derive(Default)]
pub(crate) struct Resolved {
    /// Directories resolved through symlinks (`None`: missing), by the path asked for.
    dirs: std::collections::HashMap<PathBuf, Option<PathBuf>>,
    /// What each path asked for resolved to, if it lies in the app: `op_modules_stat`'s
    /// probes, then reading the module found (one `lstat` for both).
    entries: std::collections::HashMap<String, Option<(PathBuf, std::fs::Metadata)>>,
    /// The package.json nearest above each directory asked for (`package_scope`).
    scopes: std::collections::HashMap<PathBuf, Option<PathBuf>>,
}

/// The `"type"` each package.json gives (`None`: none, or unreadable), by its canonical path:
/// read once per isolate, as Node reads each once. A package's files each ask for it, and
/// date-fns' package.json is 158 KB for its thousand files: parsed at every `require`, its
/// `require("date-fns")` took a second of CPU.
type PackageTypes =
    std::rc::Rc<std::cell::RefCell<std::collections::HashMap<PathBuf, Option<String>>>>;

impl ModuleRoots {
    pub fn new(roots: Vec<PathBuf>) -> ModuleRoots {
        ModuleRoots(roots, Default::default(), Default::default(), Default::default())
    }

    /// The `"type"` the package.json at `manifest` (canonical) gives, if any.
    pub(crate) fn package_type(&self, manifest: &Path) -> Option<String> {
        if let Some(known) = self.2.borrow().get(manifest) {
            return known.clone();
        }
        #[derive(serde::Deserialize)]
        struct Manifest {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let kind = std::fs::read(manifest)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
            .and_then(|m| m.kind);
        self.2.borrow_mut().insert(manifest.to_path_buf(), kind.clone());
        kind
    }

    /// The canonical form of `path` if it lies under one of the roots.
    pub(crate) fn allowed(&self, path: &str) -> Option<PathBuf> {
        self.allowed_entry(path).map(|(canonical, _)| canonical)
    }

    /// The canonical form of `path` and what it is, if it lies under one of the roots;
    /// remembered for the invocation.
    pub(crate) fn allowed_entry(&self, path: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        if let Some(known) = self.3.borrow().entries.get(path) {
            return known.clone();
        }
        let entry = self.resolve(Path::new(path)).filter(|(canonical, _)| self.contains(canonical));
        self.3.borrow_mut().entries.insert(path.to_string(), entry.clone());
        entry
    }

    /// 1 for a file, 2 for a directory, 0 for anything missing or outside the app (what
    /// `op_modules_stat` answers).
    pub(crate) fn kind(&self, path: &str) -> u8 {
        match self.allowed_entry(path) {
            Some((_, meta)) if meta.is_file() => STAT_FILE,
            Some((_, meta)) if meta.is_dir() => STAT_DIR,
            _ => STAT_MISSING,
        }
    }

    /// The package.json that holds `file` (its canonical path): the nearest one above it in
    /// the app, as Node finds a file's package scope. Every module `require` loads asks for
    /// it (its format), so each directory's answer is remembered for the invocation: walked up
    /// for every file, two `lstat`s a level, it was most of the probes of a first `auth()`.
    pub(crate) fn package_scope(&self, file: &Path) -> Option<PathBuf> {
        let dir = file.parent()?;
        if let Some(known) = self.3.borrow().scopes.get(dir) {
            return known.clone();
        }
        let manifest = dir.join("package.json");
        let found = match self.allowed(&manifest.to_string_lossy()) {
            Some(canonical) => Some(canonical),
            None if self.allowed(&dir.to_string_lossy()).is_some() => self.package_scope(dir),
            None => None, // outside the app
        };
        self.3.borrow_mut().scopes.insert(dir.to_path_buf(), found.clone());
        found
    }

    /// `path` resolved through symlinks, as `canonicalize` resolves it, and what it is: its
    /// directory from the ones resolved before, then one `lstat` of the last component.
    fn resolve(&self, path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
        let plain = path.is_absolute()
            && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let in_full = |path: &Path| {
            let canonical = path.canonicalize().ok()?;
            let meta = std::fs::metadata(&canonical).ok()?;
            Some((canonical, meta))
        };
        let (Some(dir), Some(name), true) = (path.parent(), path.file_name(), plain) else {
            return in_full(path);
        };
        let candidate = self.canonical_dir(dir)?.join(name);
        let meta = std::fs::symlink_metadata(&candidate).ok()?;
        if meta.file_type().is_symlink() {
            in_full(&candidate)
        } else {
            Some((candidate, meta))
        }
    }

    fn canonical_dir(&self, dir: &Path) -> Option<PathBuf> {
        if let Some(known) = self.3.borrow().dirs.get(dir) {
            return known.clone();
        }
        let canonical = if dir.parent().is_none() {
            dir.canonicalize().ok()
        } else {
            self.resolve(dir).filter(|(_, meta)| meta.is_dir()).map(|(canonical, _)| canonical)
        };
        self.3.borrow_mut().dirs.insert(dir.to_path_buf(), canonical.clone());
        canonical
    }

    /// Forgets what the probes found so far (at each invocation's start), their maps' room
    /// included: an isolate built cold probed thousands of names, which it need not hold after.
    pub(crate) fn forget_resolved(&self) {
        self.3.take();
    }

    /// Whether `path`, as written, lies under one of the roots.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.0.iter().any(|root| path.starts_with(root))
    }
}

/// Largest module file `require` reads; real bundles are a few MB.
pub const MAX_MODULE_BYTES: u64 = 16 << 20;

const STAT_MISSING: u8 = 0;
const STAT_FILE: u8 = 1;
const STAT_DIR: u8 = 2;

/// 1 for a file, 2 for a directory, 0 for anything missing or outside the app.
#[op2(fast)]
pub fn op_modules_stat(state: &mut OpState, #[string] path: &str) -> u8 {
    state.borrow::<ModuleRoots>().kind(path)
}

/// A module's code, or the place where TypeScript could not be stripped (the JS side throws
/// that as a SyntaxError carrying the location).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ModuleText {
    Code(String),
    SyntaxError(TranspileError),
}

/// The text of a module file; TypeScript comes back with its types stripped.
#[op2]
#[serde]
pub fn op_modules_read(
    state: &mut OpState,
    #[string] path: String,
) -> Result<ModuleText, JsErrorBox> {
    read_module(state.borrow::<ModuleRoots>(), &path)
}

/// The CommonJS wrapper's opening: it is on the module's first line, so only line 1's columns
/// shift (`op_error_location` shifts them back).
pub const WRAPPER_HEAD: &str = "(function (exports, require, module, __filename, __dirname) { ";

/// Loads a CommonJS module: the file at `path`, or `code` given for it (a saved version),
/// TypeScript's types stripped, in the wrapper with `epilogue` after the body; compiles it and
/// runs it, which makes the wrapper's function. Answers `[function, null]`, `[null, error]`
/// when it does not compile, or `[null, null, location]` when TypeScript's types could not be
/// stripped (the JS side throws that as a SyntaxError carrying the location); a file that
/// cannot be read throws. The file's text goes from the read to V8 without passing through
/// JavaScript strings: an ASCII text (nearly every package file) becomes an external string
/// over the bytes read, not a copy in V8's heap.
///
/// A package's file is compiled from V8's code cache when there is an entry for it, and gets
/// one made once the isolate has run it when there is none (`worker::code_cache`).
#[op2(reentrant)]
pub fn op_modules_compile<'s, 'i>(
    scope: &mut v8::PinScope<'s, 'i>,
    #[string] path: &str,
    code: v8::Local<'s, v8::Value>,
    #[string] epilogue: &str,
    #[string] url: &str,
) -> Result<v8::Local<'s, v8::Array>, JsErrorBox> {
    let state = deno_core::JsRuntime::op_state_from(scope);
    let text = if code.is_string() {
        let code = code.to_rust_string_lossy(scope);
        strip_given(&state.borrow().borrow::<ModuleRoots>().0, path, code)
    } else if code.is_null_or_undefined() {
        read_module(state.borrow().borrow::<ModuleRoots>(), path)?
    } else {
        return Err(JsErrorBox::type_error("a module's code must be a string"));
    };
    let source = match text {
        ModuleText::Code(source) => source,
        ModuleText::SyntaxError(e) => {
            let out = v8::Array::new(scope, 3);
            let null: v8::Local<v8::Value> = v8::null(scope).into();
            let location =
                serde_v8::to_v8(scope, &e).map_err(|e| JsErrorBox::generic(e.to_string()))?;
            out.set_index(scope, 0, null);
            out.set_index(scope, 1, null);
            out.set_index(scope, 2, location);
            return Ok(out);
        }
    };
    let wrapped = wrap(&source, epilogue);
    drop(source);
    // (V8 would refuse a longer one, and an external string's bytes would then never be freed.)
    if wrapped.len() > v8::String::MAX_LENGTH {
        return Err(JsErrorBox::new(
            "Error",
            format!("{path} is too large for a JavaScript string"),
        ));
    }
    let source = if wrapped.is_ascii() {
        v8::String::new_external_onebyte(scope, wrapped.into_boxed_slice())
    } else {
        v8::String::new_from_utf8(scope, &wrapped, v8::NewStringType::Normal)
    };
    let source = source.ok_or_else(|| {
        JsErrorBox::new("Error", format!("{path} could not be made a JavaScript string"))
    })?;
    Ok(compile_and_run(scope, source, url, &state))
}

/// `source` in the CommonJS wrapper, with `epilogue` after it; a shebang line is kept as a
/// comment (it would be a syntax error inside the wrapper), so lines stay put.
fn wrap(source: &str, epilogue: &str) -> Vec<u8> {
    let (shebang, body) = match source.strip_prefix("#!") {
        Some(rest) => ("//", rest),
        None => ("", source),
    };
    let mut out = Vec::with_capacity(WRAPPER_HEAD.len() + source.len() + epilogue.len() + 4);
    for part in [WRAPPER_HEAD, shebang, body, "\n", epilogue, "\n})"] {
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// `code` given for the file at `path`, types stripped if TypeScript.
fn strip_given(roots: &[PathBuf], path: &str, code: String) -> ModuleText {
    if is_typescript(path) {
        typescript_stripped(roots, Path::new(path), code)
    } else {
        ModuleText::Code(code)
    }
}

/// TypeScript `code` of `file` with its types stripped; errors name the file relative to the
/// app, as the user wrote it.
fn typescript_stripped(roots: &[PathBuf], file: &Path, code: String) -> ModuleText {
    let shown = match roots.first() {
        Some(root) => file.strip_prefix(root).unwrap_or(file),
        None => file,
    };
    match strip_types(&shown.display().to_string(), code) {
        Ok(code) => ModuleText::Code(code),
        Err(e) => ModuleText::SyntaxError(e),
    }
}

/// Compiles the wrapped `source` of the file at `url` and runs it: `[function, null]`, or
/// `[null, error]` when it does not compile.
fn compile_and_run<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    source: v8::Local<'s, v8::String>,
    url: &str,
    state: &std::rc::Rc<std::cell::RefCell<OpState>>,
) -> v8::Local<'s, v8::Array> {
    let out = v8::Array::new(scope, 2);
    let null: v8::Local<v8::Value> = v8::null(scope).into();
    let name = v8::String::new(scope, url).unwrap_or_else(|| v8::String::empty(scope));
    let origin =
        v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, false, None);
    // The entry, for a package's file in an isolate that keeps them.
    let found = if url.contains("/node_modules/") {
        let state = state.borrow();
        state.try_borrow::<PackageCode>().map(|code| {
            let view = v8::ValueView::new(scope, source);
            code.find(view.data())
        })
    } else {
        None
    };
    v8::tc_scope!(let tc, scope);
    let (script, unmade) = match &found {
        Some((name, Some(data))) => {
            let mut compiling = v8::script_compiler::Source::new_with_cached_data(
                source,
                Some(&origin),
                v8::CachedData::new(data),
            );
            let script = v8::script_compiler::compile(
                tc,
                &mut compiling,
                v8::script_compiler::CompileOptions::ConsumeCodeCache,
                v8::script_compiler::NoCacheReason::NoReason,
            );
            let rejected = compiling.get_cached_data().is_none_or(|c| c.rejected());
            if rejected {
                tracing::debug!(%url, "V8 rejected a package file's code cache entry");
            }
            (script, rejected.then_some(*name))
        }
        Some((name, None)) => {
            tracing::trace!(%url, "no code cache entry for a package file");
            (v8::Script::compile(tc, source, Some(&origin)), Some(*name))
        }
        None => (v8::Script::compile(tc, source, Some(&origin)), None),
    };
    let Some(script) = script else {
        let thrown = tc.exception().unwrap_or(null);
        out.set_index(tc, 0, null);
        out.set_index(tc, 1, thrown);
        return out;
    };
    if let Some(name) = unmade {
        let unbound = script.get_unbound_script(tc);
        let unbound = v8::Global::new(tc, unbound);
        if let Some(code) = state.borrow_mut().try_borrow_mut::<PackageCode>() {
            code.compiled(name, unbound);
        }
    }
    match script.run(tc) {
        Some(function) => {
            out.set_index(tc, 0, function);
            out.set_index(tc, 1, null);
        }
        None => {
            let thrown = tc.exception().unwrap_or(null);
            out.set_index(tc, 0, null);
            out.set_index(tc, 1, thrown);
        }
    }
    out
}

/// The text of the module file at `path`, if it lies inside the app (for `require` and `import`).
pub(crate) fn read_module(roots: &ModuleRoots, path: &str) -> Result<ModuleText, JsErrorBox> {
    let Some((canonical, meta)) = roots.allowed_entry(path) else {
        return Err(JsErrorBox::new(
            "Error",
            format!("chatfn functions can only read files inside their app directory, not {path}"),
        ));
    };
    let size = meta.len();
    if size > MAX_MODULE_BYTES {
        return Err(JsErrorBox::new(
            "Error",
            format!(
                "{path} is {} MB; chatfn loads module files of at most {} MB",
                size >> 20,
                MAX_MODULE_BYTES >> 20
            ),
        ));
    }
    let bytes = std::fs::read(&canonical)
        .map_err(|e| JsErrorBox::new("Error", format!("cannot read {path}: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        JsErrorBox::new(
            "SyntaxError",
            format!(
                "{path} is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if is_typescript(path) {
        return Ok(typescript_stripped(&roots.0, &canonical, source));
    }
    Ok(ModuleText::Code(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// `allowed` answers what `canonicalize` and the roots check would, for files, links inside
    /// and outside the app, missing names and paths through a file, asked twice (the second
    /// time from the directories it resolved).
    #[test]
    fn resolving_from_known_directories_answers_as_canonicalize_does() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let (app, outside) = (base.join("app"), base.join("outside"));
        std::fs::create_dir_all(app.join("node_modules/real/lib")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(app.join("node_modules/real/lib/index.js"), "").unwrap();
        std::fs::write(outside.join("secret.js"), "").unwrap();
        symlink(app.join("node_modules/real"), app.join("node_modules/linked")).unwrap();
        symlink(&outside, app.join("node_modules/escape")).unwrap();
        symlink(outside.join("secret.js"), app.join("node_modules/real/lib/secret.js")).unwrap();
        let roots = ModuleRoots::new(vec![app.clone()]);
        let expected = |path: &Path| path.canonicalize().ok().filter(|c| c.starts_with(&app));
        let asked = [
            "node_modules/real/lib/index.js",
            "node_modules/linked/lib/index.js",
            "node_modules/linked/lib",
            "node_modules/escape/secret.js",
            "node_modules/real/lib/secret.js",
            "node_modules/real/lib/missing.js",
            "node_modules/missing/lib/index.js",
            "node_modules/real/lib/index.js/inside-a-file",
            "node_modules/linked/../real/lib/index.js",
        ];
        let kind = |path: &Path| match expected(path).map(|c| std::fs::metadata(c).unwrap()) {
            Some(meta) if meta.is_file() => STAT_FILE,
            Some(meta) if meta.is_dir() => STAT_DIR,
            _ => STAT_MISSING,
        };
        for _ in 0..2 {
            for path in asked.iter().map(|p| app.join(p)) {
                let asked = path.display().to_string();
                assert_eq!(roots.allowed(&asked), expected(&path), "{path:?}");
                assert_eq!(roots.kind(&asked), kind(&path), "{path:?}");
            }
        }
        let moved = app.join("node_modules/real/lib/index.js").display().to_string();
        assert_eq!(roots.kind(&moved), STAT_FILE);
        assert!(roots
            .allowed(&app.join("node_modules/linked/lib/index.js").display().to_string())
            .is_some());

        // Once the invocation ends, a directory replaced by a link out of the app is seen as one,
        // and a file moved away as gone.
        std::fs::rename(app.join("node_modules/real"), base.join("moved")).unwrap();
        symlink(&outside, app.join("node_modules/real")).unwrap();
        std::fs::write(outside.join("index.js"), "").unwrap();
        let swapped = app.join("node_modules/real/index.js").display().to_string();
        roots.forget_resolved();
        assert_eq!(roots.allowed(&swapped), None);
        assert_eq!(roots.kind(&swapped), STAT_MISSING);
        assert_eq!(roots.kind(&moved), STAT_MISSING);
    }

    /// A file's package scope is the nearest package.json above it inside the app (through a
    /// link, by its canonical path), none above the app's root; a package.json written once the
    /// invocation ended is seen by the next.
    #[test]
    fn a_files_package_scope_is_the_nearest_package_json_in_the_app() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let app = base.join("app");
        std::fs::create_dir_all(app.join("node_modules/pkg/lib/deep/er")).unwrap();
        std::fs::create_dir_all(app.join("functions")).unwrap();
        std::fs::write(base.join("package.json"), "{}").unwrap(); // outside the app
        std::fs::write(app.join("node_modules/pkg/package.json"), "{}").unwrap();
        symlink(app.join("node_modules/pkg"), app.join("node_modules/alias")).unwrap();
        let roots = ModuleRoots::new(vec![app.clone()]);
        let scope = |file: &str| roots.package_scope(&app.join(file));
        let pkg = Some(app.join("node_modules/pkg/package.json"));
        for _ in 0..2 {
            assert_eq!(scope("node_modules/pkg/lib/deep/er/x.js"), pkg);
            assert_eq!(scope("node_modules/pkg/lib/y.js"), pkg);
            assert_eq!(scope("node_modules/pkg/index.js"), pkg);
            assert_eq!(scope("node_modules/alias/lib/deep/z.js"), pkg);
            assert_eq!(scope("functions/start.js"), None);
        }
        std::fs::write(app.join("package.json"), "{}").unwrap();
        assert_eq!(scope("functions/start.js"), None, "remembered for the invocation");
        roots.forget_resolved();
        assert_eq!(scope("functions/start.js"), Some(app.join("package.json")));
        assert_eq!(scope("node_modules/pkg/lib/y.js"), pkg);
    }

    /// The wrapper keeps the body's lines where they were: a shebang becomes a comment on line
    /// 1, and the epilogue comes after the last line (which may end in a line comment).
    #[test]
    fn the_wrapper_keeps_the_bodys_lines_and_comments_out_a_shebang() {
        let text = |source, epilogue| String::from_utf8(wrap(source, epilogue)).unwrap();
        assert_eq!(text("x // end", ""), format!("{WRAPPER_HEAD}x // end\n\n}})"));
        assert_eq!(
            text("#!/usr/bin/env node\nx", ";return x"),
            format!("{WRAPPER_HEAD}///usr/bin/env node\nx\n;return x\n}})")
        );
        assert_eq!(text("a\n#!b", ""), format!("{WRAPPER_HEAD}a\n#!b\n\n}})"));
    }
}
