// Misbehaves on request: "spin" loops forever, "hog" allocates without bound, "stuck" never settles.
async function handleEvent(event, context) {
  switch (event.username) {
    case "spin":
      for (;;) {}
    case "hog": {
      const hoard = [];
      for (;;) hoard.push(new Array(1e5).fill(hoard.length));
    }
    case "stuck":
      await new Promise(() => {});
  }
}
