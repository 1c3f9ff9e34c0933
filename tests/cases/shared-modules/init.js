// Configures a module once; the function sees the same instance through require's cache.
const counter = require("./functions/lib/counter");
counter.configure({ limit: 2 });
globalThis.initializedAt = "init";
