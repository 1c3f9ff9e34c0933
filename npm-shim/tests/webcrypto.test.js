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
const RSA_PKCS8 = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDNhCAsa5FP5Cyh
J03oVz7Q1PKT0ynqpNQJYtOy/vNk9qHeD1t4ITbflTXkP2Ie2iUqL6bc4TwloEOe
651tdazrNklSXRb+zkRasr0Y0y4yllFY92qvxG7UYtw+xnhiWdFzb7+w6KlxHA5K
YTXFNgLXldlPEkzn4MfJX27t7HiXzzdmab9Ti8rotBm74XG6No8Uw1TEbFKDl1kt
+RBlJ1QeFxNb3aodP7we60VLXndVsMuHK9SThNpTJdBQpWR02OIidUyq8oxXJ7Z2
oSwZ7NVq1oAquE25Mfrr9kdt8VR99K5M1UNgKf/Je7jxc0tc67qSjchStf0Etspe
+268klfxAgMBAAECggEADLbkYKsk+crVggDS/pFLNxM9kKyrNrOM1KnTDAte1nu1
pu3PTF7NrMZn55+OO/dl/jalfZvHo1JHbLEJ88gocwLQRXKx5gCv1Oai8UK7ZHDN
RpJD/OzLqIMXOiEAOKFy5k/fDZxPQ0qnja127KT7RwgjwhMRQ/UxlwE69ShAi6+v
P5hiad6CbOGloyfTlFVLUHtw6e5P6NrVHUIdEdFAWliz/em4DB8ARl1wA+tcmvp8
nWJlh2DD23RRufBNADDk90d6Z+68GmkVUSPnB3eZhw/DYIj6c83TH/LSARfk7h+r
rQBnKiJR8oV08n/tDaTt3SFzQQUbDv38hWmK7c3iawKBgQD0GBs7t1lgpJypzQiZ
k5NuBPrPHqFFbq30vBKIPwyQMoa5bwXHHpH14uVBSGd44kUhvqy9lyjToB5F7dRR
7suuZdEmMU7b0tSuhhwiN0iwL1L+OtThFSLmJ7XRLPaL6+sg6/0LCP/sfBJXvLwc
pAMPE7VgUcU9E/zU0YdodtKetwKBgQDXilAHZfb7Zkby3Zy4cdg4Z+kDln/EXaIk
IaKy9kGFuKtyy34CgvwrPCLo3ttOPOzXWL0JC89mLy69KmZOke2vetJTR0bPCSiW
NfWjOnXdRkrP3T1eIekTVCaT3y6++Nqe22znVHNH4E/vtws/7GaBwaCZGMDCNQpu
D6SvBeUWlwKBgQCzcK1EfwrzYs/Qe+vgin6NGJgQfuHrmuvCyCePhVoE/z/PPfCv
aqe+bOg/z6xRT3Wm0vdGAMOAn2rh2W6GNNgDAtJ4EzN3oku7aNdxx9ZlvsRyJGmu
dc1MCNE+TqGIRwx5DULeQ+Vvwd3yJcrb+y5MfR6PCk3HEtSA1u+GOiOnjQKBgE4S
AS7M1gr1Xtl1P+DnC4RSzunHx3ue1q3zqPTdkZoX67Hm1zudqi0W2SY0IodSNg9C
SyZNqs++Y1WNWAU5gjg/apNTi+hNzu+pl9GJyUtevJZR8np4Ge4wWtDQ1CPEC5vi
qq2XvzHXo9yWFnMO84ooUj1h49/0SlTXQbVLk1D9AoGBAJamPyK9CM5KCjrBkUag
srELVxrJ+mWMCfkarbcdpvio+yqi0bTV6JqaUOXUVBGJSGSG3mcEByzjFjTdEvxW
9HjKLRBuN3QKLRYIZO3mOieVwvr7WGwaQ/AL4uF4cXtj2X9UBY5qvL1rXQsI8e+f
Amgyu6e/52MepQEEZ4vETU+H
-----END PRIVATE KEY-----`;

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
