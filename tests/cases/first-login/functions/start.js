async function handleEvent(event, context) {
  const users = context.ChatKitty.Users;
  await users.checkUserExists(event.username).catch(async () => {
    await users.createUser({ name: event.username, displayName: "First login", isGuest: false });
  });
}
