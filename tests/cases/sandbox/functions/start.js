// What a function can reach: its app's environment, its app's files, and nothing of the host.
function check(condition, what) {
  if (!condition) throw new Error("sandbox check failed: " + what);
}

function throws(fn, pattern) {
  try {
    fn();
  } catch (e) {
    return pattern.test(`${e.code} ${e.message}`);
  }
  return false;
}

async function handleEvent(event, context) {
  check(process.env.APP_SETTING === "from-chatfn.toml", "the app's environment is visible");
  check(process.env.HOME === undefined && process.env.PATH === undefined, "the host's environment is not");
  check(Object.prototype.toString.call(process) === "[object process]", "process looks like Node's");
  check(typeof Deno === "undefined" && typeof __bootstrap === "undefined", "deno_core internals are hidden");
  check(throws(() => require("/etc/passwd"), /MODULE_NOT_FOUND/), "files outside the app cannot be required");
  check(throws(() => require("../../../../../../etc/hostname"), /MODULE_NOT_FOUND/), "relative escapes fail too");
  check(throws(() => require("fs").readFileSync("/etc/passwd"), /ENOENT/), "fs sees only the app's files");
  check(throws(() => require("fs").writeFileSync("functions/x", "y"), /EROFS/), "fs is read-only");
  check(throws(() => require("child_process").execSync("id"), /ERR_CHATFN_NOT_AVAILABLE/), "no subprocesses");
  check(require("os").hostname() === "chatfn", "the host's name stays hidden");
  check(throws(() => require("node:nope"), /ERR_UNKNOWN_BUILTIN_MODULE/), "unknown node: modules fail");
  check(require("node:process") === process && require("process") === process, "process is a built-in too");
  check(require("./data.json").answer === 42, "JSON files load");

  // A stray rejection is logged with the invocation and does not bring the isolate down.
  Promise.reject(new Error("nobody handles this"));
  await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => process.nextTick(resolve));
  console.log("sandbox checks passed for %s", event.username);
}
