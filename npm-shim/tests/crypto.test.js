const assert = require("assert");
// The Firebase tests' throwaway key and certificate, copied beside this file by the harness.
const TEST_KEY = require("fs").readFileSync(`${__dirname}/fixtures/test-key.pem`, "utf8");
const TEST_CERT = require("fs").readFileSync(`${__dirname}/fixtures/test-cert.pem`, "utf8");
assert.strictEqual(require("node:crypto"), require("crypto"));

async function handleEvent() {
  const crypto = require("crypto");
  // hash.copy(): the data so far, going on separately.
  const partial = crypto.createHash("sha256").update("a");
  const copy = partial.copy();
  assert.strictEqual(partial.update("bc").digest("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.strictEqual(copy.digest("hex"), crypto.createHash("sha256").update("a").digest("hex"));
  assert.throws(() => partial.copy(), { code: "ERR_CRYPTO_HASH_FINALIZED" });
  // Sign and Verify are writable streams: write and end feed them like update.
  const signer = crypto.createSign("SHA256");
  assert.ok(signer instanceof require("stream").Writable);
  signer.write("hello ");
  signer.end("world");
  const streamed = signer.sign(TEST_KEY);
  const verifier = crypto.createVerify("SHA256");
  verifier.write(Buffer.from("hello world"));
  verifier.end();
  assert.ok(verifier.verify(TEST_CERT, streamed));
  assert.ok(crypto.createVerify("SHA256").update("hello ").update("world").verify(TEST_CERT, streamed));
  assert.strictEqual(crypto.createHash("sha256").update("abc").digest("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.strictEqual(crypto.createHash("sha1").update("a").update("bc").digest("base64"), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  assert.strictEqual(crypto.createHash("md5").update("").digest("hex"), "d41d8cd98f00b204e9800998ecf8427e");
  assert.strictEqual(
    crypto.createHmac("sha256", "key").update("The quick brown fox jumps over the lazy dog").digest("hex"),
    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
  );
  assert.ok(crypto.createHash("sha512").update("x").digest() instanceof Uint8Array);
  assert.throws(() => crypto.createHash("whirlpool"), /Digest method not supported/);
  const h = crypto.createHash("sha256");
  h.digest();
  assert.throws(() => h.digest(), { code: "ERR_CRYPTO_HASH_FINALIZED" });

  const a = crypto.randomBytes(32);
  const b = crypto.randomBytes(32);
  assert.strictEqual(a.length, 32);
  assert.ok(!crypto.timingSafeEqual(a, b), "two random draws differ");
  assert.ok(crypto.timingSafeEqual(a, a));
  assert.throws(() => crypto.timingSafeEqual(a, crypto.randomBytes(1)), { code: "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH" });
  const id = crypto.randomUUID();
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notStrictEqual(id, crypto.randomUUID());
  for (let i = 0; i < 50; i++) {
    const n = crypto.randomInt(10, 13);
    assert.ok(n >= 10 && n < 13, `randomInt gave ${n}`);
  }
  const arr = globalThis.crypto.getRandomValues(new Uint32Array(4));
  assert.ok(arr.some((x) => x !== 0));
  assert.match(globalThis.crypto.randomUUID(), /^[0-9a-f-]{36}$/);
  // RSA: a test key and a self-signed certificate for it.
  const privateKey = crypto.createPrivateKey(TEST_KEY);
  assert.strictEqual(privateKey.type, "private");
  assert.strictEqual(privateKey.asymmetricKeyType, "rsa");
  assert.strictEqual(privateKey.asymmetricKeyDetails.modulusLength, 2048);
  const signature = crypto.createSign("RSA-SHA256").update("header.payload").sign(privateKey, "base64");
  assert.ok(crypto.createVerify("RSA-SHA256").update("header.payload").verify(TEST_CERT, signature, "base64"), "verifies with the certificate");
  assert.ok(!crypto.createVerify("RSA-SHA256").update("header.payl0ad").verify(TEST_CERT, signature, "base64"), "tampered data fails");
  const publicKey = crypto.createPublicKey(TEST_CERT);
  assert.strictEqual(publicKey.type, "public");
  const spkiPem = publicKey.export({ format: "pem", type: "spki" });
  assert.match(spkiPem, /^-----BEGIN PUBLIC KEY-----/);
  assert.ok(crypto.verify("sha256", Buffer.from("x"), spkiPem, crypto.sign("sha256", Buffer.from("x"), TEST_KEY)), "one-shot sign/verify through an exported SPKI");
  assert.ok(crypto.createPublicKey(privateKey).equals(publicKey), "the public half of the private key is the certificate's key");
  assert.throws(() => crypto.createPrivateKey("not a key"), /DECODER/);
  assert.throws(() => crypto.createCipheriv("aes-256-gcm", Buffer.alloc(32), Buffer.alloc(12)), { code: "ERR_METHOD_NOT_IMPLEMENTED" });
  const key = crypto.createSecretKey(Buffer.from("key"));
  assert.strictEqual(key.type, "secret");
  assert.strictEqual(key.symmetricKeySize, 3);
  assert.ok(key instanceof crypto.KeyObject);
  assert.strictEqual(
    crypto.createHmac("sha256", key).update("The quick brown fox jumps over the lazy dog").digest("hex"),
    "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
    "HMAC takes a KeyObject too",
  );
}
