const assert = require("assert");

async function handleEvent(event) {
  // An .mjs file: its namespace, with __esModule beside a default export (as Node gives it).
  const greet = require("./lib/greet.mjs");
  const before = greet.calls; // the module lives as long as the isolate: earlier attempts count
  assert.strictEqual(greet.default("ann"), "HELLO ANN!");
  assert.strictEqual(greet.__esModule, true);
  assert.strictEqual(greet.calls, before + 1, "live bindings: the namespace sees the module's own updates");
  assert.strictEqual(require("./lib/greet.mjs"), greet, "required again: the same namespace");
  // A "type": "module" package: its "module.exports" export is what require() answers.
  assert.deepStrictEqual(require("./lib/esm-only/dist/index.js"), { kind: "cjs-shaped" });
  // Node 22's syntax detection: a .js file of a package without "type" that is an ES module.
  assert.strictEqual(require("./lib/detected").answer, 42);
  assert.strictEqual((await import("./lib/detected/index.js")).answer, 42);
  // A package that says "commonjs" is taken at its word.
  assert.throws(() => require("./lib/says-cjs"), SyntaxError);
  // import() gets the same module instance.
  const imported = await import("./lib/greet.mjs");
  imported.default("bo");
  assert.strictEqual(greet.calls, before + 2);
  // Top-level await: refused, as Node refuses it.
  assert.throws(() => require("./lib/waits.mjs"), { code: "ERR_REQUIRE_ASYNC_MODULE" });
  assert.strictEqual((await import("./lib/waits.mjs")).ready, true);
}
