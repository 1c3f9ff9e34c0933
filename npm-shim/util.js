// node:util: the parts npm packages reach for (format, inspect, promisify, callbackify,
// inherits, deprecate, types, isDeepStrictEqual, TextEncoder/TextDecoder, debuglog).
import { core, primordials } from "ext:core/mod.js";
import { format, inspect as inspectValue } from "ext:chatfn/console.js";
import { TextDecoder, TextEncoder } from "ext:chatfn/web/encoding.js";
import { invalidArgType } from "ext:chatfn/internal/errors.js";
import { KeyObject } from "ext:chatfn/crypto.js";
import { CryptoKey } from "ext:chatfn/web/subtle.js";
const {
  ObjectDefineProperty, ObjectGetOwnPropertyDescriptors, ObjectGetPrototypeOf, ObjectKeys, ObjectSetPrototypeOf, Promise, ReflectApply, SymbolFor,
  TypedArrayPrototypeGetSymbolToStringTag, TypeError,
} = primordials;

const kCustomPromisify = SymbolFor("nodejs.util.promisify.custom");

function inspect(value, _options) {
  return inspectValue(value, 1);
}
inspect.custom = SymbolFor("nodejs.util.inspect.custom");
inspect.defaultOptions = { depth: 2 };

function promisify(original) {
  if (typeof original !== "function") {
    throw invalidArgType("original", "of type function", original);
  }
  if (original[kCustomPromisify]) return original[kCustomPromisify];
  function promisified(...args) {
    return new Promise((resolve, reject) => {
      ReflectApply(original, this, [...args, (err, ...values) => (err ? reject(err) : resolve(values.length > 1 ? values : values[0]))]);
    });
  }
  ObjectSetPrototypeOf(promisified, ObjectGetPrototypeOf(original));
  ObjectDefineProperty(promisified, kCustomPromisify, { value: promisified });
  return Object.defineProperties(promisified, ObjectGetOwnPropertyDescriptors(original));
}
promisify.custom = kCustomPromisify;

function callbackify(original) {
  return function (...args) {
    const callback = args.pop();
    ReflectApply(original, this, args).then(
      (value) => queueMicrotask(() => callback(null, value)),
      (err) => queueMicrotask(() => callback(err || new Error("Promise was rejected with a falsy value"))),
    );
  };
}

function inherits(ctor, superCtor) {
  ObjectDefineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
  ObjectSetPrototypeOf(ctor.prototype, superCtor.prototype);
}

function deprecate(fn, message, code) {
  let warned = false;
  return function (...args) {
    if (!warned) {
      warned = true;
      console.warn(`DeprecationWarning${code ? ` [${code}]` : ""}: ${message}`);
    }
    return new.target ? Reflect.construct(fn, args, new.target) : ReflectApply(fn, this, args);
  };
}

function isDeepStrictEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ObjectGetPrototypeOf(a) !== ObjectGetPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === b.getTime();
  const ka = ObjectKeys(a);
  const kb = ObjectKeys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && isDeepStrictEqual(a[k], b[k]));
}

/** The kind of typed array `v` is ("Uint8Array", ...), undefined for anything else. */
const typedArrayKind = (v) => TypedArrayPrototypeGetSymbolToStringTag(v);

/** node:util/types: V8's own checks (through deno_core), which no prototype trickery fools. */
const types = {
  isExternal: () => false,
  isKeyObject: (v) => v instanceof KeyObject,
  isCryptoKey: (v) => v instanceof CryptoKey,
};
for (const check of [
  "isAnyArrayBuffer", "isArgumentsObject", "isArrayBuffer", "isArrayBufferView", "isAsyncFunction", "isBigIntObject",
  "isBooleanObject", "isBoxedPrimitive", "isDataView", "isDate", "isGeneratorFunction", "isGeneratorObject", "isMap",
  "isMapIterator", "isModuleNamespaceObject", "isNativeError", "isNumberObject", "isPromise", "isProxy", "isRegExp", "isSet",
  "isSetIterator", "isSharedArrayBuffer", "isStringObject", "isSymbolObject", "isTypedArray", "isWeakMap", "isWeakSet",
]) {
  types[check] = (v) => core[check](v);
}
for (const kind of [
  "Uint8Array", "Uint8ClampedArray", "Uint16Array", "Uint32Array", "Int8Array", "Int16Array", "Int32Array", "Float16Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
]) {
  types[`is${kind}`] = (v) => typedArrayKind(v) === kind;
}

const util = {
  format,
  formatWithOptions: (_options, ...args) => format(...args),
  inspect,
  promisify,
  callbackify,
  inherits,
  deprecate,
  isDeepStrictEqual,
  types,
  TextEncoder,
  TextDecoder,
  debuglog: () => {
    const log = () => {};
    log.enabled = false;
    return log;
  },
  isArray: Array.isArray,
  isError: (v) => core.isNativeError(v),
};

export default util;
