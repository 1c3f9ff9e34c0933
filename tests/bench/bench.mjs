// `scripts/bench`: chatfn next to the Node baseline, over loopback HTTP, for two apps: the
// example app (allow-list) and ChatKitty's Firebase function on firebase-admin 13 (installed
// beforehand: cold start counts from process start with the install cached). Prints cold
// start (process start -> first answered session), warm latency of one session attempt
// (sequential, keep-alive), throughput with 16 concurrent clients, and memory.
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { sign } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import http from "node:http";

const [chatfnBin, nodeBin, repoDir] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(port, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/v1/sessions", method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body);
  });
}

let nextPort = 18700;
function start(kind, scenario) {
  const port = nextPort++;
  const data = mkdtempSync(join(tmpdir(), "chatfn-bench-"));
  const child = kind === "chatfn"
    ? spawn(chatfnBin, ["serve", "--app", scenario.app, "--data", data, "--listen", `127.0.0.1:${port}`], { stdio: "ignore", env: { ...process.env, RUST_LOG: "chatfn=warn" } })
    : spawn(nodeBin, ["--no-warnings", join(repoDir, "tests/bench", scenario.baseline), scenario.app, String(port)], { stdio: "ignore" });
  return { child, port, data };
}

async function stop({ child, data }) {
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  rmSync(data, { recursive: true, force: true });
}

async function firstAnswer(server, body) {
  const t0 = performance.now();
  for (;;) {
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

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function measure(kind, scenario) {
  const colds = [];
  for (let i = 0; i < 5; i++) {
    const server = start(kind, scenario);
    colds.push(await firstAnswer(server, scenario.body));
    await stop(server);
  }
  const server = start(kind, scenario);
  await firstAnswer(server, scenario.body);
  for (let i = 0; i < 300; i++) await post(server.port, scenario.body);
  const lat = [];
  for (let i = 0; i < scenario.samples; i++) {
    const t = performance.now();
    await post(server.port, scenario.body);
    lat.push(performance.now() - t);
  }
  const total = 16 * scenario.perClient;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < scenario.perClient; i++) await post(server.port, scenario.body); }));
  const rps = total / ((performance.now() - t0) / 1000);
  const mem = memory(server.child.pid);
  await stop(server);
  return { cold: median(colds), p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps, ...mem };
}

/** The Firebase app: the repository's function and init script, a test service account, and
 * Google's certificate URL answered from a fixture; returns the app directory and a body. */
function firebaseApp() {
  const app = mkdtempSync(join(tmpdir(), "chatfn-bench-firebase-"));
  for (const [from, to] of [["functions/firebase-auth.ts", "functions/firebase-auth.ts"], ["init-scripts/firebase-admin.js", "init-scripts/firebase-admin.js"], ["chatfn.firebase.lock", "chatfn.lock"]]) {
    mkdirSync(dirname(join(app, to)), { recursive: true });
    copyFileSync(join(repoDir, from), join(app, to));
  }
  const key = readFileSync(join(repoDir, "tests/fixtures/firebase/test-key.pem"), "utf8");
  writeFileSync(join(app, "certs.json"), JSON.stringify({ "test-kid": readFileSync(join(repoDir, "tests/fixtures/firebase/test-cert.pem"), "utf8") }));
  const account = { type: "service_account", project_id: "chatfn-bench", private_key_id: "test-kid", private_key: key, client_email: "bench@chatfn-bench.iam.gserviceaccount.com", client_id: "1", token_uri: "https://oauth2.googleapis.com/token" };
  writeFileSync(join(app, "chatfn.toml"), [
    "[app]", 'name = "firebase"', 'guest_users = "DISABLED"',
    "[runtime]", 'initialization_script = "init-scripts/firebase-admin.js"',
    "[runtime.dependencies]", 'firebase-admin = "^13"',
    "[runtime.environment]", `FIREBASE_SERVICE_ACCOUNT = '''${JSON.stringify(account)}'''`,
    "[functions]", '"user.attempted.start_session" = "functions/firebase-auth.ts"',
    "[[network.fixtures]]", 'url = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"',
    'headers = { "Cache-Control" = "public, max-age=19000", "Content-Type" = "application/json" }', 'body_file = "certs.json"', "",
  ].join("\n"));
  execFileSync(chatfnBin, ["deps", "install", "--app", app], { stdio: "ignore" });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "RS256", kid: "test-kid", typ: "JWT" })}.${b64({ iss: "https://securetoken.google.com/chatfn-bench", aud: "chatfn-bench", auth_time: now, user_id: "ann", sub: "ann", iat: now, exp: now + 3600, name: "Ann" })}`;
  const token = `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
  return { app, body: JSON.stringify({ username: "ann", authParams: { idToken: token } }) };
}

const f = (x, d = 2) => x.toFixed(d).padStart(10);
const firebase = firebaseApp();
const scenarios = [
  { title: "example app (allow-list function, existing user)", app: repoDir, baseline: "node-baseline.cjs", samples: 3000, perClient: 500, body: JSON.stringify({ username: "alice", authParams: { passcode: "open-sesame" } }) },
  { title: "Firebase function (firebase-admin 13, verifyIdToken RS256, existing user)", app: firebase.app, baseline: "node-firebase-baseline.cjs", samples: 1000, perClient: 100, body: firebase.body },
];
for (const scenario of scenarios) {
  const results = { chatfn: await measure("chatfn", scenario), [`node ${process.version}`]: await measure("node", scenario) };
  console.log(`${scenario.title}, loopback HTTP, keep-alive`);
  console.log("runtime".padEnd(16) + "cold start ms".padStart(14) + "p50 ms".padStart(10) + "p99 ms".padStart(10) + "req/s x16".padStart(12) + "RSS MB".padStart(10) + "peak MB".padStart(10));
  for (const [name, r] of Object.entries(results)) {
    console.log(name.padEnd(16) + f(r.cold, 1).padStart(14) + f(r.p50, 3) + f(r.p99, 3) + f(r.rps, 0).padStart(12) + f(r.rss, 1) + f(r.peak, 1));
  }
  console.log();
}
rmSync(firebase.app, { recursive: true, force: true });
agent.destroy();
