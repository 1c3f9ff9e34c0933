// node:stream: Stream, Readable, Writable, Duplex, Transform, PassThrough, pipeline and
// finished, for the common uses of npm packages: pushing and reading chunks, 'data'/'end'/
// 'finish'/'error' events, pipe(), async iteration, write callbacks. Backpressure is not
// modelled (write() always returns true) and object mode is the only mode that changes
// chunking. Anything beyond that throws ERR_METHOD_NOT_IMPLEMENTED.
import { EventEmitter } from "ext:chatfn/events.js";
import { Buffer } from "ext:chatfn/buffer.js";
import { nodeError } from "ext:chatfn/internal/errors.js";

const nextTick = (fn, ...args) => queueMicrotask(() => fn(...args));

function toChunk(stream, chunk, encoding) {
  if (stream._objectMode || chunk === null || chunk === undefined) return chunk;
  return typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
}

// Function constructors, not classes: packages written for Node call Readable.call(this, ...)
// from their own constructors (and util.inherits them), which a class would refuse.
function inherit(Ctor, Parent, Methods) {
  Object.setPrototypeOf(Ctor.prototype, Parent.prototype);
  Object.setPrototypeOf(Ctor, Parent);
  for (const key of Reflect.ownKeys(Methods.prototype)) {
    if (key !== "constructor") Object.defineProperty(Ctor.prototype, key, Object.getOwnPropertyDescriptor(Methods.prototype, key));
  }
  for (const key of Reflect.ownKeys(Methods)) {
    if (!["length", "name", "prototype"].includes(key)) Object.defineProperty(Ctor, key, Object.getOwnPropertyDescriptor(Methods, key));
  }
}

export function Stream(options) {
  if (!(this instanceof Stream)) return new Stream(options);
  EventEmitter.call(this, options);
}

inherit(Stream, EventEmitter, class {
  pipe(dest, options = {}) {
    this.on("data", (chunk) => dest.write(chunk));
    if (options.end !== false) this.on("end", () => dest.end());
    this.on("error", (err) => dest.emit("error", err));
    dest.emit("pipe", this);
    this.resume?.();
    return dest;
  }
});

export function Readable(options = {}) {
  if (!(this instanceof Readable)) return new Readable(options);
  Stream.call(this, options);
  {
    this._objectMode = !!(options.objectMode || options.readableObjectMode);
    this._buffer = [];
    this._ended = false;
    this._endEmitted = false;
    this._flowing = null;
    this._encoding = options.encoding ?? null;
    this.destroyed = false;
    this.readable = true;
    if (typeof options.read === "function") this._read = options.read;
    if (typeof options.destroy === "function") this._destroy = options.destroy;
  }
}

inherit(Readable, Stream, class {
  static from(iterable, options = {}) {
    const r = new Readable({ objectMode: true, ...options });
    // As in Node, a string or buffer is one chunk, not iterated character by character.
    if (typeof iterable === "string" || ArrayBuffer.isView(iterable)) iterable = [iterable];
    (async () => {
      try {
        for await (const chunk of iterable) r.push(chunk);
        r.push(null);
      } catch (err) {
        r.destroy(err);
      }
    })();
    return r;
  }

  _read() {}

  get readableEnded() { return this._endEmitted; }
  get readableObjectMode() { return this._objectMode; }

  // Packages written against Node's internals peek at these (node-fetch reads `ended`).
  get _readableState() {
    return { ended: this._ended, endEmitted: this._endEmitted, flowing: this._flowing, objectMode: this._objectMode, length: this._buffer.length, highWaterMark: this._objectMode ? 16 : 16384, destroyed: this.destroyed };
  }

  push(chunk, encoding) {
    if (chunk === null) {
      this._ended = true;
      this._flushBuffer();
      return false;
    }
    const value = toChunk(this, chunk, encoding);
    this._buffer.push(this._encoding && !this._objectMode ? Buffer.from(value).toString(this._encoding) : value);
    this._flushBuffer();
    return true;
  }

  unshift(chunk) {
    this._buffer.unshift(chunk);
  }

  setEncoding(encoding) {
    this._encoding = encoding;
    return this;
  }

  _flushBuffer() {
    nextTick(() => {
      if (this._flowing) {
        while (this._buffer.length > 0 && this._flowing) this.emit("data", this._buffer.shift());
      } else if (this._buffer.length > 0) {
        this.emit("readable");
      }
      if (this._ended && this._buffer.length === 0 && !this._endEmitted && this._flowing !== false) {
        this._endEmitted = true;
        this.readable = false;
        this.emit("end");
        this.emit("close");
      }
    });
  }

  read() {
    if (this._buffer.length === 0) {
      if (!this._ended) this._read();
      this._flushBuffer();
      return null;
    }
    const chunk = this._objectMode || typeof this._buffer[0] === "string" ? this._buffer.shift() : Buffer.concat(this._buffer.splice(0));
    this._flushBuffer();
    return chunk;
  }

  on(name, listener) {
    EventEmitter.prototype.on.call(this, name, listener);
    if (name === "data" && this._flowing !== false) this.resume();
    if (name === "readable") this._flushBuffer();
    return this;
  }

  resume() {
    if (!this._flowing) {
      this._flowing = true;
      this._read();
      this._flushBuffer();
    }
    return this;
  }

  pause() {
    this._flowing = false;
    return this;
  }

  isPaused() {
    return this._flowing === false;
  }

  destroy(err) {
    if (this.destroyed) return this;
    this.destroyed = true;
    const done = (e) => nextTick(() => {
      if (e) this.emit("error", e);
      this.emit("close");
    });
    if (this._destroy) this._destroy(err ?? null, done);
    else done(err);
    return this;
  }

  async *[Symbol.asyncIterator]() {
    const queue = [];
    let done = false;
    let failure = null;
    let wake = null;
    this.on("data", (chunk) => { queue.push(chunk); wake?.(); });
    this.on("end", () => { done = true; wake?.(); });
    this.on("error", (err) => { failure = err; wake?.(); });
    for (;;) {
      if (failure) throw failure;
      if (queue.length > 0) yield queue.shift();
      else if (done) return;
      else await new Promise((resolve) => (wake = resolve));
      wake = null;
    }
  }
});
Readable.prototype.addListener = Readable.prototype.on;

export function Writable(options = {}) {
  if (!(this instanceof Writable)) return new Writable(options);
  Stream.call(this, options);
  {
    this._objectMode = !!(options.objectMode || options.writableObjectMode);
    this._decodeStrings = options.decodeStrings !== false;
    this.writable = true;
    this.writableEnded = false;
    this.writableFinished = false;
    this.destroyed = false;
    this._pending = 0;
    this._ending = false;
    if (typeof options.write === "function") this._write = options.write;
    if (typeof options.final === "function") this._final = options.final;
    if (typeof options.destroy === "function") this._destroy = options.destroy;
  }
}

inherit(Writable, Stream, class {
  _write(_chunk, _encoding, callback) {
    callback();
  }

  get _writableState() {
    return { ended: this.writableEnded, finished: this.writableFinished, objectMode: this._objectMode, length: this._pending, highWaterMark: this._objectMode ? 16 : 16384, destroyed: this.destroyed };
  }

  write(chunk, encoding, callback) {
    if (typeof encoding === "function") [callback, encoding] = [encoding, undefined];
    if (this.writableEnded) {
      const err = nodeError(Error, "ERR_STREAM_WRITE_AFTER_END", "write after end");
      nextTick(() => this.emit("error", err));
      return false;
    }
    const value = this._decodeStrings ? toChunk(this, chunk, encoding) : chunk;
    this._pending++;
    this._write(value, typeof value === "string" ? encoding ?? "utf8" : "buffer", (err) => {
      this._pending--;
      if (err) this.emit("error", err);
      callback?.(err ?? null);
      this._maybeFinish();
    });
    return true;
  }

  end(chunk, encoding, callback) {
    if (typeof chunk === "function") [callback, chunk] = [chunk, undefined];
    else if (typeof encoding === "function") [callback, encoding] = [encoding, undefined];
    if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
    if (callback) this.once("finish", callback);
    this.writableEnded = true;
    this._ending = true;
    this._maybeFinish();
    return this;
  }

  _maybeFinish() {
    if (!this._ending || this._pending > 0 || this.writableFinished) return;
    const finish = (err) => {
      if (err) return this.emit("error", err);
      this.writableFinished = true;
      this.writable = false;
      nextTick(() => {
        this.emit("finish");
        this.emit("close");
      });
    };
    this._ending = false;
    if (this._final) this._final(finish);
    else finish();
  }

  destroy(err) {
    this.destroyed = true;
    if (err) nextTick(() => this.emit("error", err));
    nextTick(() => this.emit("close"));
    return this;
  }

  cork() {}
  uncork() {}
  setDefaultEncoding() { return this; }
});

export function Duplex(options = {}) {
  if (!(this instanceof Duplex)) return new Duplex(options);
  Readable.call(this, options);
  {
    const writable = new Writable({
      ...options,
      objectMode: options.objectMode || options.writableObjectMode,
      write: (chunk, encoding, cb) => this._write(chunk, encoding, cb),
      final: (cb) => (this._final ? this._final(cb) : cb()),
    });
    this._writable = writable;
    writable.on("finish", () => this.emit("finish"));
    writable.on("error", (e) => this.emit("error", e));
    if (typeof options.write === "function") this._write = options.write;
    if (typeof options.final === "function") this._final = options.final;
    this.writable = true;
  }
}

inherit(Duplex, Readable, class {
  _write(_chunk, _encoding, callback) { callback(); }
  write(chunk, encoding, callback) { return this._writable.write(chunk, encoding, callback); }
  end(chunk, encoding, callback) {
    this._writable.end(chunk, encoding, callback);
    return this;
  }
  get writableEnded() { return this._writable.writableEnded; }
  get writableFinished() { return this._writable.writableFinished; }
});

export function Transform(options = {}) {
  if (!(this instanceof Transform)) return new Transform(options);
  Duplex.call(this, options);
  if (typeof options.transform === "function") this._transform = options.transform;
  if (typeof options.flush === "function") this._flush = options.flush;
}

inherit(Transform, Duplex, class {
  _transform(chunk, _encoding, callback) { callback(null, chunk); }
  _write(chunk, encoding, callback) {
    this._transform(chunk, encoding, (err, data) => {
      if (data !== undefined && data !== null) this.push(data);
      callback(err);
    });
  }
  _final(callback) {
    const done = (err, data) => {
      if (data !== undefined && data !== null) this.push(data);
      this.push(null);
      callback(err);
    };
    if (this._flush) this._flush(done);
    else done();
  }
});

export function PassThrough(options) {
  if (!(this instanceof PassThrough)) return new PassThrough(options);
  Transform.call(this, options);
}

inherit(PassThrough, Transform, class {});

export function finished(stream, callback) {
  let called = false;
  const done = (err) => {
    if (!called) {
      called = true;
      callback(err ?? undefined);
    }
  };
  stream.on("end", () => done());
  stream.on("finish", () => done());
  stream.on("error", done);
  return () => {};
}

export function pipeline(...streams) {
  const callback = typeof streams[streams.length - 1] === "function" ? streams.pop() : () => {};
  for (let i = 0; i < streams.length - 1; i++) streams[i].pipe(streams[i + 1]);
  let failed = false;
  for (const s of streams) s.on("error", (err) => { if (!failed) { failed = true; callback(err); } });
  finished(streams[streams.length - 1], (err) => { if (!failed) callback(err); });
  return streams[streams.length - 1];
}

const promises = {
  pipeline: (...streams) => new Promise((resolve, reject) => pipeline(...streams, (err) => (err ? reject(err) : resolve()))),
  finished: (stream) => new Promise((resolve, reject) => finished(stream, (err) => (err ? reject(err) : resolve()))),
};

Stream.Stream = Stream;
Stream.Readable = Readable;
Stream.Writable = Writable;
Stream.Duplex = Duplex;
Stream.Transform = Transform;
Stream.PassThrough = PassThrough;
Stream.pipeline = pipeline;
Stream.finished = finished;
Stream.promises = promises;

export default Stream;
