// node:assert: the assertion functions with Node's AssertionError (code ERR_ASSERTION).
import util from "ext:chatfn/util.js";
import { inspect } from "ext:chatfn/console.js";

export class AssertionError extends Error {
  constructor({ message, actual, expected, operator }) {
    super(message ?? `${inspect(actual, 1)} ${operator} ${inspect(expected, 1)}`);
    this.name = "AssertionError";
    this.code = "ERR_ASSERTION";
    this.actual = actual;
    this.expected = expected;
    this.operator = operator;
    this.generatedMessage = message === undefined;
  }
}

function fail(actual, expected, message, operator) {
  if (message instanceof Error) throw message;
  throw new AssertionError({ message, actual, expected, operator });
}

function assert(value, message) {
  if (!value) fail(value, true, message ?? "The expression evaluated to a falsy value", "==");
}

function matches(error, expected) {
  if (expected === undefined) return true;
  if (typeof expected === "function") {
    if (expected.prototype !== undefined && error instanceof expected) return true;
    if (Error.isPrototypeOf(expected)) return false;
    return expected(error) === true;
  }
  if (expected instanceof RegExp) return expected.test(String(error?.message ?? error));
  if (typeof expected === "object") return Object.keys(expected).every((k) => util.isDeepStrictEqual(error?.[k], expected[k]) || (expected[k] instanceof RegExp && expected[k].test(error?.[k])));
  return false;
}

Object.assign(assert, {
  ok: assert,
  AssertionError,
  fail: (message = "Failed") => fail(undefined, undefined, message, "fail"),
  equal: (a, b, message) => a == b || fail(a, b, message, "=="),
  notEqual: (a, b, message) => a != b || fail(a, b, message, "!="),
  strictEqual: (a, b, message) => Object.is(a, b) || fail(a, b, message, "strictEqual"),
  notStrictEqual: (a, b, message) => !Object.is(a, b) || fail(a, b, message, "notStrictEqual"),
  deepEqual: (a, b, message) => util.isDeepStrictEqual(a, b) || fail(a, b, message, "deepEqual"),
  deepStrictEqual: (a, b, message) => util.isDeepStrictEqual(a, b) || fail(a, b, message, "deepStrictEqual"),
  notDeepStrictEqual: (a, b, message) => !util.isDeepStrictEqual(a, b) || fail(a, b, message, "notDeepStrictEqual"),
  notDeepEqual: (a, b, message) => !util.isDeepStrictEqual(a, b) || fail(a, b, message, "notDeepEqual"),
  match: (s, re, message) => re.test(s) || fail(s, re, message, "match"),
  doesNotMatch: (s, re, message) => !re.test(s) || fail(s, re, message, "doesNotMatch"),
  ifError(value) {
    if (value === null || value === undefined) return;
    const what = value instanceof Error ? value.message : inspect(value, 1);
    throw new AssertionError({ message: `ifError got unwanted exception: ${what}`, actual: value, expected: null, operator: "ifError" });
  },
  throws(fn, expected, message) {
    try {
      fn();
    } catch (e) {
      if (!matches(e, expected)) fail(e, expected, message ?? `The error did not match: ${inspect(e, 1)}`, "throws");
      return;
    }
    fail(undefined, expected, typeof expected === "string" ? expected : message ?? "Missing expected exception.", "throws");
  },
  doesNotThrow(fn, message) {
    try {
      fn();
    } catch (e) {
      fail(e, undefined, message ?? `Got unwanted exception: ${e?.message}`, "doesNotThrow");
    }
  },
  async doesNotReject(promiseOrFn, message) {
    try {
      await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
    } catch (e) {
      fail(e, undefined, message ?? `Got unwanted rejection: ${e?.message}`, "doesNotReject");
    }
  },
  async rejects(promiseOrFn, expected, message) {
    try {
      await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
    } catch (e) {
      if (!matches(e, expected)) fail(e, expected, message ?? `The rejection did not match: ${inspect(e, 1)}`, "rejects");
      return;
    }
    fail(undefined, expected, message ?? "Missing expected rejection.", "rejects");
  },
});
assert.strict = assert;

export default assert;
