// Web globals beyond fetch: Blob, File, FormData, ReadableStream (also node:stream/web).
const assert = require("assert");
assert.strictEqual(require("node:stream/web").ReadableStream, ReadableStream);
assert.strictEqual(require("buffer").Blob, Blob);

async function handleEvent() {
  const blob = new Blob(["chat", new Uint8Array([102, 110]), new Blob(["!"])], { type: "Text/Plain" });
  assert.strictEqual(blob.size, 7);
  assert.strictEqual(blob.type, "text/plain");
  assert.strictEqual(await blob.text(), "chatfn!");
  assert.strictEqual(await blob.slice(-3, -1).text(), "fn");
  assert.deepStrictEqual([...(await blob.bytes())].slice(0, 2), [99, 104]);
  assert.strictEqual(Object.prototype.toString.call(blob), "[object Blob]");
  assert.throws(() => new Blob("not iterable parts"), TypeError);

  const file = new File(["{}"], "a.json", { type: "application/json", lastModified: 42 });
  assert.ok(file instanceof Blob);
  assert.deepStrictEqual([file.name, file.lastModified, file.size], ["a.json", 42, 2]);

  const form = new FormData();
  form.append("a", "1");
  form.append("a", "2");
  form.append("upload", new Blob(["xyz"]), "x.txt");
  form.set("b", 3);
  assert.deepStrictEqual(form.getAll("a"), ["1", "2"]);
  assert.strictEqual(form.get("b"), "3");
  assert.strictEqual(form.get("upload").name, "x.txt");
  form.set("a", "only");
  assert.deepStrictEqual([...form.keys()], ["a", "upload", "b"]);
  form.delete("upload");
  assert.deepStrictEqual([...form], [["a", "only"], ["b", "3"]]);

  // A stream from a pulling source, read with a reader, then with for await.
  let n = 0;
  const counted = new ReadableStream({
    pull(controller) {
      n += 1;
      if (n > 3) controller.close();
      else controller.enqueue(n);
    },
  });
  const reader = counted.getReader();
  assert.ok(counted.locked);
  assert.deepStrictEqual(await reader.read(), { value: 1, done: false });
  reader.releaseLock();
  const rest = [];
  for await (const value of counted) rest.push(value);
  assert.deepStrictEqual(rest, [2, 3]);

  const failing = new ReadableStream({ start(controller) { controller.error(new Error("source broke")); } });
  await assert.rejects(failing.getReader().read(), /source broke/);
  const fromIterable = [];
  for await (const value of ReadableStream.from(["x", "y"])) fromIterable.push(value);
  assert.deepStrictEqual(fromIterable, ["x", "y"]);
  assert.throws(() => counted.tee(), { code: "ERR_CHATFN_NOT_AVAILABLE" });

  // Node's Readable.from takes a string or buffer as one chunk.
  const { Readable } = require("stream");
  const chunks = [];
  for await (const chunk of Readable.from(Buffer.from("abc"))) chunks.push(chunk.toString());
  assert.deepStrictEqual(chunks, ["abc"]);
}
