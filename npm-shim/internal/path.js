// POSIX path arithmetic for the CommonJS loader. Not the public `path` built-in: that one
// (with win32, parse/format, relative) arrives with the Node built-ins.
import { primordials } from "ext:core/mod.js";
const { ArrayPrototypeJoin, ArrayPrototypePop, ArrayPrototypePush, StringPrototypeSplit, StringPrototypeLastIndexOf, StringPrototypeSlice, StringPrototypeStartsWith } = primordials;

export function normalize(path) {
  const absolute = StringPrototypeStartsWith(path, "/");
  const out = [];
  for (const part of StringPrototypeSplit(path, "/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") ArrayPrototypePop(out);
      else if (!absolute) ArrayPrototypePush(out, "..");
      continue;
    }
    ArrayPrototypePush(out, part);
  }
  const joined = ArrayPrototypeJoin(out, "/");
  return absolute ? "/" + joined : (joined || ".");
}

export function join(...parts) {
  return normalize(ArrayPrototypeJoin(parts, "/"));
}

export function dirname(path) {
  const i = StringPrototypeLastIndexOf(path, "/");
  if (i < 0) return ".";
  if (i === 0) return "/";
  return StringPrototypeSlice(path, 0, i);
}

export function extname(path) {
  const base = StringPrototypeSlice(path, StringPrototypeLastIndexOf(path, "/") + 1);
  const dot = StringPrototypeLastIndexOf(base, ".");
  return dot <= 0 ? "" : StringPrototypeSlice(base, dot);
}
