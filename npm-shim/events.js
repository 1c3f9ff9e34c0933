// node:events: EventEmitter with Node's semantics for on/once/off, prepend, error events,
// listener counts and max-listener warnings, plus events.once().
import { primordials } from "ext:core/mod.js";
import { invalidArgType, nodeError } from "ext:chatfn/internal/errors.js";
const { ArrayPrototypeIndexOf, ArrayPrototypeSlice, ArrayPrototypeSplice, ArrayPrototypeUnshift, Error, ObjectCreate, Promise, ReflectApply, ReflectOwnKeys, TypeError } = primordials;

const kEvents = Symbol("events");

function checkListener(listener) {
  if (typeof listener !== "function") {
    throw invalidArgType("listener", "of type function", listener);
  }
}

// A function constructor, not a class: packages written for Node call EventEmitter.call(this)
// from their own constructors, which a class would refuse.
export function EventEmitter(options) {
  if (!(this instanceof EventEmitter)) return new EventEmitter(options);
  EventEmitter.init.call(this, options);
}

EventEmitter.init = function init() {
  if (!this[kEvents] || this[kEvents] === Object.getPrototypeOf(this)[kEvents]) {
    this[kEvents] = ObjectCreate(null);
  }
  this._maxListeners = this._maxListeners ?? undefined;
};

class EventEmitterMethods {

  setMaxListeners(n) {
    this._maxListeners = n;
    return this;
  }

  getMaxListeners() {
    return this._maxListeners ?? EventEmitter.defaultMaxListeners;
  }

  _list(name) {
    if (!this[kEvents]) this[kEvents] = ObjectCreate(null);
    return this[kEvents][name];
  }

  _add(name, listener, prepend) {
    checkListener(listener);
    if (!this[kEvents]) this[kEvents] = ObjectCreate(null);
    if (this[kEvents].newListener !== undefined) this.emit("newListener", name, listener.listener ?? listener);
    const list = (this[kEvents][name] ??= []);
    if (prepend) ArrayPrototypeUnshift(list, listener);
    else list.push(listener);
    const max = this.getMaxListeners();
    if (max > 0 && list.length > max && !list.warned) {
      list.warned = true;
      console.warn(`MaxListenersExceededWarning: Possible EventEmitter memory leak detected. ${list.length} ${String(name)} listeners added. Use emitter.setMaxListeners() to increase limit`);
    }
    return this;
  }

  on(name, listener) { return this._add(name, listener, false); }
  addListener(name, listener) { return this._add(name, listener, false); }
  prependListener(name, listener) { return this._add(name, listener, true); }

  _onceWrapper(name, listener) {
    const emitter = this;
    function wrapper(...args) {
      emitter.removeListener(name, wrapper);
      return ReflectApply(listener, emitter, args);
    }
    wrapper.listener = listener;
    return wrapper;
  }

  once(name, listener) {
    checkListener(listener);
    return this._add(name, this._onceWrapper(name, listener), false);
  }

  prependOnceListener(name, listener) {
    checkListener(listener);
    return this._add(name, this._onceWrapper(name, listener), true);
  }

  removeListener(name, listener) {
    checkListener(listener);
    const list = this._list(name);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        ArrayPrototypeSplice(list, i, 1);
        if (list.length === 0) delete this[kEvents][name];
        if (this[kEvents].removeListener !== undefined) this.emit("removeListener", name, listener);
        break;
      }
    }
    return this;
  }

  off(name, listener) { return this.removeListener(name, listener); }

  removeAllListeners(name) {
    if (!this[kEvents]) return this;
    if (name === undefined) this[kEvents] = ObjectCreate(null);
    else delete this[kEvents][name];
    return this;
  }

  emit(name, ...args) {
    const list = this._list(name);
    if (name === "error" && (list === undefined || list.length === 0)) {
      const er = args[0];
      if (er instanceof Error) throw er;
      throw nodeError(Error, "ERR_UNHANDLED_ERROR", `Unhandled error.${er === undefined ? "" : ` (${String(er)})`}`, { context: er });
    }
    if (list === undefined) return false;
    for (const listener of ArrayPrototypeSlice(list)) ReflectApply(listener, this, args);
    return true;
  }

  listeners(name) {
    return ArrayPrototypeSlice(this._list(name) ?? []).map((l) => l.listener ?? l);
  }

  rawListeners(name) {
    return ArrayPrototypeSlice(this._list(name) ?? []);
  }

  listenerCount(name) {
    return this._list(name)?.length ?? 0;
  }

  eventNames() {
    return this[kEvents] ? ReflectOwnKeys(this[kEvents]) : [];
  }
}

for (const name of Object.getOwnPropertyNames(EventEmitterMethods.prototype)) {
  if (name !== "constructor") {
    // Enumerable, as Node's are: packages copy them onto their own prototypes with for...in.
    Object.defineProperty(EventEmitter.prototype, name, { value: EventEmitterMethods.prototype[name], writable: true, configurable: true, enumerable: true });
  }
}
for (const name of ["_list", "_add", "_onceWrapper"]) {
  Object.defineProperty(EventEmitter.prototype, name, { enumerable: false });
}

EventEmitter.defaultMaxListeners = 10;
EventEmitter.EventEmitter = EventEmitter;
EventEmitter.errorMonitor = Symbol("events.errorMonitor");
EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);

/** Resolves with the arguments of the next `name` event; rejects on an "error" event. */
EventEmitter.once = function once(emitter, name) {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      emitter.removeListener(name, onEvent);
      reject(err);
    };
    const onEvent = (...args) => {
      if (name !== "error") emitter.removeListener("error", onError);
      resolve(args);
    };
    emitter.once(name, onEvent);
    if (name !== "error") emitter.once("error", onError);
  });
};

export default EventEmitter;
