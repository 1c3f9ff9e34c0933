// `process`: the app's own environment, never the host's. Only what functions commonly read
// today (env, platform, nextTick, hrtime); the full built-in comes with Node compatibility.
import { core, primordials } from "ext:core/mod.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
const { ObjectAssign, ObjectFreeze, ObjectDefineProperty, SymbolToStringTag, BigInt, MathFloor, PromisePrototypeThen, PromiseResolve } = primordials;

function hrtime(previous) {
  const ms = performanceNow();
  let sec = MathFloor(ms / 1e3);
  let nsec = MathFloor((ms - sec * 1e3) * 1e6);
  if (previous) {
    sec -= previous[0];
    nsec -= previous[1];
    if (nsec < 0) { sec -= 1; nsec += 1e9; }
  }
  return [sec, nsec];
}
hrtime.bigint = () => BigInt(MathFloor(performanceNow() * 1e6));

function performanceNow() {
  return core.ops.op_worker_monotonic_ms();
}

function createProcess() {
  const process = {
    env: {},
    platform: "linux",
    arch: "x64",
    version: "v22.0.0",
    versions: { node: "22.0.0", chatfn: "0.1.0" },
    argv: ["chatfn"],
    pid: 1,
    hrtime,
    nextTick(callback, ...args) {
      PromisePrototypeThen(PromiseResolve(), () => callback(...args));
    },
    cwd() { return "/"; },
    // Output streams write to the invocation's console; they are never terminals.
    stdout: { fd: 1, isTTY: false, write: (chunk) => { console.log(String(chunk).replace(/\n$/, "")); return true; }, on() { return this; } },
    stderr: { fd: 2, isTTY: false, write: (chunk) => { console.error(String(chunk).replace(/\n$/, "")); return true; }, on() { return this; } },
    stdin: { fd: 0, isTTY: false, on() { return this; } },
    emitWarning: (warning) => console.warn(typeof warning === "string" ? `Warning: ${warning}` : String(warning)),
    on() { return process; },
    once() { return process; },
    off() { return process; },
    removeListener() { return process; },
    listenerCount: () => 0,
    uptime: () => performanceNow() / 1e3,
    // The isolate's own figures (see op_worker_memory_usage); `rss()` alone, as Node has it.
    memoryUsage: ObjectAssign(
      () => {
        const [rss, heapTotal, heapUsed, external, arrayBuffers] = core.ops.op_worker_memory_usage();
        return { rss, heapTotal, heapUsed, external, arrayBuffers };
      },
      { rss: () => core.ops.op_worker_memory_usage()[0] },
    ),
    release: { name: "node" },
    execArgv: [],
    exitCode: undefined,
    exit() {
      throw notAvailable("process.exit()", ": throw an Error to deny, return to allow");
    },
  };
  ObjectDefineProperty(process, SymbolToStringTag, { value: "process", enumerable: false, configurable: true });
  return process;
}

/** The one `process` of the isolate (the global and node:process). */
export const process = createProcess();

/** The app's environment variables, set once the app is known. */
export function setEnv(env) {
  process.env = { ...env };
}
