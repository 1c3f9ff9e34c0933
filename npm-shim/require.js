// The CommonJS loader: `require` with Node's published resolution algorithm
// (https://nodejs.org/api/modules.html#all-together), one module cache per isolate shared by
// the initialization script and every function, and the classic wrapper that keeps line
// numbers exact. File access goes through Rust ops that confine it to the app directory and
// strip TypeScript types.
import { core, primordials } from "ext:core/mod.js";
import { dirname, extname, join, normalize } from "ext:chatfn/internal/path.js";
import { nodeError } from "ext:chatfn/internal/errors.js";
import { builtinModule, isBuiltin } from "ext:chatfn/builtins.js";
const {
  ArrayIsArray, ArrayPrototypeIncludes, ArrayPrototypeJoin, ArrayPrototypePush, ArrayPrototypeSlice, ArrayPrototypeSome, Error, JSONParse, ObjectCreate, ObjectKeys,
  ObjectPrototypeHasOwnProperty, ReflectApply, StringPrototypeEndsWith, StringPrototypeIncludes, StringPrototypeIndexOf,
  StringPrototypeReplaceAll, StringPrototypeSlice, StringPrototypeStartsWith, StringPrototypeSplit, decodeURI, encodeURI,
} = primordials;
const {
  op_modules_stat, op_modules_read, op_modules_compile, op_modules_esm_host, op_modules_format,
  op_modules_detected_esm, op_import_sync,
} = core.ops;

const STAT_FILE = 1;
const STAT_DIR = 2;
// Extensions tried when a path has none: Node's, then chatfn's TypeScript.
const EXTENSIONS = [".js", ".json", ".cjs", ".ts", ".cts"];

class Module {
  constructor(filename) {
    this.id = filename;
    this.filename = filename;
    this.path = dirname(filename);
    this.exports = {};
    this.loaded = false;
    this.children = [];
  }
}

const cache = ObjectCreate(null);
/** `${directory}\x00${request}` -> the filename it resolved to (see `require`). */
const resolveCache = ObjectCreate(null);
/** A package.json's path -> what it parsed to: read once per isolate, as Node reads each once
 * per process (a package `require`d from twenty files had its package.json read twenty times). */
const packageJsonCache = ObjectCreate(null);

/** The files of the modules loaded so far (what a snapshot of the isolate depends on). */
export function loadedFiles() {
  return ObjectKeys(cache);
}

/** Loads the module at `filename` into the cache, as a later `require` of it would (a snapshot
 * being taken loads what the app's functions loaded last time); answers whether it loaded. */
export function preload(filename) {
  try {
    loadModule(filename, undefined);
    return true;
  } catch {
    return false;
  }
}

/** A module-loading error: Node's code for it, and what it adds (requireStack, path, ...). */
function moduleError(message, code, extra) {
  return nodeError(Error, code, message, extra);
}

function loadBuiltin(request) {
  const name = StringPrototypeStartsWith(request, "node:") ? StringPrototypeSlice(request, 5) : request;
  const exports = builtinModule(name);
  if (exports !== undefined) return { found: true, exports };
  if (isBuiltin(name)) {
    throw moduleError(
      `The Node built-in module '${name}' is not available in chatfn yet`,
      "ERR_CHATFN_BUILTIN_UNAVAILABLE",
    );
  }
  if (name !== request) throw moduleError(`No such built-in module: ${request}`, "ERR_UNKNOWN_BUILTIN_MODULE");
  return { found: false };
}

// LOAD_AS_FILE(X)
function loadAsFile(x) {
  if (op_modules_stat(x) === STAT_FILE) return x;
  for (const ext of EXTENSIONS) {
    if (op_modules_stat(x + ext) === STAT_FILE) return x + ext;
  }
  return undefined;
}

// LOAD_INDEX(X)
function loadIndex(x) {
  for (const ext of EXTENSIONS) {
    const candidate = join(x, "index" + ext);
    if (op_modules_stat(candidate) === STAT_FILE) return candidate;
  }
  return undefined;
}

// LOAD_AS_DIRECTORY(X)
function loadAsDirectory(x) {
  const pkgPath = join(x, "package.json");
  if (op_modules_stat(pkgPath) === STAT_FILE) {
    const pkg = readPackageJson(pkgPath);
    if (typeof pkg.main === "string" && pkg.main !== "") {
      const m = join(x, pkg.main);
      const found = loadAsFile(m) ?? loadIndex(m);
      if (found) return found;
    }
  }
  return loadIndex(x);
}

// NODE_MODULES_PATHS(START)
function nodeModulesPaths(start) {
  const parts = StringPrototypeSplit(start, "/");
  const dirs = [];
  for (let i = parts.length; i > 0; i--) {
    if (parts[i - 1] === "node_modules") continue;
    const dir = ArrayPrototypeJoin(ArrayPrototypeSlice(parts, 0, i), "/") + "/node_modules";
    ArrayPrototypePush(dirs, dir);
  }
  return dirs;
}

// Conditions chatfn matches in package.json "exports": Node's for require() and for import().
const REQUIRE_CONDITIONS = ["node", "require", "default"];
const IMPORT_CONDITIONS = ["node", "import", "default"];

// PACKAGE_EXPORTS_RESOLVE's target step: a string, a conditions object, or an array of fallbacks.
function exportsTarget(pkgDir, target, subpathMatch, conditions) {
  if (typeof target === "string") {
    if (!StringPrototypeStartsWith(target, "./")) return undefined;
    const resolved = subpathMatch === undefined ? target : StringPrototypeReplaceAll(target, "*", subpathMatch);
    return join(pkgDir, resolved);
  }
  if (ArrayIsArray(target)) {
    for (const t of target) {
      const found = exportsTarget(pkgDir, t, subpathMatch, conditions);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (target !== null && typeof target === "object") {
    for (const key of ObjectKeys(target)) {
      if (ArrayPrototypeIncludes(conditions, key)) {
        const found = exportsTarget(pkgDir, target[key], subpathMatch, conditions);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}

// LOAD_PACKAGE_EXPORTS(X, DIR): `subpath` is "." or "./rest" of the request.
function packageExports(pkgDir, exports, subpath, request, conditions) {
  const isSubpathMap = exports !== null && typeof exports === "object" && !ArrayIsArray(exports) &&
    ArrayPrototypeSome(ObjectKeys(exports), (k) => StringPrototypeStartsWith(k, "."));
  const map = isSubpathMap ? exports : { ".": exports };
  let target;
  if (ObjectPrototypeHasOwnProperty(map, subpath) && !StringPrototypeIncludes(subpath, "*")) {
    target = exportsTarget(pkgDir, map[subpath], undefined, conditions);
  } else {
    // The longest matching "./prefix*suffix" pattern wins.
    let best = "";
    for (const key of ObjectKeys(map)) {
      const star = StringPrototypeIndexOf(key, "*");
      if (star < 0) continue;
      const prefix = StringPrototypeSlice(key, 0, star);
      const suffix = StringPrototypeSlice(key, star + 1);
      if (StringPrototypeStartsWith(subpath, prefix) && StringPrototypeEndsWith(subpath, suffix) && subpath.length >= key.length && prefix.length > best.length) {
        best = key;
        target = exportsTarget(pkgDir, map[key], StringPrototypeSlice(subpath, prefix.length, subpath.length - suffix.length), conditions);
      }
    }
  }
  if (target === undefined || op_modules_stat(target) !== STAT_FILE) {
    throw moduleError(
      `Package subpath '${subpath}' is not defined by "exports" in ${join(pkgDir, "package.json")} (required as '${request}')`,
      "ERR_PACKAGE_PATH_NOT_EXPORTED",
    );
  }
  return target;
}

// "@scope/name/sub" -> ["@scope/name", "./sub"]; "name" -> ["name", "."]
function splitPackageRequest(request) {
  const parts = StringPrototypeSplit(request, "/");
  const nameParts = StringPrototypeStartsWith(request, "@") ? 2 : 1;
  const name = ArrayPrototypeJoin(ArrayPrototypeSlice(parts, 0, nameParts), "/");
  const rest = ArrayPrototypeJoin(ArrayPrototypeSlice(parts, nameParts), "/");
  return [name, rest === "" ? "." : "./" + rest];
}

// LOAD_NODE_MODULES(X, START)
function loadNodeModules(x, start, conditions) {
  const [name, subpath] = splitPackageRequest(x);
  for (const dir of nodeModulesPaths(start)) {
    if (op_modules_stat(dir) !== STAT_DIR) continue;
    // LOAD_PACKAGE_EXPORTS: a package with "exports" only exposes what it lists.
    const pkgDir = join(dir, name);
    const pkgJson = join(pkgDir, "package.json");
    if (op_modules_stat(pkgJson) === STAT_FILE) {
      const pkg = readPackageJson(pkgJson);
      if (pkg.exports !== undefined && pkg.exports !== null) return packageExports(pkgDir, pkg.exports, subpath, x, conditions);
    }
    const found = loadAsFile(join(dir, x)) ?? loadAsDirectory(join(dir, x));
    if (found) return found;
  }
  return undefined;
}

/** A TypeScript file whose types could not be stripped: a SyntaxError carrying the location. */
function typeScriptError({ file, line, column, message }) {
  const err = new SyntaxError(message);
  err.chatfnLocation = { file, line, column };
  return err;
}

/** The text of a file (a JSON one), types stripped for TypeScript. */
function readSource(filename) {
  const read = op_modules_read(filename);
  if (read.syntaxError) throw typeScriptError(read.syntaxError);
  return read.code;
}

function readPackageJson(path) {
  const known = packageJsonCache[path];
  if (known !== undefined) return known;
  try {
    return (packageJsonCache[path] = JSONParse(readSource(path)));
  } catch (e) {
    throw moduleError(`Invalid package.json at ${path}: ${e.message}`, "ERR_INVALID_PACKAGE_CONFIG");
  }
}

/** require(X) from module at path Y: returns the absolute filename, or throws MODULE_NOT_FOUND. */
function resolveFilename(request, parent) {
  const found = resolveFrom(request, parent.path, REQUIRE_CONDITIONS);
  if (found) return found;
  const stack = [];
  for (let m = parent; m; m = m.parent) ArrayPrototypePush(stack, m.filename);
  throw notFound(request, stack);
}

// A relative, absolute or package request from `fromDir`; undefined when nothing matches.
function resolveFrom(request, fromDir, conditions) {
  if (StringPrototypeStartsWith(request, "./") || StringPrototypeStartsWith(request, "../") || StringPrototypeStartsWith(request, "/") || request === "." || request === "..") {
    const x = StringPrototypeStartsWith(request, "/") ? normalize(request) : join(fromDir, request);
    return loadAsFile(x) ?? loadAsDirectory(x);
  }
  return loadNodeModules(request, fromDir, conditions);
}

function notFound(request, stack) {
  const hint = StringPrototypeStartsWith(request, ".") || StringPrototypeStartsWith(request, "/")
    ? ""
    : ` (is '${request}' listed under [runtime.dependencies] in chatfn.toml and installed?)`;
  return moduleError(
    `Cannot find module '${request}'${hint}\nRequire stack:\n- ${ArrayPrototypeJoin(stack, "\n- ")}`,
    "MODULE_NOT_FOUND",
    { requireStack: stack },
  );
}

function makeRequire(module) {
  function require(request) {
    if (typeof request !== "string" || request === "") {
      throw moduleError(`The "id" argument must be a non-empty string`, "ERR_INVALID_ARG_VALUE");
    }
    const builtin = loadBuiltin(request);
    if (builtin.found) return builtin.exports;
    // As Node's relativeResolveCache: a request made again from the same directory skips the
    // file-system walk while its module stays in the cache (packages that require lazily,
    // inside functions, do this on every call).
    const key = module.path + "\x00" + request;
    const resolved = resolveCache[key];
    if (resolved !== undefined && cache[resolved]) return cache[resolved].exports;
    const filename = resolveFilename(request, module);
    resolveCache[key] = filename;
    return loadModule(filename, module).exports;
  }
  require.resolve = (request) => (loadBuiltin(request).found ? request : resolveFilename(request, module));
  require.cache = cache;
  return require;
}

export function fileUrl(filename) {
  return "file://" + encodeURI(filename);
}

/**
 * Compiles and runs the module's file as a CommonJS module body (Rust reads it, strips
 * TypeScript's types and wraps it: `op_modules_compile`); `code`, if given, as if it were the
 * file's text. `epilogue`, if given, is code placed after the body inside the wrapper (used to
 * pick up a script's top-level `handleEvent`); its value is returned.
 */
function compileWrapped(module, code, epilogue, onCompiled) {
  const [fn, thrown, untyped] = op_modules_compile(module.filename, code ?? null, epilogue ?? "", fileUrl(module.filename));
  if (untyped) throw typeScriptError(untyped);
  if (fn === null) throw thrown;
  onCompiled?.();
  return ReflectApply(fn, module.exports, [module.exports, makeRequire(module), module, module.filename, module.path]);
}

function loadModule(filename, parent, code) {
  const cached = cache[filename];
  if (cached) return cached;
  const module = new Module(filename);
  module.parent = parent;
  if (parent) ArrayPrototypePush(parent.children, module);
  cache[filename] = module;
  try {
    const format = code === undefined ? op_modules_format(filename) : 0;
    if (format === 1) {
      module.exports = requireEsm(filename);
      module.loaded = true;
      return module;
    }
    if (extname(filename) === ".json") {
      const text = code ?? readSource(filename);
      try {
        module.exports = JSONParse(text);
      } catch (e) {
        e.message = filename + ": " + e.message;
        throw e;
      }
    } else if (format === 2) {
      compileDetecting(module, code);
    } else {
      compileWrapped(module, code);
    }
  } catch (e) {
    delete cache[filename];
    throw e;
  }
  module.loaded = true;
  return module;
}

/** The messages of V8's SyntaxErrors that mean "this is an ES module" (Node's detection). */
const ESM_SYNTAX = [
  "Cannot use import statement outside a module",
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  "await is only valid in async functions and the top level bodies of modules",
];

/**
 * A `.js` file of a package that does not say its type: CommonJS, unless it fails to compile
 * as CommonJS on ES module syntax, when it is loaded as the ES module it is (Node 22's syntax
 * detection). Only a compile error is looked at: one thrown while running is the module's.
 */
function compileDetecting(module, code) {
  let compiled = false;
  try {
    compileWrapped(module, code, undefined, () => (compiled = true));
  } catch (e) {
    if (compiled || !(e instanceof SyntaxError) || !ArrayPrototypeIncludes(ESM_SYNTAX, e.message)) throw e;
    op_modules_detected_esm(module.filename);
    module.exports = requireEsm(module.filename);
  }
}

/**
 * `require()` of an ES module, as Node 20.19+ and 22.12+ do it: the module graph is loaded and
 * evaluated at once (deno_core's `op_import_sync`; the module is the one `import()` gets), and
 * the answer is its namespace (or its `"module.exports"` export, when it has one). A graph with
 * top-level await cannot be evaluated at once: ERR_REQUIRE_ASYNC_MODULE.
 */
function requireEsm(filename) {
  let namespace;
  try {
    namespace = op_import_sync(fileUrl(filename));
  } catch (e) {
    if (e?.message === "Top-level await is not allowed in synchronous evaluation") {
      throw moduleError(
        `require() cannot be used on an ESM graph with top-level await. Use import() instead. (${filename})`,
        "ERR_REQUIRE_ASYNC_MODULE",
      );
    }
    throw e;
  }
  return ObjectPrototypeHasOwnProperty(namespace, "module.exports") ? namespace["module.exports"] : namespace;
}

/**
 * Runs a file (the initialization script) as the top of a require tree, through the shared
 * cache; `code`, if given, runs as if it were that file's text.
 */
export function runMain(filename, code) {
  return loadModule(filename, undefined, code).exports;
}

/**
 * Loads a chat function file and returns its `handleEvent`: a top-level function declaration
 * (ChatKitty's form) or `module.exports.handleEvent`. The file is compiled fresh, not cached,
 * so two triggers may share a file without sharing state by accident.
 */
export function loadHandler(filename, code) {
  const module = new Module(filename);
  const handler = compileWrapped(
    module,
    code,
    ";return typeof handleEvent === 'function' ? handleEvent : (module.exports && module.exports.handleEvent);",
  );
  if (typeof handler !== "function") {
    throw moduleError(`${filename} does not define a handleEvent(event, context) function`, "ERR_CHATFN_NO_HANDLER");
  }
  return handler;
}


// import() of ES modules: V8 asks the Rust module loader (runtime/src/modules/esm.rs), which
// calls back into these two functions, so import() and require() share one resolution and
// one module cache.

/** The URL `specifier` names when imported from the module at `referrer` (a file: URL). */
function resolveImport(specifier, referrer) {
  if (StringPrototypeStartsWith(specifier, "node:")) {
    loadBuiltin(specifier);
    return specifier;
  }
  if (StringPrototypeStartsWith(specifier, "file://")) return specifier;
  if (isBuiltin(specifier)) return "node:" + specifier;
  const fromDir = dirname(filePath(referrer));
  const found = resolveFrom(specifier, fromDir, IMPORT_CONDITIONS);
  if (found) return fileUrl(found);
  throw notFound(specifier, [filePath(referrer)]);
}

/** module.exports of a CommonJS file or built-in that an ES module imports. */
function requireForImport(url) {
  if (StringPrototypeStartsWith(url, "node:")) return loadBuiltin(url).exports;
  return loadModule(filePath(url), undefined).exports;
}

function filePath(url) {
  return StringPrototypeStartsWith(url, "file://") ? decodeURI(StringPrototypeSlice(url, 7)) : url;
}

/**
 * Gives the Rust module loader its JavaScript half. The Rust side does not keep it in a
 * snapshot, so every isolate, cold or restored from one (chatfn's bootstrap, or its runtime's),
 * registers it before it runs anything of the app (js/worker.js).
 */
export function registerEsmHost() {
  op_modules_esm_host(resolveImport, requireForImport);
}
