async function handleEvent(event) {
  throw new Error("internal detail: " + event.username + " failed the fraud check");
}
