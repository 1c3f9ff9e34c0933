// Node built-ins a chat function has no use for, or that chatfn does not host: they load, so
// packages that merely import them work, and each use throws ERR_CHATFN_NOT_AVAILABLE. The
// few pure helpers packages call at load time (net.isIP, tty.isatty, ...) answer for real.
import { core } from "ext:core/mod.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
import { MessageChannel, MessagePort } from "ext:chatfn/web/messaging.js";
import { performance, PerformanceEntry } from "ext:chatfn/web/performance.js";
import { Duplex } from "ext:chatfn/stream.js";

/** A module whose every function throws; `real` holds the parts that work. */
function stub(name, real = {}) {
  return new Proxy(real, {
    get(target, key) {
      if (key in target || typeof key === "symbol" || key === "then" || key === "__esModule") return target[key];
      // A function, not an arrow: `new net.Socket()` says the same as `net.connect()`.
      return function unavailable() {
        throw notAvailable(`${name}.${String(key)}()`);
      };
    },
  });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
function isIPv4(s) { return IPV4.test(String(s)); }
function isIPv6(s) {
  s = String(s);
  if (!s.includes(":")) return false;
  try {
    return new URL(`http://[${s}]/`).hostname !== "";
  } catch {
    return false;
  }
}
const isIP = (s) => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0);

/**
 * `net.Socket`: constructible, as packages make one long before they connect (database drivers
 * in their clients' constructors, agents as placeholders); connecting fails as a connection
 * that cannot be made does in Node, with an `error` event (then `close`), here carrying
 * ERR_CHATFN_NOT_AVAILABLE.
 */
class Socket extends Duplex {
  constructor(options = {}) {
    super(options);
    this.connecting = false;
    this.remoteAddress = undefined;
    this.remotePort = undefined;
  }
  connect() {
    this.connecting = true;
    queueMicrotask(() => {
      this.connecting = false;
      this.destroy(notAvailable("net.connect()", ": functions reach the network with fetch or http(s)"));
    });
    return this;
  }
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback(notAvailable("net.Socket.write()"));
  }
  setTimeout() { return this; }
  setNoDelay() { return this; }
  setKeepAlive() { return this; }
  ref() { return this; }
  unref() { return this; }
  address() { return {}; }
}

/** `net.connect()`: a socket whose connection fails (an `error` event). */
const connect = (...args) => new Socket().connect(...args);

class AsyncLocalStorage {
  #variable = new core.AsyncVariable();
  getStore() { return this.#variable.get(); }
  run(store, fn, ...args) {
    const previous = this.#variable.enter(store);
    try {
      return fn(...args);
    } finally {
      core.setAsyncContext(previous);
    }
  }
  enterWith(store) { this.#variable.enter(store); }
  exit(fn, ...args) { return this.run(undefined, fn, ...args); }
  disable() {}
}

export const punycode = {
  version: "2.3.1",
  encode: (s) => core.ops.op_url_punycode("encode", String(s)),
  decode: (s) => core.ops.op_url_punycode("decode", String(s)),
  toASCII: (s) => core.ops.op_url_punycode("toASCII", String(s)) ?? String(s),
  toUnicode: (s) => core.ops.op_url_punycode("toUnicode", String(s)),
  ucs2: { decode: (s) => Array.from(String(s), (c) => c.codePointAt(0)), encode: (a) => String.fromCodePoint(...a) },
};

export const unsupportedModules = {
  child_process: stub("child_process"),
  cluster: stub("cluster", { isPrimary: true, isMaster: true, isWorker: false }),
  dgram: stub("dgram"),
  dns: stub("dns", { promises: stub("dns.promises") }),
  http2: stub("http2", { constants: {} }),
  inspector: stub("inspector"),
  net: stub("net", { isIP, isIPv4, isIPv6, Socket, Stream: Socket, connect, createConnection: connect }),
  readline: stub("readline"),
  repl: stub("repl"),
  tls: stub("tls", { DEFAULT_MIN_VERSION: "TLSv1.2", DEFAULT_MAX_VERSION: "TLSv1.3", rootCertificates: [] }),
  tty: stub("tty", { isatty: () => false }),
  v8: stub("v8"),
  vm: stub("vm"),
  worker_threads: stub("worker_threads", { isMainThread: true, parentPort: null, workerData: null, threadId: 0, MessageChannel, MessagePort }),
  async_hooks: stub("async_hooks", { AsyncLocalStorage, AsyncResource: class AsyncResource { constructor(type) { this.type = type; } runInAsyncScope(fn, thisArg, ...args) { return fn.apply(thisArg, args); } bind(fn) { return fn; } emitDestroy() { return this; } static bind(fn) { return fn; } } }),
  diagnostics_channel: stub("diagnostics_channel", {
    channel: (name) => ({ name, hasSubscribers: false, publish() {}, subscribe() {}, unsubscribe() {} }),
    hasSubscribers: () => false,
    subscribe() {},
    unsubscribe() {},
    tracingChannel: (name) => ({ name, hasSubscribers: false, traceSync: (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args), tracePromise: (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args), subscribe() {}, unsubscribe() {} }),
  }),
  perf_hooks: stub("perf_hooks", { performance, PerformanceEntry }),
  constants: {},
  punycode,
};
