const assert = require("assert");
assert.strictEqual(require("node:events"), require("events"));

async function handleEvent() {
  const EventEmitter = require("events");
  assert.strictEqual(EventEmitter.EventEmitter, EventEmitter);
  // Its methods are enumerable, as Node's: packages copy them with for...in.
  const copied = {};
  for (const key in EventEmitter.prototype) copied[key] = EventEmitter.prototype[key];
  for (const method of ["on", "once", "emit", "off", "removeAllListeners", "listenerCount"]) {
    assert.strictEqual(typeof copied[method], "function", method);
  }
  const e = new EventEmitter();
  const seen = [];
  e.on("x", (a, b) => seen.push(["on", a, b]));
  e.prependListener("x", () => seen.push(["first"]));
  e.once("x", () => seen.push(["once"]));
  assert.strictEqual(e.emit("x", 1, 2), true);
  e.emit("x", 3, 4);
  assert.deepStrictEqual(seen, [["first"], ["on", 1, 2], ["once"], ["first"], ["on", 3, 4]]);
  assert.strictEqual(e.listenerCount("x"), 2);
  assert.strictEqual(e.emit("nothing"), false);
  assert.throws(() => e.emit("error", new Error("boom")), /boom/);
  assert.throws(() => e.on("x", 42), { code: "ERR_INVALID_ARG_TYPE" });

  class Sub extends EventEmitter {}
  const s = new Sub();
  const onceDone = EventEmitter.once(s, "ready");
  s.emit("ready", "yes");
  assert.deepStrictEqual(await onceDone, ["yes"]);
  const listener = () => {};
  s.on("y", listener).off("y", listener);
  assert.deepStrictEqual(s.eventNames(), []);
}
