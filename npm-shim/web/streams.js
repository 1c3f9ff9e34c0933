// The web's ReadableStream (also node:stream/web's): the reading half of WHATWG streams, enough
// for libraries that test `instanceof ReadableStream`, build streams from a source with
// start/pull/cancel, and read them with a reader or `for await`. Piping, teeing, byte streams
// and WritableStream/TransformStream are not provided and say so.
import { primordials } from "ext:core/mod.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
const { ArrayPrototypePush, ArrayPrototypeShift, Error, Promise, PromiseResolve, SymbolAsyncIterator, TypeError } = primordials;

function unavailable(what) {
  return notAvailable(what, " (only reading a ReadableStream is)");
}

export class ReadableStream {
  #queue = [];
  #waiting = [];
  #state = "readable";
  #error;
  #reader = null;
  #source;
  #pulling = false;
  #highWaterMark;

  constructor(source = {}, strategy = {}) {
    if (source?.type === "bytes") throw unavailable("ReadableStream with type \"bytes\"");
    this.#source = source ?? {};
    this.#highWaterMark = strategy?.highWaterMark ?? 1;
    const controller = {
      enqueue: (chunk) => this.#enqueue(chunk),
      close: () => this.#close(),
      error: (e) => this.#fail(e),
      get desiredSize() { return null; },
    };
    this.#controller = controller;
    this.#closedPromise = new Promise((resolve, reject) => { this.#settle = { resolve, reject }; });
    this.#closedPromise.catch(() => {});
    PromiseResolve(this.#source.start?.(controller)).then(() => this.#pull(), (e) => this.#fail(e));
  }
  #controller;
  #closedPromise;
  #settle;

  get locked() { return this.#reader !== null; }

  #enqueue(chunk) {
    if (this.#state !== "readable") throw new TypeError("Cannot enqueue a chunk into a closed or errored stream");
    const waiter = ArrayPrototypeShift(this.#waiting);
    if (waiter) waiter.resolve({ value: chunk, done: false });
    else ArrayPrototypePush(this.#queue, chunk);
  }

  #close() {
    if (this.#state !== "readable") return;
    this.#state = "closed";
    this.#settle.resolve();
    for (const waiter of this.#waiting.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  #fail(e) {
    if (this.#state !== "readable") return;
    this.#state = "errored";
    this.#error = e;
    this.#settle.reject(e);
    this.#queue = [];
    for (const waiter of this.#waiting.splice(0)) waiter.reject(e);
  }

  #pull() {
    if (this.#pulling || this.#state !== "readable" || typeof this.#source.pull !== "function") return;
    if (this.#queue.length >= this.#highWaterMark && this.#waiting.length === 0) return;
    this.#pulling = true;
    PromiseResolve(this.#source.pull(this.#controller)).then(
      () => {
        this.#pulling = false;
        if (this.#waiting.length > 0) this.#pull();
      },
      (e) => this.#fail(e),
    );
  }

  /** The next chunk, for the reader. */
  read() {
    if (this.#queue.length > 0) {
      const value = ArrayPrototypeShift(this.#queue);
      this.#pull();
      return PromiseResolve({ value, done: false });
    }
    if (this.#state === "closed") return PromiseResolve({ value: undefined, done: true });
    if (this.#state === "errored") return Promise.reject(this.#error);
    const next = new Promise((resolve, reject) => ArrayPrototypePush(this.#waiting, { resolve, reject }));
    this.#pull();
    return next;
  }

  cancel(reason) {
    if (this.#state !== "readable") return PromiseResolve();
    this.#queue = [];
    this.#close();
    return PromiseResolve(this.#source.cancel?.(reason)).then(() => undefined);
  }

  getReader(options) {
    if (options?.mode === "byob") throw unavailable("A BYOB reader");
    if (this.#reader) throw new TypeError("ReadableStream is locked to a reader");
    const stream = this;
    const reader = {
      read: () => stream.read(),
      cancel: (reason) => stream.cancel(reason),
      releaseLock: () => { stream.#reader = null; },
      get closed() { return stream.#closedPromise; },
    };
    this.#reader = reader;
    return reader;
  }

  async *[SymbolAsyncIterator]() {
    const reader = this.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }

  values() { return this[SymbolAsyncIterator](); }
  tee() { throw unavailable("ReadableStream.prototype.tee()"); }
  pipeTo() { return Promise.reject(unavailable("ReadableStream.prototype.pipeTo()")); }
  pipeThrough() { throw unavailable("ReadableStream.prototype.pipeThrough()"); }

  static from(iterable) {
    const iterator = iterable[SymbolAsyncIterator]?.() ?? iterable[Symbol.iterator]();
    return new ReadableStream({
      async pull(controller) {
        const { value, done } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) { await iterator.return?.(reason); },
    });
  }
}

