// `process`: the app's own environment, never the host's. Only what functions commonly read
// today (env, platform, nextTick, hrtime); the full built-in comes with Node compatibility.
import { core, primordials } from "ext:core/mod.js";
const { ObjectFreeze, ObjectDefineProperty, SymbolToStringTag, BigInt, MathFloor, PromisePrototypeThen, PromiseResolve } = primordials;

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

export function createProcess(env) {
  const process = {
    env: { ...env },
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
    exit() {
      const err = new Error("process.exit() is not available in chatfn: throw an Error to deny, return to allow");
      err.code = "ERR_CHATFN_NOT_AVAILABLE";
      throw err;
    },
  };
  ObjectDefineProperty(process, SymbolToStringTag, { value: "process", enumerable: false, configurable: true });
  return process;
}
