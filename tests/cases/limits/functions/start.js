// Misbehaves on request: "spin" loops forever, "hog" allocates without bound, "stuck" never
// settles, "recurse" overflows the stack, "huge-string" doubles a string without end, "unhandled"
// leaves a rejected promise and a throwing timer behind.
async function handleEvent(event, context) {
  switch (event.username) {
    case "spin": console.log("about to spin");
      for (;;) {}
    case "hog": {
      const hoard = [];
      for (;;) hoard.push(new Array(1e5).fill(hoard.length));
    }
    case "stuck": console.log("waiting for what never comes");
      await new Promise(() => {});
    case "recurse": {
      const dive = (n) => dive(n + 1) + 1;
      dive(0);
    }
    case "huge-string": {
      let s = "x";
      for (;;) s += s;
    }
    case "unhandled":
      Promise.reject(new Error("nobody waits for this"));
      setTimeout(() => { throw new Error("a timer throws after the answer"); }, 0);
      return;
  }
}
