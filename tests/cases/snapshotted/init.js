// Runs once per runtime: in the process that takes the snapshot, or in a cold isolate.
const members = require("./members.json");
globalThis.app = { members, greeting: process.env.GREETING, attempts: 0, initRandom: Math.random() };
console.log("snapshotted app initialized");
