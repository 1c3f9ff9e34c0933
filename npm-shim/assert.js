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

/** Node's legacy ("loose") deep equality of assert.deepEqual: primitives compared with ==
 * (NaN equal to NaN), prototypes ignored, arrays only equal to arrays; cycles followed once. */
function looseDeepEqual(a, b, seen = new Map()) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") {
    return a == b || (a !== a && b !== b);
  }
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof RegExp || b instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, v]) => b.has(k) && looseDeepEqual(v, b.get(k), seen));
  }
  if (a instanceof Set && b instanceof Set) {
    return a.size === b.size && [...a].every((v) => b.has(v) || [...b].some((w) => looseDeepEqual(v, w, seen)));
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && looseDeepEqual(a[k], b[k], seen));
}

/** assert.CallTracker (deprecated in Node, still there): functions that count their calls. */
class CallTracker {
  #tracked = [];
  calls(fn = () => {}, exact = 1) {
    if (typeof fn === "number") [fn, exact] = [() => {}, fn];
    const entry = { fn, exact, calls: [] };
    this.#tracked.push(entry);
    const tracked = function (...args) {
      entry.calls.push({ thisArg: this, arguments: args });
      return fn.apply(this, args);
    };
    entry.tracked = tracked;
    return tracked;
  }
  getCalls(tracked) { return (this.#tracked.find((e) => e.tracked === tracked)?.calls ?? []).slice(); }
  reset(tracked) {
    for (const e of this.#tracked) if (tracked === undefined || e.tracked === tracked) e.calls.length = 0;
  }
  report() {
    return this.#tracked.filter((e) => e.calls.length !== e.exact).map((e) => ({
      message: `Expected the ${e.fn.name || "calls"} function to be executed ${e.exact} time(s) but was executed ${e.calls.length} time(s).`,
      actual: e.calls.length,
      expected: e.exact,
      operator: e.fn.name || "calls",
      stack: new Error().stack,
    }));
  }
  verify() {
    const wrong = this.report();
    if (wrong.length === 1) throw new AssertionError({ message: wrong[0].message, actual: wrong[0].actual, expected: wrong[0].expected, operator: wrong[0].operator });
    if (wrong.length > 1) throw new AssertionError({ message: "Functions were not called the expected number of times", operator: "verify" });
  }
}

/** An error a doesNotThrow/doesNotReject is told about (`expected`) is an AssertionError;
 * another one goes on as it was. */
function unwanted(e, expected, message, operator) {
  if (typeof expected === "string") [expected, message] = [undefined, expected];
  if (expected !== undefined && !matches(e, expected)) throw e;
  const detail = message === undefined ? "." : `: ${message}`;
  fail(e, expected, `Got unwanted ${operator === "doesNotReject" ? "rejection" : "exception"}${detail}\nActual message: "${e?.message}"`, operator);
}

Object.assign(assert, {
  ok: assert,
  AssertionError,
  fail: (message = "Failed") => fail(undefined, undefined, message, "fail"),
  equal: (a, b, message) => a == b || fail(a, b, message, "=="),
  notEqual: (a, b, message) => a != b || fail(a, b, message, "!="),
  strictEqual: (a, b, message) => Object.is(a, b) || fail(a, b, message, "strictEqual"),
  notStrictEqual: (a, b, message) => !Object.is(a, b) || fail(a, b, message, "notStrictEqual"),
  deepEqual: (a, b, message) => looseDeepEqual(a, b) || fail(a, b, message, "deepEqual"),
  deepStrictEqual: (a, b, message) => util.isDeepStrictEqual(a, b) || fail(a, b, message, "deepStrictEqual"),
  notDeepStrictEqual: (a, b, message) => !util.isDeepStrictEqual(a, b) || fail(a, b, message, "notDeepStrictEqual"),
  notDeepEqual: (a, b, message) => !looseDeepEqual(a, b) || fail(a, b, message, "notDeepEqual"),
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
  doesNotThrow(fn, expected, message) {
    try {
      fn();
    } catch (e) {
      unwanted(e, expected, message, "doesNotThrow");
    }
  },
  async doesNotReject(promiseOrFn, expected, message) {
    try {
      await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
    } catch (e) {
      unwanted(e, expected, message, "doesNotReject");
    }
  },
  CallTracker,
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
/** assert.strict: the same assertions, with equal and deepEqual (and their nots) strict. */
function strict(value, message) {
  assert(value, message);
}
Object.assign(strict, assert, {
  ok: strict,
  equal: assert.strictEqual,
  notEqual: assert.notStrictEqual,
  deepEqual: assert.deepStrictEqual,
  notDeepEqual: assert.notDeepStrictEqual,
});
strict.strict = strict;
assert.strict = strict;

export default assert;
