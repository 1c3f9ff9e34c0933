// node:crypto (hashes, HMACs, randomness) and the web's `crypto` global (getRandomValues,
// randomUUID). Digests run in Rust (RustCrypto); digest() without an encoding returns a
// Buffer. RSA keys, signatures and verification (PKCS#1 v1.5 with SHA-256/384/512) run on
// ring; crypto.subtle lives in web/subtle.js. Ciphers and EC keys are not here
// yet: they throw ERR_METHOD_NOT_IMPLEMENTED.
import { core, primordials } from "ext:core/mod.js";
import { concatBytes, fromBytes, hexEncode, toBytes } from "ext:chatfn/internal/bytes.js";
import { DOMException } from "ext:chatfn/web/encoding.js";
import { Buffer } from "ext:chatfn/buffer.js";
import { Transform, Writable } from "ext:chatfn/stream.js";
import { invalidArgType, nodeError, notImplemented, outOfRange } from "ext:chatfn/internal/errors.js";
const { ArrayBufferIsView, Error, RangeError, TypeError, Uint8Array } = primordials;
const { op_crypto_digest, op_crypto_hmac, op_crypto_random_fill } = core.ops;


class Hash {
  #algorithm;
  #key;
  #chunks = [];
  #done = false;
  constructor(algorithm, key) {
    this.#algorithm = String(algorithm);
    this.#key = key;
    // Fail at creation for an unknown algorithm, as Node does.
    if (key === undefined) op_crypto_digest(this.#algorithm, new Uint8Array(0));
    else op_crypto_hmac(this.#algorithm, key, new Uint8Array(0));
  }
  update(data, encoding) {
    if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    this.#chunks.push(new Uint8Array(toBytes(data, encoding)));
    return this;
  }
  /** A new Hash with the data so far, to go on separately (Node's `hash.copy()`). */
  copy() {
    if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    const copy = new Hash(this.#algorithm, this.#key);
    copy.#chunks = [...this.#chunks];
    return copy;
  }
  digest(encoding) {
    if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
    this.#done = true;
    const data = concatBytes(this.#chunks);
    const bytes = this.#key === undefined ? op_crypto_digest(this.#algorithm, data) : op_crypto_hmac(this.#algorithm, this.#key, data);
    return encoding === undefined ? Buffer.from(bytes) : fromBytes(bytes, encoding);
  }
}

function createHash(algorithm) {
  return new Hash(algorithm);
}

/**
 * Key material: secret keys hold bytes; RSA and EC private and public keys hold what Rust
 * parsed (`{ type, keyType, format, der, modulusLength, namedCurve, point }`, see
 * runtime/src/ops/crypto_keys.rs).
 */
export class KeyObject {
  #type;
  #material;
  constructor(type, material) {
    this.#type = type;
    this.#material = material;
  }
  get type() { return this.#type; }
  get symmetricKeySize() { return this.#type === "secret" ? this.#material.length : undefined; }
  get asymmetricKeyType() { return this.#type === "secret" ? undefined : this.#material.keyType; }
  get asymmetricKeyDetails() {
    if (this.#type === "secret") return undefined;
    if (this.#material.keyType === "ec") return { namedCurve: this.#material.namedCurve };
    return { modulusLength: this.#material.modulusLength, publicExponent: 65537n };
  }
  export(options = {}) {
    if (this.#type === "secret") return options.format === "jwk" ? { kty: "oct", k: Buffer.from(this.#material).toString("base64url") } : Buffer.from(this.#material);
    const { format = "pem", type } = options;
    if (this.#material.keyType === "ec") return exportEc(this.#type, this.#material, format, type);
    if (format === "jwk") missing("KeyObject.export({ format: \"jwk\" }) of an RSA key")();
    let der = Buffer.from(this.#material.der);
    let label;
    if (this.#type === "public") {
      if (type === "pkcs1") label = "RSA PUBLIC KEY";
      else {
        der = spkiFromRsa(der);
        label = "PUBLIC KEY";
      }
    } else {
      if ((type ?? "pkcs8") !== this.#material.format) missing(`KeyObject.export({ type: "${type}" }) of a ${this.#material.format} key`)();
      label = this.#material.format === "pkcs8" ? "PRIVATE KEY" : "RSA PRIVATE KEY";
    }
    return derOrPem(der, format, label);
  }
  equals(other) {
    if (!(other instanceof KeyObject) || other.type !== this.type) return false;
    if (this.#type === "secret") return timingSafeEqual(this.#material, other.export());
    const [a, b] = [keyMaterial(this), keyMaterial(other)];
    return a.keyType === b.keyType && a.der.join() === b.der.join() && (a.point ?? []).join() === (b.point ?? []).join();
  }
  static from() { return missing("KeyObject.from")(); }
  static _material(key) { return key.#material; }
}

function derOrPem(der, format, label) {
  if (format === "der") return der;
  const body = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const JWK_CURVES = { prime256v1: "P-256", secp384r1: "P-384" };

/** An EC key as a JWK, or as PKCS#8, SEC1 or SPKI in DER or PEM. */
function exportEc(kind, material, format, type) {
  const point = Buffer.from(material.point);
  const half = (point.length - 1) / 2;
  if (format === "jwk") {
    const jwk = { kty: "EC", crv: JWK_CURVES[material.namedCurve], x: point.subarray(1, 1 + half).toString("base64url"), y: point.subarray(1 + half).toString("base64url") };
    if (kind === "private") jwk.d = Buffer.from(material.der).toString("base64url");
    return jwk;
  }
  const structure = kind === "public" ? (type ?? "spki") : (type ?? "pkcs8");
  const der = Buffer.from(core.ops.op_crypto_ec_export(material, structure));
  const label = structure === "sec1" ? "EC PRIVATE KEY" : structure === "pkcs8" ? "PRIVATE KEY" : "PUBLIC KEY";
  return derOrPem(der, format, label);
}

/** A KeyObject from a JWK (EC keys; RSA and oct go through their own paths). */
function keyFromJwk(want, jwk) {
  if (jwk === null || typeof jwk !== "object") throw invalidArgType("key.key", "object", jwk);
  if (jwk.kty === "oct") return new KeyObject("secret", new Uint8Array(Buffer.from(jwk.k ?? "", "base64url")));
  if (jwk.kty !== "EC") missing(`JWK keys of kty ${jwk.kty}`)();
  const x = Buffer.from(String(jwk.x ?? ""), "base64url");
  const y = Buffer.from(String(jwk.y ?? ""), "base64url");
  const point = new Uint8Array([4, ...x, ...y]);
  const d = want === "private" ? new Uint8Array(Buffer.from(String(jwk.d ?? ""), "base64url")) : new Uint8Array(0);
  if (want === "private" && d.length === 0) throw new TypeError("The JWK does not hold a private key (d)");
  return new KeyObject(want, core.ops.op_crypto_ec_key(String(jwk.crv), point, d));
}

const keyMaterial = (key) => KeyObject._material(key);

function derLength(n) {
  if (n < 0x80) return [n];
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** SubjectPublicKeyInfo around an RSAPublicKey (rsaEncryption, NULL parameters). */
function spkiFromRsa(rsa) {
  const algorithm = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
  const bitString = [0x03, ...derLength(rsa.length + 1), 0x00, ...rsa];
  const body = [...algorithm, ...bitString];
  return Buffer.from([0x30, ...derLength(body.length), ...body]);
}

/** key: a KeyObject, PEM text or bytes, or { key, format, type, passphrase }. */
function asymmetricKey(want, key) {
  if (key instanceof KeyObject) {
    if (key.type === "secret") throw new TypeError(`Invalid key object type secret, expected ${want}.`);
    if (want === "private" && key.type !== "private") throw new TypeError("Invalid key object type public, expected private.");
    if (want === "public" && key.type === "private") {
      const m = keyMaterial(key);
      return new KeyObject("public", m.keyType === "ec" ? { ...m, type: "public", der: m.point } : core.ops.op_crypto_key_parse("public", new Uint8Array(m.der), m.format));
    }
    return key;
  }
  let input = key;
  let format = "pem";
  if (key !== null && typeof key === "object" && !ArrayBufferIsView(key) && "key" in key) {
    if (key.passphrase !== undefined) missing("encrypted private keys")();
    if (key.key instanceof KeyObject) return asymmetricKey(want, key.key);
    if (key.format === "jwk") return keyFromJwk(want, key.key);
    input = key.key;
    format = key.format === "der" ? ({ pkcs1: "pkcs1", spki: "spki", sec1: "sec1" }[key.type] ?? "pkcs8") : "pem";
  }
  if (typeof input !== "string") return new KeyObject(want, core.ops.op_crypto_key_parse(want, toBytes(input), format));
  // Key text is parsed once: libraries such as jsonwebtoken pass the same certificate to
  // createPublicKey on every verification (each call still makes a KeyObject of its own).
  const kind = `${want}:${format}`;
  let parsed = parsedKeyTexts.get(input);
  let material = parsed?.[kind];
  if (material === undefined) {
    material = Object.freeze(core.ops.op_crypto_key_parse(want, core.encode(input), format));
    if (parsed === undefined) {
      if (parsedKeyTexts.size >= PARSED_KEY_TEXTS_MAX) parsedKeyTexts.delete(parsedKeyTexts.keys().next().value);
      parsedKeyTexts.set(input, (parsed = {}));
    }
    parsed[kind] = material;
  }
  return new KeyObject(want, material);
}

/** The key material parsed from key texts: text -> { "want:format": material }, oldest first. */
const parsedKeyTexts = new Map();
const PARSED_KEY_TEXTS_MAX = 64;

function createPrivateKey(key) {
  return asymmetricKey("private", key);
}

function createPublicKey(key) {
  return asymmetricKey("public", key);
}

/** The algorithm and the data so far of a Sign or Verify, for the one call each ends with. */
const kInput = Symbol("input");

/** What Sign and Verify share: writable streams, as Node's, where what is written is what
 * `update` takes. */
class Signing extends Writable {
  #algorithm;
  #chunks = [];
  constructor(algorithm) {
    super();
    this.#algorithm = String(algorithm);
  }
  _write(chunk, encoding, callback) {
    this.update(chunk, encoding === "buffer" ? undefined : encoding);
    callback();
  }
  update(data, encoding) { this.#chunks.push(new Uint8Array(toBytes(data, encoding))); return this; }
  [kInput]() { return [this.#algorithm, concatBytes(this.#chunks)]; }
}

/** `dsaEncoding` of a signing key given as `{ key, dsaEncoding }`: "der" (Node's default) or "ieee-p1363". */
function dsaEncoding(key) {
  const encoding = key !== null && typeof key === "object" && !(key instanceof KeyObject) && "dsaEncoding" in key ? key.dsaEncoding : "der";
  if (encoding !== "der" && encoding !== "ieee-p1363") throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.dsaEncoding' is invalid. Received '${encoding}'`);
  return encoding;
}

class Sign extends Signing {
  sign(key, encoding) {
    const [algorithm, data] = this[kInput]();
    const signature = core.ops.op_crypto_sign(algorithm, keyMaterial(asymmetricKey("private", key)), data, dsaEncoding(key));
    return encoding === undefined ? Buffer.from(signature) : fromBytes(signature, encoding);
  }
}

class Verify extends Signing {
  verify(key, signature, encoding) {
    const k = key instanceof KeyObject && key.type === "private" ? key : asymmetricKey("public", key);
    const [algorithm, data] = this[kInput]();
    return core.ops.op_crypto_verify(algorithm, keyMaterial(k), data, new Uint8Array(toBytes(signature, encoding)), dsaEncoding(key));
  }
}

function oneShotAlgorithm(algorithm) {
  return algorithm == null ? "sha256" : String(algorithm);
}

function createSecretKey(key, encoding) {
  return new KeyObject("secret", new Uint8Array(toBytes(key, encoding)));
}

function keyBytes(key) {
  return key instanceof KeyObject ? new Uint8Array(key.export()) : new Uint8Array(toBytes(key));
}

function createHmac(algorithm, key) {
  return new Hash(algorithm, keyBytes(key));
}

function randomBytes(size, callback) {
  if (!Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) {
    throw outOfRange("size", ">= 0 && <= 2147483647", size);
  }
  const bytes = Buffer.alloc(size);
  op_crypto_random_fill(bytes);
  if (typeof callback === "function") {
    queueMicrotask(() => callback(null, bytes));
    return undefined;
  }
  return bytes;
}

function getRandomValues(array) {
  if (!ArrayBufferIsView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
    throw invalidArgType("data argument", "an integer-type TypedArray", array);
  }
  if (array.byteLength > 65536) {
    throw new DOMException(`The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, "QuotaExceededError");
  }
  op_crypto_random_fill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return array;
}

function randomUUID() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = hexEncode(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function randomInt(min, max, callback) {
  if (max === undefined || typeof max === "function") {
    callback = max;
    max = min;
    min = 0;
  }
  const range = max - min;
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || range <= 0 || range > 2 ** 48) {
    throw outOfRange("max", `greater than the value of "min" (${min}) and at most 2^48 above it`, max);
  }
  // Rejection sampling over 48 random bits keeps the result uniform.
  const limit = 2 ** 48 - (2 ** 48 % range);
  let n;
  do {
    const b = randomBytes(6);
    n = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
  } while (n >= limit);
  const value = min + (n % range);
  if (typeof callback === "function") {
    queueMicrotask(() => callback(null, value));
    return undefined;
  }
  return value;
}

export function timingSafeEqual(a, b) {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x.length !== y.length) {
    throw nodeError(RangeError, "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH", "Input buffers must have the same byte length");
  }
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** A crypto function chatfn does not have yet: calling it throws ERR_METHOD_NOT_IMPLEMENTED. */
/**
 * createCipheriv / createDecipheriv: AES-CBC and AES-GCM (runtime/src/ops/crypto_ciphers.rs).
 * What `update` is given is gathered and run whole at `final` (so `update` answers an empty
 * buffer, and `final` all of it: the concatenation is what Node's would be).
 */
class CipherBase extends Transform {
  #name;
  #decrypt;
  #key;
  #iv;
  #chunks = [];
  #aad = new Uint8Array(0);
  #tag = null;
  #tagLength;
  #padding = true;
  #done = false;
  constructor(name, key, iv, options, decrypt) {
    super();
    this.#name = String(name).toLowerCase();
    this.#decrypt = decrypt;
    this.#key = keyBytes(key);
    this.#iv = iv === null ? new Uint8Array(0) : new Uint8Array(toBytes(iv));
    core.ops.op_crypto_cipher_check(this.#name, this.#key.length, this.#iv.length);
    this.#tagLength = options?.authTagLength ?? 16;
  }
  #gcm() { return this.#name.includes("gcm"); }
  update(data, inputEncoding, outputEncoding) {
    if (this.#done) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "Invalid state for operation update");
    this.#chunks.push(new Uint8Array(toBytes(data, inputEncoding)));
    const none = Buffer.alloc(0);
    return outputEncoding === undefined || outputEncoding === "buffer" ? none : "";
  }
  final(outputEncoding) {
    if (this.#done) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "Invalid state for operation final");
    this.#done = true;
    if (this.#decrypt && this.#gcm() && this.#tag === null) throw new Error("Unsupported state or unable to authenticate data");
    let out = core.ops.op_crypto_cipher(this.#name, this.#decrypt, this.#key, this.#iv, concatBytes(this.#chunks), this.#aad,
      this.#tag ?? new Uint8Array(0), this.#padding, this.#tagLength);
    if (!this.#decrypt && this.#gcm()) {
      this.#tag = Buffer.from(out.subarray(out.length - this.#tagLength));
      out = out.subarray(0, out.length - this.#tagLength);
    }
    return outputEncoding === undefined || outputEncoding === "buffer" ? Buffer.from(out) : fromBytes(out, outputEncoding);
  }
  setAAD(data) {
    if (!this.#gcm()) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "Invalid state for operation setAAD");
    this.#aad = new Uint8Array(toBytes(data));
    return this;
  }
  setAutoPadding(pad = true) { this.#padding = Boolean(pad); return this; }
  getAuthTag() {
    if (this.#decrypt || !this.#gcm() || !this.#done) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "Invalid state for operation getAuthTag");
    return this.#tag;
  }
  setAuthTag(tag) {
    if (!this.#decrypt || !this.#gcm() || this.#done) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "Invalid state for operation setAuthTag");
    this.#tag = new Uint8Array(toBytes(tag));
    return this;
  }
  _transform(chunk, encoding, callback) {
    this.update(chunk, encoding === "buffer" ? undefined : encoding);
    callback();
  }
  _flush(callback) {
    try {
      this.push(this.final());
      callback();
    } catch (e) {
      callback(e);
    }
  }
}

class Cipheriv extends CipherBase {
  constructor(name, key, iv, options) { super(name, key, iv, options, false); }
}

class Decipheriv extends CipherBase {
  constructor(name, key, iv, options) { super(name, key, iv, options, true); }
}

const CIPHERS = ["aes-128-cbc", "aes-128-gcm", "aes-192-cbc", "aes-192-gcm", "aes-256-cbc", "aes-256-gcm"];

function missing(name) {
  return () => {
    throw notImplemented(`crypto.${name} is not implemented in chatfn yet`);
  };
}

export const webcrypto = {
  getRandomValues,
  randomUUID,
  subtle: null, // set by the globals set-up (globals.js): web/subtle.js needs this module first
};

const crypto = {
  createHash,
  createHmac,
  randomBytes,
  randomFillSync: (buf) => getRandomValues(buf),
  randomUUID,
  randomInt,
  getRandomValues,
  timingSafeEqual,
  getHashes: () => ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
  webcrypto,
  KeyObject,
  createSecretKey,
  constants: {
    RSA_PKCS1_PADDING: 1, RSA_NO_PADDING: 3, RSA_PKCS1_OAEP_PADDING: 4, RSA_X931_PADDING: 5, RSA_PKCS1_PSS_PADDING: 6,
    RSA_PSS_SALTLEN_DIGEST: -1, RSA_PSS_SALTLEN_MAX_SIGN: -2, RSA_PSS_SALTLEN_AUTO: -2,
  },
  createPrivateKey,
  createPublicKey,
  createSign: (algorithm) => new Sign(algorithm),
  createVerify: (algorithm) => new Verify(algorithm),
  sign: (algorithm, data, key) => new Sign(oneShotAlgorithm(algorithm)).update(data).sign(key),
  verify: (algorithm, data, key, signature) => new Verify(oneShotAlgorithm(algorithm)).update(data).verify(key, signature),
  generateKeyPair: missing("generateKeyPair"),
  generateKeyPairSync: missing("generateKeyPairSync"),
  generateKey: missing("generateKey"),
  generateKeySync: missing("generateKeySync"),
  hkdf: missing("hkdf"),
  hkdfSync: missing("hkdfSync"),
  publicEncrypt: missing("publicEncrypt"),
  privateDecrypt: missing("privateDecrypt"),
  createECDH: missing("createECDH"),
  diffieHellman: missing("diffieHellman"),
  getCiphers: () => [...CIPHERS],
  getCurves: () => ["prime256v1", "secp384r1"],
  createCipheriv: (name, key, iv, options) => new Cipheriv(name, key, iv, options),
  createDecipheriv: (name, key, iv, options) => new Decipheriv(name, key, iv, options),
  Cipheriv,
  Decipheriv,
  pbkdf2: missing("pbkdf2"),
  pbkdf2Sync: missing("pbkdf2Sync"),
  scrypt: missing("scrypt"),
  scryptSync: missing("scryptSync"),
};

export default crypto;
