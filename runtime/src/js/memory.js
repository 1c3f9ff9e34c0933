// Memory that is neither V8 heap nor allocated through chatfn's ArrayBuffer allocator, so the
// memory limit would not see it: WebAssembly memories, and resizable ArrayBuffers and growable
// SharedArrayBuffers (V8 reserves their maximum from the page allocator). Every way JavaScript
// makes or grows a WebAssembly memory (the Memory constructor, `grow`, instances and their
// exported memories) and every read of a memory's `buffer` (which is how JavaScript sees growth
// done inside WebAssembly) charges the app's memory budget for what the memory holds now; a
// resizable buffer is charged its `maxByteLength` when it is made. Past the budget the
// invocation is stopped as out of memory. What was charged is given back when the memory or
// buffer is collected.
import { core, primordials } from "ext:core/mod.js";
const {
  FinalizationRegistry, Number, ObjectDefineProperty, ObjectGetOwnPropertyDescriptor, ObjectValues, Proxy, RangeError,
  ObjectKeys, ReflectApply, ReflectConstruct, SafeSet, SafeWeakMap, TypeError,
} = primordials;
const { op_worker_memory_charge, op_worker_memory_release } = core.ops;

const guards = { ArrayBuffer: () => guardResizable("ArrayBuffer"), SharedArrayBuffer: () => guardResizable("SharedArrayBuffer"), WebAssembly: () => guardWebAssembly() };
const guarded = new SafeSet();

/** Installs the guards not installed yet. Called before the app's code runs and again when an
 * isolate restored from a snapshot starts: V8 gives a snapshot-taking context no `WebAssembly`
 * and no `SharedArrayBuffer`, a restored one gets them back. */
export function guardExternalMemory() {
  for (const name of ObjectKeys(guards)) {
    if (guarded.has(name) || globalThis[name] === undefined) continue;
    guarded.add(name);
    guards[name]();
  }
}

/** What was charged for a memory or buffer, given back when it is collected. */
const registry = new FinalizationRegistry((holder) => op_worker_memory_release(holder.bytes));

/** Resizable buffers are charged their maximum size when they are made. */
function guardResizable(name) {
  const Native = globalThis[name];
  const nativeMax = ObjectGetOwnPropertyDescriptor(Native.prototype, "maxByteLength").get;
  const proxy = new Proxy(Native, {
    construct(target, args, newTarget) {
      const buffer = ReflectConstruct(target, args, newTarget === proxy ? target : newTarget);
      const options = args[1];
      if (options !== null && typeof options === "object" && options.maxByteLength !== undefined) {
        const bytes = Number(ReflectApply(nativeMax, buffer, []));
        if (!op_worker_memory_charge(bytes)) {
          throw new RangeError(`${name} of up to ${bytes} bytes is past the app's memory limit ([limits] heap_mb)`);
        }
        registry.register(buffer, { bytes });
      }
      return buffer;
    },
  });
  ObjectDefineProperty(Native.prototype, "constructor", { value: proxy, writable: true, configurable: true, enumerable: false });
  ObjectDefineProperty(globalThis, name, { value: proxy, writable: true, configurable: true, enumerable: false });
}

function guardWebAssembly() {
  const wasm = globalThis.WebAssembly;
  const NativeMemory = wasm.Memory;
  const proto = NativeMemory.prototype;
  const nativeGrow = proto.grow;
  const nativeBuffer = ObjectGetOwnPropertyDescriptor(proto, "buffer").get;
  /** memory -> { bytes } charged for it; the holder is what the registry gives back. */
  const charged = new SafeWeakMap();

  function charge(memory) {
    const bytes = ReflectApply(nativeBuffer, memory, []).byteLength;
    let holder = charged.get(memory);
    if (holder === undefined) {
      holder = { bytes: 0 };
      charged.set(memory, holder);
      registry.register(memory, holder);
    }
    if (bytes <= holder.bytes) return;
    if (!op_worker_memory_charge(bytes - holder.bytes)) {
      throw new RangeError(`WebAssembly.Memory of ${bytes} bytes is past the app's memory limit ([limits] heap_mb)`);
    }
    holder.bytes = bytes;
  }

  function chargeExports(instance) {
    for (const value of ObjectValues(instance.exports)) {
      if (value instanceof NativeMemory) charge(value);
    }
    return instance;
  }

  function Memory(descriptor) {
    if (new.target === undefined) throw new TypeError("Constructor WebAssembly.Memory requires 'new'");
    const memory = ReflectConstruct(NativeMemory, [descriptor], new.target);
    charge(memory);
    return memory;
  }
  Memory.prototype = proto;
  ObjectDefineProperty(proto, "constructor", { value: Memory, writable: true, configurable: true, enumerable: false });
  ObjectDefineProperty(proto, "grow", {
    value: function grow(delta) {
      const pages = ReflectApply(nativeGrow, this, [delta]);
      charge(this);
      return pages;
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });
  ObjectDefineProperty(proto, "buffer", {
    get: function buffer() {
      charge(this);
      return ReflectApply(nativeBuffer, this, []);
    },
    configurable: true,
    enumerable: false,
  });

  const NativeInstance = wasm.Instance;
  function Instance(module, imports) {
    if (new.target === undefined) throw new TypeError("Constructor WebAssembly.Instance requires 'new'");
    return chargeExports(ReflectConstruct(NativeInstance, [module, imports], new.target));
  }
  Instance.prototype = NativeInstance.prototype;
  ObjectDefineProperty(NativeInstance.prototype, "constructor", { value: Instance, writable: true, configurable: true, enumerable: false });

  const nativeInstantiate = wasm.instantiate;
  const nativeInstantiateStreaming = wasm.instantiateStreaming;
  const charging = (result) => {
    chargeExports(result instanceof NativeInstance ? result : result.instance);
    return result;
  };
  const define = (name, value) => ObjectDefineProperty(wasm, name, { value, writable: true, configurable: true, enumerable: false });
  define("Memory", Memory);
  define("Instance", Instance);
  define("instantiate", function instantiate(source, imports) {
    return ReflectApply(nativeInstantiate, wasm, [source, imports]).then(charging);
  });
  if (nativeInstantiateStreaming) {
    define("instantiateStreaming", function instantiateStreaming(source, imports) {
      return ReflectApply(nativeInstantiateStreaming, wasm, [source, imports]).then(charging);
    });
  }
}
