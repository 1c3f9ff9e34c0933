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

  const controller = new AbortController();
  let heard = null;
  controller.signal.addEventListener("abort", () => (heard = controller.signal.reason.name));
  controller.abort();
  assert.strictEqual(controller.signal.aborted, true);
  assert.strictEqual(heard, "AbortError");
  await assert.rejects(fetch("https://example.com/", { signal: controller.signal }), { name: "AbortError" });
  const timed = AbortSignal.timeout(5);
  await new Promise((resolve) => timed.addEventListener("abort", resolve));
  assert.strictEqual(timed.reason.name, "TimeoutError");
  assert.ok(AbortSignal.any([new AbortController().signal, AbortSignal.abort("why")]).aborted);
}
