// Runs against the test server that tests/e2e/builtins.rs starts (TEST_SERVER, allowed in
// [network] allow_hosts).
const assert = require("assert");
assert.strictEqual(require("node:http"), require("http"));
assert.strictEqual(require("node:https"), require("https"));
assert.strictEqual(require("node:zlib"), require("zlib"));
assert.strictEqual(require("node:fs"), require("fs"));

function get(url) {
  return new Promise((resolve, reject) => {
    require("http")
      .get(url, { headers: { "x-test": "1" } }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ res, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });
}

async function handleEvent() {
  const base = process.env.TEST_SERVER;
  const { res, body } = await get(`${base}/json`);
  assert.strictEqual(res.statusCode, 200);
  assert.strictEqual(res.headers["content-type"], "application/json");
  assert.deepStrictEqual(JSON.parse(body.toString()), { ok: true });

  const redirect = await get(`${base}/moved`);
  assert.strictEqual(redirect.res.statusCode, 302, "node:http answers redirects instead of following them");
  assert.strictEqual(redirect.res.headers.location, "/json");

  // fetch follows redirects by default (each hop through the network policy), answers them
  // as they came with redirect: "manual", and fails on them with redirect: "error".
  const followed = await fetch(`${base}/moved`);
  assert.strictEqual(followed.status, 200);
  assert.strictEqual(followed.redirected, true);
  assert.strictEqual(followed.url, `${base}/json`);
  assert.deepStrictEqual(await followed.json(), { ok: true });
  const manual = await fetch(`${base}/moved`, { redirect: "manual" });
  assert.strictEqual(manual.status, 302);
  assert.strictEqual(manual.redirected, false);
  assert.strictEqual(manual.headers.get("location"), "/json");
  await assert.rejects(fetch(`${base}/moved`, { redirect: "error" }), (e) => e instanceof TypeError && /redirect/.test(e.cause.message));
  assert.throws(() => new Request(`${base}/json`, { redirect: "sideways" }), TypeError);

  const gz = await get(`${base}/gzip`);
  assert.strictEqual(gz.res.headers["content-encoding"], "gzip");
  const zlib = require("zlib");
  assert.strictEqual(zlib.gunzipSync(gz.body).toString(), "compressed hello");
  assert.strictEqual(zlib.inflateSync(zlib.deflateSync(Buffer.from("round trip"))).toString(), "round trip");
  assert.throws(() => zlib.gunzipSync(Buffer.from("not gzip")), { code: "Z_DATA_ERROR" });

  const refused = await new Promise((resolve) => require("http").get("http://169.254.169.254/", () => resolve(null)).on("error", resolve));
  assert.strictEqual(refused.code, "ERR_CHATFN_NETWORK_POLICY");
  // A closed port: Node's ECONNREFUSED, the code the op's error carries (never read from its message).
  const closed = await new Promise((resolve) => require("http").get("http://127.0.0.1:1/", () => resolve(null)).on("error", resolve));
  assert.strictEqual(closed.code, "ECONNREFUSED");
  assert.ok(!closed.message.startsWith("fetch failed"), closed.message);
  await assert.rejects(fetch("http://127.0.0.1:1/"), (e) => e instanceof TypeError && e.code === "ECONNREFUSED");
  assert.throws(() => require("http").createServer(), { code: "ERR_CHATFN_NOT_AVAILABLE" });

  // Response bodies stream: "first" arrives while the server still holds "second" back.
  const streamed = await new Promise((resolve) => require("http").get(`${process.env.STREAM_SERVER}/stream`, resolve));
  const parts = [];
  let firstArrived;
  const first = new Promise((resolve) => (firstArrived = resolve));
  const ended = new Promise((resolve) => streamed.on("end", resolve));
  streamed.on("data", (chunk) => {
    parts.push(chunk.toString());
    firstArrived();
  });
  await first;
  assert.deepStrictEqual(parts, ["first"]);
  await new Promise((resolve) => require("http").get(`${process.env.STREAM_SERVER}/release`, (r) => { r.resume(); r.on("end", resolve); }));
  await ended;
  assert.strictEqual(parts.join(""), "firstsecond");
  assert.strictEqual(streamed.complete, true);

  const fs = require("fs");
  const self = fs.readFileSync(__filename, "utf8");
  assert.ok(self.includes("node:http"));
  assert.ok(fs.existsSync(__dirname) && fs.statSync(__dirname).isDirectory());
  assert.ok(fs.readdirSync(__dirname).includes("test.js"));
  assert.throws(() => fs.readFileSync("/etc/passwd"), { code: "ENOENT" });
  assert.throws(() => fs.writeFileSync(__dirname + "/x", "y"), { code: "EROFS" });
  assert.strictEqual((await fs.promises.readFile(__filename)).length, Buffer.byteLength(self));
}
