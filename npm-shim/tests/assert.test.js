// node:assert as Node documents it: each assertion passes on what it should and throws an
// AssertionError (code ERR_ASSERTION) on what it should not.
const assert = require("node:assert");
assert.strictEqual(require("assert"), assert);
assert.strictEqual(require("assert/strict"), assert.strict);

function fails(fn, operator) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof assert.AssertionError)) throw new Error(`not an AssertionError: ${e}`);
    if (e.code !== "ERR_ASSERTION") throw new Error(`code ${e.code}`);
    if (operator && e.operator !== operator) throw new Error(`operator ${e.operator}, expected ${operator}`);
    return e;
  }
  throw new Error("did not throw");
}

async function handleEvent() {
  // ifError: passes null and undefined, throws anything else as an AssertionError.
  assert.ifError(null);
  assert.ifError(undefined);
  assert.throws(() => assert.ifError(new Error("boom")), { code: "ERR_ASSERTION", operator: "ifError", message: "ifError got unwanted exception: boom" });
  assert.throws(() => assert.ifError("text"), { code: "ERR_ASSERTION" });
  assert.doesNotMatch("abc", /x/);
  assert.throws(() => assert.doesNotMatch("abc", /b/), { code: "ERR_ASSERTION", operator: "doesNotMatch" });
  assert.notDeepEqual({ a: 1 }, { a: 2 });
  assert.throws(() => assert.notDeepEqual({ a: 1 }, { a: 1 }), { code: "ERR_ASSERTION" });
  await assert.doesNotReject(Promise.resolve(1));
  await assert.rejects(assert.doesNotReject(Promise.reject(new Error("no"))), { code: "ERR_ASSERTION", operator: "doesNotReject" });
  assert(true);
  assert.ok(1);
  fails(() => assert(false));
  fails(() => assert.ok(0, "zero"));
  assert.strictEqual(fails(() => assert.ok(false, "custom message")).message, "custom message");

  assert.equal(1, "1");
  fails(() => assert.equal(1, 2));
  assert.notEqual(1, 2);
  assert.strictEqual(NaN, NaN);
  fails(() => assert.strictEqual(1, "1"), "strictEqual");
  assert.notStrictEqual(1, "1");

  assert.deepStrictEqual({ a: [1, { b: 2 }], c: new Date(0) }, { a: [1, { b: 2 }], c: new Date(0) });
  fails(() => assert.deepStrictEqual({ a: 1 }, { a: "1" }), "deepStrictEqual");
  fails(() => assert.deepStrictEqual([1, 2], [1, 2, 3]));
  assert.deepStrictEqual(new Map([[1, { x: 1 }]]), new Map([[1, { x: 1 }]]));
  assert.deepStrictEqual(new Set([1, 2]), new Set([1, 2]));
  assert.notDeepStrictEqual({ a: 1 }, { a: 2 });
  assert.deepEqual({ a: 1 }, { a: 1 });

  assert.throws(() => { throw new TypeError("bad thing"); }, TypeError);
  assert.throws(() => { throw new Error("bad thing"); }, /bad/);
  assert.throws(() => { throw Object.assign(new Error("x"), { code: "E_X" }); }, { code: "E_X" });
  assert.throws(() => { throw new Error("x"); }, (e) => e.message === "x");
  fails(() => assert.throws(() => {}));
  fails(() => assert.throws(() => { throw new Error("other"); }, /bad/));
  assert.doesNotThrow(() => {});
  fails(() => assert.doesNotThrow(() => { throw new Error("x"); }));

  await assert.rejects(Promise.reject(new Error("no")), /no/);
  await assert.rejects(async () => { throw new RangeError("r"); }, RangeError);
  let missed = false;
  try {
    await assert.rejects(Promise.resolve(1));
  } catch (e) {
    missed = e instanceof assert.AssertionError;
  }
  assert.ok(missed, "rejects fails on a resolved promise");

  assert.match("abc", /b/);
  fails(() => assert.match("abc", /z/));
  fails(() => assert.fail("boom"), "fail");
  assert.strictEqual(fails(() => assert.fail("boom")).message, "boom");

  // deepEqual is Node's loose ("legacy") comparison; assert.strict's is strict.
  assert.deepEqual(1, "1");
  assert.deepEqual({ a: 1, d: new Date(5) }, { a: "1", d: new Date(5) });
  assert.deepEqual(Object.create(null), {});
  assert.deepEqual(NaN, NaN);
  fails(() => assert.deepEqual([1], { 0: 1 }), "deepEqual");
  fails(() => assert.notDeepEqual({ a: 1 }, { a: "1" }), "notDeepEqual");
  fails(() => assert.strict.equal(1, "1"), "strictEqual");
  fails(() => assert.strict.deepEqual({ a: 1 }, { a: "1" }), "deepStrictEqual");
  assert.strictEqual(assert.strict.strict, assert.strict);
  assert.strict(true);
  // doesNotThrow(fn, error): the error it names is an AssertionError; another goes on as it was.
  assert.throws(() => assert.doesNotThrow(() => { throw new TypeError("x"); }, RangeError), TypeError);
  const unwanted = fails(() => assert.doesNotThrow(() => { throw new TypeError("x"); }, TypeError), "doesNotThrow");
  assert.strictEqual(unwanted.message, 'Got unwanted exception.\nActual message: "x"');
  await assert.rejects(assert.doesNotReject(Promise.reject(new TypeError("y")), RangeError), TypeError);
  // CallTracker: calls counted, verify() says which were not.
  const tracker = new assert.CallTracker();
  const twice = tracker.calls((n) => n * 2, 2);
  assert.strictEqual(twice(21), 42);
  assert.strictEqual(tracker.report().length, 1);
  fails(() => tracker.verify());
  twice(1);
  tracker.verify();
  assert.deepStrictEqual(tracker.getCalls(twice).map((c) => c.arguments), [[21], [1]]);
}
