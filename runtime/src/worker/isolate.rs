//! One isolate of an app: a `JsRuntime` with the `chatfn` extension, its app loaded, that runs
//! one invocation at a time. It lives on one isolate thread among other apps' isolates, so it
//! is entered (`v8::Isolate::enter`) only while that thread works on it, and every stretch of
//! its JavaScript runs in a supervised [`Slice`] charged to the invocation. When an invocation
//! is stopped at a limit, or is still unsettled at its deadline, the isolate is discarded, so
//! nothing of that invocation (timers, promises, pending ops) ever runs again.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use deno_core::{serde_v8, v8, JsRuntime, PollEventLoopOptions, RuntimeOptions};

use super::code_cache::PackageCode;
use super::memory::MemoryBudget;
use super::pool::Pool;
use super::protocol::{Answer, Job, JsReport, JsStatus, Kill};
use super::snapshot::Snapshot;
use super::supervisor::{Slice, ThreadSlot, Watch};
use crate::config::App;
use crate::js::esm::{evaluate_commonjs, EsmLoader};
use crate::net::Outbound;
use crate::ops::modules::ModuleRoots;
use crate::ops::worker::{AppView, CodeView, InvocationLogs, StartedAt};
use crate::store::UsersStore;

/// A handle scope in the main context of `$js` (deno_core keeps its own macro private).
macro_rules! js_scope {
    ($scope:ident, $js:expr) => {
        let context = $js.main_context();
        let isolate = &mut *$js.v8_isolate();
        v8::scope!(let $scope, isolate);
        let context = v8::Local::new($scope, context);
        let $scope = &mut v8::ContextScope::new($scope, context);
    };
}

/// How long an isolate stays idle after serving before its heap is compacted (`compact_once`).
const COMPACT_AFTER: Duration = Duration::from_millis(200);

/// How long an isolate that outgrew its snapshot stays idle before one restored from the newer
/// snapshot takes its place (`replaceable`).
const REPLACE_AFTER: Duration = Duration::from_secs(1);

pub struct Isolate {
    /// Fields are `Option` so `Drop` can let them go in order, inside the isolate.
    js: Option<JsRuntime>,
    run: Option<v8::Global<v8::Function>>,
    context: Option<Rc<v8::Global<v8::Context>>>,
    watch: Arc<Watch>,
    slot: Arc<ThreadSlot>,
    pub pool: Arc<Pool>,
    pub id: u64,
    pub last_used: Instant,
    /// The snapshot the isolate was restored from: held because V8 reads
    /// it while the isolate lives.
    snapshot: Option<Arc<Snapshot>>,
    /// chatfn's bootstrap snapshot it was built from, if any (held for the same reason).
    bootstrap: Option<Arc<Snapshot>>,
    /// Whether it has served an invocation, and whether its heap was compacted since (see
    /// `compact_once`).
    served: bool,
    compacted: bool,
    /// Built cold: it asks for a snapshot of its runtime (see `catch_up`).
    wants_snapshot: bool,
    /// The packages its first invocation loaded that the snapshot it started from (if any) did
    /// not hold: compiled in this isolate, where a restored one maps them (see `replaceable`).
    outgrown: Vec<String>,
}

/// An answer to send once the isolate is back in its pool.
pub struct Reply(Option<(tokio::sync::oneshot::Sender<Answer>, Answer)>);

impl Reply {
    pub fn send(self) {
        if let Some((reply, answer)) = self.0 {
            let _ = reply.send(answer);
        }
    }
}

/// How driving an invocation's promise ended.
enum Settled {
    Value(v8::Global<v8::Value>),
    Error(String),
    /// The event loop has nothing left that could settle the promise.
    Stuck,
}

impl Isolate {
    /// Builds an isolate of `pool`'s app on this thread and loads the app into it. When loading
    /// dies at a limit (an initialization script that spins, say), that would repeat in every
    /// isolate: the pool remembers it, and the isolate is built again reporting it instead.
    pub fn build(pool: &Arc<Pool>, slot: &Arc<ThreadSlot>, id: u64) -> Result<Isolate, String> {
        let mut bootstrap_works = true;
        loop {
            let init_failure = pool.init_failure();
            let retrying = init_failure.is_some();
            // Restored from the runtime's snapshot (only the functions left to load), or
            // prepared cold: restored from chatfn's bootstrap snapshot when there is one, else
            // built from nothing (see `snapshot`).
            let snapshot = if retrying { None } else { pool.snapshot() };
            let bootstrap = match snapshot {
                None if bootstrap_works => super::snapshot::bootstrap(),
                _ => None,
            };
            let startup = snapshot.as_ref().or(bootstrap.as_ref());
            let (mut js, watch) = match new_runtime(pool, init_failure, startup) {
                Ok(made) => made,
                Err(error) if snapshot.is_some() => {
                    tracing::warn!(app = %pool.app.name, %error, "an isolate could not be restored from the snapshot; building cold");
                    pool.discard_snapshot();
                    continue;
                }
                Err(error) if bootstrap.is_some() => {
                    tracing::warn!(app = %pool.app.name, %error, "an isolate could not be restored from chatfn's bootstrap snapshot; building it from nothing");
                    bootstrap_works = false;
                    continue;
                }
                Err(error) => return Err(format!("the isolate could not be made: {error}")),
            };
            let context = Rc::new(js.main_context());
            // Loading runs under the CPU and wall limits of an invocation, so an initialization
            // script that blocks (in `Atomics.wait`, say) cannot hold its thread.
            watch.begin_invocation(Instant::now() + pool.app.limits.wall);
            let started = {
                let _slice = Slice::begin(slot, &watch, &context);
                let script = if snapshot.is_some() {
                    "globalThis.__chatfnStart()"
                } else {
                    "globalThis.__chatfnPrepare(), globalThis.__chatfnStart()"
                };
                js.execute_script("[chatfn:start]", script)
            };
            let function = started.map_err(|e| e.to_string()).and_then(|value| {
                js_scope!(scope, js);
                let local = v8::Local::new(scope, value);
                v8::Local::<v8::Function>::try_from(local)
                    .map(|f| v8::Global::new(scope, f))
                    .map_err(|_| "the main loop did not start".to_string())
            });
            match function {
                Ok(run) if watch.end_invocation() => {
                    // SAFETY: entered when it was created, on this thread; entered again by
                    // every use from now on (`Entered`).
                    unsafe { js.v8_isolate().exit() };
                    let wants_snapshot = snapshot.is_none() && !retrying;
                    let isolate = Isolate {
                        js: Some(js),
                        run: Some(run),
                        context: Some(context),
                        watch,
                        slot: slot.clone(),
                        pool: pool.clone(),
                        id,
                        last_used: Instant::now(),
                        snapshot,
                        bootstrap,
                        served: false,
                        compacted: false,
                        wants_snapshot,
                        outgrown: Vec::new(),
                    };
                    return Ok(isolate);
                }
                Err(error) if snapshot.is_some() && watch.kill().is_none() => {
                    tracing::warn!(app = %pool.app.name, %error, "an isolate restored from the snapshot did not start; building cold");
                    pool.discard_snapshot();
                    drop((context, js));
                }
                Ok(_) | Err(_) if retrying => {
                    return Err(format!(
                        "the isolate cannot start even without the app's code: {function:?}"
                    ))
                }
                result => {
                    let kill = watch.kill();
                    tracing::warn!(app = %pool.app.name, ?kill, error = ?result.err(), "loading the app failed");
                    pool.set_init_failure(startup_failure(&pool.app, kill.as_ref()));
                    // `js` is the isolate entered last on this thread: it can go.
                    drop((context, js));
                }
            }
        }
    }

    /// Once the isolate has served an invocation: a full garbage collection that compacts its
    /// heap and gives the free pages back (what the first invocations compiled, such as the
    /// packages firebase-admin loads at its first `auth()`, leaves pages partly empty: a
    /// Firebase isolate's memory 11.6 -> 8.3 MB on a first start, 6.3 -> 6.0 MB restored). It
    /// takes 2-17 ms; the engine does it to an idle isolate (`engine::run_thread`). Answers
    /// whether it did.
    pub fn compact_once(&mut self) -> bool {
        if !self.served || self.compacted || self.last_used.elapsed() < COMPACT_AFTER {
            return false;
        }
        self.compacted = true;
        let js = self.js.as_mut().expect("live until dropped");
        let _entered = Entered::enter(js.v8_isolate());
        js.v8_isolate().low_memory_notification();
        true
    }

    /// What an isolate leaves until an invocation is answered (or, one that never served, until
    /// idle a second), so as not to delay that answer: the code cache entries of the package
    /// files it compiled without one, and, built cold, a snapshot of its runtime asked for
    /// (`Pool::snapshot_wanted`). The snapshot process would take a core from the first
    /// invocation (a Firebase first start 82.0 -> 71.4 ms median, alternated), and that
    /// invocation has by then asked for one that preloads the packages it loaded
    /// (`Pool::modules_loaded`): one snapshot process instead of two.
    pub fn catch_up(&mut self) {
        if std::mem::take(&mut self.wants_snapshot) {
            self.pool.snapshot_wanted();
        }
        self.make_code_cache();
    }

    /// Makes the code cache entries of the package files this isolate compiled without one,
    /// now that it has run them (see `code_cache`).
    fn make_code_cache(&mut self) {
        let js = self.js.as_mut().expect("live until dropped");
        let state = js.op_state();
        let unmade =
            state.borrow_mut().try_borrow_mut::<PackageCode>().map(PackageCode::take_unmade);
        let Some(unmade) = unmade.filter(|u| !u.is_empty()) else { return };
        let _entered = Entered::enter(js.v8_isolate());
        js_scope!(scope, js);
        super::code_cache::make_entries(scope, unmade)
    }

    /// Whether an isolate restored from the runtime's newest snapshot should take this one's
    /// place: this one compiled packages its own start lacked (built cold, or restored from a
    /// snapshot taken before the functions loaded them), that snapshot holds them, and it has
    /// been idle a while. A Firebase isolate of a first start holds 8.3-8.5 MB once compacted;
    /// restored from the snapshot taken after its first session, 6.0-6.3 MB. Like retiring an
    /// idle isolate, this resets what the functions kept in module state.
    pub fn replaceable(&self) -> bool {
        !self.outgrown.is_empty()
            && self.last_used.elapsed() >= REPLACE_AFTER
            && self.pool.snapshot_holds(&self.outgrown)
    }

    /// How long since it last served (or was built).
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// Whether the isolate was restored from its runtime's snapshot (rather than built cold).
    pub fn restored(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Whether the isolate, built cold, started from chatfn's bootstrap snapshot.
    pub fn bootstrapped(&self) -> bool {
        self.bootstrap.is_some()
    }

    /// Runs one invocation. Gives the isolate back when it can serve another one (`None` when
    /// it was discarded), with the answer to send: the caller first puts the isolate back in
    /// its pool, so the next attempt of a client that waits for this answer finds it there.
    pub async fn run(mut self, job: Job) -> (Option<Isolate>, Reply) {
        self.last_used = Instant::now();
        self.served = true;
        if job.reply.is_closed() {
            return (Some(self), Reply(None)); // the caller gave up while the job waited
        }
        if Instant::now() >= job.deadline {
            let answer = Answer::Killed(
                Kill::Wall { limit: self.pool.app.limits.wall, stack: Vec::new() },
                Vec::new(),
            );
            return (Some(self), Reply(Some((job.reply, answer))));
        }
        self.watch.begin_invocation(job.deadline);
        let id = {
            let state = self.js.as_mut().expect("live until dropped").op_state();
            let mut state = state.borrow_mut();
            state.borrow::<ModuleRoots>().forget_resolved();
            let logs = state.borrow_mut::<InvocationLogs>();
            logs.id = logs.id.wrapping_add(1);
            logs.lines.clear();
            logs.id
        };
        let started = Instant::now();
        let settled = tokio::time::timeout_at(job.deadline.into(), self.invoke(&job, id)).await;
        let (wall, cpu) = (started.elapsed(), self.watch.cpu_used());
        self.pool.note_invocation(wall.saturating_sub(cpu) > cpu.max(Duration::from_millis(1)));
        let (answer, keep) = match settled {
            Ok(Settled::Value(value)) => match self.report(value) {
                Ok(report) => (Answer::Report(report), true),
                Err(e) => (
                    Answer::Crashed(format!("the function's report could not be read: {e}")),
                    false,
                ),
            },
            Ok(Settled::Stuck) => {
                // Nothing can settle it any more; the attempt is answered at its deadline, as
                // one that waits for something that never comes.
                tokio::time::sleep_until(job.deadline.into()).await;
                (Answer::Killed(self.watch.kill_at_deadline(), Vec::new()), false)
            }
            Ok(Settled::Error(message)) => (Answer::Crashed(message), false),
            Err(_elapsed) => (Answer::Killed(self.watch.kill_at_deadline(), Vec::new()), false),
        };
        // A kill decided (or an interrupt asked for) while it ran wins over what it answered,
        // and the isolate cannot be trusted with another invocation.
        let clean = self.watch.end_invocation();
        let answer = match self.watch.kill() {
            Some(kill) => Answer::Killed(for_the_user(&self.pool.app, kill), Vec::new()),
            None if !clean => Answer::Crashed("the isolate was being stopped at a limit".into()),
            None => answer,
        };
        // What it printed, kept on this side as it printed it (also when it was stopped).
        let logs = {
            let state = self.js.as_mut().expect("live until dropped").op_state();
            let mut state = state.borrow_mut();
            std::mem::take(&mut state.borrow_mut::<InvocationLogs>().lines)
        };
        let answer = match answer {
            Answer::Report(mut report) => {
                report.logs = logs;
                if let Some(modules) = report.modules.take() {
                    self.outgrown = self.pool.modules_loaded(modules);
                }
                Answer::Report(report)
            }
            Answer::Killed(kill, _) => Answer::Killed(kill, logs),
            crashed => crashed,
        };
        if let Answer::Killed(kill, _) = &answer {
            tracing::warn!(app = %self.pool.app.name, ?kill, "invocation stopped at its limit; its isolate is discarded");
        }
        ((keep && clean).then_some(self), Reply(Some((job.reply, answer))))
    }

    /// Calls the main loop's `run` with the job and drives the event loop until its promise
    /// settles, every poll a supervised slice.
    async fn invoke(&mut self, job: &Job, id: u32) -> Settled {
        let modules = self.pool.wants_modules();
        // The call answers a promise, whose state is read after each turn of the event loop
        // (deno_core's `call_with_args` would attach two new functions to it per call to be
        // told instead: 2.6% of the example app's serving thread).
        let called = self.in_slice(|js, run| {
            js_scope!(scope, js);
            // `runJob`'s arguments (`js/worker.js`), each made directly: serde_v8 would build an
            // object and look its keys up in V8's string table on every invocation. The event
            // is JSON text, which V8's JSON.parse builds faster than serde_v8 would.
            let replay = match job.replay.as_ref() {
                Some(tape) => serde_v8::to_v8(scope, tape).map_err(|e| {
                    format!("the replayed tape could not be given to JavaScript: {e}")
                })?,
                None => v8::undefined(scope).into(),
            };
            let not_made = |what| format!("the {what} could not be made a JavaScript string");
            let trigger =
                v8::String::new(scope, job.trigger.name()).ok_or_else(|| not_made("trigger"))?;
            let event = v8::String::new(scope, &job.event).ok_or_else(|| not_made("event"))?;
            let args = [
                v8::Integer::new_from_unsigned(scope, id).into(),
                trigger.into(),
                event.into(),
                v8::Number::new(scope, job.max_log_bytes as f64).into(),
                replay,
                v8::Boolean::new(scope, job.record_tape).into(),
                v8::Boolean::new(scope, modules).into(),
            ];
            v8::tc_scope!(let scope, scope);
            let this = v8::undefined(scope).into();
            let Some(value) = run.open(scope).call(scope, this, &args) else {
                let exception = scope.exception().unwrap_or_else(|| v8::undefined(scope).into());
                return Err(deno_core::exception_to_err(scope, exception, false, true).to_string());
            };
            Ok(match v8::Local::<v8::Promise>::try_from(value) {
                Ok(promise) => {
                    // Its rejection (chatfn's bug: `runJob` catches the function's errors) is
                    // answered here, not reported as an unhandled one.
                    promise.mark_as_handled();
                    Called::Promise(v8::Global::new(scope, promise))
                }
                Err(_) => Called::Value(v8::Global::new(scope, value)),
            })
        });
        let promise = match called {
            Ok(Called::Promise(promise)) => promise,
            Ok(Called::Value(value)) => return Settled::Value(value),
            Err(message) => return Settled::Error(message),
        };
        std::future::poll_fn(|cx| {
            self.in_slice(|js, _| {
                let polled = js.poll_event_loop(cx, PollEventLoopOptions::default());
                if let Some(settled) = promise_settled(js, &promise) {
                    return Poll::Ready(settled);
                }
                match polled {
                    Poll::Ready(Err(e)) => Poll::Ready(Settled::Error(e.to_string())),
                    Poll::Ready(Ok(())) => Poll::Ready(Settled::Stuck),
                    Poll::Pending => Poll::Pending,
                }
            })
        })
        .await
    }

    /// `runJob`'s report: `[status, error, tape, modules]`, read by index (serde_v8 would look
    /// a struct's keys up in V8's string table); the error and the modules, when there are
    /// any, through serde_v8.
    fn report(&mut self, value: v8::Global<v8::Value>) -> Result<JsReport, String> {
        self.in_slice(|js, _| {
            js_scope!(scope, js);
            let local = v8::Local::new(scope, value);
            let report = v8::Local::<v8::Array>::try_from(local)
                .map_err(|_| "the report is not an array".to_string())?;
            let at = |index| report.get_index(scope, index).filter(|v| !v.is_null_or_undefined());
            let (status, error, tape, modules) = (at(0), at(1), at(2), at(3));
            let status = match status.map(|s| s.to_rust_string_lossy(scope)).as_deref() {
                Some("returned") => JsStatus::Returned,
                Some("threw") => JsStatus::Threw,
                Some("load_failed") => JsStatus::LoadFailed,
                Some("no_function") => JsStatus::NoFunction,
                other => return Err(format!("unknown status {other:?}")),
            };
            let error = match error {
                Some(error) => Some(serde_v8::from_v8(scope, error).map_err(|e| e.to_string())?),
                None => None,
            };
            let modules = match modules {
                Some(modules) => {
                    Some(serde_v8::from_v8(scope, modules).map_err(|e| e.to_string())?)
                }
                None => None,
            };
            let tape = tape.map(|tape| tape.to_rust_string_lossy(scope));
            Ok(JsReport { status, error, logs: Vec::new(), tape, modules })
        })
    }

    /// Runs `f` with this isolate entered on the thread, as a supervised slice of the
    /// invocation. Entries are strictly nested: a thread works on one isolate at a time and
    /// exits it before it yields.
    fn in_slice<R>(&mut self, f: impl FnOnce(&mut JsRuntime, &v8::Global<v8::Function>) -> R) -> R {
        let Isolate { js, run, context, watch, slot, .. } = self;
        let js = js.as_mut().expect("live until dropped");
        let _entered = Entered::enter(js.v8_isolate());
        let _slice = Slice::begin(slot, watch, context.as_ref().expect("live until dropped"));
        f(js, run.as_ref().expect("live until dropped"))
    }
}

/// The isolate entered on this thread until dropped (also when `f` above panics, so that an
/// unwinding thread never disposes of an isolate still entered).
struct Entered(*mut v8::OwnedIsolate);

impl Entered {
    fn enter(isolate: &mut v8::OwnedIsolate) -> Entered {
        // SAFETY: the isolate lives on this thread; exited when the guard drops.
        unsafe { isolate.enter() };
        Entered(isolate)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // SAFETY: the isolate outlives the guard (it is owned by the runtime the guard's
        // scope borrows) and was entered by `Entered::enter`.
        unsafe { (*self.0).exit() };
    }
}

impl Drop for Isolate {
    fn drop(&mut self) {
        let Some(mut js) = self.js.take() else { return };
        // An isolate is exited when dropped, so it must be the one entered last.
        // SAFETY: on its own thread, with no other isolate entered above it.
        unsafe { js.v8_isolate().enter() };
        drop(self.run.take());
        drop(self.context.take());
        drop(js);
    }
}

/// What calling the main loop's `run` answered.
enum Called {
    Promise(v8::Global<v8::Promise>),
    Value(v8::Global<v8::Value>),
}

/// How `promise` settled, if it has.
fn promise_settled(js: &mut JsRuntime, promise: &v8::Global<v8::Promise>) -> Option<Settled> {
    js_scope!(scope, js);
    let promise = v8::Local::new(scope, promise);
    match promise.state() {
        v8::PromiseState::Pending => None,
        v8::PromiseState::Fulfilled => {
            let value = promise.result(scope);
            Some(Settled::Value(v8::Global::new(scope, value)))
        }
        v8::PromiseState::Rejected => {
            let reason = promise.result(scope);
            Some(Settled::Error(deno_core::exception_to_err(scope, reason, true, true).to_string()))
        }
    }
}

fn new_runtime(
    pool: &Arc<Pool>,
    init_failure: Option<serde_json::Value>,
    snapshot: Option<&Arc<Snapshot>>,
) -> Result<(JsRuntime, Arc<Watch>), String> {
    let app = &pool.app;
    let roots = ModuleRoots::new(vec![app.root.clone()]);
    let params = v8::CreateParams::default()
        .heap_limits(0, app.limits.heap_bytes)
        .array_buffer_allocator(super::memory::allocator(pool.memory.clone()));
    // One isolate is made (deserialized from its snapshot) at a time in the process: a few
    // milliseconds each. Two made at once from different snapshots once failed a V8 check.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let creating = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    // (`try_new`: a runtime that cannot start, chatfn's own bug or a snapshot that does not
    // restore, fails this build instead of panicking its thread.)
    let made = JsRuntime::try_new(RuntimeOptions {
        extensions: vec![crate::js::chatfn::init()],
        module_loader: Some(Rc::new(EsmLoader::new(roots.clone()))),
        custom_module_evaluation_cb: Some(Box::new(evaluate_commonjs)),
        create_params: Some(params),
        // SAFETY: the isolate built here keeps the snapshot's `Arc` until its runtime is gone
        // (`Isolate::snapshot` or `Isolate::bootstrap`, dropped after `js`; `build` drops a
        // failed runtime first).
        startup_snapshot: snapshot.map(|s| unsafe { s.startup_data() }),
        ..Default::default()
    });
    drop(creating);
    if let Some(snapshot) = snapshot {
        snapshot.release_pages();
    }
    let mut js = made.map_err(|e| e.to_string())?;
    let watch = Watch::new(js.v8_isolate().thread_safe_handle(), &app.limits, pool.heavy.clone());
    let watched = watch.clone();
    js.add_near_heap_limit_callback(move |current, _initial| {
        watched.out_of_memory();
        // Room for the isolate to reach the interrupt (and V8 to unwind after termination)
        // instead of aborting the process.
        current * 2
    });

    let view = AppView {
        name: app.name.clone(),
        root: app.root.display().to_string(),
        init_script: app.initialization_script.as_ref().map(CodeView::from),
        functions: app
            .functions
            .iter()
            .map(|(t, f)| (t.name().to_string(), CodeView::from(f)))
            .collect(),
        triggers: app.functions.keys().map(|t| t.name().to_string()).collect(),
        env: app.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>(),
        init_failure,
        max_pending_ops: app.limits.pending_ops,
    };
    put_op_state(
        &mut js,
        view,
        Some(pool.users.clone()),
        roots,
        pool.outbound.clone(),
        pool.memory.clone(),
        app.chat_backend.clone(),
    );
    js.op_state().borrow_mut().put(PackageCode::new(snapshot.map_or("", |s| s.key())));
    Ok((js, watch))
}

/// What the ops of an app's isolate find in its `OpState` (a snapshot-taking runtime has no
/// Users store: the initialization script has no `context`).
pub(super) fn put_op_state(
    js: &mut JsRuntime,
    view: AppView,
    users: Option<UsersStore>,
    roots: ModuleRoots,
    outbound: Outbound,
    memory: Arc<MemoryBudget>,
    chat_backend: Option<crate::config::ChatBackend>,
) {
    let state = js.op_state();
    let mut state = state.borrow_mut();
    state.put(view);
    state.put(crate::ops::worker::ChatBackendView(chat_backend));
    if let Some(users) = users {
        state.put(users);
    }
    state.put(StartedAt(Instant::now()));
    state.put(InvocationLogs::default());
    state.put(roots);
    state.put(outbound);
    state.put(super::memory::IsolateMemory::new(memory));
}

/// The stack of a kill as the user reads it: their frames only, files relative to the app.
fn for_the_user(app: &App, kill: Kill) -> Kill {
    let root = format!("file://{}/", app.root.display());
    let clean = |stack: Vec<String>| -> Vec<String> {
        stack
            .into_iter()
            .filter(|frame| !frame.contains("(ext:"))
            .map(|frame| frame.replace(&root, ""))
            .collect()
    };
    match kill {
        Kill::Cpu { limit, stack } => Kill::Cpu { limit, stack: clean(stack) },
        Kill::Wall { limit, stack } => Kill::Wall { limit, stack: clean(stack) },
        Kill::Heap { limit_bytes, stack } => Kill::Heap { limit_bytes, stack: clean(stack) },
    }
}

fn startup_failure(app: &App, kill: Option<&Kill>) -> serde_json::Value {
    let message = match kill {
        Some(Kill::Cpu { limit, .. }) => {
            format!(
                "loading the app ran JavaScript for more than the CPU limit ({} ms)",
                limit.as_millis()
            )
        }
        Some(Kill::Heap { limit_bytes, .. }) => {
            format!("loading the app used more than the heap limit ({} MB)", limit_bytes >> 20)
        }
        Some(Kill::Wall { limit, .. }) => {
            format!(
                "loading the app took longer than the wall time limit ({} ms)",
                limit.as_millis()
            )
        }
        None => format!("loading the app {} failed", app.name),
    };
    serde_json::json!({ "name": "Error", "message": message, "stack": null, "location": null })
}
