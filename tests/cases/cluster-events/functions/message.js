async function handleEvent(event, context) {
  if (event.message.body === "poison") throw new Error(`message ${event.message.id} cannot be handled`);
  // Long enough that the deliverer is killed with most messages still queued.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const users = context.ChatKitty.Users;
  const name = `got-${event.message.id}`;
  await users.checkUserExists(name).catch(() => users.createUser({ name, displayName: event.channel.name }));
}
