// node:os: what functions commonly read, with Node's types and shapes.
const assert = require("assert");
const os = require("node:os");
assert.strictEqual(require("os"), os);

async function handleEvent() {
  assert.strictEqual(os.EOL, "\n");
  assert.strictEqual(typeof os.platform(), "string");
  assert.strictEqual(os.platform(), process.platform);
  assert.strictEqual(typeof os.hostname(), "string");
  assert.strictEqual(typeof os.tmpdir(), "string");
  assert.ok(Array.isArray(os.cpus()));
  assert.strictEqual(typeof os.totalmem(), "number");
  assert.strictEqual(typeof os.freemem(), "number");
  assert.strictEqual(typeof os.type(), "string");
  assert.strictEqual(typeof os.release(), "string");
  assert.strictEqual(typeof os.arch(), "string");
  assert.strictEqual(os.arch(), process.arch);
  assert.strictEqual(os.endianness(), "LE");
}
