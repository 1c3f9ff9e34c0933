// AbortController and AbortSignal (with abort(), timeout() and any()), over a minimal
// EventTarget. fetch honours a signal that is already aborted; node:http destroys its request
// when its signal aborts.
import { primordials } from "ext:core/mod.js";
import { DOMException } from "ext:chatfn/web/encoding.js";
const { ArrayPrototypePush, ArrayPrototypeSplice, SafeMap } = primordials;

export class Event {
  constructor(type, init = {}) {
    this.type = String(type);
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.defaultPrevented = false;
    this.timeStamp = Date.now();
    this.target = null;
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() {}
  stopImmediatePropagation() {}
}

export class EventTarget {
  #listeners = new SafeMap();
  addEventListener(type, listener, options) {
    if (typeof listener !== "function" && typeof listener?.handleEvent !== "function") return;
    const list = this.#listeners.get(type) ?? [];
    if (list.some((l) => l.listener === listener)) return;
    ArrayPrototypePush(list, { listener, once: typeof options === "object" && !!options?.once });
    this.#listeners.set(type, list);
  }
  removeEventListener(type, listener) {
    const list = this.#listeners.get(type);
    if (!list) return;
    const i = list.findIndex((l) => l.listener === listener);
    if (i >= 0) ArrayPrototypeSplice(list, i, 1);
  }
  dispatchEvent(event) {
    event.target = this;
    const handler = this["on" + event.type];
    if (typeof handler === "function") handler.call(this, event);
    for (const entry of [...(this.#listeners.get(event.type) ?? [])]) {
      if (entry.once) this.removeEventListener(event.type, entry.listener);
      if (typeof entry.listener === "function") entry.listener.call(this, event);
      else entry.listener.handleEvent(event);
    }
    return !event.defaultPrevented;
  }
}

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  get aborted() { return this.#aborted; }
  get reason() { return this.#reason; }
  throwIfAborted() { if (this.#aborted) throw this.#reason; }
  _abort(reason) {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    this.dispatchEvent(new Event("abort"));
  }
  static abort(reason) {
    const signal = new AbortSignal();
    signal._abort(reason);
    return signal;
  }
  static timeout(ms) {
    const signal = new AbortSignal();
    setTimeout(() => signal._abort(new DOMException("The operation timed out.", "TimeoutError")), ms);
    return signal;
  }
  static any(signals) {
    const signal = new AbortSignal();
    for (const s of signals) {
      if (s.aborted) {
        signal._abort(s.reason);
        break;
      }
      s.addEventListener("abort", () => signal._abort(s.reason), { once: true });
    }
    return signal;
  }
}

export class AbortController {
  #signal = new AbortSignal();
  get signal() { return this.#signal; }
  abort(reason) { this.#signal._abort(reason); }
}
