// node:fs, read-only and confined: functions read their app's own files (code, data files,
// installed packages) through Rust ops that refuse anything outside the app directory. Every
// write is refused with EROFS. Sync, callback and promise forms are provided.
import { core } from "ext:core/mod.js";
import { Buffer } from "ext:chatfn/buffer.js";
import { Readable } from "ext:chatfn/stream.js";
import { nodeError } from "ext:chatfn/internal/errors.js";
const { op_fs_stat, op_fs_read_file, op_fs_read_dir } = core.ops;

function pathOf(p) {
  if (p instanceof URL) return decodeURIComponent(p.pathname);
  if (p instanceof Uint8Array) return Buffer.from(p).toString();
  return String(p);
}

// The ops throw Node's system errors (code, errno, syscall, path): runtime/src/ops/fs.rs.

function readOnly(syscall) {
  return (path) => {
    const message = `EROFS: read-only file system (chatfn functions cannot write files), ${syscall} '${path}'`;
    throw nodeError(Error, "EROFS", message, { errno: -30, syscall, path: String(path) });
  };
}

class Stats {
  constructor(s) {
    this.size = s.size;
    this.mode = s.mode;
    this.mtimeMs = s.mtimeMs;
    this.mtime = new Date(s.mtimeMs);
    this.atime = this.ctime = this.birthtime = this.mtime;
    this.#file = s.isFile;
    this.#dir = s.isDirectory;
  }
  #file;
  #dir;
  isFile() { return this.#file; }
  isDirectory() { return this.#dir; }
  isSymbolicLink() { return false; }
  isFIFO() { return false; }
  isSocket() { return false; }
  isBlockDevice() { return false; }
  isCharacterDevice() { return false; }
}

function statSync(path, options) {
  const p = pathOf(path);
  try {
    return new Stats(op_fs_stat(p));
  } catch (e) {
    if (options?.throwIfNoEntry === false && (e.code === "ENOENT" || e.code === "ENOTDIR")) return undefined;
    throw e;
  }
}

function readFileSync(path, options) {
  const p = pathOf(path);
  const encoding = typeof options === "string" ? options : options?.encoding;
  const bytes = Buffer.from(op_fs_read_file(p));
  return encoding ? bytes.toString(encoding) : bytes;
}

function readdirSync(path, options) {
  const p = pathOf(path);
  const entries = op_fs_read_dir(p);
  if (options?.withFileTypes) {
    return entries.map(([name, dir]) => ({ name, isDirectory: () => dir, isFile: () => !dir, isSymbolicLink: () => false }));
  }
  return entries.map(([name]) => name);
}

function existsSync(path) {
  try {
    op_fs_stat(pathOf(path));
    return true;
  } catch {
    return false;
  }
}

function accessSync(path) {
  statSync(path);
}

function realpathSync(path) {
  statSync(path);
  return pathOf(path);
}
realpathSync.native = realpathSync;

function callbackForm(sync) {
  return (...args) => {
    const callback = args.pop();
    let result;
    try {
      result = sync(...args);
    } catch (e) {
      queueMicrotask(() => callback(e));
      return;
    }
    queueMicrotask(() => callback(null, result));
  };
}

function createReadStream(path, options) {
  const encoding = typeof options === "string" ? options : options?.encoding;
  const stream = new Readable({ encoding });
  stream.path = pathOf(path);
  queueMicrotask(() => {
    try {
      stream.push(readFileSync(path));
      stream.push(null);
    } catch (e) {
      stream.destroy(e);
    }
  });
  return stream;
}

const writes = ["writeFile", "appendFile", "mkdir", "rm", "rmdir", "unlink", "rename", "copyFile", "symlink", "chmod", "chown", "utimes", "truncate", "mkdtemp"];

const promises = {
  readFile: async (path, options) => readFileSync(path, options),
  stat: async (path) => statSync(path),
  lstat: async (path) => statSync(path),
  readdir: async (path, options) => readdirSync(path, options),
  access: async (path) => accessSync(path),
  realpath: async (path) => realpathSync(path),
};
for (const name of writes) promises[name] = async (path) => readOnly(name)(path);

const fs = {
  constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, O_RDONLY: 0 },
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1,
  Stats,
  statSync,
  lstatSync: statSync,
  readFileSync,
  readdirSync,
  existsSync,
  accessSync,
  realpathSync,
  stat: callbackForm(statSync),
  lstat: callbackForm(statSync),
  readFile: callbackForm(readFileSync),
  readdir: callbackForm(readdirSync),
  access: callbackForm(accessSync),
  realpath: callbackForm(realpathSync),
  exists: (path, callback) => queueMicrotask(() => callback(existsSync(path))),
  createReadStream,
  createWriteStream: readOnly("open"),
  watch: readOnly("watch"),
  promises,
};
for (const name of writes) {
  fs[name + "Sync"] = readOnly(name);
  fs[name] = (path, ...rest) => {
    const callback = rest.pop();
    try {
      readOnly(name)(path);
    } catch (e) {
      queueMicrotask(() => typeof callback === "function" && callback(e));
    }
  };
}

export default fs;
