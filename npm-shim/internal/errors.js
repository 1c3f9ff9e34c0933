// Node's coded errors, made in one place for every built-in: the class Node throws, its
// message, and `code` (`ERR_*`, or an errno name for system errors) as an own property. As in
// Node, the stack's first line names the code: `TypeError [ERR_INVALID_ARG_TYPE]: ...`.
// Errors thrown by Rust ops arrive with their `code` already set (deno_error's `JsError`
// derive, see runtime/src/ops/), so nothing here reads a code back out of a message.
import { primordials } from "ext:core/mod.js";
const { Error, RangeError, String, StringPrototypeEndsWith, StringPrototypeSlice, TypeError } = primordials;

/** A `Base` error with Node's `code`; `props` (errno, syscall, path, ...) become own properties. */
export function nodeError(Base, code, message, props) {
  const err = new Base(message);
  // V8 formats the stack when it is first read: read it under the coded name, as Node does.
  err.name = `${err.name} [${code}]`;
  void err.stack;
  delete err.name;
  err.code = code;
  if (props) for (const key in props) err[key] = props[key];
  return err;
}

/** How Node's ERR_INVALID_ARG_TYPE describes the value it got. */
function received(value) {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === "function") return `Received function ${value.name || "<anonymous>"}`;
  if (typeof value === "object") {
    const name = value.constructor?.name;
    return name ? `Received an instance of ${name}` : "Received [Object: null prototype]";
  }
  let shown = typeof value === "string" ? `'${value}'` : typeof value === "bigint" ? `${value}n` : String(value);
  if (shown.length > 28) shown = `${StringPrototypeSlice(shown, 0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

/** ERR_INVALID_ARG_TYPE: `The "name" argument must be <expected>. Received ...`. */
export function invalidArgType(name, expected, value) {
  const what = StringPrototypeEndsWith(name, " argument") ? name : `"${name}" argument`;
  return nodeError(TypeError, "ERR_INVALID_ARG_TYPE", `The ${what} must be ${expected}. ${received(value)}`);
}

/** ERR_OUT_OF_RANGE: `The value of "name" is out of range. It must be <range>. Received <value>`. */
export function outOfRange(name, range, value) {
  return nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "${name}" is out of range. It must be ${range}. Received ${typeof value === "string" ? `'${value}'` : String(value)}`);
}

/** ERR_CHATFN_NOT_AVAILABLE: a Node or web API that chat functions cannot use here, and why. */
export function notAvailable(what, why = "") {
  return nodeError(Error, "ERR_CHATFN_NOT_AVAILABLE", `${what} is not available in chatfn${why}`);
}

/** ERR_METHOD_NOT_IMPLEMENTED: a part of a built-in chatfn does not implement (yet). */
export function notImplemented(message) {
  return nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", message);
}
