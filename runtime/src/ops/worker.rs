//! `op_worker_*`: what the isolate's JavaScript main loop asks of its Rust side: the app
//! description, a clock, and a log for what happens outside any invocation (invocations
//! themselves are calls into the main loop, see `worker/isolate.rs`). Also `op_error_location`,
//! which asks V8 where an error was raised.

use std::collections::HashMap;
use std::time::Instant;

use deno_core::{op2, v8, OpState};
use serde::Serialize;

use crate::worker::protocol::{LogLine, SourceLocation};

/// What the JavaScript side needs to know about the app it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub name: String,
    pub root: String,
    pub init_script: Option<CodeView>,
    /// Trigger name → the function's file.
    pub functions: HashMap<String, CodeView>,
    pub triggers: Vec<String>,
    pub env: HashMap<String, String>,
    /// `[limits] pending_ops`.
    pub max_pending_ops: usize,
    /// Set when a previous isolate of this app died while running the initialization script:
    /// the script is not run again and every trigger reports this error instead.
    pub init_failure: Option<serde_json::Value>,
}

/// A file to run: its absolute path, and its code when it is not read from there.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CodeView {
    pub file: String,
    pub code: Option<String>,
}

impl From<&crate::config::SourceFile> for CodeView {
    fn from(f: &crate::config::SourceFile) -> CodeView {
        CodeView { file: f.path.display().to_string(), code: f.code.clone() }
    }
}

/// The instant the isolate started, for `performance.now()`-like clocks.
pub struct StartedAt(pub Instant);

#[op2]
#[serde]
pub fn op_worker_app(state: &mut OpState) -> AppView {
    state.borrow::<AppView>().clone()
}

/// The app's `[chat_backend]`, for `context.ChatKitty.Channels` and `.Messages`.
pub struct ChatBackendView(pub Option<crate::config::ChatBackend>);

#[op2]
#[serde]
pub fn op_chat_backend(state: &mut OpState) -> Option<crate::config::ChatBackend> {
    state.try_borrow::<ChatBackendView>().and_then(|b| b.0.clone())
}

#[op2(fast)]
pub fn op_worker_monotonic_ms(state: &mut OpState) -> f64 {
    state.borrow::<StartedAt>().0.elapsed().as_secs_f64() * 1e3
}

/// The console output of the invocation an isolate runs, kept on the Rust side as it is
/// written, so a kill does not lose it. Lines from an earlier invocation (a callback it left
/// running) are dropped.
#[derive(Default)]
pub struct InvocationLogs {
    pub id: u32,
    pub lines: Vec<LogLine>,
}

#[op2(fast)]
pub fn op_worker_log(
    state: &mut OpState,
    #[smi] id: u32,
    #[string] level: &str,
    #[string] message: &str,
) {
    let logs = state.borrow_mut::<InvocationLogs>();
    if logs.id == id {
        logs.lines.push(LogLine { level: level.to_string(), message: message.to_string() });
    }
}

/// Console output outside any invocation (the initialization script) goes to the server log.
#[op2(fast)]
pub fn op_worker_host_log(state: &mut OpState, #[string] level: &str, #[string] message: &str) {
    let app = &state.borrow::<AppView>().name;
    match level {
        "error" => tracing::error!(target: "chatfn::js", app = %app, "{message}"),
        "warn" => tracing::warn!(target: "chatfn::js", app = %app, "{message}"),
        "debug" => tracing::debug!(target: "chatfn::js", app = %app, "{message}"),
        _ => tracing::info!(target: "chatfn::js", app = %app, "{message}"),
    }
}

/// Where V8 says `error` was raised (for a SyntaxError, the offending token).
#[op2]
#[serde]
pub fn op_error_location<'s, 'i>(
    scope: &mut v8::PinScope<'s, 'i>,
    error: v8::Local<'s, v8::Value>,
) -> Option<SourceLocation> {
    let message = v8::Exception::create_message(scope, error);
    let file = message.get_script_resource_name(scope)?.to_rust_string_lossy(scope);
    let line = message.get_line_number(scope)?;
    let mut column = message.get_start_column() + 1;
    // A CommonJS module's first line starts after its wrapper's opening.
    let head = crate::ops::modules::WRAPPER_HEAD.len();
    if line == 1 && column > head {
        column -= head;
    }
    Some(SourceLocation { file, line, column })
}

/// `process.memoryUsage()`: `[rss, heapTotal, heapUsed, external, arrayBuffers]` in bytes, of
/// this isolate (a server hosts many apps: `rss` is the isolate's V8 heap resident in memory
/// with its memory outside the heap, not the process's), `arrayBuffers` the app's.
#[op2]
#[serde]
pub fn op_worker_memory_usage(scope: &mut v8::PinScope) -> Vec<f64> {
    let heap = scope.get_heap_statistics();
    let external = heap.external_memory();
    let rss = heap.total_physical_size() + heap.malloced_memory() + external;
    let state = deno_core::JsRuntime::op_state_from(scope);
    let array_buffers =
        state.borrow().borrow::<crate::worker::memory::IsolateMemory>().budget_used();
    let sizes = [rss, heap.total_heap_size(), heap.used_heap_size(), external, array_buffers];
    sizes.iter().map(|&n| n as f64).collect()
}

/// Charges `bytes` more of WebAssembly memory or a resizable buffer (`js/memory.js`) to the app's memory budget;
/// `false` (and the invocation stopped as out of memory) when that is past it.
#[op2(fast)]
pub fn op_worker_memory_charge(state: &mut OpState, bytes: f64) -> bool {
    state.borrow_mut::<crate::worker::memory::IsolateMemory>().charge(bytes as usize)
}

/// Gives back WebAssembly memory that was collected.
#[op2(fast)]
pub fn op_worker_memory_release(state: &mut OpState, bytes: f64) {
    state.borrow_mut::<crate::worker::memory::IsolateMemory>().release(bytes as usize);
}
