const assert = require("assert");
assert.strictEqual(require("node:buffer"), require("buffer"));

async function handleEvent() {
  const { Buffer } = require("buffer");
  assert.strictEqual(globalThis.Buffer, Buffer);
  const buffer = require("buffer");
  assert.strictEqual(buffer.atob("aGk="), "hi");
  assert.strictEqual(buffer.btoa("hi"), "aGk=");
  assert.strictEqual(buffer.Blob, Blob);
  assert.strictEqual(buffer.File, File);
  const b = Buffer.from("héllo wörld", "utf8");
  assert.ok(Buffer.isBuffer(b) && b instanceof Uint8Array);
  assert.strictEqual(b.toString(), "héllo wörld");
  assert.strictEqual(b.toString("hex"), "68c3a96c6c6f2077c3b6726c64");
  assert.strictEqual(Buffer.from("aGVsbG8", "base64").toString(), "hello");
  assert.strictEqual(Buffer.from("hello").toString("base64url"), "aGVsbG8");
  // Decoding as Node 24 does (each expected value is what it gave): either alphabet or both,
  // whitespace and junk skipped, the end at the first "="; hex up to the first bad pair.
  const latin1 = (text, encoding) => Buffer.from(text, encoding).toString("latin1");
  assert.strictEqual(latin1("aGVs!bG8", "base64"), "hello");
  assert.strictEqual(latin1("aGVs\fbG8", "base64"), "hello");
  assert.strictEqual(latin1("aGVs bG8=\n", "base64"), "hello");
  assert.strictEqual(latin1("aG-_bG8", "base64"), "ho\xbflo");
  assert.strictEqual(latin1("a+/_-A", "base64"), "k\xef\xff\xf8");
  assert.strictEqual(latin1("aGVsbG8=x", "base64"), "hello");
  assert.strictEqual(latin1("aGVsbA==bG8", "base64"), "hell");
  assert.strictEqual(latin1("aGVsbG8xY", "base64"), "hello1");
  assert.strictEqual(latin1("=aGVs", "base64"), "");
  assert.strictEqual(latin1("aGVsbG8+", "base64url"), "hello>");
  assert.strictEqual(latin1("abc", "hex"), "\xab");
  assert.strictEqual(latin1("0g12", "hex"), "");
  assert.strictEqual(latin1("12zz34", "hex"), "\x12");
  assert.strictEqual(latin1("C3a9", "hex"), "\xc3\xa9");
  const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x00]);
  assert.strictEqual(bytes.toString("base64"), "+/+/AA==");
  assert.strictEqual(bytes.toString("base64url"), "-_-_AA");
  assert.strictEqual(bytes.toString("hex"), "fbffbf00");
  assert.strictEqual(Buffer.from(new Uint16Array([0x4241]).buffer).toString("base64"), "QUI=");
  // A TypedArray is taken element by element, each modulo 256, as Node 24 does (not its bytes).
  assert.strictEqual(Buffer.from(new Uint16Array([1, 256, 513])).toString("hex"), "010001");
  assert.strictEqual(Buffer.from(new Float32Array([1.5, -1])).toString("hex"), "01ff");
  assert.strictEqual(Buffer.from([257, -1, "3", 1.9]).toString("hex"), "01ff0301");
  assert.strictEqual(Buffer.from(new DataView(new ArrayBuffer(2))).length, 0);
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
