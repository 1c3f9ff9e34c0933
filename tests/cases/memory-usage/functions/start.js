// process.memoryUsage() gives the isolate's real figures: they add up, and grow with what the
// function holds (a big array on the heap, a Buffer outside it).
const held = [];

async function handleEvent(event) {
  const before = process.memoryUsage();
  const fields = ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers"];
  for (const f of fields) {
    if (typeof before[f] !== "number" || !(before[f] >= 0)) throw new Error(`${f} is ${before[f]}`);
  }
  if (!(before.heapUsed > 1e5 && before.heapTotal >= before.heapUsed && before.rss >= before.heapTotal)) {
    throw new Error(`figures that do not add up: ${JSON.stringify(before)}`);
  }
  if (process.memoryUsage.rss() < before.heapTotal) throw new Error("rss() is below the heap");
  if (event.username === "heap") held.push(Array.from({ length: 1e6 }, (_, i) => ({ i })));
  if (event.username === "buffer") held.push(Buffer.alloc(8 << 20, 1));
  const after = process.memoryUsage();
  const grew = (f) => after[f] - before[f];
  if (event.username === "heap" && grew("heapUsed") < 8e6) throw new Error(`heapUsed grew by ${grew("heapUsed")}`);
  if (event.username === "buffer" && (grew("arrayBuffers") < 8 << 20 || grew("external") < 8 << 20)) {
    throw new Error(`arrayBuffers grew by ${grew("arrayBuffers")}, external by ${grew("external")}`);
  }
}
