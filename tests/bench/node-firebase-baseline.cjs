// The Node baseline for the Firebase benchmark: ChatKitty's documented function and
// initialization script (the same files chatfn runs) behind POST /v1/sessions in plain Node,
// with the same firebase-admin installation. Google's certificate URL is answered from the
// same fixture file chatfn's app uses, by wrapping https.request, so both run offline.
"use strict";
const http = require("node:http");
const https = require("node:https");
const path = require("node:path");
const fs = require("node:fs");
const { PassThrough } = require("node:stream");
const { createRequire, stripTypeScriptTypes } = require("node:module");
const { randomUUID } = require("node:crypto");

const [appDir, port] = [path.resolve(process.argv[2]), Number(process.argv[3])];
const config = fs.readFileSync(path.join(appDir, "chatfn.toml"), "utf8");
process.env.FIREBASE_SERVICE_ACCOUNT = /FIREBASE_SERVICE_ACCOUNT = '''(.*)'''/s.exec(config)[1];
const CERTS_URL = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
const certs = fs.readFileSync(path.join(appDir, "certs.json"));

const realRequest = https.request;
https.request = function (input, options, callback) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : `https://${input.hostname ?? input.host}${input.path}`;
  if (!url.startsWith(CERTS_URL)) return realRequest.apply(this, arguments);
  if (typeof options === "function") callback = options;
  const req = new PassThrough();
  req.setTimeout = () => req;
  req.end = () => {
    const res = new PassThrough();
    res.statusCode = 200;
    res.headers = { "cache-control": "public, max-age=19000", "content-type": "application/json" };
    process.nextTick(() => {
      req.emit("response", res);
      callback?.(res);
      res.end(certs);
    });
    return req;
  };
  return req;
};

const users = new Map();
let nextId = 1;
const reply = (status, data) => Promise.resolve({ data, status });
function reject(status) {
  const err = new Error(`Request failed with status code ${status}`);
  err.response = { status };
  return Promise.reject(err);
}
const context = {
  ChatKitty: {
    Users: {
      checkUserExists: async (name) => (users.has(name) ? reply(200, {}) : reject(404)),
      createUser: async ({ name, displayName, isGuest }) => {
        if (users.has(name)) return reject(409);
        const user = { id: nextId++, name, displayName, isGuest: !!isGuest };
        users.set(name, user);
        return reply(201, user);
      },
    },
  },
};

function load(file, epilogue = "") {
  let code = fs.readFileSync(file, "utf8");
  if (file.endsWith(".ts")) code = stripTypeScriptTypes(code);
  const fn = new Function("exports", "require", "module", "__filename", "__dirname", code + "\n" + epilogue);
  const module = { exports: {} };
  return fn(module.exports, createRequire(file), module, file, path.dirname(file));
}
load(path.join(appDir, "init-scripts/firebase-admin.js"));
const handleEvent = load(path.join(appDir, "functions/firebase-auth.ts"), "return handleEvent;");

http
  .createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const send = (status, value) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      const request = JSON.parse(body);
      try {
        await handleEvent({ username: request.username, authParams: request.authParams ?? {} }, context);
      } catch (e) {
        return send(403, { error: "AccessDenied", message: e.message });
      }
      send(200, { session: { id: randomUUID() }, user: users.get(request.username) });
    });
  })
  .listen(port, "127.0.0.1");
