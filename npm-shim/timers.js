// Timer globals (setTimeout family, setImmediate) over deno_core's timer wheel.
import { core } from "ext:core/mod.js";

function timer(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    const err = new TypeError('The "callback" argument must be of type function');
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
  const ms = Number(delay);
  return core.createTimer(callback, ms > 0 && ms < 2 ** 31 ? ms : 1, args, repeat, true);
}

function clear(handle) {
  if (handle != null && typeof handle === "object") core.cancelTimer(handle);
}

export const timerGlobals = {
  setTimeout: (callback, delay, ...args) => timer(callback, delay, args, false),
  setInterval: (callback, delay, ...args) => timer(callback, delay, args, true),
  setImmediate: (callback, ...args) => timer(callback, 0, args, false),
  clearTimeout: clear,
  clearInterval: clear,
  clearImmediate: clear,
};
