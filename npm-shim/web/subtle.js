// crypto.subtle for the algorithms chat functions verify tokens with: digest (SHA-1/256/384/
// 512), HMAC, RSASSA-PKCS1-v1_5 and ECDSA P-256 (SHA-256); keys imported as raw (HMAC), jwk,
// spki or pkcs8. Signing and verification run in Rust (RustCrypto HMAC, ring). Everything
// else (generateKey, exportKey, encrypt, deriveBits, other curves) rejects with
// NotSupportedError.
import { core } from "ext:core/mod.js";
import { base64Decode, toBytes } from "ext:chatfn/internal/bytes.js";
import { DOMException } from "ext:chatfn/web/encoding.js";
import { timingSafeEqual } from "ext:chatfn/crypto.js";
const ops = core.ops;

const kMaterial = Symbol("material");

export class CryptoKey {
  constructor(type, algorithm, extractable, usages, material) {
    this.type = type;
    this.algorithm = algorithm;
    this.extractable = extractable;
    this.usages = usages;
    this[kMaterial] = material;
  }
}

function notSupported(what) {
  return new DOMException(`${what} is not supported by chatfn's crypto.subtle`, "NotSupportedError");
}

function bytes(data) {
  return new Uint8Array(toBytes(data));
}

function hashName(hash) {
  const name = typeof hash === "string" ? hash : hash?.name;
  if (!["SHA-1", "SHA-256", "SHA-384", "SHA-512"].includes(String(name).toUpperCase())) throw notSupported(`hash ${name}`);
  return String(name).toUpperCase();
}

function normalize(algorithm) {
  return typeof algorithm === "string" ? { name: algorithm } : { ...algorithm };
}

const b64url = (text) => base64Decode(String(text));

function derInteger(bytes) {
  let b = bytes;
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  const body = b[0] & 0x80 ? [0, ...b] : [...b];
  return [0x02, ...derLength(body.length), ...body];
}

function derLength(n) {
  if (n < 0x80) return [n];
  const out = [];
  for (let v = n; v > 0; v >>= 8) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

function derSequence(...items) {
  const body = items.flat();
  return new Uint8Array([0x30, ...derLength(body.length), ...body]);
}

function importHmac(format, keyData, algorithm, extractable, usages) {
  let key;
  if (format === "raw") key = bytes(keyData);
  else if (format === "jwk" && keyData.kty === "oct") key = b64url(keyData.k);
  else throw notSupported(`importing an HMAC key as ${format}`);
  return new CryptoKey("secret", { name: "HMAC", hash: { name: hashName(algorithm.hash) }, length: key.length * 8 }, extractable, usages, key);
}

function importRsa(format, keyData, algorithm, extractable, usages) {
  let material;
  if (format === "spki") material = ops.op_crypto_key_parse("public", bytes(keyData), "spki");
  else if (format === "pkcs8") material = ops.op_crypto_key_parse("private", bytes(keyData), "pkcs8");
  else if (format === "jwk" && keyData.kty === "RSA" && keyData.d === undefined) {
    material = ops.op_crypto_key_parse("public", derSequence(derInteger(b64url(keyData.n)), derInteger(b64url(keyData.e))), "rsa public key");
  } else if (format === "jwk" && keyData.kty === "RSA") {
    const parts = ["n", "e", "d", "p", "q", "dp", "dq", "qi"].map((k) => derInteger(b64url(keyData[k])));
    material = ops.op_crypto_key_parse("private", derSequence([0x02, 0x01, 0x00], ...parts), "rsa private key");
  } else throw notSupported(`importing an RSA key as ${format}`);
  const hash = { name: hashName(algorithm.hash) };
  return new CryptoKey(material.type, { name: "RSASSA-PKCS1-v1_5", hash, modulusLength: material.modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }, extractable, usages, material);
}

function importEc(format, keyData, algorithm, extractable, usages) {
  if (algorithm.namedCurve !== "P-256") throw notSupported(`the curve ${algorithm.namedCurve}`);
  let material;
  if (format === "spki") material = { type: "public", point: ops.op_crypto_spki_key(bytes(keyData)) };
  else if (format === "pkcs8") {
    const der = bytes(keyData);
    material = { type: "private", pkcs8: der, point: ops.op_crypto_ec_public(der) };
  } else if (format === "raw") material = { type: "public", point: bytes(keyData) };
  else if (format === "jwk" && keyData.kty === "EC" && keyData.crv === "P-256") {
    const point = new Uint8Array([0x04, ...b64url(keyData.x), ...b64url(keyData.y)]);
    material = keyData.d === undefined ? { type: "public", point } : { type: "private", d: b64url(keyData.d), point };
  } else throw notSupported(`importing an EC key as ${format}`);
  return new CryptoKey(material.type, { name: "ECDSA", namedCurve: "P-256" }, extractable, usages, material);
}

function checkUsage(key, usage) {
  if (!(key instanceof CryptoKey) || !key.usages.includes(usage)) {
    throw new DOMException(`The key cannot be used to ${usage}`, "InvalidAccessError");
  }
}

export const subtle = {
  async digest(algorithm, data) {
    const out = ops.op_crypto_digest(hashName(algorithm), bytes(data));
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  },

  async importKey(format, keyData, algorithm, extractable, usages) {
    const alg = normalize(algorithm);
    switch (alg.name?.toUpperCase()) {
      case "HMAC": return importHmac(format, keyData, alg, extractable, usages);
      case "RSASSA-PKCS1-V1_5": return importRsa(format, keyData, alg, extractable, usages);
      case "ECDSA": return importEc(format, keyData, alg, extractable, usages);
      default: throw notSupported(`the algorithm ${alg.name}`);
    }
  },

  async sign(algorithm, key, data) {
    checkUsage(key, "sign");
    const input = bytes(data);
    const m = key[kMaterial];
    let out;
    switch (key.algorithm.name) {
      case "HMAC": out = ops.op_crypto_hmac(key.algorithm.hash.name.replace("-", ""), m, input); break;
      case "RSASSA-PKCS1-v1_5": out = ops.op_crypto_sign("RSA-" + key.algorithm.hash.name.replace("-", ""), m, input, "der"); break;
      case "ECDSA":
        if (hashName(normalize(algorithm).hash) !== "SHA-256") throw notSupported("ECDSA with a hash other than SHA-256");
        out = m.pkcs8 ? ops.op_crypto_ec_sign(m.pkcs8, new Uint8Array(0), input) : ops.op_crypto_ec_sign(m.d, m.point, input);
        break;
    }
    return new Uint8Array(out).buffer;
  },

  async verify(algorithm, key, signature, data) {
    checkUsage(key, "verify");
    const input = bytes(data);
    const sig = bytes(signature);
    const m = key[kMaterial];
    switch (key.algorithm.name) {
      case "HMAC": {
        const expected = ops.op_crypto_hmac(key.algorithm.hash.name.replace("-", ""), m, input);
        return expected.length === sig.length && timingSafeEqual(expected, sig);
      }
      case "RSASSA-PKCS1-v1_5": return ops.op_crypto_verify("RSA-" + key.algorithm.hash.name.replace("-", ""), m, input, sig, "der");
      case "ECDSA":
        if (hashName(normalize(algorithm).hash) !== "SHA-256") throw notSupported("ECDSA with a hash other than SHA-256");
        return ops.op_crypto_ec_verify(m.point, input, sig);
    }
    return false;
  },
};

for (const name of ["encrypt", "decrypt", "generateKey", "exportKey", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"]) {
  subtle[name] = async () => {
    throw notSupported(`crypto.subtle.${name}`);
  };
}
