const assert = require("assert");
assert.strictEqual(require("node:stream"), require("stream"));

async function handleEvent() {
  const { Readable, Writable, Transform, PassThrough, pipeline } = require("stream");
  const chunks = [];
  for await (const chunk of Readable.from(["a", "b", "c"])) chunks.push(chunk);
  assert.deepStrictEqual(chunks, ["a", "b", "c"]);

  const upper = new Transform({ transform(chunk, _enc, cb) { cb(null, chunk.toString().toUpperCase()); } });
  const received = [];
  const sink = new Writable({ write(chunk, _enc, cb) { received.push(chunk.toString()); cb(); } });
  await new Promise((resolve, reject) => pipeline(Readable.from(["chat", "fn"]), upper, sink, (err) => (err ? reject(err) : resolve())));
  assert.deepStrictEqual(received, ["CHAT", "FN"]);

  const through = new PassThrough();
  const data = [];
  through.on("data", (c) => data.push(c.toString()));
  const ended = new Promise((resolve) => through.on("end", resolve));
  through.write("x");
  through.end("y");
  await ended;
  assert.deepStrictEqual(data, ["x", "y"]);

  const { StringDecoder } = require("string_decoder");
  const decoder = new StringDecoder("utf8");
  const euro = Buffer.from("\u20ac");
  assert.strictEqual(decoder.write(euro.subarray(0, 1)) + decoder.write(euro.subarray(1)), "\u20ac");

  const qs = require("querystring");
  assert.deepStrictEqual({ ...qs.parse("a=1&b=x%20y&a=2") }, { a: ["1", "2"], b: "x y" });
  assert.strictEqual(qs.stringify({ q: "chat fn", n: [1, 2] }), "q=chat%20fn&n=1&n=2");
  assert.strictEqual(require("os").platform(), "linux");
  assert.strictEqual(require("os").hostname(), "chatfn", "the host's name stays hidden");
}

// Packages written for Node inherit the old way: Stream.call(this) and util.inherits.
function OldStyle(options) {
  require("stream").Readable.call(this, options);
}
require("util").inherits(OldStyle, require("stream").Readable);
OldStyle.prototype._read = function () {
  this.push("old");
  this.push(null);
};
function OldEmitter() {
  require("events").call(this);
}
require("util").inherits(OldEmitter, require("events"));

async function handleEventOldStyle() {
  const chunks = [];
  for await (const c of new OldStyle()) chunks.push(c.toString());
  assert.deepStrictEqual(chunks, ["old"]);
  const e = new OldEmitter();
  let got = null;
  e.on("x", (v) => (got = v));
  e.emit("x", 5);
  assert.strictEqual(got, 5);
}
const originalHandleEvent = handleEvent;
handleEvent = async (...args) => {
  await originalHandleEvent(...args);
  await handleEventOldStyle();
};
