// The web's URL and URLSearchParams (also node:url's). Parsing and setters run in Rust (the
// `url` crate, WHATWG); URLSearchParams is application/x-www-form-urlencoded in JavaScript.
import { core, primordials } from "ext:core/mod.js";
import { nodeError } from "ext:chatfn/internal/errors.js";
const { ArrayIsArray, ArrayPrototypeJoin, JSONParse, ArrayPrototypeMap, ArrayPrototypePush, ObjectEntries, StringPrototypeReplace, StringPrototypeSlice, StringPrototypeSplit, SymbolIterator, TypeError, decodeURIComponent, encodeURIComponent } = primordials;
const { op_url_parse, op_url_set } = core.ops;

/** A URL's parts from the ops' JSON text (null: no URL). As text: an object serde_v8 made
 * would be dictionary-mode (no shared shape). */
const partsOf = (text) => (text === null ? null : JSONParse(text));

/** The parts of `href` against `base` ("" for none), or null when it is no URL. */
export const parseUrl = (href, base) => partsOf(op_url_parse(href, base));

/** `href`'s parts with `part` set to `value`, or null when the result is no URL. */
const setUrl = (href, part, value) => partsOf(op_url_set(href, part, value));

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
  return nodeError(TypeError, "ERR_INVALID_URL", `Invalid URL: ${input}`, { input });
}

export class URL {
  #parts;
  #params = new URLSearchParams();

  constructor(input, base) {
    const parts = parseUrl(String(input), base === undefined ? "" : String(base));
    if (parts === null) throw invalidUrl(input);
    this.#update(parts);
  }

  static canParse(input, base) {
    return op_url_parse(String(input), base === undefined ? "" : String(base)) !== null;
  }

  #update(parts) {
    this.#parts = parts;
    URLSearchParams._bind(this.#params, parts.search, (query) => {
      const next = setUrl(this.#parts.href, "search", query);
      if (next) this.#parts = next;
    });
  }

  #set(part, value) {
    const next = setUrl(this.#parts.href, part, String(value));
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
