// Drives chatfn's Platform API with ChatKitty's official generated client (npm `chatkitty`),
// pointed at chatfn by its base URLs only. Run by tests/e2e/platform.rs, which passes the
// server and a key in the environment and checks the JSON this prints.
const { ChatKitty } = require("chatkitty");

const kitty = new ChatKitty({
  clientId: process.env.CHATFN_CLIENT_ID,
  clientSecret: process.env.CHATFN_CLIENT_SECRET,
  basePath: `${process.env.CHATFN_URL}/v1`,
  authorizationBasePath: `${process.env.CHATFN_URL}/oauth/token`,
});

async function status(promise) {
  try {
    return (await promise).status;
  } catch (e) {
    if (!e.response) throw e;
    return e.response.status;
  }
}

async function main() {
  const out = {};
  out.settingsBefore = (await kitty.ApplicationApi.retrieveApplicationSettings()).data.guest_users;
  out.settingsAfter = (await kitty.ApplicationApi.updateApplicationSettings({ guest_users: "ENABLED", user_created_channels: "DISABLED" })).data.guest_users;

  const carol = (await kitty.UsersApi.createUser({ name: "carol", display_name: "Carol", is_guest: false, properties: { team: "blue" } })).data;
  out.created = { name: carol.name, display_name: carol.display_name, is_guest: carol.is_guest, team: carol.properties.team };
  out.duplicate = await status(kitty.UsersApi.createUser({ name: "carol", display_name: "Carol again", is_guest: false }));
  out.carolExists = await status(kitty.UsersApi.checkUserExists("carol"));
  out.nobodyExists = await status(kitty.UsersApi.checkUserExists("nobody"));
  out.retrieved = (await kitty.UsersApi.retrieveUser(carol.id)).data.name;
  out.patched = (await kitty.UsersApi.updateUser(carol.id, { display_name: "Carol C." })).data.display_name;
  await kitty.UsersApi.setUserSecret(carol.id, "pin", { secret: "1234" });
  out.secret = (await kitty.UsersApi.retrieveUserSecret(carol.id, "pin")).data.secret;

  const dave = (await kitty.UsersApi.createUser({ name: "dave", display_name: "Dave", is_guest: true })).data;
  const page = (await kitty.UsersApi.listUsers(0, 10)).data;
  out.listed = page._embedded.users.map((u) => u.name);
  out.total = page.page.totalElements;
  out.byName = (await kitty.UsersApi.listUsers(0, 10, undefined, "dave")).data._embedded.users.map((u) => u.name);
  await kitty.UsersApi.deleteUser(dave.id);
  out.daveAfterDelete = await status(kitty.UsersApi.retrieveUser(dave.id));

  const runtime = (await kitty.RuntimeApi.retrieveNodejsRuntime()).data;
  out.runtime = { type: runtime.type, environment_variables: runtime.environment_variables };

  // The runtime: a dependency (installed from the test's registry), an initialization
  // script that uses it, and environment variables (their values never come back).
  const deps = (await kitty.RuntimeApi.updateNodejsRuntimeDependencies([{ name: "greeter", version: "^1", default_dependency: false }])).data;
  out.dependencyChanges = deps.changes;
  await kitty.RuntimeApi.updateNodejsRuntimeInitializationScript({ script: "globalThis.greeting = require('greeter').greet('init');\n" });
  const env = (await kitty.RuntimeApi.updateNodejsRuntimeEnvironmentVariables({ SUFFIX: "from-env", SECRET_TOKEN: "rotated-secret" })).data;
  out.environment = env.environment_variables;

  // A function for the session-start trigger, and its versions.
  const fn = (await kitty.RuntimeApi.createNodejsRuntimeFunction({ type: "user.attempted.start_session", name: "Start session", description: "members only", initialize_asynchronously: false })).data;
  out.functionCreated = { type: fn.type, name: fn.name, current_version_number: fn.current_version_number };
  const v1 = (await kitty.FunctionsApi.createFunctionVersion(fn.id, {
    handler_script: "async function handleEvent(event: UserAttemptedStartSessionEvent, context: Context) {\n  console.log(`${globalThis.greeting} ${process.env.SUFFIX}`);\n  if (!event.username.startsWith('ok-')) throw new Error(`${event.username} may not chat (v1)`);\n}\n",
  })).data;
  out.v1 = v1.version_number;
  try {
    await kitty.FunctionsApi.createFunctionVersion(fn.id, { handler_script: "async function handleEvent(event) {\n  const x = ;\n}\n" });
    out.broken = "saved";
  } catch (e) {
    out.broken = { status: e.response.status, location: e.response.data.location };
  }
  out.current = (await kitty.FunctionsApi.retrieveFunctionCurrentVersion(fn.id)).data.version_number;
  out.versions = (await kitty.FunctionsApi.listFunctionVersions(fn.id)).data._embedded.versions.map((v) => v.version_number);
  out.functions = (await kitty.RuntimeApi.listNodejsRuntimeFunctions()).data._embedded.functions.map((f) => f.type);
  out.fetchedVersion = (await kitty.FunctionVersionsApi.retrieveFunctionVersion(v1.id)).data.version_number;

  // Session attempts now run the function; each is recorded.
  const attempt = async (username) => (await fetch(`${process.env.CHATFN_URL}/v1/sessions`, { method: "POST", body: JSON.stringify({ username }) })).status;
  out.attempts = [await attempt("ok-ann"), await attempt("bob")];
  const invocations = (await kitty.FunctionsApi.listFunctionInvocations(fn.id)).data._embedded.invocations;
  out.invocations = invocations.map((i) => ({ status: i.status, username: i.args.username, version: i.version_number, logs: i.logs.map((l) => l.message) }));
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e.response ? `${e.config.method} ${e.config.url} -> ${e.response.status} ${JSON.stringify(e.response.data)}` : e.stack);
  process.exit(1);
});
