// The web's MessageChannel and MessagePort (also node:worker_threads'), within one isolate:
// a message is structured-cloned and delivered to the other port as a task, on the timers of
// the invocation that posted it (so it dies with the invocation's answer, like its timers).
// Ports also answer Node's `on("message", listener)`, which receives the data itself.
// WebSocket, which Node 22 has as a global, is not available: its constructor says so.
import { core } from "ext:core/mod.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
import { timerGlobals } from "ext:chatfn/timers.js";
import { Event, EventTarget } from "ext:chatfn/web/abort.js";

export class MessageEvent extends Event {
  constructor(type, init = {}) {
    super(type, init);
    this.data = init.data;
    this.ports = [];
  }
}

export class MessagePort extends EventTarget {
  #other = null;
  #closed = false;
  onmessage = null;
  onmessageerror = null;

  static link(a, b) {
    a.#other = b;
    b.#other = a;
  }

  postMessage(message) {
    const other = this.#other;
    if (this.#closed || other === null) return;
    const data = core.structuredClone(message);
    timerGlobals.setTimeout(() => {
      if (!other.#closed) other.dispatchEvent(new MessageEvent("message", { data }));
    }, 0);
  }

  start() {}

  close() {
    this.#closed = true;
    if (this.#other) this.#other.#closed = true;
  }

  // Node's EventEmitter face.
  on(type, listener) {
    this.addEventListener(type, (event) => listener(event.data));
    return this;
  }
  once(type, listener) {
    this.addEventListener(type, (event) => listener(event.data), { once: true });
    return this;
  }
  ref() { return this; }
  unref() { return this; }
}

export class MessageChannel {
  constructor() {
    this.port1 = new MessagePort();
    this.port2 = new MessagePort();
    MessagePort.link(this.port1, this.port2);
  }
}

export class WebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  constructor(url) {
    super();
    throw notAvailable(`WebSocket (to ${url})`, ": a chat function answers an event; it cannot hold a connection open");
  }
}
