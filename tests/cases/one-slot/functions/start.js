// "hold" waits until a "release" attempt arrives; with one invocation slot it never can.
let release = null;
const released = new Promise((resolve) => { release = resolve; });

async function handleEvent(event) {
  if (event.username === "hold") await released;
  if (event.username === "release") release();
  if (event.username === "chatty") for (let i = 0; i < 10000; i++) console.log("line %d of a very chatty function", i);
}
