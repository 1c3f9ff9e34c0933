// Counts the attempts its isolate has seen, and writes the count of a user's first attempt
// into the user it creates.
async function handleEvent(event, context) {
  globalThis.isolateAttempts += 1;
  if (event.username.startsWith("blocked")) throw new Error("blocked users may not start a session");
  const users = context.ChatKitty.Users;
  await users.checkUserExists(event.username).catch(() =>
    users.createUser({ name: event.username, properties: { isolateAttempt: globalThis.isolateAttempts } }),
  );
}
