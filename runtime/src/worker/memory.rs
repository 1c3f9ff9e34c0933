//! The memory behind ArrayBuffers (typed arrays, `Buffer`s, `Blob`s) and WebAssembly memories
//! is not V8 heap, so V8's heap limit does not see it. Every isolate of an app allocates
//! ArrayBuffers through [`allocator`], and charges WebAssembly memories and resizable buffers (`js/memory.js`) through
//! [`IsolateMemory`], both drawing on one budget per app (`[limits] heap_mb`): past it an
//! allocation is refused (V8 throws a RangeError) and the invocation that asked is stopped as
//! out of memory, so no function can grow the server past its limit.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use deno_core::v8;

/// The ArrayBuffer memory one app may hold, over all its isolates.
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget { limit, used: AtomicUsize::new(0) })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn take(&self, len: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(len).filter(|n| *n <= self.limit) else {
                return false;
            };
            match self.used.compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    pub fn give_back(&self, len: usize) {
        self.used.fetch_sub(len, Ordering::Relaxed);
    }
}

/// An ArrayBuffer allocator drawing on `budget`.
pub fn allocator(budget: Arc<MemoryBudget>) -> v8::SharedRef<v8::Allocator> {
    static VTABLE: v8::RustAllocatorVtable<MemoryBudget> =
        v8::RustAllocatorVtable { allocate, allocate_uninitialized, free, drop: drop_budget };
    // SAFETY: the handle is an `Arc` given to V8, which hands it back to `drop_budget` once.
    unsafe { v8::new_rust_allocator(Arc::into_raw(budget), &VTABLE) }.make_shared()
}

fn refuse() -> *mut c_void {
    if let Some(watch) = super::supervisor::current_watch() {
        watch.out_of_memory();
    }
    std::ptr::null_mut()
}

unsafe extern "C" fn allocate(budget: &MemoryBudget, len: usize) -> *mut c_void {
    // SAFETY: plain calloc; at least one byte so a zero-length buffer still gets a pointer.
    take_then(budget, len, || unsafe { libc::calloc(1, len.max(1)) })
}

unsafe extern "C" fn allocate_uninitialized(budget: &MemoryBudget, len: usize) -> *mut c_void {
    // SAFETY: plain malloc, as above.
    take_then(budget, len, || unsafe { libc::malloc(len.max(1)) })
}

/// Draws `len` from the budget, then allocates; gives it back if the allocation fails.
fn take_then(
    budget: &MemoryBudget,
    len: usize,
    alloc: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    if !budget.take(len) {
        return refuse();
    }
    let ptr = alloc();
    if ptr.is_null() {
        budget.give_back(len);
    }
    ptr
}

unsafe extern "C" fn free(budget: &MemoryBudget, data: *mut c_void, len: usize) {
    // SAFETY: `data` came from `allocate` or `allocate_uninitialized`.
    unsafe { libc::free(data) };
    budget.give_back(len);
}

unsafe extern "C" fn drop_budget(budget: *const MemoryBudget) {
    // SAFETY: the reference `allocator` gave V8.
    drop(unsafe { Arc::from_raw(budget) });
}

/// The WebAssembly memory one isolate has charged to its app's budget; given back whole when
/// the isolate goes (its memories go with it).
pub struct IsolateMemory {
    budget: Arc<MemoryBudget>,
    wasm: usize,
}

impl IsolateMemory {
    pub fn new(budget: Arc<MemoryBudget>) -> IsolateMemory {
        IsolateMemory { budget, wasm: 0 }
    }

    pub fn charge(&mut self, bytes: usize) -> bool {
        if !self.budget.take(bytes) {
            refuse();
            return false;
        }
        self.wasm += bytes;
        true
    }

    /// The app's ArrayBuffer and WebAssembly memory, over all its isolates.
    pub fn budget_used(&self) -> usize {
        self.budget.used()
    }

    pub fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.wasm);
        self.wasm -= bytes;
        self.budget.give_back(bytes);
    }
}

impl Drop for IsolateMemory {
    fn drop(&mut self) {
        self.budget.give_back(self.wasm);
    }
}
