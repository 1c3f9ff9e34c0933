// process: the app's own environment (never the host's), nextTick, hrtime, and what is not
// available in a sandbox.
const assert = require("assert");
assert.strictEqual(require("node:process"), process);
assert.strictEqual(require("process"), process);

async function handleEvent() {
  assert.strictEqual(process.env.TEST_SERVER !== undefined, true, "the app's environment");
  assert.strictEqual(process.env.PATH, undefined, "nothing of the host's environment");
  assert.strictEqual(process.env.HOME, undefined);
  assert.strictEqual(Object.prototype.toString.call(process), "[object process]");

  // nextTick runs after the current code, before timers, with its arguments.
  const order = [];
  setTimeout(() => order.push("timeout"), 0);
  process.nextTick((a, b) => order.push(`tick ${a}${b}`), 1, 2);
  order.push("sync");
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepStrictEqual(order, ["sync", "tick 12", "timeout"]);

  // hrtime: [seconds, nanoseconds], and a difference from an earlier reading.
  const start = process.hrtime();
  assert.strictEqual(start.length, 2);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const [sec, nsec] = process.hrtime(start);
  assert.ok(sec === 0 && nsec >= 4e6, `hrtime difference ${sec}s ${nsec}ns`);
  assert.strictEqual(typeof process.hrtime.bigint(), "bigint");
  assert.ok(process.uptime() >= 0);

  assert.strictEqual(typeof process.version, "string");
  assert.ok(process.version.startsWith("v"));
  assert.throws(() => process.exit(1), { code: "ERR_CHATFN_NOT_AVAILABLE" });
}
