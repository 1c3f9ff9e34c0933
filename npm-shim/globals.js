// The global scope a chat function sees: Node's globals (process, Buffer, timers, console,
// global) and the web's (web/: fetch, URL, TextEncoder, AbortController, crypto, performance,
// MessageChannel, ...), as Node 22 has them; deno_core's own globals (Deno, __bootstrap) are taken away. Installed once per
// isolate, before the app's code runs.
import { core, primordials } from "ext:core/mod.js";
import { Buffer } from "ext:chatfn/buffer.js";
import { console } from "ext:chatfn/console.js";
import { webcrypto } from "ext:chatfn/crypto.js";
import { guardExternalMemory } from "ext:chatfn/memory.js";
import { process } from "ext:chatfn/process.js";
import { timerGlobals } from "ext:chatfn/timers.js";
import { AbortController, AbortSignal, Event, EventTarget } from "ext:chatfn/web/abort.js";
import { Blob, File } from "ext:chatfn/web/blob.js";
import { atob, btoa, DOMException, TextDecoder, TextEncoder } from "ext:chatfn/web/encoding.js";
import { fetch, FormData, Headers, Request, Response } from "ext:chatfn/web/fetch.js";
import { ReadableStream } from "ext:chatfn/web/streams.js";
import { CryptoKey, subtle } from "ext:chatfn/web/subtle.js";
import { URL, URLSearchParams } from "ext:chatfn/web/url.js";
import { MessageChannel, MessageEvent, MessagePort, WebSocket } from "ext:chatfn/web/messaging.js";
import { performance, PerformanceEntry } from "ext:chatfn/web/performance.js";
const { ObjectAssign } = primordials;

const web = {
  AbortController, AbortSignal, atob, Blob, btoa, CryptoKey, DOMException, Event, EventTarget, fetch, File, FormData, Headers,
  MessageChannel, MessageEvent, MessagePort, performance, PerformanceEntry, ReadableStream, Request, Response, TextDecoder,
  TextEncoder, URL, URLSearchParams, WebSocket,
  crypto: webcrypto,
  structuredClone: (value) => core.structuredClone(value),
};

export function installGlobals() {
  ObjectAssign(globalThis, timerGlobals, web, { Buffer, console, process, global: globalThis });
  webcrypto.subtle = subtle;
  guardExternalMemory();
  // Functions reach the host only through the globals above; deno_core's internals stay private.
  delete globalThis.Deno;
  delete globalThis.__bootstrap;
}
