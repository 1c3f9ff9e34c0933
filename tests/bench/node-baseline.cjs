// The Node baseline for `scripts/bench`: the example app (chatfn.toml's initialization script
// and session-start function, types stripped by Node itself) behind the same
// POST /v1/sessions, in one plain Node process.
"use strict";
const path = require("node:path");
const { load, serveSessions } = require("./node-common.cjs");

const [appDir, port] = [path.resolve(process.argv[2]), Number(process.argv[3])];
// The app's settings, from its chatfn.toml.
const config = require("node:fs").readFileSync(path.join(appDir, "chatfn.toml"), "utf8");
for (const name of ["MEMBERS", "PASSCODE"]) process.env[name] = new RegExp(`^${name} = "(.*)"$`, "m").exec(config)[1];

load(path.join(appDir, "init-scripts/allow-list.js"));
serveSessions(port, load(path.join(appDir, "functions/allow-list.ts"), "return handleEvent;"));
