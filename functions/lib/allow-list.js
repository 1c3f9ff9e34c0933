// The allow-list shared by the initialization script (which configures it once per isolate)
// and the session-start function (which asks it), through the one module cache they share.
let members = new Map();
let passcode = null;

function configure({ members: spec, passcode: code }) {
  // MEMBERS is "name" or "name:Display Name", comma separated.
  members = new Map(
    String(spec || "")
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean)
      .map((entry) => {
        const [name, display] = entry.split(":");
        return [name.trim(), (display || name).trim()];
      }),
  );
  passcode = code || null;
}

module.exports = {
  configure,
  isMember: (name) => members.has(name),
  displayName: (name) => members.get(name),
  checkPasscode: (code) => passcode !== null && code === passcode,
  get size() {
    return members.size;
  },
};
