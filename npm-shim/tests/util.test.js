const assert = require("assert");
assert.strictEqual(require("node:util"), require("util"));

async function handleEvent() {
  const util = require("util");
  // node:util/types, the same object as util.types.
  const types = require("node:util/types");
  assert.strictEqual(require("util/types"), types);
  assert.strictEqual(util.types, types);
  assert.ok(types.isDate(new Date()) && !types.isDate(Date.now()));
  assert.ok(types.isPromise(Promise.resolve()) && types.isRegExp(/x/) && types.isMap(new Map()));
  assert.ok(types.isUint8Array(Buffer.alloc(1)) && !types.isUint8Array(new Uint16Array(1)));
  assert.ok(types.isProxy(new Proxy({}, {})) && !types.isProxy({}));
  assert.ok(types.isAsyncFunction(async () => {}) && types.isGeneratorObject((function* () {})()));
  assert.ok(types.isArrayBufferView(new DataView(new ArrayBuffer(1))) && types.isBoxedPrimitive(Object(1)));
  assert.ok(types.isKeyObject(require("crypto").createSecretKey(Buffer.from("k"))) && !types.isKeyObject({}));
  assert.strictEqual(util.format("%s has %d items: %j", "cart", 3, { a: 1 }), 'cart has 3 items: {"a":1}');
  assert.strictEqual(util.format("100%% sure", "extra"), "100% sure extra");
  const legacy = (x, cb) => setTimeout(() => (x < 0 ? cb(new Error("negative")) : cb(null, x * 2)), 1);
  const doubled = util.promisify(legacy);
  assert.strictEqual(await doubled(21), 42);
  await assert.rejects(doubled(-1), /negative/);
  const back = util.callbackify(async (x) => x + 1);
  assert.strictEqual(await new Promise((resolve, reject) => back(1, (err, v) => (err ? reject(err) : resolve(v)))), 2);
  function Animal() {}
  Animal.prototype.speak = () => "...";
  function Dog() {}
  util.inherits(Dog, Animal);
  assert.strictEqual(new Dog().speak(), "...");
  assert.strictEqual(Dog.super_, Animal);
  assert.ok(util.types.isPromise(Promise.resolve()));
  assert.ok(util.types.isDate(new Date()));
  assert.ok(!util.types.isRegExp({}));
  assert.ok(util.isDeepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }));
  assert.ok(!util.isDeepStrictEqual({ a: 1 }, { a: "1" }));
  assert.strictEqual(new util.TextDecoder().decode(new util.TextEncoder().encode("héllo")), "héllo");
}
