// Built-ins chatfn does not host load, and fail clearly when used.
const assert = require("assert");
assert.strictEqual(require("node:net"), require("net"));

async function handleEvent() {
  const net = require("net");
  assert.strictEqual(net.isIP("10.0.0.1"), 4);
  assert.strictEqual(net.isIP("::1"), 6);
  assert.strictEqual(net.isIP("example.com"), 0);
  // A connection fails as an unreachable one does in Node: an `error` event, then `close`.
  const socket = net.connect(80, "example.com");
  assert.ok(socket instanceof net.Socket && socket.connecting);
  const closed = new Promise((resolve) => socket.once("close", resolve));
  const [error] = await require("events").once(socket, "error");
  assert.strictEqual(error.code, "ERR_CHATFN_NOT_AVAILABLE");
  assert.match(error.message, /^net\.connect\(\) is not available in chatfn: functions reach the network with fetch/);
  await closed;
  // Database drivers make their socket in their client's constructor: that works.
  const unconnected = new net.Socket();
  assert.ok(!unconnected.connecting && typeof unconnected.setNoDelay(true).setKeepAlive === "function");
  assert.throws(() => net.createServer(), { code: "ERR_CHATFN_NOT_AVAILABLE", message: "net.createServer() is not available in chatfn" });
  for (const name of ["child_process", "tls", "http2", "worker_threads", "dns", "vm"]) {
    const mod = require(name);
    assert.ok(mod, `${name} loads`);
  }
  assert.throws(() => require("child_process").spawn("ls"), { code: "ERR_CHATFN_NOT_AVAILABLE" });
  // Constructors of modules chatfn does not host say the same, never "is not a constructor".
  assert.throws(() => new net.Server(), { code: "ERR_CHATFN_NOT_AVAILABLE", message: "net.Server() is not available in chatfn" });
  const { MessageChannel } = require("worker_threads");
  assert.strictEqual(MessageChannel, globalThis.MessageChannel);
  assert.strictEqual(require("perf_hooks").performance, globalThis.performance);
  assert.strictEqual(require("tty").isatty(1), false);
  assert.strictEqual(require("worker_threads").isMainThread, true);

  const { AsyncLocalStorage } = require("async_hooks");
  const als = new AsyncLocalStorage();
  const seen = await als.run({ id: 7 }, async () => {
    await new Promise((r) => setTimeout(r, 1));
    return als.getStore().id;
  });
  assert.strictEqual(seen, 7, "the store follows awaits");
  assert.strictEqual(als.getStore(), undefined);

  // A Node name chatfn does not provide fails loudly; a name Node does not have is unknown.
  assert.throws(() => require("module"), { code: "ERR_CHATFN_BUILTIN_UNAVAILABLE" });
  assert.throws(() => require("node:nope"), { code: "ERR_UNKNOWN_BUILTIN_MODULE" });
  assert.strictEqual(require("timers/promises"), require("node:timers/promises"));
  assert.strictEqual(require("stream/web").ReadableStream, ReadableStream);

  const punycode = require("punycode");
  assert.strictEqual(punycode.toASCII("mañana.com"), "xn--maana-pta.com");
  assert.strictEqual(punycode.toUnicode("xn--maana-pta.com"), "mañana.com");
  assert.strictEqual(punycode.encode("mañana"), "maana-pta");
  assert.strictEqual(typeof require("perf_hooks").performance.now(), "number");
}
