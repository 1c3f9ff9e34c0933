const assert = require("assert");
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
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
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIDDTCCAfWgAwIBAgIUHp4nqsHVwioNmbGK6AF/LXdBLTcwDQYJKoZIhvcNAQEL
BQAwFjEUMBIGA1UEAwwLY2hhdGZuLXRlc3QwHhcNMjYxMTI1MTc0NjU2WhcNMzYx
MTIyMTc0NjU2WjAWMRQwEgYDVQQDDAtjaGF0Zm4tdGVzdDCCASIwDQYJKoZIhvcN
AQEBBQADggEPADCCAQoCggEBAM2EICxrkU/kLKEnTehXPtDU8pPTKeqk1Ali07L+
82T2od4PW3ghNt+VNeQ/Yh7aJSovptzhPCWgQ57rnW11rOs2SVJdFv7ORFqyvRjT
LjKWUVj3aq/EbtRi3D7GeGJZ0XNvv7DoqXEcDkphNcU2AteV2U8STOfgx8lfbu3s
eJfPN2Zpv1OLyui0Gbvhcbo2jxTDVMRsUoOXWS35EGUnVB4XE1vdqh0/vB7rRUte
d1Wwy4cr1JOE2lMl0FClZHTY4iJ1TKryjFcntnahLBns1WrWgCq4Tbkx+uv2R23x
VH30rkzVQ2Ap/8l7uPFzS1zrupKNyFK1/QS2yl77brySV/ECAwEAAaNTMFEwHQYD
VR0OBBYEFI8EbM/8AHzoMs6FdB54OBPNyKDuMB8GA1UdIwQYMBaAFI8EbM/8AHzo
Ms6FdB54OBPNyKDuMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEB
AK3xe9N5FkXyYIiLf2bsK+rtD4DSAY3tfbu7ogFphG2D/0OjChSnhlPDPcHlStlQ
iHluTdZBf/QXoQCPGV854E/DcfYFj1ytx3ImSrDYoJ5mcDlatmtjZ0g9EY52hSGr
KQAcYd+2UC0qcpep7/Szn7w3BsBvtLoZesKut8bDSlPyMdAevi73Nhe/VubXoee8
1aY57eODListcJJE2QB89DK4CDiJDu2lwAMTX6QJP5UG65j2FvMWjeMqNFg/t4h6
upOitfAi7D8HWim5EP/ekRl0tcG2Mq/lcMrLwICdvDaU2lnGH3KOUArHh62Xbmkj
7iHHEDHJfDueuN+Pbq9uvc4=
-----END CERTIFICATE-----`;
assert.strictEqual(require("node:crypto"), require("crypto"));

async function handleEvent() {
  const crypto = require("crypto");
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
