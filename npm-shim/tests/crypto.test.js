const assert = require("assert");
// The Firebase tests' throwaway key and certificate, copied beside this file by the harness.
const TEST_KEY = require("fs").readFileSync(`${__dirname}/fixtures/test-key.pem`, "utf8");
const TEST_CERT = require("fs").readFileSync(`${__dirname}/fixtures/test-cert.pem`, "utf8");
assert.strictEqual(require("node:crypto"), require("crypto"));

// EC keys made by Node 20 (throwaway), with signatures Node made with them: chatfn must read
// the keys, verify Node's signatures, and make signatures Node's checks accept (DER by default).
const EC = {
  "p256Sec1": "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEILA2A6w58YxW7iuIMDw/qyo9ED0K9gMu9YlL2jISo0mNoAoGCCqGSM49\nAwEHoUQDQgAEX0yI7Dl+/XEgocImVEEZtAaarB0imjBFq2CEIBgpuvIjABwG+pJ7\nlgWP/3WLpg4EdsxfcZA5tA0+WnCRtH8cRA==\n-----END EC PRIVATE KEY-----\n",
  "p256Spki": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEX0yI7Dl+/XEgocImVEEZtAaarB0i\nmjBFq2CEIBgpuvIjABwG+pJ7lgWP/3WLpg4EdsxfcZA5tA0+WnCRtH8cRA==\n-----END PUBLIC KEY-----\n",
  "p256Pkcs8": "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsDYDrDnxjFbuK4gw\nPD+rKj0QPQr2Ay71iUvaMhKjSY2hRANCAARfTIjsOX79cSChwiZUQRm0BpqsHSKa\nMEWrYIQgGCm68iMAHAb6knuWBY//dYumDgR2zF9xkDm0DT5acJG0fxxE\n-----END PRIVATE KEY-----\n",
  "p256Jwk": {
    "kty": "EC",
    "x": "X0yI7Dl-_XEgocImVEEZtAaarB0imjBFq2CEIBgpuvI",
    "y": "IwAcBvqSe5YFj_91i6YOBHbMX3GQObQNPlpwkbR_HEQ",
    "crv": "P-256",
    "d": "sDYDrDnxjFbuK4gwPD-rKj0QPQr2Ay71iUvaMhKjSY0"
  },
  "p256SigDer": "MEYCIQCuZgkj+g8SpQWgMJsKHymwZ2go99IBcl8/1nHji5l4ZQIhALaxhjn7+NCttxXNlJC3NP5K0h+bvvGblmU7UEjDo58n",
  "p256SigP1363": "gKFdaygCfiCVQ5N3Z2HSTZK1dRy+csRKMNGYDfeKU9u9TTFP98XK95jmLmmwtcL49/7NYest7e2SQSpiIR/I8g==",
  "p384Pkcs8": "-----BEGIN PRIVATE KEY-----\nMIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBzLYgv8JA9u3dJPfvW\npkCv89n78G2bwZBbTdNAc4vIUTSTfJmw9ytm01cOtw+fyIahZANiAAQyTRt1tIlD\nbVqTGosF+Fw1yYmY5sD7wdY2u28D8H7LZSpq86khI02bvuqnkyHAUFoLBYzzOCkA\nug1Fq35+DQ7A0c3+s2BfM+XX3Furp2f224lXpGXU5Y3tArsdJVPf8CM=\n-----END PRIVATE KEY-----\n",
  "p384Spki": "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEMk0bdbSJQ21akxqLBfhcNcmJmObA+8HW\nNrtvA/B+y2UqavOpISNNm77qp5MhwFBaCwWM8zgpALoNRat+fg0OwNHN/rNgXzPl\n19xbq6dn9tuJV6Rl1OWN7QK7HSVT3/Aj\n-----END PUBLIC KEY-----\n",
  "p384SigDer": "MGYCMQCMuv07D8r/PhGsAXapmyxKJzF1Thktictx+m3xPzsOwMaWEmm16wznbc1LaU0lwtcCMQC9XnCRhWpA3Yh5dcMBp2qczC9GGIhBPP0Qy/AVskx7/qs/VW5ri9RHqbJK8m5KI5I="
};

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
  assert.throws(() => crypto.createPrivateKey("not a key"), /DECODER/, "a failed parse is not remembered");
  // A key text is parsed once, yet each call makes a KeyObject of its own, and what one
  // exports never changes another's key.
  const again = crypto.createPublicKey(TEST_CERT);
  assert.notStrictEqual(again, publicKey);
  assert.ok(again.equals(publicKey));
  again.export({ format: "der", type: "pkcs1" }).fill(0);
  assert.ok(crypto.createVerify("RSA-SHA256").update("header.payload").verify(crypto.createPublicKey(TEST_CERT), signature, "base64"), "the remembered key is intact");
  assert.strictEqual(crypto.createPublicKey(TEST_KEY).type, "public", "the same text as a public key");
  assert.strictEqual(crypto.createPrivateKey(TEST_KEY).type, "private", "and as a private key again");
  // AES-GCM and AES-CBC, against what Node 20 made with the same keys.
  const gcmKey = Buffer.alloc(32, 7);
  const gcmIv = Buffer.alloc(12, 9);
  const sealer = crypto.createCipheriv("aes-256-gcm", gcmKey, gcmIv);
  sealer.setAAD(Buffer.from("header"));
  const sealed = Buffer.concat([sealer.update("secret message", "utf8"), sealer.final()]);
  assert.strictEqual(sealed.toString("base64"), "VODn5tuE4QzFEbhZgY8=");
  assert.strictEqual(sealer.getAuthTag().toString("base64"), "wyzKO9VR2v9ZSK6PYx0e6A==");
  const opener = crypto.createDecipheriv("aes-256-gcm", gcmKey, gcmIv);
  opener.setAAD(Buffer.from("header"));
  opener.setAuthTag(Buffer.from("wyzKO9VR2v9ZSK6PYx0e6A==", "base64"));
  assert.strictEqual(opener.update(sealed, undefined, "utf8") + opener.final("utf8"), "secret message");
  const forged = crypto.createDecipheriv("aes-256-gcm", gcmKey, gcmIv);
  forged.setAAD(Buffer.from("other header"));
  forged.setAuthTag(Buffer.from("wyzKO9VR2v9ZSK6PYx0e6A==", "base64"));
  forged.update(sealed);
  assert.throws(() => forged.final(), /unable to authenticate data/);
  const cbc = crypto.createCipheriv("aes-128-cbc", Buffer.alloc(16, 1), Buffer.alloc(16, 2));
  const cbcHex = cbc.update("hello cbc world, more than a block", "utf8", "hex") + cbc.final("hex");
  assert.strictEqual(cbcHex, "c077c500fede215ee8bfe3e96aa960f250e0c1c585afbae3d3d5413523be0cc3809617c7d5cabac907fc6026f4007a1f");
  const uncbc = crypto.createDecipheriv("aes-128-cbc", Buffer.alloc(16, 1), Buffer.alloc(16, 2));
  assert.strictEqual(uncbc.update(cbcHex, "hex", "utf8") + uncbc.final("utf8"), "hello cbc world, more than a block");
  const wrongKey = crypto.createDecipheriv("aes-128-cbc", Buffer.alloc(16, 3), Buffer.alloc(16, 2));
  wrongKey.update(cbcHex, "hex");
  assert.throws(() => wrongKey.final(), /bad decrypt/);
  assert.throws(() => crypto.createCipheriv("aes-256-gcm", Buffer.alloc(16), gcmIv), /Invalid key length/);
  assert.throws(() => crypto.createCipheriv("chacha20-poly1305", Buffer.alloc(32), gcmIv), /Unknown cipher/);
  assert.ok(crypto.getCiphers().includes("aes-256-gcm"));
  // EC: P-256 from SEC1, PKCS#8 and SPKI PEM, and JWK; P-384 from PKCS#8.
  const ecPrivate = crypto.createPrivateKey(EC.p256Sec1);
  assert.strictEqual(ecPrivate.asymmetricKeyType, "ec");
  assert.deepStrictEqual(ecPrivate.asymmetricKeyDetails, { namedCurve: "prime256v1" });
  assert.ok(crypto.createPrivateKey(EC.p256Pkcs8).equals(ecPrivate), "PKCS#8 and SEC1 hold the same key");
  const ecPublic = crypto.createPublicKey(EC.p256Spki);
  assert.ok(crypto.createPublicKey(ecPrivate).equals(ecPublic), "the public half of the private key");
  assert.ok(crypto.createVerify("SHA256").update("signed by node").verify(ecPublic, EC.p256SigDer, "base64"), "Node's DER signature verifies");
  assert.ok(crypto.verify("sha256", Buffer.from("signed by node"), { key: ecPublic, dsaEncoding: "ieee-p1363" }, Buffer.from(EC.p256SigP1363, "base64")), "Node's IEEE P1363 signature verifies");
  assert.ok(!crypto.createVerify("SHA256").update("signed by nobody").verify(ecPublic, EC.p256SigDer, "base64"), "other data fails");
  const ecSignature = crypto.createSign("SHA256").update("signed by chatfn").sign(EC.p256Sec1);
  assert.strictEqual(ecSignature[0], 0x30, "a DER SEQUENCE by default");
  assert.ok(crypto.verify("sha256", Buffer.from("signed by chatfn"), EC.p256Spki, ecSignature));
  const fixed = crypto.sign("sha256", Buffer.from("x"), { key: ecPrivate, dsaEncoding: "ieee-p1363" });
  assert.strictEqual(fixed.length, 64, "r || s");
  // JWK: exported as Node exports it, and read back.
  assert.deepStrictEqual(ecPrivate.export({ format: "jwk" }), EC.p256Jwk);
  const { d, ...publicJwk } = EC.p256Jwk;
  assert.deepStrictEqual(ecPublic.export({ format: "jwk" }), publicJwk);
  assert.ok(crypto.createPublicKey({ key: publicJwk, format: "jwk" }).equals(ecPublic));
  const fromJwk = crypto.createPrivateKey({ key: EC.p256Jwk, format: "jwk" });
  assert.ok(crypto.verify("sha256", Buffer.from("y"), ecPublic, crypto.sign("sha256", Buffer.from("y"), fromJwk)));
  // PEM out, as Node writes it.
  assert.strictEqual(ecPublic.export({ format: "pem", type: "spki" }), EC.p256Spki);
  assert.strictEqual(ecPrivate.export({ format: "pem", type: "pkcs8" }), EC.p256Pkcs8);
  assert.strictEqual(ecPrivate.export({ format: "pem", type: "sec1" }), EC.p256Sec1);
  // P-384 with SHA-384.
  const p384 = crypto.createPrivateKey(EC.p384Pkcs8);
  assert.deepStrictEqual(p384.asymmetricKeyDetails, { namedCurve: "secp384r1" });
  assert.ok(crypto.createVerify("SHA384").update("signed by node").verify(EC.p384Spki, EC.p384SigDer, "base64"));
  assert.ok(crypto.createVerify("SHA384").update("z").verify(EC.p384Spki, crypto.createSign("SHA384").update("z").sign(p384)));
  assert.throws(() => crypto.createSign("SHA512").update("z").sign(p384), /chatfn signs with P-256 and SHA-256 or P-384 and SHA-384/);
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
