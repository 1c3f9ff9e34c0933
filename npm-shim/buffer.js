// node:buffer: Buffer as a Uint8Array subclass, with Node's factories, encodings (utf8, hex,
// base64, base64url, latin1/binary, ascii, utf16le), comparisons, search, and the integer and
// float readers/writers. Text conversion lives in internal/bytes.js.
import { core, primordials } from "ext:core/mod.js";
import { fromBytes, toBytes } from "ext:chatfn/internal/bytes.js";
import { invalidArgType, outOfRange } from "ext:chatfn/internal/errors.js";
import { Blob, File } from "ext:chatfn/web/blob.js";
import { atob, btoa } from "ext:chatfn/web/encoding.js";

export { Blob, File };
const { ArrayBufferIsView, ArrayIsArray, DataView, MathMin, RangeError, TypeError, Uint8Array } = primordials;

function utf16leEncode(text) {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i * 2] = c & 0xff;
    out[i * 2 + 1] = c >> 8;
  }
  return out;
}

function utf16leDecode(bytes) {
  let out = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) out += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
  return out;
}

function normalizeEncoding(encoding) {
  const e = String(encoding ?? "utf8").toLowerCase();
  if (e === "ucs2" || e === "ucs-2" || e === "utf-16le") return "utf16le";
  return e;
}

function encode(text, encoding) {
  const e = normalizeEncoding(encoding);
  if (e === "utf16le") return utf16leEncode(text);
  if (e === "ascii") return toBytes(text, "latin1").map((b) => b & 0x7f);
  return toBytes(text, e);
}

function decode(bytes, encoding) {
  const e = normalizeEncoding(encoding);
  if (e === "utf16le") return utf16leDecode(bytes);
  if (e === "ascii") return fromBytes(bytes.map((b) => b & 0x7f), "latin1");
  return fromBytes(bytes, e);
}

/**
 * A new Buffer of the bytes a stream chunk stands for: a string's UTF-8, or the bytes of any
 * ArrayBuffer view (a Uint16Array's or a DataView's bytes, where `Buffer.from` takes a
 * TypedArray's elements); anything else as `Buffer.from` takes it.
 */
export function bytesOf(chunk) {
  return Buffer.from(ArrayBufferIsView(chunk) ? toBytes(chunk) : chunk);
}

const kMaxLength = 2 ** 32;

function checkSize(size) {
  if (typeof size !== "number" || size < 0 || size > kMaxLength || Number.isNaN(size)) {
    throw outOfRange("size", `>= 0 && <= ${kMaxLength}`, size);
  }
}

export class Buffer extends Uint8Array {
  // new Buffer(...) is deprecated in Node but still used by old packages; it behaves like
  // Buffer.from/alloc. Typed-array methods (subarray, map) construct through here too.
  constructor(arg, encodingOrOffset, length) {
    if (typeof arg === "number") {
      checkSize(arg);
      super(arg);
    } else if (typeof arg === "string") {
      // (Copied into the Buffer's own memory, which the app's allocator counts at once: UTF-8
      // bytes come from `core.encode`, which only the periodic external-memory check sees.)
      const bytes = encode(arg, encodingOrOffset);
      super(bytes.length);
      this.set(bytes);
    } else if (arg instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && arg instanceof SharedArrayBuffer)) {
      super(arg, encodingOrOffset ?? 0, length ?? arg.byteLength - (encodingOrOffset ?? 0));
    } else if (arg instanceof DataView) {
      // Node's answer: a DataView has no length, so its Buffer is empty (`bytesOf` gives its bytes).
      super(0);
    } else {
      // A TypedArray or an array element by element, each modulo 256, as Node does (not a
      // TypedArray's bytes: `bytesOf` gives those).
      super(arg.length);
      this.set(arg);
    }
  }

  static from(value, encodingOrOffset, length) {
    if (typeof value === "string") return new Buffer(value, encodingOrOffset);
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      return new Buffer(value, encodingOrOffset, length);
    }
    if (ArrayBufferIsView(value) || ArrayIsArray(value)) return new Buffer(value);
    if (value !== null && typeof value === "object") {
      if (typeof value.valueOf === "function" && value.valueOf() !== value) return Buffer.from(value.valueOf(), encodingOrOffset, length);
      if (value.type === "Buffer" && ArrayIsArray(value.data)) return new Buffer(value.data);
      if (typeof value.length === "number") return new Buffer(Array.from(value));
    }
    throw invalidArgType("first argument", "of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object", value);
  }

  static alloc(size, fill, encoding) {
    checkSize(size);
    const b = new Buffer(size);
    if (fill !== undefined && fill !== 0) b.fill(fill, 0, size, encoding);
    return b;
  }

  static allocUnsafe(size) {
    checkSize(size);
    return new Buffer(size);
  }

  static allocUnsafeSlow(size) {
    return Buffer.allocUnsafe(size);
  }

  static isBuffer(value) {
    return value instanceof Buffer;
  }

  static isEncoding(encoding) {
    return ["utf8", "utf-8", "hex", "base64", "base64url", "latin1", "binary", "ascii", "utf16le", "ucs2", "ucs-2", "utf-16le"].includes(String(encoding).toLowerCase());
  }

  static byteLength(value, encoding) {
    if (typeof value !== "string") return value.byteLength;
    return encode(value, encoding).length;
  }

  static concat(list, totalLength) {
    const total = totalLength ?? list.reduce((n, b) => n + b.length, 0);
    const out = Buffer.alloc(total);
    let offset = 0;
    for (const b of list) {
      if (offset >= total) break;
      const part = b.length > total - offset ? b.subarray(0, total - offset) : b;
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  static compare(a, b) {
    const n = MathMin(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }

  get parent() { return this.buffer; }
  get offset() { return this.byteOffset; }

  toString(encoding, start = 0, end = this.length) {
    return decode(this.subarray(start, end), encoding);
  }

  toJSON() {
    return { type: "Buffer", data: Array.from(this) };
  }

  equals(other) {
    return Buffer.compare(this, other) === 0;
  }

  compare(target, targetStart = 0, targetEnd = target.length, sourceStart = 0, sourceEnd = this.length) {
    return Buffer.compare(this.subarray(sourceStart, sourceEnd), target.subarray(targetStart, targetEnd));
  }

  copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
    const part = this.subarray(sourceStart, MathMin(sourceEnd, sourceStart + target.length - targetStart));
    target.set(part, targetStart);
    return part.length;
  }

  slice(start, end) {
    return this.subarray(start, end);
  }

  write(text, offset = 0, length = this.length - offset, encoding = "utf8") {
    if (typeof offset === "string") [encoding, offset, length] = [offset, 0, this.length];
    else if (typeof length === "string") [encoding, length] = [length, this.length - offset];
    const bytes = encode(text, encoding).subarray(0, MathMin(length, this.length - offset));
    this.set(bytes, offset);
    return bytes.length;
  }

  fill(value, start = 0, end = this.length, encoding) {
    if (typeof start === "string") [encoding, start, end] = [start, 0, this.length];
    if (typeof value === "number") return super.fill(value & 0xff, start, end);
    const pattern = typeof value === "string" ? encode(value, encoding) : value;
    if (pattern.length === 0) return super.fill(0, start, end);
    for (let i = start, j = 0; i < end; i++, j = (j + 1) % pattern.length) this[i] = pattern[j];
    return this;
  }

  indexOf(value, byteOffset = 0, encoding) {
    if (typeof value === "number") return super.indexOf(value & 0xff, byteOffset);
    const needle = typeof value === "string" ? encode(value, encoding) : value;
    if (byteOffset < 0) byteOffset = Math.max(0, this.length + byteOffset);
    outer: for (let i = byteOffset; i <= this.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  includes(value, byteOffset, encoding) {
    return this.indexOf(value, byteOffset, encoding) !== -1;
  }

  #view() {
    return new DataView(this.buffer, this.byteOffset, this.byteLength);
  }

  #check(offset, size) {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.length) {
      throw outOfRange("offset", `>= 0 and <= ${this.length - size}`, offset);
    }
  }

  readUInt8(o = 0) { this.#check(o, 1); return this[o]; }
  readInt8(o = 0) { this.#check(o, 1); return this.#view().getInt8(o); }
  readUInt16BE(o = 0) { this.#check(o, 2); return this.#view().getUint16(o); }
  readUInt16LE(o = 0) { this.#check(o, 2); return this.#view().getUint16(o, true); }
  readInt16BE(o = 0) { this.#check(o, 2); return this.#view().getInt16(o); }
  readInt16LE(o = 0) { this.#check(o, 2); return this.#view().getInt16(o, true); }
  readUInt32BE(o = 0) { this.#check(o, 4); return this.#view().getUint32(o); }
  readUInt32LE(o = 0) { this.#check(o, 4); return this.#view().getUint32(o, true); }
  readInt32BE(o = 0) { this.#check(o, 4); return this.#view().getInt32(o); }
  readInt32LE(o = 0) { this.#check(o, 4); return this.#view().getInt32(o, true); }
  readBigUInt64BE(o = 0) { this.#check(o, 8); return this.#view().getBigUint64(o); }
  readBigUInt64LE(o = 0) { this.#check(o, 8); return this.#view().getBigUint64(o, true); }
  readFloatBE(o = 0) { this.#check(o, 4); return this.#view().getFloat32(o); }
  readFloatLE(o = 0) { this.#check(o, 4); return this.#view().getFloat32(o, true); }
  readDoubleBE(o = 0) { this.#check(o, 8); return this.#view().getFloat64(o); }
  readDoubleLE(o = 0) { this.#check(o, 8); return this.#view().getFloat64(o, true); }
  writeUInt8(v, o = 0) { this.#check(o, 1); this[o] = v; return o + 1; }
  writeInt8(v, o = 0) { this.#check(o, 1); this.#view().setInt8(o, v); return o + 1; }
  writeUInt16BE(v, o = 0) { this.#check(o, 2); this.#view().setUint16(o, v); return o + 2; }
  writeUInt16LE(v, o = 0) { this.#check(o, 2); this.#view().setUint16(o, v, true); return o + 2; }
  writeInt16BE(v, o = 0) { this.#check(o, 2); this.#view().setInt16(o, v); return o + 2; }
  writeInt16LE(v, o = 0) { this.#check(o, 2); this.#view().setInt16(o, v, true); return o + 2; }
  writeUInt32BE(v, o = 0) { this.#check(o, 4); this.#view().setUint32(o, v); return o + 4; }
  writeUInt32LE(v, o = 0) { this.#check(o, 4); this.#view().setUint32(o, v, true); return o + 4; }
  writeInt32BE(v, o = 0) { this.#check(o, 4); this.#view().setInt32(o, v); return o + 4; }
  writeInt32LE(v, o = 0) { this.#check(o, 4); this.#view().setInt32(o, v, true); return o + 4; }
  writeBigUInt64BE(v, o = 0) { this.#check(o, 8); this.#view().setBigUint64(o, v); return o + 8; }
  writeBigUInt64LE(v, o = 0) { this.#check(o, 8); this.#view().setBigUint64(o, v, true); return o + 8; }
  writeFloatBE(v, o = 0) { this.#check(o, 4); this.#view().setFloat32(o, v); return o + 4; }
  writeFloatLE(v, o = 0) { this.#check(o, 4); this.#view().setFloat32(o, v, true); return o + 4; }
  writeDoubleBE(v, o = 0) { this.#check(o, 8); this.#view().setFloat64(o, v); return o + 8; }
  writeDoubleLE(v, o = 0) { this.#check(o, 8); this.#view().setFloat64(o, v, true); return o + 8; }
}

// Node's lower-case aliases.
for (const name of Object.getOwnPropertyNames(Buffer.prototype)) {
  if (/^(read|write)U?Int/.test(name) && name.includes("UInt")) {
    Buffer.prototype[name.replace("UInt", "Uint")] = Buffer.prototype[name];
  }
}
Buffer.poolSize = 8192;

const bufferModule = {
  Buffer,
  Blob,
  File,
  SlowBuffer: Buffer,
  kMaxLength,
  constants: { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 },
  atob,
  btoa,
};

export default bufferModule;
