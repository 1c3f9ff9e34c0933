// node:string_decoder: decodes a stream of bytes without splitting multi-byte characters.
import { Buffer, bytesOf } from "ext:chatfn/buffer.js";

export class StringDecoder {
  constructor(encoding = "utf8") {
    this.encoding = String(encoding).toLowerCase().replace("-", "");
    this.pending = Buffer.alloc(0);
  }

  write(chunk) {
    const bytes = Buffer.concat([this.pending, bytesOf(chunk)]);
    if (this.encoding !== "utf8") {
      this.pending = Buffer.alloc(0);
      return bytes.toString(this.encoding);
    }
    // Keep back an incomplete UTF-8 sequence at the end.
    let keep = 0;
    for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
      const b = bytes[i];
      if ((b & 0xc0) === 0x80) continue;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (bytes.length - i < need) keep = bytes.length - i;
      break;
    }
    this.pending = bytes.subarray(bytes.length - keep);
    return bytes.subarray(0, bytes.length - keep).toString("utf8");
  }

  end(chunk) {
    const text = chunk === undefined ? "" : this.write(chunk);
    const rest = this.pending.length ? this.pending.toString(this.encoding) : "";
    this.pending = Buffer.alloc(0);
    return text + rest;
  }
}

export default { StringDecoder };
