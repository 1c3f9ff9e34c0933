// node:url: the web's URL and URLSearchParams (web/url.js), fileURLToPath/pathToFileURL, and
// the legacy url.parse()/format()/resolve(), built on the same parser.
import { primordials } from "ext:core/mod.js";
import { nodeError } from "ext:chatfn/internal/errors.js";
import { URL, URLSearchParams, parseUrl } from "ext:chatfn/web/url.js";
const { ArrayIsArray, ArrayPrototypeJoin, ArrayPrototypeMap, ArrayPrototypePush, ObjectEntries, StringPrototypeReplace, StringPrototypeSlice, StringPrototypeSplit, SymbolIterator, TypeError, decodeURIComponent, encodeURIComponent } = primordials;

export { URL, URLSearchParams };

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
  const parsed = parseUrl(text, absolute ? "" : PLACEHOLDER);
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
  const parsed = parseUrl(String(to), absolute ? String(from) : PLACEHOLDER + "/" + String(from).replace(/^\//, ""));
  if (parsed === null) return String(to);
  return absolute ? parsed.href : StringPrototypeSlice(parsed.href, PLACEHOLDER.length);
}

export default {
  URL,
  URLSearchParams,
  fileURLToPath(url) {
    const u = typeof url === "string" ? new URL(url) : url;
    if (u.protocol !== "file:") {
      throw nodeError(TypeError, "ERR_INVALID_URL_SCHEME", "The URL must be of scheme file");
    }
    return decodeURIComponent(u.pathname);
  },
  pathToFileURL: (path) => new URL("file://" + ArrayPrototypeJoin(ArrayPrototypeMap(StringPrototypeSplit(String(path), "/"), encodeURIComponent), "/")),
  Url,
  parse: legacyParse,
  format: legacyFormat,
  resolve: legacyResolve,
};
