// A function with a syntax error on line 4.
async function handleEvent(event, context) {
  const allowed = ["ann"];
  if (allowed.includes(event.username) {
    return;
  }
}
