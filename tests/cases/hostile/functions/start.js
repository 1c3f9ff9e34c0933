// Misbehaves on request, by username; anyone else is let in (as a guest).
function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {}
}

async function handleEvent(event) {
  switch (event.username) {
    case "timer-then-spin":
      setTimeout(() => {}, 3600000);
      for (;;) {}
    case "await-null":
      while (true) await null;
    case "sleep-then-spin":
      await new Promise((r) => setTimeout(r, 1));
      for (;;) {}
    case "spinning-message": {
      const error = new Error("never read");
      Object.defineProperty(error, "message", { get() { for (;;) {} } });
      throw error;
    }
    case "million-timers":
      for (let i = 0; i < 1e6; i++) setTimeout(() => {}, 3600000);
      return;
    case "atomics-wait":
      Atomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0);
      return;
    case "array-buffers":
      globalThis.kept = [];
      for (let i = 0; i < 16; i++) globalThis.kept.push(new Uint8Array(128 << 20).fill(1));
      return;
    case "buffer-chunks":
      // 8 MB at a time, kept: stopped by the memory budget, whatever catches the RangeError.
      globalThis.chunks = [];
      for (;;) {
        try {
          globalThis.chunks.push(Buffer.alloc(8 << 20, 1));
        } catch {}
      }
    case "wasm-memory": {
      globalThis.memories = [];
      for (let i = 0; i < 16; i++) {
        const memory = new WebAssembly.Memory({ initial: 2048 }); // 128 MB each
        new Uint8Array(memory.buffer).fill(1);
        globalThis.memories.push(memory);
      }
      return;
    }
    case "resizable-buffers": {
      // Reserved from the page allocator, not the ArrayBuffer allocator: 16 x 1 GB, filled.
      globalThis.resizable = [];
      for (let i = 0; i < 16; i++) {
        const buffer = new ArrayBuffer(0, { maxByteLength: 1 << 30 });
        buffer.resize(128 << 20);
        new Uint8Array(buffer).fill(1);
        globalThis.resizable.push(buffer);
      }
      return;
    }
    case "escaping-interval":
      // A chain the invocation does not await sets an interval after the answer, then keeps
      // the thread a few milliseconds, so that the interval is due before the event loop
      // looks at its timers again (as on a loaded machine).
      Promise.resolve().then(() => null).then(() => null).then(() => null).then(() => null).then(() => {
        setInterval(() => { globalThis.ticks = (globalThis.ticks ?? 0) + 1; spin(20); }, 1);
        spin(5);
      });
      return;
    case "slices":
      // 900 ms of CPU at a time, yielding in between: the CPU limit counts all slices.
      for (;;) {
        spin(900);
        await new Promise((r) => setTimeout(r, 0));
      }
    case "interval":
      globalThis.ticks = 0;
      setInterval(() => { globalThis.ticks++; spin(20); }, 1);
      return;
    case "slow":
      // A well-behaved invocation that takes its time.
      await new Promise((r) => setTimeout(r, 1500));
      return;
    case "ticks":
      // Gives any timer left in this isolate time to fire, then tells whether one did.
      await new Promise((r) => setTimeout(r, 30));
      if (globalThis.ticks) throw new Error(`an interval of an answered invocation ran ${globalThis.ticks} times`);
      return;
  }
}
