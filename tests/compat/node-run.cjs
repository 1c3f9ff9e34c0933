// The compatibility checks of functions/compat.js under Node itself (run with the Node to
// compare with: scripts/compat uses Node 24), in the order of functions/compat.test.json.
// Checks whose test answers HTTP from fixtures are chatfn's only (Node has no fixtures).
// Prints one JSON object: package -> "ok", "fixture" or the error's message.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const { checks } = require("./functions/compat.js");
  const tests = JSON.parse(readFileSync(join(__dirname, "functions/compat.test.json"), "utf8"));
  const results = {};
  for (const test of tests) {
    const name = test.event.username;
    if (test.fixtures?.length) {
      results[name] = "fixture";
      continue;
    }
    try {
      await checks[name]();
      results[name] = "ok";
    } catch (e) {
      results[name] = String(e?.message ?? e).split("\n")[0];
    }
  }
  console.log(JSON.stringify(results));
}

main();
