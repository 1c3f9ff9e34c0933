//! `import()` of ES modules from CommonJS code (firebase-admin's OAuth path does
//! `await import('node-fetch')`), and the static imports of those modules.
//!
//! Resolution is `require`'s own (npm-shim/require.js, with the `import` condition): V8 asks
//! this loader, which calls back into JavaScript. ES module files are read here through the
//! same app-directory check as `require`. CommonJS files and Node built-ins imported by an ES
//! module load through `require` and its shared cache, then appear as a module whose default
//! export is `module.exports` and whose named exports are its own properties, as in Node:
//! resolving such a file runs it (the only moment this loader has JavaScript at hand) and
//! notes its property names; loading it answers a generated module that imports
//! `module.exports` back (as a synthetic module, [`evaluate_commonjs`]) and re-exports it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use deno_core::error::ModuleLoaderError;
use deno_core::{
    op2, v8, CustomModuleEvaluationKind, FastString, JsRuntime, ModuleLoadOptions,
    ModuleLoadReferrer, ModuleLoadResponse, ModuleLoader, ModuleResolveResponse, ModuleSource,
    ModuleSourceCode, ModuleSpecifier, ModuleType, OpState, RequestedModuleType, ResolutionKind,
};
use deno_error::JsErrorBox;

use crate::ops::modules::{read_module, ModuleRoots, ModuleText};

/// The import attribute type under which a CommonJS file or built-in is its `module.exports`.
const COMMONJS: &str = "chatfn-commonjs";

/// The JavaScript half of the loader, registered by require.js.
struct EsmHost {
    resolve: v8::Global<v8::Function>,
    require: v8::Global<v8::Function>,
}

/// Called once by require.js with its import resolver and its `require` for imports.
#[op2(fast)]
pub fn op_modules_esm_host(
    scope: &mut v8::PinScope,
    resolve: v8::Local<v8::Function>,
    require: v8::Local<v8::Function>,
) {
    let host = EsmHost {
        resolve: v8::Global::new(scope, resolve),
        require: v8::Global::new(scope, require),
    };
    JsRuntime::op_state_from(scope).borrow_mut().put(host);
}

pub struct EsmLoader {
    roots: ModuleRoots,
    /// The own property names of each imported CommonJS module's `module.exports`, by URL.
    commonjs_names: RefCell<HashMap<String, Vec<String>>>,
    /// Whether any module was loaded (an isolate that imported one is not snapshotted).
    loaded_any: std::cell::Cell<bool>,
}

impl EsmLoader {
    pub fn new(roots: ModuleRoots) -> EsmLoader {
        EsmLoader { roots, commonjs_names: RefCell::default(), loaded_any: Default::default() }
    }

    pub fn loaded_any(&self) -> bool {
        self.loaded_any.get()
    }

    fn format(&self, specifier: &ModuleSpecifier) -> Result<(Format, String), ModuleLoaderError> {
        if specifier.scheme() == "node" {
            return Ok((Format::CommonJs, specifier.to_string()));
        }
        let path = specifier.to_file_path().map_err(|()| {
            JsErrorBox::type_error(format!(
                "chatfn cannot import {specifier}: only files of the app and node: built-ins"
            ))
        })?;
        Ok((Format::of(&path, &self.roots), path.display().to_string()))
    }

    fn load_now(
        &self,
        specifier: &ModuleSpecifier,
        requested: &RequestedModuleType,
    ) -> Result<ModuleSource, ModuleLoaderError> {
        let source = |kind, code: String| {
            ModuleSource::new(kind, ModuleSourceCode::String(code.into()), specifier, None)
        };
        if matches!(requested, RequestedModuleType::Other(t) if t == COMMONJS) {
            return Ok(source(ModuleType::Other(COMMONJS.into()), String::new()));
        }
        let (format, name) = self.format(specifier)?;
        match format {
            Format::CommonJs => {
                let names = self
                    .commonjs_names
                    .borrow()
                    .get(specifier.as_str())
                    .cloned()
                    .unwrap_or_default();
                Ok(source(ModuleType::JavaScript, commonjs_facade(specifier.as_str(), &names)))
            }
            Format::Json => Ok(source(ModuleType::Json, self.text(&name)?)),
            Format::Module => Ok(source(ModuleType::JavaScript, self.text(&name)?)),
        }
    }

    fn text(&self, path: &str) -> Result<String, JsErrorBox> {
        match read_module(&self.roots, path)? {
            ModuleText::Code(code) => Ok(code),
            ModuleText::SyntaxError(e) => Err(JsErrorBox::new("SyntaxError", format!("{e}"))),
        }
    }
}

/// How `require()` loads the file at `path`, by Node's rules: 1 as an ES module (its extension,
/// the nearest package.json's `"type": "module"`, or detected), 2 as CommonJS unless its
/// syntax says it is an ES module (a `.js` file whose package.json has no `"type"`), 0 as
/// CommonJS. `require` evaluates an ES module at once through deno_core's `op_import_sync`.
#[op2(fast)]
pub fn op_modules_format(state: &mut OpState, #[string] path: &str) -> u8 {
    let roots = state.borrow::<ModuleRoots>();
    match Format::of(Path::new(path), roots) {
        Format::Module => 1,
        Format::CommonJs if Format::ambiguous(Path::new(path), roots) => 2,
        _ => 0,
    }
}

/// Marks the file at `path` as an ES module: it failed to compile as CommonJS on ES module
/// syntax, and its package does not say what it is (Node's syntax detection).
#[op2(fast)]
pub fn op_modules_detected_esm(state: &mut OpState, #[string] path: &str) {
    state.borrow::<ModuleRoots>().1.borrow_mut().insert(path.to_string());
}

/// How Node would load a file: by extension, then the nearest package.json's "type".
#[derive(PartialEq)]
enum Format {
    Module,
    CommonJs,
    Json,
}

impl Format {
    fn of(path: &Path, roots: &ModuleRoots) -> Format {
        if roots.1.borrow().contains(&path.display().to_string()) {
            return Format::Module;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("mjs" | "mts") => Format::Module,
            Some("cjs" | "cts") => Format::CommonJs,
            Some("json") => Format::Json,
            _ => match roots.package_scope(path) {
                Some(manifest) if roots.package_type(&manifest).is_some_and(|t| t == "module") => {
                    Format::Module
                }
                _ => Format::CommonJs,
            },
        }
    }

    /// Whether a file taken as CommonJS may be an ES module by its syntax: a `.js` (or
    /// extensionless) file whose nearest package.json does not give a `"type"`.
    fn ambiguous(path: &Path, roots: &ModuleRoots) -> bool {
        if !matches!(path.extension().and_then(|e| e.to_str()), None | Some("js")) {
            return false;
        }
        roots.package_scope(path).is_none_or(|manifest| roots.package_type(&manifest).is_none())
    }
}

impl ModuleLoader for EsmLoader {
    fn resolve(
        &self,
        specifier: &str,
        _referrer: &str,
        _kind: ResolutionKind,
    ) -> ModuleResolveResponse {
        // Without a scope only URLs resolve; everything chatfn loads comes through resolve_with_scope.
        ModuleSpecifier::parse(specifier)
            .map_err(|e| JsErrorBox::type_error(format!("cannot import {specifier}: {e}")))
    }

    fn resolve_with_scope(
        &self,
        scope: &mut v8::PinScope,
        specifier: &str,
        referrer: &str,
        _kind: ResolutionKind,
        import_attributes: &HashMap<String, String>,
    ) -> ModuleResolveResponse {
        let resolve = host(scope, |h| h.resolve.clone())?;
        let args = [
            v8::String::new(scope, specifier).unwrap().into(),
            v8::String::new(scope, referrer).unwrap().into(),
        ];
        let url = call(scope, &resolve, &args)?.to_rust_string_lossy(scope);
        let url = ModuleSpecifier::parse(&url)
            .map_err(|e| JsErrorBox::type_error(format!("cannot import {url}: {e}")))?;
        let facade_import = import_attributes.get("type").is_some_and(|t| t == COMMONJS);
        if !facade_import
            && self.format(&url)?.0 == Format::CommonJs
            && !self.commonjs_names.borrow().contains_key(url.as_str())
        {
            let exports = module_exports(scope, url.as_str())?;
            let names = own_names(scope, exports);
            self.commonjs_names.borrow_mut().insert(url.to_string(), names);
        }
        Ok(url)
    }

    fn load(
        &self,
        specifier: &ModuleSpecifier,
        _referrer: Option<&ModuleLoadReferrer>,
        options: ModuleLoadOptions,
    ) -> ModuleLoadResponse {
        self.loaded_any.set(true);
        ModuleLoadResponse::Sync(self.load_now(specifier, &options.requested_module_type))
    }
}

fn host<T>(scope: &mut v8::PinScope, pick: impl FnOnce(&EsmHost) -> T) -> Result<T, JsErrorBox> {
    let state = JsRuntime::op_state_from(scope);
    let state = state.borrow();
    state.try_borrow::<EsmHost>().map(pick).ok_or_else(|| {
        JsErrorBox::generic("import() is not available before the runtime has started")
    })
}

/// Calls `function` with `args`; a JavaScript exception comes back as an error with its message.
fn call<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    function: &v8::Global<v8::Function>,
    args: &[v8::Local<'s, v8::Value>],
) -> Result<v8::Local<'s, v8::Value>, JsErrorBox> {
    let function = v8::Local::new(scope, function);
    let undefined = v8::undefined(scope).into();
    v8::tc_scope!(let tc, scope);
    match function.call(tc, undefined, args) {
        Some(value) => Ok(value),
        None => {
            let message = match tc.exception() {
                Some(exception) if exception.is_object() => {
                    let object = exception.to_object(tc).unwrap();
                    let key = v8::String::new(tc, "message").unwrap();
                    object
                        .get(tc, key.into())
                        .map(|m| m.to_rust_string_lossy(tc))
                        .unwrap_or_default()
                }
                Some(exception) => exception.to_rust_string_lossy(tc),
                None => "execution terminated".to_string(),
            };
            Err(JsErrorBox::generic(message))
        }
    }
}

/// Runs a CommonJS file or built-in through `require` (once: its cache is shared).
fn module_exports<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    url: &str,
) -> Result<v8::Local<'s, v8::Value>, JsErrorBox> {
    let require = host(scope, |h| h.require.clone())?;
    let url = v8::String::new(scope, url).unwrap().into();
    call(scope, &require, &[url])
}

fn own_names(scope: &mut v8::PinScope, exports: v8::Local<v8::Value>) -> Vec<String> {
    let Some(object) =
        exports.to_object(scope).filter(|_| exports.is_object() || exports.is_function())
    else {
        return Vec::new();
    };
    let Some(names) = object.get_own_property_names(
        scope,
        v8::GetPropertyNamesArgsBuilder::new()
            .mode(v8::KeyCollectionMode::OwnOnly)
            .property_filter(v8::PropertyFilter::SKIP_SYMBOLS)
            .key_conversion(v8::KeyConversionMode::ConvertToString)
            .build(),
    ) else {
        return Vec::new();
    };
    (0..names.length())
        .filter_map(|i| names.get_index(scope, i))
        .map(|n| n.to_rust_string_lossy(scope))
        .filter(|n| n != "default")
        .collect()
}

/// The ES module standing for a CommonJS file: `module.exports` as default, its properties by name.
fn commonjs_facade(url: &str, names: &[String]) -> String {
    let mut source = format!(
        "import m from {} with {{ type: {COMMONJS:?} }};\nexport default m;\n",
        serde_json::Value::from(url)
    );
    for (i, name) in names.iter().enumerate() {
        let quoted = serde_json::Value::from(name.as_str()).to_string();
        // A getter that throws (such as a built-in's unsupported part) leaves its export undefined.
        source.push_str(&format!(
            "let e{i};\ntry {{ e{i} = m[{quoted}]; }} catch {{}}\nexport {{ e{i} as {quoted} }};\n"
        ));
    }
    source
}

/// `module.exports` of a CommonJS file or built-in, as the synthetic module its facade imports.
pub fn evaluate_commonjs(
    scope: &mut v8::PinScope,
    module_type: Cow<'_, str>,
    name: &FastString,
    _code: ModuleSourceCode,
) -> Result<CustomModuleEvaluationKind, JsErrorBox> {
    if module_type != COMMONJS {
        return Err(JsErrorBox::type_error(format!(
            "chatfn cannot import modules of type {module_type:?}"
        )));
    }
    let exports = module_exports(scope, name.as_str())?;
    Ok(CustomModuleEvaluationKind::Synthetic(v8::Global::new(scope, exports)))
}
