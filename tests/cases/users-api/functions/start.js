// Walks context.ChatKitty.Users through every method and the SDK's answer shapes; any
// mismatch throws (and so denies the attempt with the reason). Username "probe" runs it.
function check(condition, what) {
  if (!condition) throw new Error("users-api check failed: " + what);
}

async function status(promise) {
  try {
    const r = await promise;
    return r.status;
  } catch (e) {
    check(e.isAxiosError && e.response && typeof e.response.status === "number", "rejections look like axios errors");
    check(e.message === `Request failed with status code ${e.response.status}`, "axios error message");
    return e.response.status;
  }
}

async function handleEvent(event, context) {
  const Users = context.ChatKitty.Users;
  const name = event.username;

  check(await status(Users.checkUserExists(name)) === 404, "checkUserExists rejects with 404 for a missing user");

  const created = await Users.createUser({ name, displayName: "Probe", isGuest: false, properties: { plan: "free", team: "red" } });
  check(created.status === 201, "createUser answers 201");
  const user = created.data;
  check(typeof user.id === "number" && user.name === name && user.displayName === "Probe" && user.isGuest === false, "created user shape");
  check(user.type === "PERSON" && user.presence && user.properties.plan === "free", "ChatUserResource fields");

  check(await status(Users.checkUserExists(name)) === 200, "checkUserExists resolves once the user exists");
  check(await status(Users.createUser({ name, displayName: "Again", isGuest: false })) === 409, "a duplicate name is a 409");
  check(await status(Users.createUser({ displayName: "No name" })) === 400, "a missing name is a 400");

  const fetched = await Users.retrieveUser(user.id);
  check(fetched.data.id === user.id && fetched.data.createdTime === user.createdTime, "retrieveUser");
  check(await status(Users.retrieveUser(999999)) === 404, "retrieveUser of a missing id is a 404");
  check(await status(Users.retrieveUser("not-a-number")) === 400, "a non-numeric id is a 400");

  const updated = await Users.updateUser(user.id, { displayName: "Probe 2", properties: { plan: "pro", team: null } });
  check(updated.data.displayName === "Probe 2" && updated.data.properties.plan === "pro" && !("team" in updated.data.properties), "updateUser merges properties");

  const other = (await Users.createUser({ name: "other", displayName: "Other", isGuest: true })).data;
  const page = (await Users.listUsers(0, 1)).data;
  check(page._embedded.users.length === 1 && page.page.totalElements === 2 && page.page.totalPages === 2, "listUsers pages");
  const byName = (await Users.listUsers(0, 25, undefined, "other")).data;
  check(byName._embedded.users.length === 1 && byName._embedded.users[0].id === other.id, "listUsers filters by name");

  await Users.setUserSecret(user.id, "apiKey", { secret: { key: "k-123" } });
  const secret = (await Users.retrieveUserSecret(user.id, "apiKey")).data;
  check(secret.secret.key === "k-123", "secrets round-trip");
  await Users.removeUserSecret(user.id, "apiKey");
  check(await status(Users.retrieveUserSecret(user.id, "apiKey")) === 404, "a removed secret is a 404");

  const deleted = await Users.deleteUser(other.id);
  check(deleted.data.name === "other", "deleteUser returns the deleted user");
  check(await status(Users.retrieveUser(other.id)) === 404, "a deleted user is gone");

  let threw = null;
  try {
    await context.ChatKitty.Channels.createChannel({});
  } catch (e) {
    threw = e;
  }
  check(threw && threw.code === "ERR_CHATFN_NOT_AVAILABLE" && /Channels\.createChannel/.test(threw.message), "without a chat backend, Channels says it is not available");
}
