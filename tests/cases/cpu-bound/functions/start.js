// A fixed amount of work (not a fixed time, which a shared core would stretch): about 5 ms.
async function handleEvent() {
  let x = 0;
  for (let i = 0; i < 3e6; i++) x = (x * 31 + i) | 0;
  if (x === 42) throw new Error("unlucky");
}
