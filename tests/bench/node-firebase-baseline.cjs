// The Node baseline for the Firebase benchmark: ChatKitty's documented function and
// initialization script (the same files chatfn runs) behind POST /v1/sessions in plain Node,
// with the same firebase-admin installation. Google's certificate URL is answered from the
// same fixture file chatfn's app uses, by wrapping https.request, so both run offline.
"use strict";
const https = require("node:https");
const path = require("node:path");
const fs = require("node:fs");
const { PassThrough } = require("node:stream");
const { load, serveSessions } = require("./node-common.cjs");

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

load(path.join(appDir, "init-scripts/firebase-admin.js"));
serveSessions(port, load(path.join(appDir, "functions/firebase-auth.ts"), "return handleEvent;"));
