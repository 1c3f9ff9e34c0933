// What an invocation saw from outside: its start time, the answers of its
// context.ChatKitty.Users calls and the responses to its outbound HTTP requests. It is kept
// with the invocation's record, so a replay (or a shadow version) can be given the same
// answers again: recorded calls are answered from the tape in order, Users calls it did not
// make go to a scratch store, and HTTP requests it did not make fail (a replay never reaches
// the network). Randomness is not replayed.
import { primordials } from "ext:core/mod.js";
import { currentLog } from "ext:chatfn/console.js";
import { base64Decode, base64Encode, concatBytes } from "ext:chatfn/internal/bytes.js";
const { ArrayPrototypeFindIndex, ArrayPrototypePush, DateNow, Error, JSONStringify, Proxy, ReflectConstruct, SafeSet } = primordials;

// Bytes of HTTP bodies one invocation records; past it, responses are no longer recorded.
const MAX_RECORDED_BYTES = 1 << 20;

/** A new tape for an invocation, or the replay of a recorded one. */
export function newTape(replay) {
  if (replay) return { startTime: replay.startTime, replayStartedAt: DateNow(), replay: replay.calls ?? [], used: new SafeSet(), misses: [] };
  return { startTime: DateNow(), calls: [], bytes: 0, truncated: false };
}

/**
 * The tape as it is stored with the invocation record, as JSON text: V8's JSON.stringify is
 * far cheaper than handing the objects to Rust one property at a time.
 */
export function tapeRecord(tape) {
  if (tape.replay) return JSONStringify({ replayed: true, misses: tape.misses });
  // Streamed bodies were kept as chunks; they are stored whole, like fetched ones.
  for (const call of tape.calls) {
    if (call.chunks) {
      call.reply.body = base64Encode(concatBytes(call.chunks));
      delete call.chunks;
    }
  }
  return JSONStringify({ startTime: tape.startTime, calls: tape.calls, truncated: tape.truncated });
}


function current() {
  return currentLog()?.tape;
}

// The first unused recorded call of this kind with the same request.
function take(tape, kind, request) {
  const key = JSONStringify(request);
  const at = ArrayPrototypeFindIndex(tape.replay, (c, i) => !tape.used.has(i) && c.kind === kind && JSONStringify(c.request) === key);
  if (at < 0) {
    ArrayPrototypePush(tape.misses, { kind, request });
    return undefined;
  }
  tape.used.add(at);
  return tape.replay[at];
}

/** Runs a Users op, or answers it from the replayed tape; records what it answered. */
export async function usersCall(method, url, start) {
  const tape = current();
  if (tape?.replay) {
    const recorded = take(tape, "users", { method, url });
    if (recorded) return recorded.reply;
  }
  const reply = await start();
  if (tape && !tape.replay) ArrayPrototypePush(tape.calls, { kind: "users", request: { method, url }, reply });
  return reply;
}

/**
 * Opens a response (`op_http_open`, for fetch and node:http), or answers it from the replayed
 * tape: resolves to the response head and `read()`, which gives the body chunk by chunk and
 * then null. Recorded bodies are kept up to MAX_RECORDED_BYTES per invocation.
 */
export async function httpOpen(method, url, openNow, readNow) {
  const tape = current();
  if (tape?.replay) {
    const recorded = take(tape, "http", { method, url });
    if (!recorded) throw new Error(`chatfn replay: no recorded response for ${method} ${url}; replays do not reach the network`);
    let body = base64Decode(recorded.reply.body);
    const read = async () => {
      const chunk = body;
      body = null;
      return chunk?.length ? chunk : null;
    };
    return { head: recorded.reply, read };
  }
  const head = await openNow();
  const recording = tape && !tape.truncated ? { kind: "http", request: { method, url }, reply: { ...head, rid: undefined, body: "" }, chunks: [] } : null;
  if (recording) ArrayPrototypePush(tape.calls, recording);
  const read = async () => {
    const chunk = await readNow(head.rid);
    if (chunk && recording && !tape.truncated) {
      if (tape.bytes + chunk.length > MAX_RECORDED_BYTES) {
        tape.truncated = true;
        recording.reply.incomplete = true;
      } else {
        tape.bytes += chunk.length;
        ArrayPrototypePush(recording.chunks, chunk);
      }
    }
    return chunk;
  };
  return { head, read };
}

let clockInstalled = false;

/**
 * In an isolate that replays, `Date` reads the replayed invocation's clock: its recorded start
 * time plus the time elapsed since the replay began. Other invocations see the real clock.
 */
export function installReplayClock() {
  if (clockInstalled) return;
  clockInstalled = true;
  const RealDate = globalThis.Date;
  const now = () => {
    const tape = current();
    return tape?.replay ? tape.startTime + (DateNow() - tape.replayStartedAt) : DateNow();
  };
  RealDate.now = now;
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) => ReflectConstruct(target, args.length > 0 ? args : [now()], newTarget),
    apply: () => new RealDate(now()).toString(),
  });
}
