// node:http and node:https clients: request() and get() with Node's ClientRequest /
// IncomingMessage events, over the same Rust layer as fetch (network policy, fixtures).
// Redirects are answered, not followed, as in Node. Request and response bodies are
// buffered whole. Servers (createServer) are not available in a chat function.
import { core } from "ext:core/mod.js";
import { Buffer, bytesOf } from "ext:chatfn/buffer.js";
import { EventEmitter } from "ext:chatfn/events.js";
import { Readable, Writable } from "ext:chatfn/stream.js";
import { track } from "ext:chatfn/pending.js";
import { httpOpen } from "ext:chatfn/tape.js";
import { nodeError, notAvailable } from "ext:chatfn/internal/errors.js";
const { op_http_open, op_http_read, op_http_close } = core.ops;

export const STATUS_CODES = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
  206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
  404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
  413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};
export const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

export class Agent extends EventEmitter {
  constructor(options = {}) {
    super();
    this.options = { ...options };
    this.keepAlive = !!options.keepAlive;
    this.maxSockets = options.maxSockets ?? Infinity;
    this.protocol = options.protocol;
  }
  destroy() {}
}

class FakeSocket extends EventEmitter {
  setKeepAlive() { return this; }
  setNoDelay() { return this; }
  setTimeout() { return this; }
  ref() { return this; }
  unref() { return this; }
  destroy() { return this; }
}

export class IncomingMessage extends Readable {
  constructor(answer, method) {
    super();
    this.statusCode = answer.status;
    this.statusMessage = answer.statusText || STATUS_CODES[answer.status] || "";
    this.httpVersion = "1.1";
    this.httpVersionMajor = 1;
    this.httpVersionMinor = 1;
    this.method = method;
    this.url = "";
    this.headers = {};
    this.rawHeaders = [];
    for (const [name, value] of answer.headers) {
      this.rawHeaders.push(name, value);
      const key = name.toLowerCase();
      if (key === "set-cookie") (this.headers[key] ??= []).push(value);
      else this.headers[key] = key in this.headers ? `${this.headers[key]}, ${value}` : value;
    }
    this.socket = new FakeSocket();
    this.complete = false;
  }
  setTimeout() { return this; }
}

function requestOptions(input, options, defaultProtocol) {
  let opts = {};
  if (typeof input === "string" || input instanceof URL) {
    const u = new URL(String(input));
    opts = { protocol: u.protocol, hostname: u.hostname, port: u.port, path: u.pathname + u.search, auth: u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined };
    if (options && typeof options === "object") opts = { ...opts, ...options };
  } else {
    opts = { ...input };
  }
  const protocol = opts.protocol ?? defaultProtocol;
  if (protocol !== defaultProtocol) {
    throw nodeError(TypeError, "ERR_INVALID_PROTOCOL", `Protocol "${protocol}" not supported. Expected "${defaultProtocol}"`);
  }
  let hostname = opts.hostname ?? opts.host ?? "localhost";
  if (!opts.hostname && typeof opts.host === "string" && /:\d+$/.test(opts.host) && !opts.host.startsWith("[")) hostname = opts.host.replace(/:\d+$/, "");
  const port = opts.port ? `:${opts.port}` : "";
  const host = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  return { ...opts, protocol, url: `${protocol}//${host}${port}${opts.path ?? "/"}`, method: String(opts.method ?? "GET").toUpperCase() };
}

export class ClientRequest extends Writable {
  #headers = new Map();
  #chunks = [];
  #aborted = false;
  #timer = null;

  constructor(options, callback) {
    super();
    this.method = options.method;
    this.path = options.path ?? "/";
    this.host = options.hostname ?? options.host;
    this.protocol = options.protocol;
    this.url = options.url;
    this.socket = new FakeSocket();
    this.reusedSocket = false;
    for (const [name, value] of Object.entries(options.headers ?? {})) this.setHeader(name, value);
    if (options.auth && !this.hasHeader("authorization")) this.setHeader("Authorization", "Basic " + Buffer.from(options.auth).toString("base64"));
    if (callback) this.once("response", callback);
    if (options.timeout) this.setTimeout(options.timeout);
    if (options.signal) options.signal.addEventListener?.("abort", () => this.destroy(options.signal.reason ?? new Error("The operation was aborted")));
    queueMicrotask(() => this.emit("socket", this.socket));
  }

  setHeader(name, value) { this.#headers.set(String(name).toLowerCase(), [String(name), value]); return this; }
  getHeader(name) { return this.#headers.get(String(name).toLowerCase())?.[1]; }
  hasHeader(name) { return this.#headers.has(String(name).toLowerCase()); }
  removeHeader(name) { this.#headers.delete(String(name).toLowerCase()); }
  getHeaders() { return Object.fromEntries([...this.#headers].map(([k, [, v]]) => [k, v])); }
  getHeaderNames() { return [...this.#headers.keys()]; }
  getRawHeaderNames() { return [...this.#headers.values()].map(([n]) => n); }
  flushHeaders() {}
  setNoDelay() {}
  setSocketKeepAlive() {}

  setTimeout(ms, callback) {
    if (callback) this.once("timeout", callback);
    clearTimeout(this.#timer);
    if (ms > 0) this.#timer = setTimeout(() => this.emit("timeout"), ms);
    return this;
  }

  _write(chunk, _encoding, callback) {
    this.#chunks.push(bytesOf(chunk));
    callback();
  }

  _final(callback) {
    callback();
    if (this.#aborted) return;
    const headers = [];
    for (const [, [name, value]] of this.#headers) {
      for (const v of Array.isArray(value) ? value : [value]) headers.push([name, String(v)]);
    }
    const body = Buffer.concat(this.#chunks);
    const hasBody = body.length > 0 || !["GET", "HEAD"].includes(this.method);
    const open = () => op_http_open(this.method, this.url, headers, hasBody, body, false);
    const read = (rid) => track(`http.request(${this.url}) body`, () => op_http_read(rid));
    track(`http.request(${this.url})`, () => httpOpen(this.method, this.url, open, read)).then(
      ({ head, read }) => {
        clearTimeout(this.#timer);
        if (this.#aborted) {
          if (head.rid !== undefined) op_http_close(head.rid);
          return;
        }
        const res = new IncomingMessage(head, this.method);
        res.req = this;
        this.res = res;
        this.emit("response", res);
        this.#stream(res, read, head.rid);
      },
      (e) => {
        clearTimeout(this.#timer);
        if (this.#aborted) return;
        this.emit("error", networkError(e));
        this.emit("close");
      },
    );
  }

  // The body arrives chunk by chunk as the server sends it.
  async #stream(res, read, rid) {
    try {
      for (;;) {
        const chunk = await read();
        if (chunk === null) break;
        if (this.#aborted) {
          if (rid !== undefined) op_http_close(rid);
          return;
        }
        res.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      }
      res.complete = true;
      res.push(null);
      this.emit("close");
    } catch (e) {
      res.emit("aborted");
      res.destroy(networkError(e));
      this.emit("close");
    }
  }

  abort() {
    this.destroy();
  }

  destroy(err) {
    if (this.#aborted) return this;
    this.#aborted = true;
    this.destroyed = true;
    clearTimeout(this.#timer);
    queueMicrotask(() => {
      if (err) this.emit("error", err);
      this.emit("abort");
      this.emit("close");
    });
    return this;
  }
}

/** A failed request as node:http reports it: the reason, with the code the op gave it (ops/http.rs). */
function networkError(e) {
  return nodeError(Error, e.code ?? "ECONNRESET", e.reason ?? e.message);
}

function notInChatfn(what) {
  return () => {
    throw notAvailable(what, ": chat functions make requests, they do not serve them");
  };
}

function makeModule(defaultProtocol, defaultPort) {
  const globalAgent = new Agent({ protocol: defaultProtocol, defaultPort });
  function request(input, options, callback) {
    if (typeof options === "function") [callback, options] = [options, undefined];
    return new ClientRequest(requestOptions(input, options, defaultProtocol), callback);
  }
  function get(input, options, callback) {
    const req = request(input, options, callback);
    req.end();
    return req;
  }
  return {
    request,
    get,
    Agent,
    globalAgent,
    ClientRequest,
    IncomingMessage,
    STATUS_CODES,
    METHODS,
    maxHeaderSize: 16384,
    validateHeaderName: () => {},
    validateHeaderValue: () => {},
    createServer: notInChatfn(`${defaultProtocol.slice(0, -1)}.createServer`),
    Server: notInChatfn(`${defaultProtocol.slice(0, -1)}.Server`),
  };
}

export const http = makeModule("http:", 80);
export const https = makeModule("https:", 443);
