//! The isolate thread of one app: builds a `JsRuntime` with the `chatfn` extension, starts the
//! JavaScript main loop, and drives the event loop under the supervisor. When the isolate dies
//! (a limit was hit, or worse) the invocations it held are answered, and a fresh isolate is
//! built for the invocations that follow, so one bad call never takes the app down.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use deno_core::{v8, JsRuntime, PollEventLoopOptions, RuntimeOptions};
use tokio::sync::{mpsc, Mutex};

use super::supervisor::{Kill, Supervisor};
use super::{Answer, Job};
use crate::config::App;
use crate::net::{NetworkPolicy, Outbound};
use crate::js::esm::{evaluate_commonjs, EsmLoader};
use crate::ops::modules::ModuleRoots;
use crate::ops::worker::{AppView, CodeView, InFlight, JobInbox, StartedAt};
use crate::store::UsersStore;

pub(super) fn run(app: App, users: UsersStore, inbox: mpsc::UnboundedReceiver<Job>) {
    let tokio = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(app = %app.name, "cannot start the isolate's event loop: {e}");
            return;
        }
    };
    // deno_core spawns async ops onto the current tokio runtime, also from synchronous calls.
    let _context = tokio.enter();
    let inbox = JobInbox(Rc::new(Mutex::new(inbox)));
    let outbound = match Outbound::new(NetworkPolicy::new(app.allow_hosts.clone()), app.fixtures.clone()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(app = %app.name, "cannot build the outbound HTTP client: {e}");
            return;
        }
    };
    let supervisor = Supervisor::start(app.limits.cpu);
    let mut init_failure = None;
    loop {
        let mut js = build_runtime(&app, &users, &inbox, &outbound, init_failure.clone(), &supervisor);
        // Declared after `js`, so it is dropped first.
        let _context = super::supervisor::enter_main_context(js.main_context());
        let started = {
            let _slice = supervisor.slice();
            js.execute_script("[chatfn:start]", "globalThis.__chatfnStart()").map(|_| ())
        };
        let started = match started {
            Ok(()) => true,
            Err(error) => {
                let kill = supervisor.take_kill();
                if init_failure.is_some() {
                    tracing::error!(app = %app.name, %error, "the isolate cannot start even without app code; stopping it");
                    return;
                }
                // Dying while the initialization script or a function file loads would repeat
                // on every rebuild: remember it, and report it for every trigger instead.
                tracing::warn!(app = %app.name, ?kill, %error, "loading the app failed");
                init_failure = Some(startup_failure(&error.to_string(), kill.as_ref()));
                false
            }
        };
        if !started {
            continue;
        }
        let result = tokio.block_on(drive(&mut js, &supervisor, &inbox));
        let kill = supervisor.take_kill().map(|kill| for_the_user(&app, kill));
        match (&result, &kill) {
            (Ok(()), None) if inbox.is_closed() => return, // the app is shutting down
            (Ok(()), None) => tracing::error!(app = %app.name, "the isolate's main loop ended unexpectedly; rebuilding it"),
            (Err(error), None) => tracing::error!(app = %app.name, %error, "isolate failed; rebuilding it"),
            (_, Some(kill)) => tracing::warn!(app = %app.name, ?kill, "isolate stopped at its limit; rebuilding it"),
        }
        answer_in_flight(&js, kill);
    }
}

/// The stack of a kill as the user reads it: their frames only, files relative to the app.
fn for_the_user(app: &App, kill: Kill) -> Kill {
    let root = format!("file://{}/", app.root.display());
    let clean = |stack: Vec<String>| -> Vec<String> {
        stack.into_iter().filter(|frame| !frame.contains("(ext:")).map(|frame| frame.replace(&root, "")).collect()
    };
    match kill {
        Kill::Cpu { limit, stack } => Kill::Cpu { limit, stack: clean(stack) },
        Kill::Heap { limit_bytes, stack } => Kill::Heap { limit_bytes, stack: clean(stack) },
    }
}

fn startup_failure(error: &str, kill: Option<&Kill>) -> serde_json::Value {
    let message = match kill {
        Some(Kill::Cpu { limit, .. }) => {
            format!("loading the app ran JavaScript for more than the CPU limit ({} ms)", limit.as_millis())
        }
        Some(Kill::Heap { limit_bytes, .. }) => {
            format!("loading the app used more than the heap limit ({} MB)", limit_bytes >> 20)
        }
        None => format!("loading the app failed: {error}"),
    };
    serde_json::json!({ "name": "Error", "message": message, "stack": null, "location": null })
}

fn answer_in_flight(js: &JsRuntime, kill: Option<Kill>) {
    let replies = std::mem::take(&mut js.op_state().borrow_mut().borrow_mut::<InFlight>().replies);
    for (_, reply) in replies {
        if let Some(kill) = &kill {
            let _ = reply.send(Answer::Killed(kill.clone()));
        }
        // Without a kill the reply is dropped, which the caller reports as a crashed isolate.
    }
}

/// Polls the event loop, each poll being a supervised slice, until the inbox is closed (the
/// app shuts down, or a new deployment replaced this one) and no invocation is left: timers
/// the app left running do not keep a replaced isolate alive.
async fn drive(js: &mut JsRuntime, supervisor: &Supervisor, inbox: &JobInbox) -> Result<(), deno_core::error::CoreError> {
    std::future::poll_fn(|cx| {
        let _slice = supervisor.slice();
        let polled = js.poll_event_loop(cx, PollEventLoopOptions::default());
        if polled.is_pending() && inbox.is_closed() && nobody_waits(js) {
            return std::task::Poll::Ready(Ok(()));
        }
        polled
    })
    .await
}

fn nobody_waits(js: &JsRuntime) -> bool {
    js.op_state().borrow().borrow::<InFlight>().replies.values().all(|reply| reply.is_closed())
}

fn build_runtime(
    app: &App,
    users: &UsersStore,
    inbox: &JobInbox,
    outbound: &Outbound,
    init_failure: Option<serde_json::Value>,
    supervisor: &Supervisor,
) -> JsRuntime {
    let heap_limit = app.limits.heap_bytes;
    let roots = ModuleRoots(vec![app.root.clone()]);
    let mut js = JsRuntime::new(RuntimeOptions {
        extensions: vec![crate::js::chatfn::init()],
        module_loader: Some(std::rc::Rc::new(EsmLoader::new(roots.clone()))),
        custom_module_evaluation_cb: Some(Box::new(evaluate_commonjs)),
        create_params: Some(v8::CreateParams::default().heap_limits(0, heap_limit)),
        ..Default::default()
    });
    let isolate = js.v8_isolate().thread_safe_handle();
    supervisor.attach(isolate.clone());
    let watched = supervisor.clone();
    js.add_near_heap_limit_callback(move |current, _initial| {
        watched.near_heap_limit(heap_limit);
        // Room for the isolate to reach the interrupt (and V8 to unwind after termination)
        // instead of aborting the process.
        current * 2
    });

    let view = AppView {
        name: app.name.clone(),
        root: app.root.display().to_string(),
        init_script: app.initialization_script.as_ref().map(CodeView::from),
        functions: app.functions.iter().map(|(t, f)| (t.name().to_string(), CodeView::from(f))).collect(),
        triggers: app.functions.keys().map(|t| t.name().to_string()).collect(),
        env: app.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>(),
        init_failure,
        max_pending_ops: app.limits.pending_ops,
    };
    let state = js.op_state();
    let mut state = state.borrow_mut();
    state.put(view);
    state.put(users.clone());
    state.put(inbox.clone());
    state.put(InFlight::default());
    state.put(StartedAt(Instant::now()));
    state.put(roots);
    state.put(outbound.clone());
    drop(state);
    js
}
