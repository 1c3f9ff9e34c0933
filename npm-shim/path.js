// node:path (POSIX; `path.win32` is not provided and says so). Follows Node's documented
// behaviour for join, resolve, normalize, relative, dirname, basename, extname, parse, format.
import { primordials } from "ext:core/mod.js";
import { normalize as normalizeParts } from "ext:chatfn/internal/path.js";
import { invalidArgType, notImplemented } from "ext:chatfn/internal/errors.js";
const { ArrayPrototypeJoin, ArrayPrototypeSlice, StringPrototypeEndsWith, StringPrototypeLastIndexOf, StringPrototypeSlice, StringPrototypeSplit, StringPrototypeStartsWith, TypeError } = primordials;

function check(name, value) {
  if (typeof value !== "string") {
    throw invalidArgType(name, "of type string", value);
  }
}

function normalize(p) {
  check("path", p);
  if (p === "") return ".";
  const trailing = StringPrototypeEndsWith(p, "/");
  const out = normalizeParts(p);
  return trailing && out !== "/" ? out + "/" : out;
}

function join(...parts) {
  for (const p of parts) check("path", p);
  const joined = ArrayPrototypeJoin(parts.filter((p) => p !== ""), "/");
  return joined === "" ? "." : normalize(joined);
}

function resolve(...parts) {
  let resolved = "";
  for (let i = parts.length - 1; i >= 0 && !StringPrototypeStartsWith(resolved, "/"); i--) {
    check("path", parts[i]);
    if (parts[i] === "") continue;
    resolved = resolved === "" ? parts[i] : parts[i] + "/" + resolved;
  }
  if (!StringPrototypeStartsWith(resolved, "/")) resolved = "/" + resolved;
  const out = normalizeParts(resolved);
  return out;
}

function isAbsolute(p) {
  check("path", p);
  return StringPrototypeStartsWith(p, "/");
}

function relative(from, to) {
  const a = StringPrototypeSplit(resolve(from), "/").filter(Boolean);
  const b = StringPrototypeSplit(resolve(to), "/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return ArrayPrototypeJoin([...a.slice(i).map(() => ".."), ...ArrayPrototypeSlice(b, i)], "/");
}

function dirname(p) {
  check("path", p);
  if (p === "") return ".";
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const i = StringPrototypeLastIndexOf(StringPrototypeSlice(p, 0, end), "/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  let d = StringPrototypeSlice(p, 0, i);
  while (d.length > 1 && StringPrototypeEndsWith(d, "/")) d = StringPrototypeSlice(d, 0, -1);
  return d;
}

function basename(p, ext) {
  check("path", p);
  let end = p.length;
  while (end > 0 && p[end - 1] === "/") end--;
  const trimmed = StringPrototypeSlice(p, 0, end);
  let base = StringPrototypeSlice(trimmed, StringPrototypeLastIndexOf(trimmed, "/") + 1);
  if (ext !== undefined && StringPrototypeEndsWith(base, ext) && base !== ext) base = StringPrototypeSlice(base, 0, base.length - ext.length);
  return base;
}

function extname(p) {
  const base = basename(p);
  const dot = StringPrototypeLastIndexOf(base, ".");
  return dot <= 0 ? "" : StringPrototypeSlice(base, dot);
}

function parse(p) {
  check("path", p);
  const root = StringPrototypeStartsWith(p, "/") ? "/" : "";
  const base = basename(p);
  const ext = extname(p);
  let dir = dirname(p);
  if (dir === "." && !StringPrototypeStartsWith(p, ".")) dir = root === "/" ? "/" : "";
  return { root, dir, base, ext, name: ext ? StringPrototypeSlice(base, 0, base.length - ext.length) : base };
}

function format(obj) {
  const dir = obj.dir || obj.root || "";
  const base = obj.base || (obj.name || "") + (obj.ext ? (StringPrototypeStartsWith(obj.ext, ".") ? "" : ".") + obj.ext : "");
  if (!dir) return base;
  return dir === obj.root ? dir + base : dir + "/" + base;
}

const posix = {
  sep: "/",
  delimiter: ":",
  normalize, join, resolve, isAbsolute, relative, dirname, basename, extname, parse, format,
  toNamespacedPath: (p) => p,
};
posix.posix = posix;
Object.defineProperty(posix, "win32", {
  enumerable: false,
  get() {
    throw notImplemented("path.win32 is not available in chatfn (functions run on POSIX paths)");
  },
});

export default posix;
