const assert = require("assert");
assert.strictEqual(require("node:buffer"), require("buffer"));

async function handleEvent() {
  const { Buffer } = require("buffer");
  assert.strictEqual(globalThis.Buffer, Buffer);
  const b = Buffer.from("héllo wörld", "utf8");
  assert.ok(Buffer.isBuffer(b) && b instanceof Uint8Array);
  assert.strictEqual(b.toString(), "héllo wörld");
  assert.strictEqual(b.toString("hex"), "68c3a96c6c6f2077c3b6726c64");
  assert.strictEqual(Buffer.from("aGVsbG8", "base64").toString(), "hello");
  assert.strictEqual(Buffer.from("hello").toString("base64url"), "aGVsbG8");
  assert.strictEqual(Buffer.from("hi", "utf16le").toString("hex"), "68006900");
  assert.strictEqual(Buffer.byteLength("héllo"), 6);
  const sub = b.subarray(0, 5);
  assert.ok(Buffer.isBuffer(sub), "subarray keeps the Buffer type");
  assert.strictEqual(b.slice(1, 3).toString("hex"), "c3a9");
  assert.strictEqual(Buffer.concat([Buffer.from("ab"), Buffer.from("cd")]).toString(), "abcd");
  assert.ok(Buffer.from("abc").equals(Buffer.from([97, 98, 99])));
  assert.strictEqual(Buffer.compare(Buffer.from("a"), Buffer.from("b")), -1);
  assert.strictEqual(Buffer.alloc(4, "ab").toString(), "abab");
  assert.strictEqual(Buffer.from("chat functions").indexOf("func"), 5);
  const n = Buffer.alloc(8);
  n.writeUInt32BE(0xdeadbeef, 0);
  n.writeInt16LE(-2, 4);
  assert.strictEqual(n.readUInt32BE(0), 0xdeadbeef);
  assert.strictEqual(n.readInt16LE(4), -2);
  assert.strictEqual(n.readUint32BE(0), 0xdeadbeef, "lower-case alias");
  assert.throws(() => n.readUInt32BE(6), { code: "ERR_OUT_OF_RANGE" });
  assert.deepStrictEqual(Buffer.from("hi").toJSON(), { type: "Buffer", data: [104, 105] });
  assert.strictEqual(Buffer.from(Buffer.from("x").toJSON()).toString(), "x");
  assert.strictEqual(new Buffer("legacy").toString(), "legacy");
  const copyTarget = Buffer.alloc(3);
  Buffer.from("xyz").copy(copyTarget, 1, 0, 2);
  assert.strictEqual(copyTarget.toString("hex"), "007879");
  assert.strictEqual(require("crypto").createHash("sha256").update(Buffer.from("abc")).digest("hex").slice(0, 8), "ba7816bf");
}
