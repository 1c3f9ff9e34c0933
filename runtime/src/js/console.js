// console.* for chat functions: each line is kept with the invocation that wrote it (found
// through V8's continuation-preserved async context, so it follows awaits), never mixed into
// the server's own log. Output outside any invocation (the initialization script) goes to the
// server log, tagged with the app.
import { core, primordials } from "ext:core/mod.js";
const {
  ArrayIsArray, ArrayPrototypeJoin, ArrayPrototypeMap, ArrayPrototypePush, ErrorPrototype, JSONStringify, ObjectKeys, ObjectPrototypeIsPrototypeOf,
  SafeWeakSet, String, StringPrototypeReplace, StringPrototypeSlice, SymbolFor, WeakSetPrototypeAdd, WeakSetPrototypeHas,
} = primordials;

const { op_worker_log } = core.ops;

const currentInvocation = new core.AsyncVariable();

/** Console output kept for one invocation, capped so a chatty function cannot exhaust memory. */
/**
 * The console output of one invocation. Lines go straight to the Rust side
 * (`op_worker_log`), which keeps them with the invocation, so what it printed survives a kill.
 */
export class InvocationLog {
  constructor(id, maxBytes) {
    this.id = id;
    this.bytes = 0;
    this.maxBytes = maxBytes;
    this.truncated = false;
    /** What the invocation sees from outside (`tape.js`), when it is recorded. */
    this.tape = null;
  }
  write(level, message) {
    if (this.truncated) return;
    if (this.bytes + message.length > this.maxBytes) {
      this.truncated = true;
      op_worker_log(this.id, "warn", `[chatfn] console output truncated at ${this.maxBytes} bytes`);
      return;
    }
    this.bytes += message.length;
    op_worker_log(this.id, level, message);
  }
}

/** Runs `fn` with `log` as the current invocation's log; promises created inside keep it. */
export function runWithLog(log, fn) {
  const previous = currentInvocation.enter(log);
  try {
    return fn();
  } finally {
    core.setAsyncContext(previous);
  }
}

export function currentLog() {
  return currentInvocation.get();
}

function isError(value) {
  return ObjectPrototypeIsPrototypeOf(ErrorPrototype, value);
}

/** A short, Node-like rendering of any value, safe on cycles and getters that throw. */
export function inspect(value, depth = 0, seen = new SafeWeakSet()) {
  switch (typeof value) {
    case "string": return depth === 0 ? value : JSONStringify(value);
    case "number": case "boolean": case "undefined": return String(value);
    case "bigint": return String(value) + "n";
    case "symbol": return String(value);
    case "function": return `[Function: ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  if (isError(value)) return value.stack ?? `${value.name}: ${value.message}`;
  if (WeakSetPrototypeHas(seen, value)) return "[Circular]";
  if (depth > 3) return ArrayIsArray(value) ? "[Array]" : "[Object]";
  WeakSetPrototypeAdd(seen, value);
  try {
    if (ArrayIsArray(value)) {
      return "[ " + ArrayPrototypeJoin(ArrayPrototypeMap(value, (v) => inspect(v, depth + 1, seen)), ", ") + " ]";
    }
    const keys = ObjectKeys(value);
    if (keys.length === 0) return "{}";
    const parts = ArrayPrototypeMap(keys, (k) => `${k}: ${inspect(value[k], depth + 1, seen)}`);
    return "{ " + ArrayPrototypeJoin(parts, ", ") + " }";
  } catch {
    return "[Object]";
  }
}

/** util.format's substitutions (%s %d %i %f %j %o %O %%) followed by the remaining arguments. */
export function format(...args) {
  if (args.length === 0) return "";
  let first = args[0];
  let rest = 1;
  if (typeof first === "string") {
    first = StringPrototypeReplace(first, /%[sdifjoO%]/g, (token) => {
      if (token === "%%") return "%";
      if (rest >= args.length) return token;
      const arg = args[rest++];
      switch (token) {
        case "%s": return typeof arg === "string" ? arg : inspect(arg, 1);
        case "%d": case "%i": return String(token === "%i" ? Math.trunc(Number(arg)) : Number(arg));
        case "%f": return String(Number(arg));
        case "%j": try { return JSONStringify(arg); } catch { return "[Circular]"; }
        default: return inspect(arg, 1);
      }
    });
  } else {
    first = inspect(first);
  }
  const parts = [first];
  for (let i = rest; i < args.length; i++) ArrayPrototypePush(parts, inspect(args[i]));
  return ArrayPrototypeJoin(parts, " ");
}

function emit(level, args) {
  const message = format(...args);
  const log = currentInvocation.get();
  if (log) log.write(level, message);
  else core.ops.op_worker_host_log(level, message);
}

const counts = { __proto__: null };
const timers = { __proto__: null };

export const console = {
  log: (...args) => emit("info", args),
  info: (...args) => emit("info", args),
  debug: (...args) => emit("debug", args),
  trace: (...args) => emit("debug", args),
  warn: (...args) => emit("warn", args),
  error: (...args) => emit("error", args),
  dir: (value) => emit("info", [inspect(value, 1)]),
  table: (value) => emit("info", [inspect(value, 1)]),
  assert: (condition, ...args) => {
    if (!condition) emit("error", ["Assertion failed" + (args.length ? ":" : ""), ...args]);
  },
  count: (label = "default") => {
    counts[label] = (counts[label] ?? 0) + 1;
    emit("info", [`${label}: ${counts[label]}`]);
  },
  countReset: (label = "default") => { counts[label] = 0; },
  time: (label = "default") => { timers[label] = core.ops.op_worker_monotonic_ms(); },
  timeEnd: (label = "default") => {
    if (timers[label] === undefined) return;
    emit("info", [`${label}: ${(core.ops.op_worker_monotonic_ms() - timers[label]).toFixed(3)}ms`]);
    delete timers[label];
  },
  group: (...args) => { if (args.length) emit("info", args); },
  groupEnd: () => {},
};
