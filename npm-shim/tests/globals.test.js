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

  // performance: a clock from the isolate's start, marks and measures.
  const t0 = performance.now();
  assert.ok(t0 >= 0 && Math.abs(performance.timeOrigin + t0 - Date.now()) < 50, `${performance.timeOrigin} ${t0}`);
  performance.mark("start");
  await new Promise((r) => setTimeout(r, 5));
  const measured = performance.measure("waited", "start");
  assert.ok(measured.duration >= 4 && measured.entryType === "measure", JSON.stringify(measured));
  assert.deepStrictEqual(performance.getEntriesByName("start").map((e) => e.entryType), ["mark"]);
  performance.clearMarks();
  assert.strictEqual(performance.getEntriesByType("mark").length, 0);

  // MessageChannel: messages are cloned and arrive on the other port, later.
  const { port1, port2 } = new MessageChannel();
  const sent = { n: 1, nested: { list: [1, 2] } };
  const received = new Promise((resolve) => (port2.onmessage = (event) => resolve(event.data)));
  const viaNode = new Promise((resolve) => port1.on("message", resolve));
  port1.postMessage(sent);
  port2.postMessage("back");
  const got = await received;
  assert.deepStrictEqual(got, sent);
  assert.notStrictEqual(got, sent);
  assert.strictEqual(await viaNode, "back");

  // WebSocket exists, as in Node 22, and says it is not available here.
  assert.throws(() => new WebSocket("wss://example.com/"), { code: "ERR_CHATFN_NOT_AVAILABLE" });
}
