// node:crypto (hashes, HMACs, randomness) and the web's `crypto` global (getRandomValues,
// randomUUID). Digests run in Rust (RustCrypto); digest() without an encoding returns a
// Buffer. Keys, signatures and crypto.subtle are not here yet: they throw
// ERR_METHOD_NOT_IMPLEMENTED.
import { core, primordials } from "ext:core/mod.js";
import { DOMException, fromBytes, hexEncode, toBytes } from "ext:chatfn/internal/bytes.js";
import { Buffer } from "ext:chatfn/buffer.js";
const { ArrayBufferIsView, Error, RangeError, TypeError, Uint8Array } = primordials;
const { op_crypto_digest, op_crypto_hmac, op_crypto_random_fill } = core.ops;

function concat(chunks) {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

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
    if (this.#done) {
      const err = new Error("Digest already called");
      err.code = "ERR_CRYPTO_HASH_FINALIZED";
      throw err;
    }
    this.#chunks.push(new Uint8Array(toBytes(data, encoding)));
    return this;
  }
  digest(encoding) {
    if (this.#done) {
      const err = new Error("Digest already called");
      err.code = "ERR_CRYPTO_HASH_FINALIZED";
      throw err;
    }
    this.#done = true;
    const data = concat(this.#chunks);
    const bytes = this.#key === undefined ? op_crypto_digest(this.#algorithm, data) : op_crypto_hmac(this.#algorithm, this.#key, data);
    return encoding === undefined ? Buffer.from(bytes) : fromBytes(bytes, encoding);
  }
}

function createHash(algorithm) {
  return new Hash(algorithm);
}

/** Key material held by crypto. Only secret (symmetric) keys exist in chatfn so far. */
export class KeyObject {
  #type;
  #bytes;
  constructor(type, bytes) {
    this.#type = type;
    this.#bytes = bytes;
  }
  get type() { return this.#type; }
  get symmetricKeySize() { return this.#type === "secret" ? this.#bytes.length : undefined; }
  get asymmetricKeyType() { return undefined; }
  export() { return Buffer.from(this.#bytes); }
  equals(other) { return other instanceof KeyObject && other.type === this.type && timingSafeEqual(this.#bytes, other.export()); }
  static from() { return notImplemented("KeyObject.from")(); }
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
    const err = new RangeError(`The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ${size}`);
    err.code = "ERR_OUT_OF_RANGE";
    throw err;
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
    const err = new TypeError("The data argument must be an integer-type TypedArray");
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
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
    const err = new RangeError(`The value of "max" is out of range. It must be greater than the value of "min" (${min}) and at most 2^48 above it`);
    err.code = "ERR_OUT_OF_RANGE";
    throw err;
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

function timingSafeEqual(a, b) {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x.length !== y.length) {
    const err = new RangeError("Input buffers must have the same byte length");
    err.code = "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH";
    throw err;
  }
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

function notImplemented(name) {
  return () => {
    const err = new Error(`crypto.${name} is not implemented in chatfn yet`);
    err.code = "ERR_METHOD_NOT_IMPLEMENTED";
    throw err;
  };
}

export const webcrypto = {
  getRandomValues,
  randomUUID,
  get subtle() {
    return notImplemented("subtle")();
  },
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
  createSign: notImplemented("createSign"),
  sign: notImplemented("sign"),
  verify: notImplemented("verify"),
  generateKeyPair: notImplemented("generateKeyPair"),
  generateKeyPairSync: notImplemented("generateKeyPairSync"),
  generateKey: notImplemented("generateKey"),
  generateKeySync: notImplemented("generateKeySync"),
  hkdf: notImplemented("hkdf"),
  hkdfSync: notImplemented("hkdfSync"),
  publicEncrypt: notImplemented("publicEncrypt"),
  privateDecrypt: notImplemented("privateDecrypt"),
  createECDH: notImplemented("createECDH"),
  diffieHellman: notImplemented("diffieHellman"),
  getCiphers: () => [],
  getCurves: () => [],
  createVerify: notImplemented("createVerify"),
  createPrivateKey: notImplemented("createPrivateKey"),
  createPublicKey: notImplemented("createPublicKey"),
  createCipheriv: notImplemented("createCipheriv"),
  createDecipheriv: notImplemented("createDecipheriv"),
  pbkdf2: notImplemented("pbkdf2"),
  pbkdf2Sync: notImplemented("pbkdf2Sync"),
  scrypt: notImplemented("scrypt"),
  scryptSync: notImplemented("scryptSync"),
};

export default crypto;
