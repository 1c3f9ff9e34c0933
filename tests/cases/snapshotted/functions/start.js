// "probe" is refused with what the isolate sees; members are allowed, and their user records
// what they were greeted with and which attempt of the isolate created them.
const crypto = require("crypto");

async function handleEvent(event, context) {
  app.attempts++;
  console.log(`attempt ${app.attempts} by ${event.username}`);
  if (event.username === "probe") {
    const seen = {
      greeting: app.greeting,
      attempts: app.attempts,
      random: Math.random(),
      uuid: crypto.randomUUID(),
      globals: [typeof WebAssembly, typeof SharedArrayBuffer, typeof Deno, typeof fetch, typeof process.env.GREETING],
      lazyPackageLoadedDuringAttempt: require("lazy-pkg").loadedDuringAttempt,
      // import() works in a restored isolate too (its loader's JavaScript half registered again).
      imported: (await import("./shout.mjs")).shout("ok"),
    };
    throw new Error(JSON.stringify(seen));
  }
  if (!app.members.includes(event.username)) throw new Error(`${event.username} is not a member`);
  const users = context.ChatKitty.Users;
  await users.checkUserExists(event.username).catch(() =>
    users.createUser({ name: event.username, displayName: `${app.greeting} ${event.username}`, isGuest: false, properties: { attempt: app.attempts } }),
  );
}

module.exports = { handleEvent };
