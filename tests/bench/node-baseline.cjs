// The Node baseline for `scripts/bench`: the example app (chatfn.toml's initialization script
// and session-start function, types stripped by Node itself) behind the same
// POST /v1/sessions, in one plain Node process.
"use strict";
const path = require("node:path");
const { load, serveSessions } = require("./node-common.cjs");

const [appDir, port] = [path.resolve(process.argv[2]), Number(process.argv[3])];
// The example app's settings, as in its chatfn.toml.
Object.assign(process.env, { MEMBERS: "alice:Alice Liddell,bob:Bob Dylan", PASSCODE: "open-sesame" });

load(path.join(appDir, "init-scripts/allow-list.js"));
serveSessions(port, load(path.join(appDir, "functions/allow-list.ts"), "return handleEvent;"));
