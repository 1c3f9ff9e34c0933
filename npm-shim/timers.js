// Timer globals (setTimeout family, setImmediate) over deno_core's timer wheel. Timers set by
// the initialization script belong to the isolate. Every timer set after that belongs to an
// invocation: those still pending are cancelled when it is answered, and any set after the
// answer (by a promise chain it left running) is never scheduled: it could otherwise fire in
// the same turn of the event loop that delivered the answer, or in the next invocation.
import { core, primordials } from "ext:core/mod.js";
import { invalidArgType } from "ext:chatfn/internal/errors.js";
const { ReflectApply, SafeSet } = primordials;

/** Whether the app has loaded (timers from then on are tracked), whether an invocation is
 * running (not yet answered), and the tracked timers. */
let loaded = false;
let running = false;
let owned = null;

function cancelOwned() {
  const timers = owned;
  owned = null;
  if (timers) for (const timer of timers) core.cancelTimer(timer);
}

/** An invocation starts: the timers it sets are tracked. */
export function trackInvocationTimers() {
  loaded = true;
  running = true;
  cancelOwned();
}

/** An invocation is answered: the timers it set go, and any set from now on never run. */
export function cancelInvocationTimers() {
  running = false;
  cancelOwned();
}

function timer(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    throw invalidArgType("callback", "of type function", callback);
  }
  const ms = Number(delay);
  const after = ms > 0 && ms < 2 ** 31 ? ms : 1;
  if (!loaded) return core.createTimer(callback, after, args, repeat, true);
  if (!running) {
    // Set after its invocation's answer: a handle that clearTimeout takes, never scheduled.
    const handle = core.createTimer(callback, after, args, repeat, true);
    core.cancelTimer(handle);
    return handle;
  }
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
