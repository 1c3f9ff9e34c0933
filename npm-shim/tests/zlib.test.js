// node:zlib: the gzip/deflate family as Node documents it, sync, callback and streams.
const assert = require("assert");
const zlib = require("node:zlib");
assert.strictEqual(require("zlib"), zlib);

async function handleEvent() {
  const text = "hello, chat functions! ".repeat(200);
  const gz = zlib.gzipSync(text);
  assert.deepStrictEqual([...gz.subarray(0, 2)], [0x1f, 0x8b], "a gzip header");
  assert.ok(gz.length < text.length / 5);
  assert.strictEqual(zlib.gunzipSync(gz).toString(), text);
  assert.strictEqual(zlib.unzipSync(gz).toString(), text, "unzip detects gzip");
  assert.strictEqual(zlib.inflateSync(zlib.deflateSync(Buffer.from(text))).toString(), text);
  assert.strictEqual(zlib.unzipSync(zlib.deflateSync(text)).toString(), text, "unzip detects zlib");
  assert.strictEqual(zlib.inflateRawSync(zlib.deflateRawSync(text)).toString(), text);

  // Corrupt input is an error, not a crash.
  assert.throws(() => zlib.gunzipSync(Buffer.from("not gzip at all")), (e) => {
    assert.deepStrictEqual([e.name, e.code, e.errno], ["Error", "Z_DATA_ERROR", -3]);
    assert.ok(!e.message.includes("Z_DATA_ERROR"), e.message);
    return true;
  });
  assert.throws(() => zlib.brotliCompressSync("x"), (e) => e.code === "ERR_METHOD_NOT_IMPLEMENTED" && e.stack.startsWith("Error [ERR_METHOD_NOT_IMPLEMENTED]: Brotli"));

  // Callback form.
  const back = await new Promise((resolve, reject) => zlib.gzip(text, (e, z) => (e ? reject(e) : zlib.gunzip(z, (e2, t) => (e2 ? reject(e2) : resolve(t))))));
  assert.strictEqual(back.toString(), text);

  // Streams: what goes through createGzip comes back out of createGunzip.
  const compressed = await new Promise((resolve, reject) => {
    const out = [];
    const gzip = zlib.createGzip();
    gzip.on("data", (c) => out.push(c)).on("end", () => resolve(Buffer.concat(out))).on("error", reject);
    gzip.write(text.slice(0, 1000));
    gzip.end(text.slice(1000));
  });
  assert.strictEqual(zlib.gunzipSync(compressed).toString(), text);

  for (const name of ["zstdCompressSync", "createZstdCompress", "createZstdDecompress"]) {
    assert.throws(() => zlib[name]("x"), { code: "ERR_METHOD_NOT_IMPLEMENTED", message: "Zstandard is not available in chatfn" });
  }
  assert.strictEqual(typeof zlib.constants.Z_BEST_COMPRESSION, "number");
  assert.strictEqual(zlib.Z_BEST_COMPRESSION, zlib.constants.Z_BEST_COMPRESSION);
}
