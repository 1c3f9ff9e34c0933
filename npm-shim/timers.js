// Timer globals (setTimeout family, setImmediate) over deno_core's timer wheel. Timers set
// while an invocation runs belong to it: the main loop cancels those still pending when the
// invocation is answered. Timers the initialization script sets belong to the isolate.
import { core, primordials } from "ext:core/mod.js";
const { ReflectApply, SafeSet } = primordials;

/** Whether an invocation is running, and its pending timers (made when it sets its first). */
let inInvocation = false;
let owned = null;

export function trackInvocationTimers() {
  inInvocation = true;
}

export function cancelInvocationTimers() {
  const timers = owned;
  inInvocation = false;
  owned = null;
  if (timers) for (const timer of timers) core.cancelTimer(timer);
}

function timer(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    const err = new TypeError('The "callback" argument must be of type function');
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
  const ms = Number(delay);
  const after = ms > 0 && ms < 2 ** 31 ? ms : 1;
  if (!inInvocation) return core.createTimer(callback, after, args, repeat, true);
  const timers = (owned ??= new SafeSet());
  const fire = repeat ? callback : function (...a) {
    timers.delete(handle);
    return ReflectApply(callback, this, a);
  };
  const handle = core.createTimer(fire, after, args, repeat, true);
  timers.add(handle);
  return handle;
}

function clear(handle) {
  if (handle == null || typeof handle !== "object") return;
  core.cancelTimer(handle);
  owned?.delete(handle);
}

export const timerGlobals = {
  setTimeout: (callback, delay, ...args) => timer(callback, delay, args, false),
  setInterval: (callback, delay, ...args) => timer(callback, delay, args, true),
  setImmediate: (callback, ...args) => timer(callback, 0, args, false),
  clearTimeout: clear,
  clearInterval: clear,
  clearImmediate: clear,
};
