// node:url and the web's URL and URLSearchParams. Parsing and setters run in Rust (the `url`
// crate, WHATWG); URLSearchParams is application/x-www-form-urlencoded in JavaScript.
// The legacy url.parse()/format()/resolve() are built on the same parser.
import { core, primordials } from "ext:core/mod.js";
const { ArrayIsArray, ArrayPrototypeJoin, ArrayPrototypeMap, ArrayPrototypePush, ObjectEntries, StringPrototypeReplace, StringPrototypeSlice, StringPrototypeSplit, SymbolIterator, TypeError, decodeURIComponent, encodeURIComponent } = primordials;
const { op_url_parse, op_url_set } = core.ops;

function formEncode(text) {
  return StringPrototypeReplace(
    StringPrototypeReplace(encodeURIComponent(text), /%20/g, "+"),
    /[!'()~]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function formDecode(text) {
  try {
    return decodeURIComponent(StringPrototypeReplace(text, /\+/g, " "));
  } catch {
    return text;
  }
}

export class URLSearchParams {
  #list = [];
  #onChange = null;

  constructor(init = "") {
    if (typeof init === "string") {
      this.#parse(init);
    } else if (init !== null && typeof init === "object" && typeof init[SymbolIterator] === "function") {
      for (const pair of init) {
        if (!ArrayIsArray(pair) && pair.length !== 2) throw new TypeError("Each query pair must be an iterable [name, value] tuple");
        ArrayPrototypePush(this.#list, [String(pair[0]), String(pair[1])]);
      }
    } else if (init !== null && typeof init === "object") {
      for (const [k, v] of ObjectEntries(init)) ArrayPrototypePush(this.#list, [k, String(v)]);
    }
  }

  #parse(text) {
    this.#list = [];
    const query = text.startsWith("?") ? StringPrototypeSlice(text, 1) : text;
    for (const part of StringPrototypeSplit(query, "&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const name = eq < 0 ? part : StringPrototypeSlice(part, 0, eq);
      const value = eq < 0 ? "" : StringPrototypeSlice(part, eq + 1);
      ArrayPrototypePush(this.#list, [formDecode(name), formDecode(value)]);
    }
  }

  /** Used by URL to keep `search` and its params in step. */
  static _bind(params, text, onChange) {
    params.#parse(text);
    params.#onChange = onChange;
  }

  #changed() {
    this.#onChange?.(this.toString());
  }

  get size() { return this.#list.length; }
  append(name, value) { ArrayPrototypePush(this.#list, [String(name), String(value)]); this.#changed(); }
  delete(name, value) {
    this.#list = this.#list.filter(([k, v]) => k !== String(name) || (value !== undefined && v !== String(value)));
    this.#changed();
  }
  get(name) { return this.#list.find(([k]) => k === String(name))?.[1] ?? null; }
  getAll(name) { return ArrayPrototypeMap(this.#list.filter(([k]) => k === String(name)), ([, v]) => v); }
  has(name, value) { return this.#list.some(([k, v]) => k === String(name) && (value === undefined || v === String(value))); }
  set(name, value) {
    const i = this.#list.findIndex(([k]) => k === String(name));
    if (i < 0) ArrayPrototypePush(this.#list, [String(name), String(value)]);
    else {
      this.#list[i][1] = String(value);
      this.#list = this.#list.filter(([k], j) => j <= i || k !== String(name));
    }
    this.#changed();
  }
  sort() {
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#changed();
  }
  forEach(callback, thisArg) { for (const [k, v] of this.#list) callback.call(thisArg, v, k, this); }
  *entries() { for (const [k, v] of this.#list) yield [k, v]; }
  *keys() { for (const [k] of this.#list) yield k; }
  *values() { for (const [, v] of this.#list) yield v; }
  [SymbolIterator]() { return this.entries(); }
  toString() { return ArrayPrototypeJoin(ArrayPrototypeMap(this.#list, ([k, v]) => `${formEncode(k)}=${formEncode(v)}`), "&"); }
}

function invalidUrl(input) {
  const err = new TypeError(`Invalid URL: ${input}`);
  err.code = "ERR_INVALID_URL";
  err.input = input;
  return err;
}

export class URL {
  #parts;
  #params = new URLSearchParams();

  constructor(input, base) {
    const parts = op_url_parse(String(input), base === undefined ? "" : String(base));
    if (parts === null) throw invalidUrl(input);
    this.#update(parts);
  }

  static canParse(input, base) {
    return op_url_parse(String(input), base === undefined ? "" : String(base)) !== null;
  }

  #update(parts) {
    this.#parts = parts;
    URLSearchParams._bind(this.#params, parts.search, (query) => {
      const next = op_url_set(this.#parts.href, "search", query);
      if (next) this.#parts = next;
    });
  }

  #set(part, value) {
    const next = op_url_set(this.#parts.href, part, String(value));
    if (next === null) {
      if (part === "href") throw invalidUrl(value);
      return;
    }
    this.#update(next);
  }

  get href() { return this.#parts.href; }
  set href(v) { this.#set("href", v); }
  get origin() { return this.#parts.origin; }
  get protocol() { return this.#parts.protocol; }
  set protocol(v) { this.#set("protocol", v); }
  get username() { return this.#parts.username; }
  set username(v) { this.#set("username", v); }
  get password() { return this.#parts.password; }
  set password(v) { this.#set("password", v); }
  get host() { return this.#parts.host; }
  set host(v) { this.#set("host", v); }
  get hostname() { return this.#parts.hostname; }
  set hostname(v) { this.#set("hostname", v); }
  get port() { return this.#parts.port; }
  set port(v) { this.#set("port", v); }
  get pathname() { return this.#parts.pathname; }
  set pathname(v) { this.#set("pathname", v); }
  get search() { return this.#parts.search; }
  set search(v) { this.#set("search", v); }
  get hash() { return this.#parts.hash; }
  set hash(v) { this.#set("hash", v); }
  get searchParams() { return this.#params; }
  toString() { return this.#parts.href; }
  toJSON() { return this.#parts.href; }
}

// The legacy API (url.parse/format/resolve), still used by many packages, on top of the
// WHATWG parser. Relative references parse against a placeholder base that is removed again.
const PLACEHOLDER = "http://chatfn-relative.invalid";

class Url {
  constructor() {
    this.protocol = null;
    this.slashes = null;
    this.auth = null;
    this.host = null;
    this.port = null;
    this.hostname = null;
    this.hash = null;
    this.search = null;
    this.query = null;
    this.pathname = null;
    this.path = null;
    this.href = null;
  }
  format() {
    return legacyFormat(this);
  }
}

function legacyParse(input, parseQueryString = false) {
  const text = String(input).trim();
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(text);
  const parsed = op_url_parse(text, absolute ? "" : PLACEHOLDER);
  const out = new Url();
  if (parsed === null) {
    out.pathname = out.path = out.href = text;
    return out;
  }
  if (absolute) {
    out.protocol = parsed.protocol;
    out.slashes = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || null;
    out.auth = parsed.username ? decodeURIComponent(parsed.username) + (parsed.password ? ":" + decodeURIComponent(parsed.password) : "") : null;
    out.host = parsed.host || null;
    out.hostname = parsed.hostname || null;
    out.port = parsed.port || null;
  }
  out.hash = parsed.hash || null;
  out.search = parsed.search || (text.includes("?") && !text.includes("#") ? "?" : null);
  const rawQuery = parsed.search ? StringPrototypeSlice(parsed.search, 1) : null;
  out.query = parseQueryString ? Object.fromEntries(new URLSearchParams(rawQuery ?? "")) : rawQuery;
  out.pathname = absolute || text.startsWith("/") ? parsed.pathname : StringPrototypeSlice(parsed.pathname, 1);
  out.path = (out.pathname ?? "") + (out.search ?? "");
  out.href = absolute ? parsed.href : StringPrototypeSlice(parsed.href, PLACEHOLDER.length + (text.startsWith("/") ? 0 : 1));
  return out;
}

function legacyFormat(obj) {
  if (typeof obj === "string") return legacyParse(obj).format();
  if (obj instanceof URL) return obj.href;
  const protocol = obj.protocol ? (obj.protocol.endsWith(":") ? obj.protocol : obj.protocol + ":") : "";
  const auth = obj.auth ? encodeURIComponent(obj.auth).replace(/%3A/i, ":") + "@" : "";
  const host = obj.host ?? (obj.hostname ? obj.hostname + (obj.port ? ":" + obj.port : "") : "");
  const slashes = obj.slashes || (host && /^(https?|ftp|file|wss?):$/.test(protocol)) ? "//" : "";
  let search = obj.search ?? "";
  if (!search && obj.query && typeof obj.query === "object") {
    const q = new URLSearchParams(obj.query).toString();
    search = q ? "?" + q : "";
  } else if (!search && typeof obj.query === "string" && obj.query) {
    search = "?" + obj.query;
  }
  if (search && !search.startsWith("?")) search = "?" + search;
  let hash = obj.hash ?? "";
  if (hash && !hash.startsWith("#")) hash = "#" + hash;
  const pathname = obj.pathname ?? "";
  return protocol + (slashes ? slashes + auth + host : "") + (host && pathname && !pathname.startsWith("/") ? "/" : "") + pathname + search + hash;
}

function legacyResolve(from, to) {
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(String(from));
  const parsed = op_url_parse(String(to), absolute ? String(from) : PLACEHOLDER + "/" + String(from).replace(/^\//, ""));
  if (parsed === null) return String(to);
  return absolute ? parsed.href : StringPrototypeSlice(parsed.href, PLACEHOLDER.length);
}

export default {
  URL,
  URLSearchParams,
  fileURLToPath(url) {
    const u = typeof url === "string" ? new URL(url) : url;
    if (u.protocol !== "file:") {
      const err = new TypeError("The URL must be of scheme file");
      err.code = "ERR_INVALID_URL_SCHEME";
      throw err;
    }
    return decodeURIComponent(u.pathname);
  },
  pathToFileURL: (path) => new URL("file://" + ArrayPrototypeJoin(ArrayPrototypeMap(StringPrototypeSplit(String(path), "/"), encodeURIComponent), "/")),
  Url,
  parse: legacyParse,
  format: legacyFormat,
  resolve: legacyResolve,
};
