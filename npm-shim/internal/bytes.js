// Bytes <-> text for the built-ins that take and give encodings (crypto today, Buffer later):
// utf8, hex, base64, base64url, latin1.
import { core, primordials } from "ext:core/mod.js";
import { invalidArgType, nodeError } from "ext:chatfn/internal/errors.js";
const { ArrayBufferIsView, Error, StringFromCharCode, StringPrototypeCharCodeAt, StringPrototypeIncludes, StringPrototypeReplace, TypeError, Uint8Array, uncurryThis } = primordials;

// V8's own base64 and hex (Uint8Array.fromBase64, toBase64, fromHex, toHex): native code for
// what Node does in C++. They are strict where Node is lenient, so the JavaScript below keeps
// Node's reading of anything they refuse (mixed alphabets, junk, odd hex). V8 adds them to a
// context restored from a snapshot, not while one is made: they are looked up at first use.
let natives;
function native() {
  if (natives === undefined && typeof Uint8Array.fromBase64 === "function") {
    natives = {
      fromBase64: Uint8Array.fromBase64,
      fromHex: Uint8Array.fromHex,
      toBase64: uncurryThis(Uint8Array.prototype.toBase64),
      toHex: uncurryThis(Uint8Array.prototype.toHex),
    };
  }
  return natives;
}
const BASE64 = { alphabet: "base64" };
const BASE64URL = { alphabet: "base64url" };
const BASE64URL_UNPADDED = { alphabet: "base64url", omitPadding: true };

/** The chunks, one after the other, in a new Uint8Array. */
export function concatBytes(chunks) {
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

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Uint8Array(128).fill(255);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;
B64_INDEX["-".charCodeAt(0)] = 62;
B64_INDEX["_".charCodeAt(0)] = 63;

function invalidEncoding(encoding) {
  return nodeError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${encoding}`);
}

export function base64Encode(bytes, url = false) {
  if (bytes instanceof Uint8Array && native()) return natives.toBase64(bytes, url ? BASE64URL_UNPADDED : BASE64);
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? B64[n & 63] : "=";
  }
  if (url) out = StringPrototypeReplace(StringPrototypeReplace(StringPrototypeReplace(out, /\+/g, "-"), /\//g, "_"), /=+$/, "");
  return out;
}

/** The alphabet for V8's decoder, which reads a text as Node does when it holds one alphabet
 * (Node takes both at once). */
function nativeAlphabet(text) {
  const url = StringPrototypeIncludes(text, "-") || StringPrototypeIncludes(text, "_");
  if (!url) return BASE64;
  return StringPrototypeIncludes(text, "+") || StringPrototypeIncludes(text, "/") ? undefined : BASE64URL;
}

/** Lenient like Node: either alphabet or both, characters of neither skipped, the end at the
 * first `=`. */
export function base64Decode(text) {
  const alphabet = nativeAlphabet(text);
  if (alphabet !== undefined && native()) {
    try {
      return natives.fromBase64(text, alphabet);
    } catch {
      // Junk, `=` before the end, a lone last character: read below, as Node does.
    }
  }
  const out = [];
  let bits = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = StringPrototypeCharCodeAt(text, i);
    if (c === 0x3d) break;
    const v = c < 128 ? B64_INDEX[c] : 255;
    if (v === 255) continue;
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

export function hexEncode(bytes) {
  if (bytes instanceof Uint8Array && native()) return natives.toHex(bytes);
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

/** Like Node: the bytes up to the first pair that is not two hex digits. */
export function hexDecode(text) {
  if (text.length % 2 === 0 && native()) {
    try {
      return natives.fromHex(text);
    } catch {
      // Not all hex: read below.
    }
  }
  const out = new Uint8Array(text.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const high = hexDigit(StringPrototypeCharCodeAt(text, i * 2));
    const low = hexDigit(StringPrototypeCharCodeAt(text, i * 2 + 1));
    if (high < 0 || low < 0) return out.subarray(0, i);
    out[i] = (high << 4) | low;
  }
  return out;
}

function hexDigit(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

export function latin1Encode(bytes) {
  let out = "";
  for (const b of bytes) out += StringFromCharCode(b);
  return out;
}

export function latin1Decode(text) {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = StringPrototypeCharCodeAt(text, i) & 0xff;
  return out;
}

/** A string in `encoding`, or any ArrayBufferView/ArrayBuffer, as a Uint8Array. */
export function toBytes(data, encoding = "utf8") {
  if (typeof data === "string") {
    switch (String(encoding).toLowerCase()) {
      case "utf8": case "utf-8": return core.encode(data);
      case "hex": return hexDecode(data);
      case "base64": case "base64url": return base64Decode(data);
      case "latin1": case "binary": case "ascii": return latin1Decode(data);
      default: throw invalidEncoding(encoding);
    }
  }
  if (ArrayBufferIsView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw invalidArgType("data", "of type string or an instance of Buffer, TypedArray, or DataView", data);
}

/** Bytes as a string in `encoding`; without one, the bytes themselves. */
export function fromBytes(bytes, encoding) {
  if (encoding === undefined) return bytes;
  switch (String(encoding).toLowerCase()) {
    case "hex": return hexEncode(bytes);
    case "base64": return base64Encode(bytes);
    case "base64url": return base64Encode(bytes, true);
    case "utf8": case "utf-8": return core.decode(bytes);
    case "latin1": case "binary": return latin1Encode(bytes);
    default: throw invalidEncoding(encoding);
  }
}
