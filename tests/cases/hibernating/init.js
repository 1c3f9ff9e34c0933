// Runs once per isolate: after hibernation, again.
globalThis.isolateAttempts = 0;
console.log("hibernating app initialized");
