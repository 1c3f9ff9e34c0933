// Node's built-in modules, each listed once: what `require("x")`, `require("node:x")` and
// `import "node:x"` give. A module chatfn implements is a file beside this one (its Rust ops in
// runtime/src/ops/); one it does not host loads as a stub whose every use throws
// ERR_CHATFN_NOT_AVAILABLE (unsupported.js); a Node name in neither fails to load, loudly.
import { primordials } from "ext:core/mod.js";
import assert from "ext:chatfn/assert.js";
import buffer from "ext:chatfn/buffer.js";
import { console } from "ext:chatfn/console.js";
import crypto from "ext:chatfn/crypto.js";
import events from "ext:chatfn/events.js";
import fs from "ext:chatfn/fs.js";
import { http, https } from "ext:chatfn/http.js";
import os from "ext:chatfn/os.js";
import path from "ext:chatfn/path.js";
import { process } from "ext:chatfn/process.js";
import querystring from "ext:chatfn/querystring.js";
import stream from "ext:chatfn/stream.js";
import stringDecoder from "ext:chatfn/string_decoder.js";
import { timerGlobals } from "ext:chatfn/timers.js";
import { unsupportedModules } from "ext:chatfn/unsupported.js";
import url from "ext:chatfn/url.js";
import util from "ext:chatfn/util.js";
import zlib from "ext:chatfn/zlib.js";
import { ReadableStream } from "ext:chatfn/web/streams.js";
const { ArrayPrototypeIncludes, ObjectEntries, ObjectPrototypeHasOwnProperty, Promise, SafeMap } = primordials;

const implemented = {
  assert,
  "assert/strict": assert.strict,
  buffer,
  console,
  crypto,
  events,
  fs,
  "fs/promises": fs.promises,
  http,
  https,
  os,
  path,
  "path/posix": path,
  process,
  querystring,
  stream,
  "stream/web": { ReadableStream },
  string_decoder: stringDecoder,
  timers: timerGlobals,
  "timers/promises": {
    setTimeout: (ms, value) => new Promise((resolve) => timerGlobals.setTimeout(() => resolve(value), ms)),
    setImmediate: (value) => new Promise((resolve) => timerGlobals.setImmediate(() => resolve(value))),
  },
  url,
  util,
  "util/types": util.types,
  zlib,
};

/** Node's modules that chatfn neither implements nor stubs: requiring one says so. */
const NOT_PROVIDED = ["module"];

const builtins = new SafeMap([...ObjectEntries(implemented), ...ObjectEntries(unsupportedModules)]);

/** The exports of built-in `name` (without `node:`), or undefined. */
export function builtinModule(name) {
  return builtins.get(name);
}

/** Whether `name` (without `node:`) names one of Node's built-in modules. */
export function isBuiltin(name) {
  return builtins.has(name) || ArrayPrototypeIncludes(NOT_PROVIDED, name);
}

// A module is implemented or stubbed, never both.
for (const name in unsupportedModules) {
  if (ObjectPrototypeHasOwnProperty(implemented, name)) throw new Error(`built-in ${name} is listed twice`);
}
