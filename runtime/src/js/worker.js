// The isolate's main loop: installs the globals chat functions see (npm-shim/globals.js), runs
// the initialization script once, loads each trigger's `handleEvent`, and hands the Rust side
// `runJob`, which it calls for each invocation (one at a time per isolate, see
// runtime/src/worker/isolate.rs); the report is the value its promise resolves to.
import { core, primordials } from "ext:core/mod.js";
import { currentLog, format, inspect, InvocationLog, runWithLog } from "ext:chatfn/console.js";
import { createContext } from "ext:chatfn/chatkitty.js";
import { setMaxPendingOps } from "ext:chatfn/pending.js";
import { installReplayClock, newTape, tapeRecord } from "ext:chatfn/tape.js";
import { fileUrl, loadedFiles, loadHandler, preload, registerEsmHost, runMain } from "ext:chatfn/require.js";
import { installGlobals } from "ext:chatfn/globals.js";
import { guardExternalMemory } from "ext:chatfn/memory.js";
import { setEnv } from "ext:chatfn/process.js";
import { cancelInvocationTimers, trackInvocationTimers } from "ext:chatfn/timers.js";
const {
  ArrayPrototypeFilter, ArrayPrototypeJoin, ErrorPrototype, JSONParse, ObjectDefineProperty, ObjectPrototypeIsPrototypeOf, SafeMap, String, StringPrototypeIncludes,
  StringPrototypeReplaceAll, StringPrototypeSplit, StringPrototypeStartsWith,
} = primordials;
const { op_worker_app, op_error_location } = core.ops;

const handlers = new SafeMap();
const loadErrors = new SafeMap();
let appRootUrl = "";
let appRootPath = "";

/** Stacks and messages name files relative to the app directory, as the user wrote them. */
function relative(text) {
  if (!appRootUrl) return String(text);
  return StringPrototypeReplaceAll(StringPrototypeReplaceAll(String(text), appRootUrl, ""), appRootPath, "");
}

/** A stack without chatfn's own frames, files named relative to the app. */
function userStack(stack) {
  const lines = StringPrototypeSplit(relative(stack), "\n");
  const own = (line) => StringPrototypeIncludes(line, "ext:chatfn/") || StringPrototypeIncludes(line, "ext:core/");
  return ArrayPrototypeJoin(ArrayPrototypeFilter(lines, (line) => !own(line)), "\n");
}

/** Where V8 (or the TypeScript stripper) says an error was raised, in the user's coordinates. */
function errorLocation(thrown) {
  if (thrown.chatfnLocation) return thrown.chatfnLocation;
  try {
    const location = op_error_location(thrown);
    if (!location || StringPrototypeStartsWith(location.file, "ext:")) return null;
    location.file = relative(location.file);
    return location;
  } catch {
    // Values from another realm or without a script origin have no location.
    return null;
  }
}

/** A thrown value as data: name, message, stack (with source locations), and where it was thrown. */
function describeError(thrown) {
  if (!ObjectPrototypeIsPrototypeOf(ErrorPrototype, thrown)) {
    return { name: "Error", message: `a non-Error value was thrown: ${inspect(thrown, 1)}`, stack: null, location: null };
  }
  const location = errorLocation(thrown);
  let stack = thrown.stack ? userStack(thrown.stack) : null;
  if (location && thrown.name === "SyntaxError") {
    stack = `${thrown.name}: ${thrown.message}\n    at ${location.file}:${location.line}:${location.column}`;
  }
  return {
    name: String(thrown.name ?? "Error"),
    message: relative(thrown.message ?? ""),
    code: thrown.code === undefined ? null : String(thrown.code),
    stack,
    location,
  };
}

/** The initialization script's error, as every trigger reports it; null when it ran. */
let initError = null;

/** Globals, the app's environment and its initialization script: what a snapshot can hold. */
function prepare(app) {
  installGlobals();
  setEnv(app.env);
  if (app.initScript && !app.initFailure) {
    try {
      runMain(app.initScript.file, app.initScript.code);
    } catch (e) {
      initError = describeError(e);
      initError.message = `the initialization script failed: ${initError.message}`;
    }
  }
}

/** Each trigger's `handleEvent`, or the error its loading (or the app's) ended with. */
function loadFunctions(app) {
  const failure = app.initFailure ?? initError;
  for (const trigger of app.triggers) {
    if (failure) {
      loadErrors.set(trigger, failure);
      continue;
    }
    try {
      handlers.set(trigger, loadHandler(app.functions[trigger].file, app.functions[trigger].code));
    } catch (e) {
      loadErrors.set(trigger, describeError(e));
    }
  }
}

/**
 * Runs one invocation (its arguments are made one by one in isolate.rs): `event` is JSON text,
 * `replay` the tape of the invocation it replays, `recordTape` whether to record one, and
 * `wantModules` whether to report the files of the modules loaded. Resolves to the report
 * `[status, error, tape, modules]`, which isolate.rs reads by index.
 */
async function runJob(id, trigger, event, maxLogBytes, replay, recordTape, wantModules) {
  const log = new InvocationLog(id, maxLogBytes);
  if (replay) installReplayClock();
  log.tape = recordTape || replay ? newTape(replay) : null;
  // Timers and intervals the invocation sets die with its answer (see the README's limits).
  trackInvocationTimers();
  let status = "returned";
  let error = null;
  try {
    const handler = handlers.get(trigger);
    if (handler === undefined) {
      if (loadErrors.has(trigger)) {
        status = "load_failed";
        error = loadErrors.get(trigger);
      } else {
        status = "no_function";
      }
    } else {
      const context = createContext();
      const parsed = JSONParse(event);
      await runWithLog(log, () => handler(parsed, context));
    }
  } catch (e) {
    status = "threw";
    error = describeError(e);
  } finally {
    cancelInvocationTimers();
  }
  const tape = log.tape ? tapeRecord(log.tape) : null;
  // Asked once per deployment: what the runtime's next snapshot should load (snapshot.rs).
  return [status, error, tape, wantModules ? loadedFiles() : null];
}

// An unhandled rejection or an exception thrown from a timer belongs to the invocation whose
// async context it carries; it is logged there and never brings the isolate down.
function reportStray(kind, value) {
  const message = `${kind}: ${format(value)}`;
  const log = currentLog();
  if (log) log.write("error", relative(message));
  else core.ops.op_worker_host_log("error", relative(message));
}

function setRoot(app) {
  appRootUrl = fileUrl(app.root + "/");
  appRootPath = app.root + "/";
}

// The Rust side starts an isolate in two steps (runtime/src/worker/isolate.rs): `__chatfnPrepare`
// (skipped when the isolate is restored from a snapshot taken right after it, see
// runtime/src/worker/snapshot.rs), then `__chatfnStart`, which loads the functions and answers
// the function Rust calls per invocation. Each deletes itself.

/** Answers the initialization script's error (null when it ran). */
globalThis.__chatfnPrepare = function prepareApp() {
  delete globalThis.__chatfnPrepare;
  registerEsmHost();
  const app = op_worker_app();
  setRoot(app);
  // The app's code never sees deno_core's `Deno` (installGlobals removes it), but a restored
  // snapshot needs it back where deno_core looks for it: the snapshot process calls this last.
  const deno = globalThis.Deno;
  globalThis.__chatfnBeforeSnapshot = () => {
    delete globalThis.__chatfnBeforeSnapshot;
    ObjectDefineProperty(globalThis, "Deno", { value: deno, writable: true, configurable: true, enumerable: false });
  };
  prepare(app);
  return initError?.stack ?? initError?.message ?? null;
};

/** Loads the modules an earlier isolate's functions loaded; answers every file loaded now. */
globalThis.__chatfnPreload = function preloadModules(files) {
  delete globalThis.__chatfnPreload;
  for (const file of files) preload(file);
  return loadedFiles();
};

globalThis.__chatfnStart = function start() {
  delete globalThis.__chatfnStart;
  delete globalThis.__chatfnBeforeSnapshot;
  delete globalThis.__chatfnPreload;
  delete globalThis.Deno;
  const app = op_worker_app();
  setRoot(app);
  // Callbacks held by the Rust side, which a snapshot does not keep.
  registerEsmHost();
  core.setUnhandledPromiseRejectionHandler((_promise, reason) => {
    reportStray("Unhandled promise rejection", reason);
    return true;
  });
  core.setReportExceptionCallback((error) => reportStray("Uncaught exception", error));
  setMaxPendingOps(app.maxPendingOps);
  guardExternalMemory();
  loadFunctions(app);
  return runJob;
};
