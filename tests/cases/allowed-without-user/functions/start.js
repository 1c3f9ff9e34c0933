// Allows everyone, but only creates users whose name starts with "member-".
async function handleEvent(event, context) {
  if (event.username.startsWith("member-")) {
    await context.ChatKitty.Users.createUser({ name: event.username, displayName: "Member", isGuest: false })
      .catch((e) => { if (e.response?.status !== 409) throw e; });
  }
}
