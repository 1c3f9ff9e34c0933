// A session-start function with no npm dependencies: members listed in the app's environment
// may start a session with the app's shared passcode; everyone else is turned away.
const allowList = require('./lib/allow-list');

async function handleEvent(event: UserAttemptedStartSessionEvent, context: Context) {
  const username: string = event.username;
  const passcode: string | undefined = event.authParams?.passcode;

  if (!allowList.isMember(username)) {
    throw new Error(`${username} is not a member of this app`);
  }
  if (!allowList.checkPasscode(passcode)) {
    throw new Error("Wrong passcode");
  }

  const userApi = context.ChatKitty.Users;

  await userApi.checkUserExists(username).catch(async () => {
    console.log(`first session for ${username}: creating the user`);
    await userApi.createUser({
      name: username,
      displayName: allowList.displayName(username),
      isGuest: false,
      properties: { source: "allow-list" },
    });
  });
}
