// node:zlib: gzip, deflate (zlib) and raw deflate, sync, callback, promise and stream forms,
// over flate2 in Rust. Streams buffer their input and process it when they end. Brotli is not
// available: its functions throw ERR_METHOD_NOT_IMPLEMENTED.
import { core } from "ext:core/mod.js";
import { Buffer, bytesOf } from "ext:chatfn/buffer.js";
import { Transform } from "ext:chatfn/stream.js";
import { toBytes } from "ext:chatfn/internal/bytes.js";
import { notImplemented } from "ext:chatfn/internal/errors.js";
const { op_zlib_process } = core.ops;

const constants = {
  Z_NO_FLUSH: 0, Z_PARTIAL_FLUSH: 1, Z_SYNC_FLUSH: 2, Z_FULL_FLUSH: 3, Z_FINISH: 4, Z_BLOCK: 5,
  Z_OK: 0, Z_STREAM_END: 1, Z_NEED_DICT: 2, Z_ERRNO: -1, Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3, Z_BUF_ERROR: -5,
  Z_NO_COMPRESSION: 0, Z_BEST_SPEED: 1, Z_BEST_COMPRESSION: 9, Z_DEFAULT_COMPRESSION: -1,
  BROTLI_OPERATION_PROCESS: 0, BROTLI_OPERATION_FLUSH: 1, BROTLI_OPERATION_FINISH: 2, BROTLI_OPERATION_EMIT_METADATA: 3,
};

function process(mode, data, options) {
  // Its errors carry Node's `code` (and `errno` for Z_DATA_ERROR): runtime/src/ops/zlib.rs.
  return Buffer.from(op_zlib_process(mode, toBytes(data), options?.level ?? -1));
}

function stream(mode, options) {
  const chunks = [];
  return new Transform({
    transform(chunk, _enc, cb) { chunks.push(bytesOf(chunk)); cb(); },
    flush(cb) {
      try {
        cb(null, process(mode, Buffer.concat(chunks), options));
      } catch (e) {
        cb(e);
      }
    },
  });
}

function brotli() {
  throw notImplemented("Brotli is not available in chatfn");
}

const zlib = { constants, ...constants };
const modes = { gzip: "Gzip", gunzip: "Gunzip", deflate: "Deflate", inflate: "Inflate", deflateRaw: "DeflateRaw", inflateRaw: "InflateRaw", unzip: "Unzip" };
for (const [mode, Name] of Object.entries(modes)) {
  zlib[mode + "Sync"] = (data, options) => process(mode, data, options);
  zlib[mode] = (data, options, callback) => {
    if (typeof options === "function") [callback, options] = [options, undefined];
    let result;
    try {
      result = process(mode, data, options);
    } catch (e) {
      queueMicrotask(() => callback(e));
      return;
    }
    queueMicrotask(() => callback(null, result));
  };
  zlib["create" + Name] = (options) => stream(mode, options);
  zlib[Name] = function (options) { return stream(mode, options); };
}
for (const name of ["brotliCompress", "brotliDecompress", "brotliCompressSync", "brotliDecompressSync", "createBrotliCompress", "createBrotliDecompress"]) {
  zlib[name] = brotli;
}
// Zstandard (Node 22.15+): not available either, said the same way.
for (const name of ["zstdCompress", "zstdDecompress", "zstdCompressSync", "zstdDecompressSync", "createZstdCompress", "createZstdDecompress"]) {
  zlib[name] = () => {
    throw notImplemented("Zstandard is not available in chatfn");
  };
}

export default zlib;
