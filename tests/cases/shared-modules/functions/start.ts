const counter = require("./lib/counter");

async function handleEvent(event: UserAttemptedStartSessionEvent, context: Context): Promise<void> {
  if (globalThis.initializedAt !== "init") throw new Error("the initialization script did not run first");
  const n: number = counter.next();
  if (n > counter.limit) throw new Error(`only ${counter.limit} sessions allowed, this is number ${n}`);
}
