// The web's Blob and File (also node:buffer's): immutable bytes with a MIME type, in memory.
import { core } from "ext:core/mod.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";

const blobBytes = new WeakMap();

function partBytes(part) {
  if (typeof part === "string") return core.encode(part);
  if (blobBytes.has(part)) return blobBytes.get(part);
  if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  if (part instanceof ArrayBuffer) return new Uint8Array(part);
  return core.encode(String(part));
}

/** The web's Blob (also Node's `buffer.Blob`): immutable bytes with a MIME type, held in memory. */
export class Blob {
  constructor(parts = [], options = {}) {
    if (parts === null || typeof parts !== "object" || typeof parts[Symbol.iterator] !== "function") {
      throw new TypeError("The \"blobParts\" argument must be an iterable of strings, buffers or blobs");
    }
    const chunks = Array.from(parts, partBytes);
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    blobBytes.set(this, bytes);
    const type = options?.type === undefined ? "" : String(options.type);
    this.#type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
  }
  #type;
  get size() { return blobBytes.get(this).byteLength; }
  get type() { return this.#type; }
  get [Symbol.toStringTag]() { return "Blob"; }
  async arrayBuffer() { return blobBytes.get(this).slice().buffer; }
  async bytes() { return blobBytes.get(this).slice(); }
  async text() { return core.decode(blobBytes.get(this)); }
  slice(start = 0, end = this.size, type = "") {
    const bytes = blobBytes.get(this);
    const clamp = (n) => (n < 0 ? Math.max(bytes.byteLength + n, 0) : Math.min(n, bytes.byteLength));
    return new Blob([bytes.subarray(clamp(start), Math.max(clamp(start), clamp(end)))], { type });
  }
  stream() {
    throw notAvailable("Blob.prototype.stream()", " (no web streams); use arrayBuffer() or text()");
  }
}

/** The web's File: a Blob with a name and a modification time. */
export class File extends Blob {
  constructor(parts, name, options = {}) {
    super(parts, options);
    if (name === undefined) throw new TypeError("The \"fileName\" argument is required");
    this.#name = String(name);
    this.#lastModified = options?.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
  #name;
  #lastModified;
  get name() { return this.#name; }
  get lastModified() { return this.#lastModified; }
  get [Symbol.toStringTag]() { return "File"; }
}

/** The bytes of a Blob made here, or undefined (for fetch bodies). */
export function bytesOfBlob(value) {
  return blobBytes.get(value);
}
