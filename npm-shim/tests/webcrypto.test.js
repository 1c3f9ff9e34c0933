// crypto.subtle: digest, HMAC, RSASSA-PKCS1-v1_5 and ECDSA P-256, as JWT libraries use them.
const assert = require("assert");
const EC_PKCS8 = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKyhq57z1RafNjGfi
x6C9mSSIVq71oASE9N5FRlBikq2hRANCAARoClIA7PxmLYDsUh2ArTr+xVJso/+V
cBELneRtsT6ODGDWMr4j45a7aUxBD84/J3+660fNiC8ZGTOcTsDtXQn2
-----END PRIVATE KEY-----`;
const EC_SPKI = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaApSAOz8Zi2A7FIdgK06/sVSbKP/
lXARC53kbbE+jgxg1jK+I+OWu2lMQQ/OPyd/uutHzYgvGRkznE7A7V0J9g==
-----END PUBLIC KEY-----`;
const RSA_PKCS8 = require("fs").readFileSync(`${__dirname}/fixtures/test-key.pem`, "utf8");

const der = (pem) => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");

async function handleEvent() {
  const { subtle } = globalThis.crypto;
  assert.strictEqual(require("crypto").webcrypto.subtle, subtle);
  const enc = new TextEncoder();
  assert.strictEqual(Buffer.from(await subtle.digest("SHA-256", enc.encode("abc"))).toString("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  const hmacKey = await subtle.importKey("raw", enc.encode("key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const mac = await subtle.sign("HMAC", hmacKey, enc.encode("The quick brown fox jumps over the lazy dog"));
  assert.strictEqual(Buffer.from(mac).toString("hex"), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  assert.ok(await subtle.verify("HMAC", hmacKey, mac, enc.encode("The quick brown fox jumps over the lazy dog")));
  assert.ok(!(await subtle.verify("HMAC", hmacKey, mac, enc.encode("tampered"))));

  const rsaPrivate = await subtle.importKey("pkcs8", der(RSA_PKCS8), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
  const spki = require("crypto").createPublicKey(RSA_PKCS8).export({ format: "der", type: "spki" });
  const rsaPublic = await subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
  const rsaSig = await subtle.sign("RSASSA-PKCS1-v1_5", rsaPrivate, enc.encode("header.payload"));
  assert.ok(await subtle.verify("RSASSA-PKCS1-v1_5", rsaPublic, rsaSig, enc.encode("header.payload")));
  assert.ok(!(await subtle.verify("RSASSA-PKCS1-v1_5", rsaPublic, rsaSig, enc.encode("header.payl0ad"))));
  assert.ok(require("crypto").verify("sha256", Buffer.from("header.payload"), spki.length ? require("crypto").createPublicKey(RSA_PKCS8) : null, Buffer.from(rsaSig)), "node:crypto agrees");

  const ecPrivate = await subtle.importKey("pkcs8", der(EC_PKCS8), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const ecPublic = await subtle.importKey("spki", der(EC_SPKI), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const ecSig = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, ecPrivate, enc.encode("es256"));
  assert.strictEqual(ecSig.byteLength, 64, "r||s, as JWS wants");
  assert.ok(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, ecPublic, ecSig, enc.encode("es256")));
  assert.ok(!(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, ecPublic, ecSig, enc.encode("es257"))));

  await assert.rejects(subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]), { name: "NotSupportedError" });
  await assert.rejects(subtle.sign("HMAC", rsaPublic, enc.encode("x")), { name: "InvalidAccessError" });
}
