async function handleEvent() {
  const first = require("./lib/state");
  first.value = "changed";
  if (require("./lib/state") !== first) throw new Error("a second require returned another instance");
  delete require.cache[require.resolve("./lib/state")];
  const fresh = require("./lib/state");
  if (fresh === first || fresh.value !== "initial") throw new Error("require after deleting the cache entry did not load the file again");
  if (require("./lib/state") !== fresh) throw new Error("the reloaded module is not the cached one");
}
