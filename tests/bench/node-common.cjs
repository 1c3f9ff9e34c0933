// What both Node baselines share: loading a chat function the way chatfn does (types
// stripped, CommonJS wrapper, the file's own require), ChatKitty's Users API over a Map, and
// POST /v1/sessions with the same start-session rules (a user must exist after an allowed
// attempt). Users live in memory: no durability, which only flatters the baseline.
"use strict";
const http = require("node:http");
const path = require("node:path");
const fs = require("node:fs");
const { createRequire, stripTypeScriptTypes } = require("node:module");
const { randomUUID } = require("node:crypto");

/** Runs a function or script file; `epilogue` runs in the same scope (to return handleEvent). */
function load(file, epilogue = "") {
  let code = fs.readFileSync(file, "utf8");
  if (file.endsWith(".ts")) code = stripTypeScriptTypes(code);
  const fn = new Function("exports", "require", "module", "__filename", "__dirname", code + "\n" + epilogue);
  const module = { exports: {} };
  return fn(module.exports, createRequire(file), module, file, path.dirname(file));
}

/** `context` with ChatKitty's Users API (the calls the benchmarked functions make) over `users`. */
function createContext(users) {
  let nextId = 1;
  const reply = (status, data) => Promise.resolve({ data, status, statusText: "", headers: {}, config: {} });
  const reject = (status) => {
    const err = new Error(`Request failed with status code ${status}`);
    err.response = { status, data: {} };
    return Promise.reject(err);
  };
  const Users = {
    checkUserExists: async (name) => (users.has(name) ? reply(200, {}) : reject(404)),
    createUser: async ({ name, displayName, isGuest, properties }) => {
      if (users.has(name)) return reject(409);
      const user = { id: nextId++, name, displayName: displayName ?? name, isGuest: !!isGuest, properties: properties ?? {}, createdTime: new Date().toISOString() };
      users.set(name, user);
      return reply(201, user);
    },
  };
  return Object.freeze({ ChatKitty: Object.freeze({ Users }) });
}

/** Serves POST /v1/sessions on 127.0.0.1:`port` with `handleEvent` deciding. */
function serveSessions(port, handleEvent) {
  const users = new Map();
  const context = createContext(users);
  http
    .createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", async () => {
        const send = (status, value) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(value));
        };
        let request;
        try {
          request = JSON.parse(body);
        } catch (e) {
          return send(400, { error: "BadRequest", message: e.message });
        }
        try {
          await handleEvent({ username: request.username, authParams: request.authParams ?? {} }, context);
        } catch (e) {
          return send(403, { error: "AccessDenied", message: e.message });
        }
        const user = users.get(request.username);
        if (!user) return send(403, { error: "UserNotFound", message: "no such user" });
        send(200, { session: { id: randomUUID(), createdAt: new Date().toISOString() }, user });
      });
    })
    .listen(port, "127.0.0.1", () => console.log(`node baseline: serving on http://127.0.0.1:${port}`));
}

module.exports = { load, serveSessions };
