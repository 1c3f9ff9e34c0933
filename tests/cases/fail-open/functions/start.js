async function handleEvent(event) {
  if (event.username === "spin") for (;;) {}
  if (event.username === "mallory") throw new Error("mallory is still denied: a throw is an answer");
}
