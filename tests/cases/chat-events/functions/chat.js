// Every chat event of the app comes here. `event.test` (the tests' own field) says how to
// behave: `failTimes` fails the first N runs of the event, `poison` fails every run, `user`
// creates that user (once: a second run of the event would fail on the taken name).
const runs = new Map();

async function handleEvent(event, context) {
  const test = event.test ?? { tag: "untagged" };
  const run = (runs.get(test.tag) ?? 0) + 1;
  runs.set(test.tag, run);
  console.log(`run ${run} of ${test.tag}: ${Object.keys(event).sort().join(",")}`);
  if (test.poison) throw new Error(`${test.tag} cannot be handled`);
  if (run <= (test.failTimes ?? 0)) throw new Error(`run ${run} of ${test.tag} fails on purpose`);
  if (test.user) {
    await context.ChatKitty.Users.createUser({ name: test.user, displayName: test.tag, isGuest: false });
  }
}

module.exports = { handleEvent };
