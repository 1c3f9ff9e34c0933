// The web's outbound HTTP: fetch, Headers, Request, Response, FormData. Every request goes through `op_http_open` (Rust:
// `net/`), which applies the app's network policy and HTTP fixtures.
import { core, primordials } from "ext:core/mod.js";
import { track } from "ext:chatfn/pending.js";
import { httpOpen } from "ext:chatfn/tape.js";
import { concatBytes } from "ext:chatfn/internal/bytes.js";
import { Blob, File, bytesOfBlob } from "ext:chatfn/web/blob.js";
const {
  ArrayBufferIsView, ArrayIsArray, ArrayPrototypeIncludes, ArrayPrototypeMap, ArrayPrototypePush, Error, JSONParse, ObjectEntries, ObjectPrototypeIsPrototypeOf, SafeMap,
  String, StringPrototypeToLowerCase, SymbolIterator, TypeError, TypedArrayPrototypeGetBuffer, Uint8Array, Uint8ArrayPrototype, ArrayBufferPrototype,
} = primordials;
const { op_http_open, op_http_read } = core.ops;

export class Headers {
  #map = new SafeMap();
  constructor(init) {
    if (init == null) return;
    if (ObjectPrototypeIsPrototypeOf(Headers.prototype, init)) {
      for (const [k, v] of init) this.append(k, v);
    } else if (ArrayIsArray(init)) {
      for (const [k, v] of init) this.append(k, v);
    } else {
      for (const [k, v] of ObjectEntries(init)) this.append(k, v);
    }
  }
  append(name, value) {
    const key = StringPrototypeToLowerCase(String(name));
    const existing = this.#map.get(key);
    this.#map.set(key, existing === undefined ? String(value) : `${existing}, ${value}`);
  }
  set(name, value) { this.#map.set(StringPrototypeToLowerCase(String(name)), String(value)); }
  get(name) { return this.#map.get(StringPrototypeToLowerCase(String(name))) ?? null; }
  has(name) { return this.#map.has(StringPrototypeToLowerCase(String(name))); }
  delete(name) { this.#map.delete(StringPrototypeToLowerCase(String(name))); }
  forEach(callback, thisArg) { for (const [k, v] of this) callback.call(thisArg, v, k, this); }
  *entries() { yield* [...this.#map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)); }
  keys() { return ArrayPrototypeMap([...this.entries()], (e) => e[0])[SymbolIterator](); }
  values() { return ArrayPrototypeMap([...this.entries()], (e) => e[1])[SymbolIterator](); }
  [SymbolIterator]() { return this.entries(); }
}

function bodyBytes(body) {
  if (body == null) return null;
  if (typeof body === "string") return core.encode(body);
  if (ObjectPrototypeIsPrototypeOf(Uint8ArrayPrototype, body)) return body;
  if (ArrayBufferIsView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (ObjectPrototypeIsPrototypeOf(ArrayBufferPrototype, body)) return new Uint8Array(body);
  if (typeof body.toString === "function" && body.constructor?.name === "URLSearchParams") return core.encode(body.toString());
  const blob = bytesOfBlob(body);
  if (blob !== undefined) return blob;
  throw new TypeError("fetch in chatfn takes a string, Uint8Array, ArrayBuffer, Blob, URLSearchParams or null body");
}

class Body {
  #bytes;
  #used = false;
  constructor(bytes) { this.#bytes = bytes ?? new Uint8Array(0); }
  get bodyUsed() { return this.#used; }
  #take() {
    if (this.#used) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    return this.#bytes;
  }
  async arrayBuffer() {
    const b = this.#take();
    return TypedArrayPrototypeGetBuffer(b).slice(b.byteOffset, b.byteOffset + b.byteLength);
  }
  async bytes() { return new Uint8Array(await this.arrayBuffer()); }
  async text() { return core.decode(this.#take()); }
  async json() { return JSONParse(await this.text()); }
  async blob() { return new Blob([this.#take()], { type: this.headers?.get("content-type") ?? "" }); }
}

export class Response extends Body {
  constructor(body = null, init = {}) {
    super(bodyBytes(body));
    this.status = init.status ?? 200;
    this.statusText = init.statusText ?? "";
    this.headers = new Headers(init.headers);
    this.url = init.url ?? "";
    this.redirected = init.redirected ?? false;
    this.type = "basic";
  }
  get ok() { return this.status >= 200 && this.status < 300; }
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
}

/** The web's FormData: ordered name/value pairs, values being strings or Files; sent as multipart. */
export class FormData {
  #entries = [];
  #entry(name, value, filename) {
    if (ObjectPrototypeIsPrototypeOf(Blob.prototype, value)) {
      const file = ObjectPrototypeIsPrototypeOf(File.prototype, value) && filename === undefined
        ? value
        : new File([value], filename ?? (value.name ?? "blob"), { type: value.type });
      return [String(name), file];
    }
    return [String(name), String(value)];
  }
  append(name, value, filename) { ArrayPrototypePush(this.#entries, this.#entry(name, value, filename)); }
  set(name, value, filename) {
    const entry = this.#entry(name, value, filename);
    const at = this.#entries.findIndex(([n]) => n === entry[0]);
    this.#entries = this.#entries.filter(([n], i) => n !== entry[0] || i === at);
    if (at < 0) ArrayPrototypePush(this.#entries, entry);
    else this.#entries[this.#entries.findIndex(([n]) => n === entry[0])] = entry;
  }
  get(name) { return this.#entries.find(([n]) => n === String(name))?.[1] ?? null; }
  getAll(name) { return this.#entries.filter(([n]) => n === String(name)).map(([, v]) => v); }
  has(name) { return this.#entries.some(([n]) => n === String(name)); }
  delete(name) { this.#entries = this.#entries.filter(([n]) => n !== String(name)); }
  forEach(callback, thisArg) { for (const [n, v] of this.#entries) callback.call(thisArg, v, n, this); }
  *entries() { yield* this.#entries.map(([n, v]) => [n, v]); }
  *keys() { for (const [n] of this.#entries) yield n; }
  *values() { for (const [, v] of this.#entries) yield v; }
  [SymbolIterator]() { return this.entries(); }
  get [Symbol.toStringTag]() { return "FormData"; }
}

/** multipart/form-data bytes for a FormData, and the content type naming its boundary. */
function multipart(form) {
  const boundary = "----chatfnFormBoundary" + Math.random().toString(16).slice(2) + Math.random().toString(16).slice(2);
  const escape = (s) => s.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
  const parts = [];
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escape(name)}"`;
    if (typeof value === "string") {
      ArrayPrototypePush(parts, `${head}\r\n\r\n${value}\r\n`);
    } else {
      head += `; filename="${escape(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
      ArrayPrototypePush(parts, head, value, "\r\n");
    }
  }
  ArrayPrototypePush(parts, `--${boundary}--\r\n`);
  return { bytes: bytesOfBlob(new Blob(parts)), type: `multipart/form-data; boundary=${boundary}` };
}

export class Request {
  constructor(input, init = {}) {
    const from = ObjectPrototypeIsPrototypeOf(Request.prototype, input) ? input : null;
    this.url = from ? from.url : String(input);
    this.method = String(init.method ?? from?.method ?? "GET").toUpperCase();
    this.headers = new Headers(init.headers ?? from?.headers);
    this.body = init.body ?? from?.body ?? null;
    this.signal = init.signal ?? from?.signal ?? null;
    /** "follow" (the default: each hop through the network policy), "manual" or "error". */
    this.redirect = String(init.redirect ?? from?.redirect ?? "follow");
    if (this.redirect !== "follow" && this.redirect !== "manual" && this.redirect !== "error") {
      throw new TypeError(`Failed to construct 'Request': '${this.redirect}' is not a valid redirect mode`);
    }
  }
}

const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

export async function fetch(input, init = {}) {
  const request = new Request(input, init);
  request.signal?.throwIfAborted?.();
  let body;
  if (ObjectPrototypeIsPrototypeOf(FormData.prototype, request.body)) {
    const form = multipart(request.body);
    body = form.bytes;
    if (!request.headers.has("content-type")) request.headers.set("content-type", form.type);
  } else {
    body = bodyBytes(request.body);
  }
  const headers = [];
  for (const [k, v] of request.headers) ArrayPrototypePush(headers, [k, v]);
  // "manual" answers a redirect as it came (as Node's fetch does); "error" fails on one.
  const follow = request.redirect === "follow";
  const open = () => op_http_open(request.method, request.url, headers, body !== null, body ?? new Uint8Array(0), follow);
  const answer = await track(`fetch(${request.url})`, async () => {
    // The same path as node:http's streamed responses, read to the end.
    const { head, read } = await httpOpen(request.method, request.url, open, op_http_read);
    if (request.redirect === "error" && ArrayPrototypeIncludes(REDIRECT_STATUSES, head.status)) {
      throw new TypeError("fetch failed", { cause: new Error(`redirect mode is "error" and ${request.url} redirects (${head.status})`) });
    }
    const chunks = [];
    for (let chunk = await read(); chunk !== null; chunk = await read()) ArrayPrototypePush(chunks, chunk);
    return { ...head, body: concatBytes(chunks) };
  });
  return new Response(answer.body, {
    status: answer.status,
    statusText: answer.statusText,
    headers: answer.headers,
    url: answer.url,
    redirected: answer.redirected,
  });
}

