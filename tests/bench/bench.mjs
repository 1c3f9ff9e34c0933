// `scripts/bench`: chatfn next to the Node baseline in one run, over loopback HTTP, for two
// apps: the example app (allow-list function) and ChatKitty's Firebase function on
// firebase-admin 13 (installed beforehand: cold start counts from process start with the
// install cached). Both apps see 1,000 distinct users (minted ID tokens for Firebase), each
// created by a warm-up pass, so every measured attempt is an existing user's.
//
// Load comes from wrk (a native load generator: the client's own cost must not cap either
// side); this script only starts servers, mints bodies and prints the table: attempts/s, p50
// and p99 at 1, 16 and 64 connections, cold start (process start to first allowed session),
// RSS after the load, and each figure's ratio chatfn/Node.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { sign } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import http from "node:http";
import net from "node:net";

const [chatfnBin, nodeBin, repoDir] = process.argv.slice(2);
const USERS = 1000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = [1, 16, 64];
// BENCH_KEEP=1 keeps the apps, bodies and wrk script (in the directory printed at the end).
const work = mkdtempSync(join(tmpdir(), "chatfn-bench-"));

/** One POST of a session attempt with Node's client (to `path`, the default app's by default):
 * only for first answers, never under load. */
function post(port, body, path = "/v1/sessions") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A request to chatfn's Platform API; answers the parsed JSON (and throws on an error status). */
function api(port, method, path, { body, bearer, basic } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (basic) headers.authorization = `Basic ${Buffer.from(basic).toString("base64")}`;
    if (body !== undefined) headers["content-type"] = typeof body === "string" ? "application/x-www-form-urlencoded" : "application/json";
    const req = http.request({ host: "127.0.0.1", port, path, method, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c)).on("end", () => {
        if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(text ? JSON.parse(text) : null);
      });
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
  });
}

/** A deploy through the Platform API, five times: from saving a new version of the function
 * (which deploys it) to the first attempt that version answers; the median in ms. */
async function deployToFirstAttempt(server, scenario) {
  const keys = execFileSync(chatfnBin, ["keys", "create", "--app", scenario.app, "--data", server.data], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [id, secret] = ["client_id", "client_secret"].map((k) => new RegExp(`${k}=(\\S+)`).exec(keys)[1]);
  const { access_token: bearer } = await api(server.port, "POST", "/oauth/token", { body: "grant_type=client_credentials", basic: `${id}:${secret}` });
  const listed = await api(server.port, "GET", "/v1/runtimes/nodejs/functions", { bearer });
  const fn = listed._embedded.functions.find((f) => f.type === "user.attempted.start_session");
  const code = readFileSync(join(scenario.app, scenario.functionFile), "utf8");
  const opening = /async function handleEvent\([^)]*\)\s*\{/.exec(code)[0];
  const times = [];
  for (let n = 1; n <= 5; n++) {
    // The new version answers the user "deploy-probe" with its number (and is otherwise the same).
    const handlerScript = code.replace(opening, `${opening}\n  if (event.username === "deploy-probe") throw new Error("version ${n}");`);
    const t0 = performance.now();
    await api(server.port, "POST", `/v1/functions/${fn.id}/versions`, { body: { handlerScript }, bearer });
    for (;;) {
      const answer = await new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port: server.port, path: "/v1/sessions", method: "POST", headers: { "content-type": "application/json" } }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c)).on("end", () => resolve(text));
        });
        req.on("error", reject);
        req.end(JSON.stringify({ username: "deploy-probe", authParams: {} }));
      });
      if (answer.includes(`version ${n}`)) break;
    }
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[2];
}

/** A port free now (the OS's pick), for the next server. */
function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const running = new Set();
process.on("exit", () => running.forEach((child) => child.kill("SIGKILL")));

/** chatfn's environment: a machine's snapshot cache of its own for each server (so that a first
 * start on a new data directory builds cold, whatever ran before), unless `env` names one. */
function chatfnEnv(env = {}) {
  return { ...process.env, CHATFN_SNAPSHOT_CACHE_DIR: mkdtempSync(join(work, "machine-")), ...env };
}

/** Where a chatfn server's log goes, and its RUST_LOG: BENCH_SERVER_LOG=file keeps it (RUST_LOG,
 * default chatfn=debug) for a look afterwards. */
function serverLog(env = {}) {
  const kept = process.env.BENCH_SERVER_LOG;
  return { stderr: kept ? openSync(kept, "a") : "ignore", env: chatfnEnv({ RUST_LOG: kept ? "chatfn=debug" : "chatfn=warn", ...env }) };
}

async function start(kind, scenario, data = mkdtempSync(join(work, "data-")), extra = [], env = {}) {
  const port = await freePort();
  const log = serverLog(env);
  const child = kind === "chatfn"
    ? spawn(chatfnBin, ["serve", "--app", scenario.app, "--data", data, "--listen", `127.0.0.1:${port}`, ...extra], { stdio: ["ignore", "ignore", log.stderr], env: log.env })
    : spawn(nodeBin, ["--no-warnings", join(repoDir, "tests/bench", scenario.baseline), scenario.app, String(port)], { stdio: "ignore" });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return { kind, child, port, data };
}

async function stop({ child, data }, keepData = false) {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
  }
  if (!keepData) rmSync(data, { recursive: true, force: true });
}

/** Waits (up to `timeout` ms) until chatfn has written the snapshot of the app's runtime into
 * `data` (of each of the apps `names`, when given) and is done with it (a second one follows
 * when the first attempt loaded more packages, unless it was taken after that attempt). */
async function snapshotTaken(data, names = [], timeout = 30000) {
  const dir = join(data, ".snapshots");
  const files = () => (existsSync(dir) ? readdirSync(dir) : []);
  // (A file being written is renamed into place between the listing and its stat.)
  const mtime = (f) => statSync(join(dir, f), { throwIfNoEntry: false })?.mtimeMs ?? "gone";
  const state = () => files().map((f) => `${f}@${mtime(f)}`).join();
  const every = () => names.every((name) => files().some((f) => f.startsWith(`${name}.`) && f.endsWith(".v8")));
  let last = "";
  for (let waited = 0; waited < timeout; waited += 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = state();
    if (now === last && now.includes(".v8") && !now.includes(".partial") && every()) return true;
    last = now;
  }
  return false;
}

async function firstAnswer(server, body) {
  const t0 = performance.now();
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`the ${server.kind} server exited (${server.child.exitCode}) before answering`);
    try {
      const status = await post(server.port, body);
      if (status === 200) return performance.now() - t0;
      throw new Error(`the benchmark session was answered ${status}`);
    } catch (e) {
      if (!/ECONNREFUSED|ECONNRESET/.test(e.message)) throw e;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]) / 1024;
}

/** The Lua script wrk runs: each request the next body of the file, from a random start; to the
 * default app's path, or with BENCH_APP_COUNT set, to the next of that many apps in turn
 * (BENCH_APP_PREFIX0, BENCH_APP_PREFIX1, ...). */
const lua = join(work, "bodies.lua");
writeFileSync(lua, `
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local apps = tonumber(os.getenv("BENCH_APP_COUNT") or "0")
local prefix = os.getenv("BENCH_APP_PREFIX") or ""
local i = 0
init = function(args) i = math.random(#bodies) end
request = function()
  i = i % #bodies + 1
  local path = "/v1/sessions"
  if apps > 0 then path = "/v1/apps/" .. prefix .. (i % apps) .. "/sessions" end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[i])
end
`);

const toMs = (value) => {
  const [, n, unit] = /^([\d.]+)(us|ms|s)$/.exec(value);
  return Number(n) * { us: 1e-3, ms: 1, s: 1e3 }[unit];
};

/** wrk's command line and environment against `port` with `connections` for `seconds`;
 * `apps` ({ prefix, count }) spreads the requests over that many apps. */
function wrkCommand(port, bodies, connections, seconds, apps) {
  const args = [`-t${Math.min(connections, 2)}`, `-c${connections}`, `-d${seconds}s`, "--latency", "-s", lua, `http://127.0.0.1:${port}/v1/sessions`];
  const env = { ...process.env, BENCH_BODIES: bodies };
  if (apps) Object.assign(env, { BENCH_APP_PREFIX: apps.prefix, BENCH_APP_COUNT: String(apps.count) });
  return [args, env];
}

/** What failed in wrk's output: attempts not allowed, socket errors (timeouts among them). */
function wrkFailures(out) {
  const refused = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  const errors = /Socket errors: (.*)/.exec(out)?.[1];
  return [refused && `${refused} attempts were not allowed`, errors && `socket errors (${errors})`].filter(Boolean);
}

/** Attempts/s, p50 and p99 in ms from wrk's output; throws when an attempt failed. */
function wrkResult(out) {
  const failures = wrkFailures(out);
  if (failures.length) throw new Error(`${failures.join(", ")}:\n${out}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: toMs(/\s50%\s+(\S+)/.exec(out)[1]),
    p99: toMs(/\s99%\s+(\S+)/.exec(out)[1]),
  };
}

/** wrk's output against `port` with `connections` for `seconds`. */
function wrkOutput(port, bodies, connections, seconds, apps) {
  const [args, env] = wrkCommand(port, bodies, connections, seconds, apps);
  const out = spawnSync("wrk", args, { env, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr || out.error}`);
  return out.stdout;
}

/** wrk against `port` with `connections` for `seconds`: attempts/s, p50 and p99 in ms. */
function wrk(port, bodies, connections, seconds, apps) {
  return wrkResult(wrkOutput(port, bodies, connections, seconds, apps));
}

/** A warm-up pass of `wrk` (not measured): attempts that failed or timed out are told, not
 * thrown, so that a slow warm-up still leaves the measured passes to run. */
function warmUp(port, bodies, connections, seconds, apps) {
  const failures = wrkFailures(wrkOutput(port, bodies, connections, seconds, apps));
  if (failures.length) console.log(`(a warm-up pass at c=${connections}: ${failures.join(", ")})`);
}

/** `wrk` in the background: resolves as `wrk` does, while this process does other work. */
function wrkAsync(port, bodies, connections, seconds, apps) {
  const [args, env] = wrkCommand(port, bodies, connections, seconds, apps);
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { env });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    // "close": its output read to the end ("exit" can come first).
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`wrk failed (${code})`));
      try {
        resolve(wrkResult(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function measure(kind, scenario) {
  const median = (xs) => xs.sort((a, b) => a - b)[2];
  // Cold start: a new data directory each time, after one start that read the packages (into
  // the kernel's page cache, and chatfn's code cache of them, written a second after it
  // compiled them: both are "deps cached").
  const warm = await start(kind, scenario);
  await firstAnswer(warm, scenario.first);
  await new Promise((r) => setTimeout(r, 2000));
  await stop(warm);
  const colds = [];
  for (let i = 0; i < 5; i++) {
    const server = await start(kind, scenario);
    colds.push(await firstAnswer(server, scenario.first));
    await stop(server);
  }
  // Restart: the same data directory again, where chatfn left the snapshot of the app's
  // runtime (Node keeps nothing: its restart is a cold start).
  const restarts = [];
  const machine = { CHATFN_SNAPSHOT_CACHE_DIR: mkdtempSync(join(work, "machine-")) };
  const first = await start(kind, scenario, undefined, [], machine);
  await firstAnswer(first, scenario.first);
  const snapshot = kind === "chatfn" ? await snapshotTaken(first.data) : false;
  await stop(first, true);
  for (let i = 0; i < 5; i++) {
    const server = await start(kind, scenario, first.data, [], machine);
    restarts.push(await firstAnswer(server, scenario.first));
    await stop(server, i < 4);
  }
  // A new data directory on the machine where that runtime was snapshotted: chatfn restores
  // from its snapshot cache (beside the npm packages); Node's is a cold start.
  const fresh = [];
  for (let i = 0; i < 5 && kind === "chatfn"; i++) {
    const server = await start(kind, scenario, undefined, [], machine);
    fresh.push(await firstAnswer(server, scenario.first));
    await stop(server);
  }
  const server = await start(kind, scenario);
  await firstAnswer(server, scenario.first);
  // Warm-up: every user's first session (which creates it), then the JITs settle.
  wrk(server.port, scenario.bodies, 1, Math.max(2, Math.ceil(USERS / 500)));
  wrk(server.port, scenario.bodies, 16, 2);
  const result = { cold: median(colds), restart: median(restarts), snapshot };
  result.fresh = kind === "chatfn" ? median(fresh) : result.cold;
  for (const c of CONNECTIONS) result[c] = wrk(server.port, scenario.bodies, c, SECONDS);
  result.rss = rssMb(server.child.pid);
  // Deploying new code: chatfn saves a version through its Platform API; Node restarts.
  result.deploy = kind === "chatfn" ? await deployToFirstAttempt(server, scenario) : result.restart;
  await stop(server);
  return result;
}

/** Copies `files` of the repository into a new app directory with `toml` as its chatfn.toml. */
function appDir(name, files, toml) {
  const app = join(work, name);
  for (const [from, to] of files) {
    mkdirSync(dirname(join(app, to)), { recursive: true });
    copyFileSync(join(repoDir, from), join(app, to));
  }
  writeFileSync(join(app, "chatfn.toml"), toml.join("\n") + "\n");
  return app;
}

function writeBodies(name, bodies) {
  const file = join(work, `${name}.bodies`);
  writeFileSync(file, bodies.join("\n") + "\n");
  return file;
}

/** The example app with 1,000 members, all sharing the passcode. */
function exampleApp() {
  const names = Array.from({ length: USERS }, (_, i) => `member${i}`);
  const app = appDir("example", [["functions/allow-list.ts", "functions/allow-list.ts"], ["functions/lib/allow-list.js", "functions/lib/allow-list.js"], ["init-scripts/allow-list.js", "init-scripts/allow-list.js"]], [
    "[app]", 'name = "example"', 'guest_users = "DISABLED"',
    "[runtime]", 'initialization_script = "init-scripts/allow-list.js"',
    "[runtime.environment]", `MEMBERS = "${names.map((n) => `${n}:Member ${n.slice(6)}`).join(",")}"`, 'PASSCODE = "open-sesame"',
    "[functions]", '"user.attempted.start_session" = "functions/allow-list.ts"',
  ]);
  const bodies = names.map((username) => JSON.stringify({ username, authParams: { passcode: "open-sesame" } }));
  return { app, bodies: writeBodies("example", bodies), first: bodies[0], functionFile: "functions/allow-list.ts" };
}

/** The Firebase app: the repository's function and init script, a test service account,
 * Google's certificate URL answered from a fixture, and an ID token per user. */
function firebaseApp() {
  const key = readFileSync(join(repoDir, "tests/fixtures/firebase/test-key.pem"), "utf8");
  const account = { type: "service_account", project_id: "chatfn-bench", private_key_id: "test-kid", private_key: key, client_email: "bench@chatfn-bench.iam.gserviceaccount.com", client_id: "1", token_uri: "https://oauth2.googleapis.com/token" };
  const app = appDir("firebase", [["functions/firebase-auth.ts", "functions/firebase-auth.ts"], ["init-scripts/firebase-admin.js", "init-scripts/firebase-admin.js"], ["chatfn.firebase.lock", "chatfn.lock"]], [
    "[app]", 'name = "firebase"', 'guest_users = "DISABLED"',
    "[runtime]", 'initialization_script = "init-scripts/firebase-admin.js"',
    "[runtime.dependencies]", 'firebase-admin = "^13"',
    "[runtime.environment]", `FIREBASE_SERVICE_ACCOUNT = '''${JSON.stringify(account)}'''`,
    "[functions]", '"user.attempted.start_session" = "functions/firebase-auth.ts"',
    "[[network.fixtures]]", 'url = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"',
    'headers = { "Cache-Control" = "public, max-age=19000", "Content-Type" = "application/json" }', 'body_file = "certs.json"',
  ]);
  writeFileSync(join(app, "certs.json"), JSON.stringify({ "test-kid": readFileSync(join(repoDir, "tests/fixtures/firebase/test-cert.pem"), "utf8") }));
  execFileSync(chatfnBin, ["deps", "install", "--app", app], { stdio: "ignore" });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const bodies = Array.from({ length: USERS }, (_, i) => {
    const uid = `user${i}`;
    const input = `${b64({ alg: "RS256", kid: "test-kid", typ: "JWT" })}.${b64({ iss: "https://securetoken.google.com/chatfn-bench", aud: "chatfn-bench", auth_time: now, user_id: uid, sub: uid, iat: now, exp: now + 3600, name: `User ${i}` })}`;
    const token = `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
    return JSON.stringify({ username: uid, authParams: { idToken: token } });
  });
  return { app, bodies: writeBodies("firebase", bodies), first: bodies[0], functionFile: "functions/firebase-auth.ts" };
}

const col = (text, width = 11) => String(text).padStart(width);
const num = (x, d) => x.toFixed(d);
// BENCH_APPS=firebase (or example, stores, events, isolates, density; comma separated) runs only those.
const wanted = (name) => !process.env.BENCH_APPS || process.env.BENCH_APPS.split(",").includes(name);
const allScenarios = [
  { name: "example", title: "example app (allow-list function)", baseline: "node-baseline.cjs", make: exampleApp },
  { name: "firebase", title: "Firebase function (firebase-admin 13, verifyIdToken RS256)", baseline: "node-firebase-baseline.cjs", make: firebaseApp },
];
const made = new Map();
/** A scenario with its app made (once). */
const ready = (s) => {
  if (!made.has(s.name)) made.set(s.name, { ...s, ...s.make() });
  return made.get(s.name);
};
const scenarios = allScenarios.filter((s) => wanted(s.name)).map(ready);
console.log(`chatfn vs Node ${process.version}: loopback HTTP, keep-alive, wrk, ${USERS} distinct users, ${SECONDS} s per row`);
for (const scenario of scenarios) {
  const chatfn = await measure("chatfn", scenario);
  const node = await measure("node", scenario);
  console.log(`\n${scenario.title}`);
  console.log("".padEnd(22) + col("chatfn") + col("node") + col("ratio", 8));
  const row = (label, a, b, d) => console.log(label.padEnd(22) + col(num(a, d)) + col(num(b, d)) + col(num(a / b, 2) + "x", 8));
  for (const c of CONNECTIONS) {
    row(`attempts/s c=${c}`, chatfn[c].rps, node[c].rps, 0);
    row(`  p50 ms c=${c}`, chatfn[c].p50, node[c].p50, 3);
    row(`  p99 ms c=${c}`, chatfn[c].p99, node[c].p99, 3);
  }
  row("cold start ms", chatfn.cold, node.cold, 1);
  row(`restart ms${chatfn.snapshot ? "" : " (no snap)"}`, chatfn.restart, node.restart, 1);
  row("new data dir ms", chatfn.fresh, node.fresh, 1);
  row("deploy ms", chatfn.deploy, node.deploy, 1);
  row("RSS MB after load", chatfn.rss, node.rss, 1);
  if (scenario.name === "example") await httpFloor(node);
}

/** What loopback HTTP and wrk allow on this machine: chatfn's `/healthz` and a Node server
 * answering a constant (no function, no store), at c=1 and c=16, beside the example app's
 * targets (1.5x and 2.5x Node's attempts/s, `node` being Node's run of the example app). */
async function httpFloor(node) {
  const port = await freePort();
  const chatfn = spawn(chatfnBin, ["serve", "--app", ready(allScenarios[0]).app, "--data", mkdtempSync(join(work, "data-")), "--listen", `127.0.0.1:${port}`], { stdio: "ignore", env: chatfnEnv() });
  const nodePort = await freePort();
  const constant = spawn(nodeBin, ["-e", `require("http").createServer((req, res) => res.end("ok")).listen(${nodePort}, "127.0.0.1")`], { stdio: "ignore" });
  for (const child of [chatfn, constant]) running.add(child);
  // Plain GETs (no body script), read as every other wrk run is (`wrkResult`).
  const get = (p, c, seconds) => {
    const out = spawnSync("wrk", [`-t${Math.min(c, 2)}`, `-c${c}`, `-d${seconds}s`, "--latency", `http://127.0.0.1:${p}${p === port ? "/healthz" : "/"}`], { encoding: "utf8" });
    if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr || out.error}`);
    return wrkResult(out.stdout).rps;
  };
  for (const p of [port, nodePort]) {
    for (let i = 0; i < 100; i++) {
      try {
        get(p, 1, 1);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  console.log("\nloopback HTTP floor: a server answering a constant (GET; no function, no store)");
  console.log("".padEnd(22) + col("chatfn") + col("node") + col("target", 9) + "  (the example app's: Node's attempts/s times 1.5 and 2.5)");
  for (const [c, times] of [[1, 1.5], [16, 2.5]]) {
    const target = node[c].rps * times;
    const [a, b] = [get(port, c, SECONDS), get(nodePort, c, SECONDS)];
    // Time per attempt the target leaves beyond an empty exchange (wall time: at c=16 both
    // cores' worth, shared with wrk), for the body, the function, the store and the record.
    const room = 1e6 / target - 1e6 / Math.max(a, b);
    console.log(`requests/s c=${c}`.padEnd(22) + col(num(a, 0)) + col(num(b, 0)) + col(num(target, 0), 9) + `  (${num(target / Math.max(a, b), 2)}x the faster floor: ${num(room, 1)} µs per attempt left)`);
  }
  for (const child of [chatfn, constant]) {
    child.kill("SIGKILL");
    running.delete(child);
  }
}
/** `count` small allow-list apps under `dir` (app0, app1, ...), as `--app` arguments. */
function smallApps(dir, count) {
  const apps = [];
  for (let i = 0; i < count; i++) {
    const app = join(dir, `app${i}`);
    mkdirSync(join(app, "functions"), { recursive: true });
    writeFileSync(join(app, "chatfn.toml"), `[app]\nname = "app${i}"\nguest_users = "DISABLED"\n[runtime.environment]\nMEMBERS = "ann,bob"\n[functions]\n"user.attempted.start_session" = "functions/start.js"\n`);
    writeFileSync(join(app, "functions/start.js"), `async function handleEvent(event, context) {
  if (!process.env.MEMBERS.split(",").includes(event.username)) throw new Error("not a member");
  const users = context.ChatKitty.Users;
  await users.checkUserExists(event.username).catch(() => users.createUser({ name: event.username }));
}
`);
    apps.push("--app", app);
  }
  return apps;
}

/** What one hot Firebase isolate costs: chatfn serving the Firebase app, a copy of it and 16
 * small apps (so that they start hibernated, holding no isolate), its RSS before and after
 * each Firebase app's first allowed session (which makes an isolate: firebase-admin
 * initialized, a token verified), per isolate made. The first Firebase app's growth also holds
 * what the process pays once for that path (chatfn's own code paged in: the RSA arithmetic,
 * the parts of V8 firebase-admin uses); the copy's is one more isolate alone. On a new data
 * directory (its isolates restored from the snapshots taken ahead at start), then on a restart
 * (from the snapshots taken after the first sessions). Node's side: its whole process after
 * its first session. */
async function isolateMemory() {
  // Each figure once the session's isolate has been idle long enough for chatfn to compact its
  // heap (it does so to one idle isolate a second, 200 ms after its last invocation).
  const SETTLE_MS = 2500;
  const firebase = ready(allScenarios[1]);
  const dir = join(work, "isolates");
  const apps = ["--app", firebase.app, ...firebaseApps(dir, 1), ...smallApps(dir, 16)];
  const data = join(dir, "data");
  const rounds = [];
  for (const round of ["first start", "restart"]) {
    const port = await freePort();
    const log = join(dir, `${round.replace(" ", "-")}.log`);
    const child = spawn(chatfnBin, ["serve", ...apps, "--data", data, "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", openSync(log, "w")], env: chatfnEnv({ RUST_LOG: "chatfn=debug" }) });
    running.add(child);
    await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => String(chunk).includes("apps open") && resolve());
      child.once("exit", (code) => reject(new Error(`chatfn exited (${code}) before opening its apps`)));
    });
    if (round === "first start") await snapshotTaken(data, ["firebase", "fb0"]);
    // A small app's first session first: what the process pays once for V8 (the engine's
    // code paged in, its platform) is not the Firebase isolate's.
    const small = await post(port, JSON.stringify({ username: "ann" }), "/v1/apps/app0/sessions");
    if (small !== 200) throw new Error(`a small app's first session was answered ${small}`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    for (const [which, app] of [["first", "firebase"], ["second", "fb0"]]) {
      const before = rssMb(child.pid);
      const status = await post(port, firebase.first, `/v1/apps/${app}/sessions`);
      if (status !== 200) throw new Error(`${app}'s first session was answered ${status}`);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const after = rssMb(child.pid);
      const lines = readFileSync(log, "utf8").replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => l.includes(`app=${app} `));
      const made = lines.filter((l) => /(built an isolate|restored an isolate)/.test(l)).length;
      // An isolate that compiled packages its start lacked gives its place to a restored one.
      const replaced = lines.filter((l) => l.includes("gave its place")).length;
      rounds.push({ round, which, mb: (after - before) / Math.max(made - replaced, 1), made, replaced });
    }
    if (round === "first start") await snapshotTaken(data, ["firebase", "fb0"]);
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    running.delete(child);
  }
  const node = await start("node", firebase);
  await firstAnswer(node, firebase.first);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const nodeRss = rssMb(node.child.pid);
  await stop(node);
  console.log("\nmemory of a hot Firebase app (firebase-admin initialized, one token verified)");
  for (const r of rounds) console.log(`${`chatfn, ${r.which} Firebase app (${r.round})`.padEnd(44)}${col(num(r.mb, 1))} MB (RSS growth at its first session, per isolate; ${r.made} made${r.replaced ? `, ${r.replaced} of them replaced by a restored one` : ""})`);
  console.log(`${"Node, its whole process".padEnd(44)}${col(num(nodeRss, 1))} MB`);
}

/** `count` copies of the Firebase app under `dir` (fb0, fb1, ...), as `--app` arguments; their
 * node_modules hard links to the one installed for the Firebase scenario. */
function firebaseApps(dir, count) {
  const template = ready(allScenarios[1]).app;
  const apps = [];
  for (let i = 0; i < count; i++) {
    const app = join(dir, `fb${i}`);
    mkdirSync(app, { recursive: true });
    for (const entry of readdirSync(template).filter((e) => e !== "node_modules")) cpSync(join(template, entry), join(app, entry), { recursive: true });
    execFileSync("cp", ["-al", join(template, "node_modules"), join(app, "node_modules")]);
    writeFileSync(join(app, "chatfn.toml"), readFileSync(join(template, "chatfn.toml"), "utf8").replace('name = "firebase"', `name = "fb${i}"`));
    apps.push("--app", app);
  }
  return apps;
}

/** Density: one chatfn serving BENCH_DENSITY_APPS apps (default 1,000), BENCH_DENSITY_FIREBASE
 * (default one in a hundred) of them the Firebase app and the rest small allow-list apps, started twice on
 * the same data directory (first: every app's store is made; restart: each is opened): how
 * long until it serves, until every app is open (a server of many apps serves at once and
 * opens them in the background), the first attempt of the last app right after serving
 * (opened for it before its turn), its RSS idle once all are open, the latency of the first
 * attempt of 20 small apps and of 10 Firebase apps (each builds or restores its app's first
 * isolate; the same Firebase apps both times, so the restart restores them from their
 * snapshots), then its RSS. After the restart, every Firebase app is woken and wrk drives
 * them all at once at c=16, beside one of them alone and Node's process serving the app. */
async function density(count) {
  const dir = join(work, "density");
  // The issue's mix: one app in a hundred is the Firebase app (100 of 10,000).
  const firebaseCount = Number(process.env.BENCH_DENSITY_FIREBASE ?? Math.max(1, Math.floor(count / 100)));
  if (!(firebaseCount >= 0 && firebaseCount <= count - 2)) throw new Error(`BENCH_DENSITY_FIREBASE=${firebaseCount} leaves fewer than two small apps of ${count}`);
  const smallCount = count - firebaseCount;
  const firebase = ready(allScenarios[1]);
  const apps = [...smallApps(dir, smallCount), ...firebaseApps(dir, firebaseCount)];
  const firstAttempt = async (port, app, body = JSON.stringify({ username: "ann" })) => {
    const t = performance.now();
    const status = await post(port, body, `/v1/apps/${app}/sessions`);
    if (status !== 200) throw new Error(`${app}'s first attempt was answered ${status}`);
    return performance.now() - t;
  };
  const pick = (n, of) => [...Array(of).keys()].sort(() => Math.random() - 0.5).slice(0, n);
  const firebasePicks = pick(Math.min(10, firebaseCount), firebaseCount);
  const sorted = (xs) => xs.sort((a, b) => a - b);
  console.log(`\ndensity: one chatfn serving ${count} apps, ${firebaseCount} of them the Firebase app (started hibernated)`);
  console.log(`${"".padEnd(36)}${col("first")}${col("restart")}`);
  const runs = [];
  let hot;
  for (const round of ["first", "restart"]) {
    const port = await freePort();
    const t0 = performance.now();
    const log = serverLog();
    const child = spawn(chatfnBin, ["serve", ...apps, "--data", join(dir, "data"), "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "pipe", log.stderr], env: log.env });
    running.add(child);
    let allOpen;
    // A server of 16 apps or fewer opens them before it serves.
    const done = count > 16 ? "apps open" : "serving";
    const opened = new Promise((resolve) => child.stdout.on("data", (chunk) => String(chunk).includes(done) && resolve((allOpen = performance.now() - t0))));
    await new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => String(chunk).includes("serving") && resolve());
      child.once("exit", (code) => reject(new Error(`chatfn exited (${code}) before serving ${count} apps`)));
    });
    const run = { started: performance.now() - t0 };
    run.last = allOpen === undefined ? await firstAttempt(port, `app${smallCount - 1}`) : NaN;
    await opened;
    run.allOpen = allOpen;
    await new Promise((r) => setTimeout(r, 1000));
    run.idle = rssMb(child.pid);
    const firsts = [];
    for (const i of pick(20, smallCount - 1)) firsts.push(await firstAttempt(port, `app${i}`));
    run.firsts = sorted(firsts);
    const firebaseFirsts = [];
    for (const i of firebasePicks) firebaseFirsts.push(await firstAttempt(port, `fb${i}`, firebase.first));
    run.firebaseFirsts = sorted(firebaseFirsts);
    run.after = rssMb(child.pid);
    if (round === "first") {
      // Every Firebase app once, and their snapshots taken: the restart restores them all.
      for (let i = 0; i < firebaseCount; i++) await firstAttempt(port, `fb${i}`, firebase.first);
      const names = [...Array(firebaseCount).keys()].map((i) => `fb${i}`);
      if (!(await snapshotTaken(join(dir, "data"), names, 60000 + 3000 * firebaseCount))) console.log("(not every Firebase app's snapshot was taken in time)");
    } else if (firebaseCount > 0) hot = await firebaseAtOnce(port, child, firebaseCount);
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    running.delete(child);
    runs.push(run);
  }
  const median = (xs) => xs[Math.floor(xs.length / 2)];
  const line = (label, f, digits, unit) => console.log(`${label.padEnd(36)}${runs.map((r) => col(num(f(r), digits))).join("")} ${unit}`);
  line("start to serving", (r) => r.started / 1000, 1, "s");
  line("start to every app open", (r) => r.allOpen / 1000, 1, "s");
  line("last app's first attempt, at once", (r) => r.last, 1, "ms (opened before its turn)");
  line("RSS idle, every app open", (r) => r.idle, 1, `MB (${runs.map((r) => num((r.idle * 1024) / count, 0)).join(" / ")} KB per app)`);
  line("first attempt of a small app, median", (r) => median(r.firsts), 1, `ms (slowest of ${runs[0].firsts.length}: ${runs.map((r) => num(r.firsts.at(-1), 1)).join(" / ")} ms)`);
  if (firebaseCount > 0) line("... of a Firebase app, median", (r) => median(r.firebaseFirsts), 1, `ms (slowest of ${firebasePicks.length}: ${runs.map((r) => num(r.firebaseFirsts.at(-1), 1)).join(" / ")} ms)`);
  line("RSS after those apps woke", (r) => r.after, 1, "MB");
  if (!hot) return;
  console.log(`\n${firebaseCount} Firebase apps hot at once (on the restarted server above), wrk c=16`);
  console.log("".padEnd(36) + col("attempts/s") + col("p99 ms"));
  const hotLine = (label, r, note = "") => console.log(label.padEnd(36) + col(num(r.rps, 0)) + col(num(r.p99, 3)) + note);
  hotLine("chatfn, one of them alone", hot.one);
  hotLine(`chatfn, all ${firebaseCount} at once`, hot.all, `  (${num(hot.all.rps / hot.one.rps, 2)}x of one alone; ${num(hot.all.rps / hot.node.rps, 2)}x Node's)`);
  hotLine("Node, the app in its own process", hot.node);
  console.log(`${"RSS with them all hot".padEnd(36)}${col(num(hot.rss, 1))} MB`);
}

/** Wakes `count` Firebase apps (fb0, fb1, ...) of the server at `port`, then measures wrk at
 * c=16 on one of them alone and on all at once (each request the next app), and Node serving
 * the app in a process of its own, in one run. */
async function firebaseAtOnce(port, child, count) {
  const firebase = ready(allScenarios[1]);
  const all = { prefix: "fb", count };
  const one = { prefix: "fb", count: 1 };
  for (let i = 0; i < count; i++) {
    const status = await post(port, firebase.first, `/v1/apps/fb${i}/sessions`);
    if (status !== 200) throw new Error(`fb${i}'s first attempt was answered ${status}`);
  }
  // Every user's first session in each app it meets (which creates it), then the JITs settle.
  warmUp(port, firebase.bodies, 1, Math.max(2, Math.ceil(USERS / 500)), all);
  warmUp(port, firebase.bodies, 16, 2, one);
  const alone = wrk(port, firebase.bodies, 16, SECONDS, one);
  // Each app's isolates warm up on their share of the load: twice the measured time first.
  warmUp(port, firebase.bodies, 16, Math.max(2, 2 * SECONDS), all);
  const atOnce = wrk(port, firebase.bodies, 16, SECONDS, all);
  const rss = rssMb(child.pid);
  const node = await start("node", firebase);
  await firstAnswer(node, firebase.first);
  wrk(node.port, firebase.bodies, 1, Math.max(2, Math.ceil(USERS / 500)));
  wrk(node.port, firebase.bodies, 16, 2);
  const nodeResult = wrk(node.port, firebase.bodies, 16, SECONDS);
  await stop(node);
  return { one: alone, all: atOnce, node: nodeResult, rss };
}

/** Chat events (chatfn only: Node has no queue to compare with): BENCH_EVENTS events (default
 * 10,000) for a no-op `user.sent.message` function over 100 channels, reported in batches of
 * 500 while wrk drives the example app's session attempts at c=16. Prints events delivered per
 * second, the delay from each event's 202 to its first run, and the attempts' p99 during the
 * burst against their p99 alone (the target: within 2x). */
async function chatEvents(count) {
  const example = exampleApp();
  const app = join(work, "events");
  cpSync(example.app, app, { recursive: true });
  writeFileSync(join(app, "functions/noop.js"), "async function handleEvent(event, context) {}\nmodule.exports = { handleEvent };\n");
  writeFileSync(join(app, "chatfn.toml"), readFileSync(join(example.app, "chatfn.toml"), "utf8") + '"user.sent.message" = "functions/noop.js"\n');
  const server = await start("chatfn", { app });
  await firstAnswer(server, example.first);
  wrk(server.port, example.bodies, 1, Math.max(2, Math.ceil(USERS / 500)));
  wrk(server.port, example.bodies, 16, 2);
  const alone = wrk(server.port, example.bodies, 16, SECONDS);
  const keys = execFileSync(chatfnBin, ["keys", "create", "--app", app, "--data", server.data], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [id, secret] = ["client_id", "client_secret"].map((k) => new RegExp(`${k}=(\\S+)`).exec(keys)[1]);
  const { access_token: bearer } = await api(server.port, "POST", "/oauth/token", { body: "grant_type=client_credentials", basic: `${id}:${secret}` });
  const user = { id: 1, name: "member1" };
  const during = wrkAsync(server.port, example.bodies, 16, SECONDS);
  const t0 = performance.now();
  for (let from = 0; from < count; from += 500) {
    const events = [];
    for (let i = from; i < Math.min(from + 500, count); i++) {
      const channel = { id: i % 100, type: "PUBLIC", name: `c${i % 100}` };
      events.push({ type: "user.sent.message", id: `bench-${i}`, event: { user, channel, message: { id: i, type: "TEXT", body: "hi" } } });
    }
    await api(server.port, "POST", "/v1/events", { body: { events }, bearer });
  }
  let stats;
  for (;;) {
    stats = await api(server.port, "GET", "/v1/events/stats", { bearer });
    if (stats.delivered >= count) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t0) / 1000;
  const burst = await during;
  await stop(server);
  console.log(`\nchat events: ${count} to a no-op function (100 channels), while wrk runs attempts at c=16`);
  console.log(`${"events delivered/s".padEnd(36)}${col(num(count / seconds, 0))}`);
  console.log(`${"202 to first run, p50 / p99".padEnd(36)}${col(num(stats.delay.p50Ms, 0))} / ${num(stats.delay.p99Ms, 0)} ms (of the last ${stats.delay.samples})`);
  console.log(`${"attempts p99 c=16 alone / in burst".padEnd(36)}${col(num(alone.p99, 3))} / ${num(burst.p99, 3)} ms (${num(burst.p99 / alone.p99, 2)}x; target <= 2x)`);
  console.log(`${"attempts/s c=16 alone / in burst".padEnd(36)}${col(num(alone.rps, 0))} / ${num(burst.rps, 0)}`);
}
/** A throwaway PostgreSQL (Debian's server, as the tests start it): initdb + pg_ctl on a
 * temporary directory and a free port, as the postgres user when run as root. */
async function startPostgres() {
  const versions = readdirSync("/usr/lib/postgresql").filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  const bin = `/usr/lib/postgresql/${versions.sort((a, b) => b - a)[0]}/bin`;
  const dir = mkdtempSync(join(tmpdir(), "chatfn-bench-pg-"));
  const root = process.getuid() === 0;
  if (root) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  const run = (tool, args) => execFileSync(root ? "runuser" : join(bin, tool), root ? ["-u", "postgres", "--", join(bin, tool), ...args] : args, { cwd: dir, stdio: "ignore" });
  run("initdb", ["-D", join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const port = await freePort();
  run("pg_ctl", ["-D", join(dir, "data"), "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, "-l", join(dir, "log"), "-w", "start"]);
  const pid = Number(readFileSync(join(dir, "data/postmaster.pid"), "utf8").split("\n")[0]);
  return {
    pid,
    database(name) {
      run("psql", ["-h", dir, "-p", String(port), "-U", "postgres", "-q", "-c", `CREATE DATABASE ${name}`]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop() {
      run("pg_ctl", ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU seconds (user + system) spent so far by `pids`, and by the PostgreSQL server and its
 * children (its backends): from /proc. */
function cpuSeconds(pids, postmaster) {
  const stat = (pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
    } catch {
      return null;
    }
  };
  const chatfn = pids.reduce((sum, pid) => sum + (stat(pid)?.cpu ?? 0), 0);
  let postgres = 0;
  if (postmaster) {
    for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      const s = stat(entry);
      if (s && (Number(entry) === postmaster || s.ppid === postmaster)) postgres += s.cpu;
    }
  }
  return { chatfn, postgres };
}

/** Stores: each app on one node with sled, one node with PostgreSQL, and three nodes sharing
 * one PostgreSQL (wrk at c=16 on each node at once). The nodes and PostgreSQL share this
 * machine's cores, so the CPU per attempt (chatfn and PostgreSQL processes, from /proc) is
 * printed beside the throughput. chatfn only. */
async function stores() {
  const pg = await startPostgres();
  try {
    for (const scenario of allScenarios.map(ready)) {
      console.log(`\nstores: ${scenario.title}, wrk c=16 per node`);
      console.log("".padEnd(26) + col("attempts/s") + col("p99 ms") + col("CPU µs/attempt: chatfn", 24) + col("PostgreSQL", 12));
      for (const [label, nodes, shared] of [["1 node, sled", 1, false], ["1 node, PostgreSQL", 1, true], ["3 nodes, PostgreSQL", 3, true]]) {
        const url = shared ? pg.database(`bench_${scenario.name}_${nodes}`) : null;
        const servers = [];
        for (let i = 0; i < nodes; i++) servers.push(await start("chatfn", scenario, undefined, url ? ["--store", url] : []));
        for (const server of servers) await firstAnswer(server, scenario.first);
        // Every user's first session (created once, on one node), then each node warms up.
        wrk(servers[0].port, scenario.bodies, 1, Math.max(2, Math.ceil(USERS / 500)));
        await Promise.all(servers.map((s) => wrkAsync(s.port, scenario.bodies, 16, 2)));
        const pids = servers.map((s) => s.child.pid);
        const before = cpuSeconds(pids, shared ? pg.pid : null);
        const results = await Promise.all(servers.map((s) => wrkAsync(s.port, scenario.bodies, 16, SECONDS)));
        const after = cpuSeconds(pids, shared ? pg.pid : null);
        const rps = results.reduce((sum, r) => sum + r.rps, 0);
        const p99 = Math.max(...results.map((r) => r.p99));
        const perAttempt = (seconds) => num((seconds * 1e6) / (rps * SECONDS), 0);
        console.log(label.padEnd(26) + col(num(rps, 0)) + col(num(p99, 3)) + col(perAttempt(after.chatfn - before.chatfn), 24) + col(shared ? perAttempt(after.postgres - before.postgres) : "-", 12));
        for (const server of servers) await stop(server);
      }
    }
  } finally {
    pg.stop();
  }
}
if (wanted("stores")) await stores();

if (!process.env.BENCH_APPS || process.env.BENCH_APPS.split(",").includes("events")) await chatEvents(Number(process.env.BENCH_EVENTS ?? 10000));

if (wanted("isolates")) await isolateMemory();

if (!process.env.BENCH_APPS || process.env.BENCH_APPS.split(",").includes("density")) await density(Number(process.env.BENCH_DENSITY_APPS ?? 1000));

if (process.env.BENCH_KEEP) console.log(`\nthe apps and bodies are in ${work}`);
else rmSync(work, { recursive: true, force: true });
