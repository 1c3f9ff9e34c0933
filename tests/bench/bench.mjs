// `scripts/bench`: chatfn next to the Node baseline on the example app, over loopback HTTP.
// Prints cold start (process start → first answered session), warm latency of one session
// attempt (sequential, keep-alive), throughput with 16 concurrent clients, and memory.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";

const [chatfnBin, nodeBin, appDir] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const BODY = JSON.stringify({ username: "alice", authParams: { passcode: "open-sesame" } });

function post(port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/v1/sessions", method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

let nextPort = 18700;
function start(kind) {
  const port = nextPort++;
  const data = mkdtempSync(join(tmpdir(), "chatfn-bench-"));
  const child = kind === "chatfn"
    ? spawn(chatfnBin, ["serve", "--app", appDir, "--data", data, "--listen", `127.0.0.1:${port}`], { stdio: "ignore", env: { ...process.env, RUST_LOG: "chatfn=warn" } })
    : spawn(nodeBin, ["--no-warnings", join(appDir, "tests/bench/node-baseline.cjs"), appDir, String(port)], { stdio: "ignore" });
  return { child, port, data };
}

async function stop({ child, data }) {
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  rmSync(data, { recursive: true, force: true });
}

async function firstAnswer(server) {
  const t0 = performance.now();
  for (;;) {
    try {
      if ((await post(server.port)) === 200) return performance.now() - t0;
    } catch {}
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

async function measure(kind) {
  const colds = [];
  for (let i = 0; i < 5; i++) {
    const server = start(kind);
    colds.push(await firstAnswer(server));
    await stop(server);
  }
  const server = start(kind);
  await firstAnswer(server);
  for (let i = 0; i < 500; i++) await post(server.port);
  const lat = [];
  for (let i = 0; i < 3000; i++) {
    const t = performance.now();
    await post(server.port);
    lat.push(performance.now() - t);
  }
  const total = 16 * 500;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, async () => { for (let i = 0; i < 500; i++) await post(server.port); }));
  const rps = total / ((performance.now() - t0) / 1000);
  const mem = memory(server.child.pid);
  await stop(server);
  return { cold: median(colds), p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps, ...mem };
}

const results = { chatfn: await measure("chatfn"), [`node ${(await import("node:process")).version}`]: await measure("node") };
const f = (x, d = 2) => x.toFixed(d).padStart(10);
console.log("example app (allow-list function, existing user), loopback HTTP, keep-alive");
console.log("runtime".padEnd(16) + "cold start ms".padStart(14) + "p50 ms".padStart(10) + "p99 ms".padStart(10) + "req/s x16".padStart(12) + "RSS MB".padStart(10) + "peak MB".padStart(10));
for (const [name, r] of Object.entries(results)) {
  console.log(name.padEnd(16) + f(r.cold, 1).padStart(14) + f(r.p50, 3) + f(r.p99, 3) + f(r.rps, 0).padStart(12) + f(r.rss, 1) + f(r.peak, 1));
}
agent.destroy();
