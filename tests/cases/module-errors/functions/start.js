async function handleEvent(event) {
  if (require("./lib/non-ascii.js") !== "h\u00e9llo \u{1F44B}") throw new Error("a non-ASCII module's text changed");
  if (require("./lib/shebang.js") !== 42) throw new Error("a module with a shebang line did not load");
  if (event.username === "json") {
    try {
      require("./lib/latin1.json");
    } catch (e) {
      // The file's name, how many times the message says it, and the rest: the path varies.
      const at = e.message.lastIndexOf("latin1.json");
      throw new Error(`${e.name}, named ${e.message.split("latin1.json").length - 1} time(s): ${e.message.slice(at)}`);
    }
  }
}
