// Bytes <-> text for the built-ins that take and give encodings (crypto today, Buffer later):
// utf8, hex, base64, base64url, latin1.
import { core, primordials } from "ext:core/mod.js";
import { invalidArgType, nodeError } from "ext:chatfn/internal/errors.js";
const { ArrayBufferIsView, Error, StringFromCharCode, StringPrototypeCharCodeAt, StringPrototypeReplace, TypeError, Uint8Array } = primordials;

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

/** Lenient like Node: skips whitespace and padding, stops at the first invalid character. */
export function base64Decode(text) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = StringPrototypeCharCodeAt(text, i);
    const v = c < 128 ? B64_INDEX[c] : 255;
    if (v === 255) {
      if (text[i] === "=" || text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t") continue;
      break;
    }
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
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

export function hexDecode(text) {
  const out = new Uint8Array(text.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const byte = parseInt(text.substr(i * 2, 2), 16);
    if (Number.isNaN(byte)) return out.subarray(0, i);
    out[i] = byte;
  }
  return out;
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
