// Web globals beside the Node built-ins.
const assert = require("assert");

async function handleEvent() {
  assert.strictEqual(btoa("hello"), "aGVsbG8=");
  assert.strictEqual(atob("aGVsbG8="), "hello");
  assert.throws(() => btoa("\u{1F600}"), { name: "InvalidCharacterError" });
  const original = { a: [1, 2], d: new Date(0), m: new Map([["k", 1]]) };
  const copy = structuredClone(original);
  assert.notStrictEqual(copy, original);
  assert.strictEqual(copy.m.get("k"), 1);
  assert.strictEqual(copy.d.getTime(), 0);
  assert.strictEqual(typeof queueMicrotask, "function");
  assert.strictEqual(new TextDecoder().decode(new TextEncoder().encode("ü")), "ü");
  assert.ok(new Response("x").ok);
}
