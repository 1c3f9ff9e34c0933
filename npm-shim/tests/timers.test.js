// Timers as Node documents them, and chatfn's rule that an invocation's timers end with it.
const assert = require("assert");
const timers = require("node:timers");
assert.strictEqual(require("timers"), timers);

const sleep = (ms, value) => new Promise((resolve) => setTimeout(resolve, ms, value));

async function handleEvent() {
  assert.strictEqual(timers.setTimeout, setTimeout);
  assert.strictEqual(timers.clearInterval, clearInterval);

  // Order by delay, then by creation; arguments are passed on.
  const order = [];
  setTimeout((a, b) => order.push(`late ${a}${b}`), 20, "x", "y");
  setTimeout(() => order.push("early"), 1);
  setImmediate(() => order.push("immediate"));
  const cancelled = setTimeout(() => order.push("cancelled"), 5);
  clearTimeout(cancelled);
  clearTimeout(undefined); // a no-op, as in Node
  await sleep(40);
  assert.deepStrictEqual(order.filter((o) => o !== "immediate"), ["early", "late xy"]);
  assert.ok(order.includes("immediate"));
  assert.ok(!order.includes("cancelled"));

  // An interval repeats until cleared, also from inside its own callback.
  let ticks = 0;
  await new Promise((resolve) => {
    const interval = setInterval(() => {
      ticks += 1;
      if (ticks === 3) {
        clearInterval(interval);
        resolve();
      }
    }, 2);
  });
  await sleep(10);
  assert.strictEqual(ticks, 3);

  // A timer set inside a timer's callback fires within the same invocation.
  assert.strictEqual(await new Promise((resolve) => setTimeout(() => setTimeout(() => resolve("nested"), 1), 1)), "nested");

  // timers/promises resolves with the value given.
  const { setTimeout: wait, setImmediate: immediate } = require("timers/promises");
  assert.strictEqual(await wait(2, "value"), "value");
  assert.strictEqual(await immediate("now"), "now");

  // A callback that is not a function is refused with Node's code.
  assert.throws(() => setTimeout("code as a string", 1), { code: "ERR_INVALID_ARG_TYPE" });

  // Left pending: cancelled when this invocation is answered (the engine tests check that it
  // never runs in a later one).
  setInterval(() => {}, 1000);
  setTimeout(() => {}, 3600000);
}
