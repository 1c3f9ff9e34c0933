// chatfn's dashboard: one more client of the Platform API (same origin). Sign in with an app's
// client credentials; the token is kept in memory only. Functions (an editor per trigger,
// Save compiles and deploys, versions and rollback), Invocations (newest first, live) and Test.
import { EditorView, basicSetup } from "codemirror";
import { javascript } from "@codemirror/lang-javascript";
import { setDiagnostics } from "@codemirror/lint";

const app = document.getElementById("app");
/** The signed-in apps (name -> {token, clientId}), in memory only, and the one shown. */
const apps = new Map();
const session = { token: null, clientId: null, app: null };
let stopLive = null;

/** An element: `h("button", { class: "primary", onclick }, "Save")`. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

class ApiError extends Error {
  constructor(status, data) {
    super(data?.message ?? data?.error_description ?? `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (res.status === 401) {
    signOut("Your session ended (the token expired or its key was revoked): sign in again.");
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---- sign in -----------------------------------------------------------------------------

function signOut(message) {
  if (session.app) apps.delete(session.app);
  session.token = null;
  session.app = null;
  stopLive?.();
  const other = apps.keys().next().value;
  if (other && !message?.startsWith("Your session ended")) return switchTo(other);
  showSignIn(message);
}

function switchTo(name) {
  const signedIn = apps.get(name);
  Object.assign(session, { token: signedIn.token, clientId: signedIn.clientId, app: name });
  state.selected = null;
  return showShell();
}

function showSignIn(message) {
  const id = h("input", { id: "client-id", autocomplete: "username", required: true });
  const secret = h("input", { id: "client-secret", type: "password", autocomplete: "current-password", required: true });
  const status = h("p", { id: "signin-status", class: "status bad", role: "alert" }, message ?? "");
  const form = h("form", { class: "signin", onsubmit: async (e) => {
    e.preventDefault();
    status.textContent = "";
    // As form fields, not HTTP Basic: a refused Basic login would make the browser ask itself.
    const res = await fetch("/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: id.value, client_secret: secret.value }).toString(),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok || !data.access_token) {
      status.textContent = "Those credentials were refused. Make a key with `chatfn keys create --app DIR`.";
      return;
    }
    session.token = data.access_token;
    session.clientId = id.value;
    const settings = await api("GET", "/v1/application/settings");
    apps.set(settings.app, { token: data.access_token, clientId: id.value });
    await switchTo(settings.app);
  } },
    h("h1", {}, "chatfn"),
    h("p", { class: "muted" }, "Sign in with a Platform API key of your app (client id and secret)."),
    h("label", {}, "Client id", id),
    h("label", {}, "Client secret", secret),
    h("button", { id: "sign-in", class: "primary", type: "submit" }, "Sign in"),
    apps.size ? h("button", { type: "button", onclick: () => switchTo(apps.keys().next().value) }, "Back") : null,
    status,
  );
  app.replaceChildren(form);
  id.focus();
}

// ---- the shell ---------------------------------------------------------------------------

const views = { Functions: showFunctions, Invocations: showInvocations, Test: showTest, Runtime: showRuntime, Users: showUsers, Settings: showSettings };
const state = { functions: [], selected: null, view: "Functions" };

async function showShell() {
  const settings = await api("GET", "/v1/application/settings");
  const main = h("div", { id: "view" });
  const nav = h("nav", { "aria-label": "Sections" }, Object.keys(views).map((name) =>
    h("button", { "data-view": name, "aria-current": name === state.view ? "page" : null, onclick: () => go(name) }, name)));
  const switcher = h("select", { id: "app-switcher", "aria-label": "App" },
    [...apps.keys()].map((name) => h("option", { value: name, selected: name === session.app }, name)),
    h("option", { value: "" }, "Sign in to another app…"));
  switcher.addEventListener("change", () => (switcher.value ? switchTo(switcher.value) : showSignIn()));
  app.replaceChildren(
    h("header", {},
      h("h1", {}, "chatfn"),
      switcher,
      nav,
      h("span", { class: "who", id: "signed-in" }, `app ${settings.app} · key ${session.clientId}`),
      h("button", { id: "sign-out", onclick: () => signOut("Signed out.") }, "Sign out"),
    ),
    main,
  );
  await loadFunctions();
  await go(state.view);
}

async function go(view) {
  stopLive?.();
  stopLive = null;
  state.view = view;
  for (const b of app.querySelectorAll("nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  await views[view](document.getElementById("view"));
}

async function loadFunctions() {
  const page = await api("GET", "/v1/runtimes/nodejs/functions?size=100");
  state.functions = page._embedded.functions;
  if (!state.selected || !state.functions.some((f) => f.id === state.selected)) state.selected = state.functions[0]?.id ?? null;
}

function functionList(onPick) {
  return h("ul", { class: "list", id: "functions" }, state.functions.map((f) =>
    h("li", { "data-trigger": f.type, "aria-selected": String(f.id === state.selected) },
      h("button", { class: "link", onclick: () => { state.selected = f.id; onPick(); } }, f.type),
      h("span", { class: "muted" }, f.current_version_number ? `v${f.current_version_number}` : "no version"))));
}

// ---- functions ---------------------------------------------------------------------------

async function showFunctions(root) {
  const fn = state.functions.find((f) => f.id === state.selected);
  if (!fn) {
    root.replaceChildren(h("div", { class: "layout" }, h("p", { class: "panel" }, "This app has no functions yet: name a file per trigger in chatfn.toml's [functions].")));
    return;
  }
  const current = fn.current_version_number ? await api("GET", `/v1/functions/${fn.id}/current-version`) : null;
  const file = current?.file ?? "function.ts";
  const status = h("p", { id: "save-status", class: "status", role: "status" });
  const editorHost = h("div", { class: "editor", id: "editor" });
  const view = new EditorView({
    doc: current?.handler_script ?? "async function handleEvent(event, context) {\n}\n",
    extensions: [basicSetup, javascript({ typescript: /\.[cm]?ts$/.test(file) }), EditorView.lineWrapping],
    parent: editorHost,
  });
  const versions = h("ul", { class: "list", id: "versions" });
  const save = async () => {
    status.className = "status";
    status.textContent = "Saving…";
    view.dispatch(setDiagnostics(view.state, []));
    try {
      const saved = await api("POST", `/v1/functions/${fn.id}/versions`, { handler_script: view.state.doc.toString(), file });
      status.className = "status good";
      status.textContent = `Saved and deployed version ${saved.version_number}.`;
      await loadFunctions();
      await listVersions();
      document.querySelector(`#functions li[data-trigger="${fn.type}"] span`).textContent = `v${saved.version_number}`;
    } catch (e) {
      status.className = "status bad";
      const at = e.data?.location;
      if (at?.line) {
        const line = view.state.doc.line(Math.min(at.line, view.state.doc.lines));
        const from = Math.min(line.from + Math.max((at.column ?? 1) - 1, 0), line.to);
        view.dispatch(setDiagnostics(view.state, [{ from, to: Math.max(from, line.to), severity: "error", message: e.message }]));
        view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
        status.textContent = `Not saved: line ${at.line}, column ${at.column}: ${e.message}`;
      } else {
        status.textContent = `Not saved: ${e.message}`;
      }
    }
  };
  const compared = h("div", { id: "diff" });
  const shadowInfo = h("p", { id: "shadow-status", class: "muted" });
  const listVersions = async () => {
    const page = await api("GET", `/v1/functions/${fn.id}/versions?size=50`);
    const current = state.functions.find((f) => f.id === fn.id);
    const now = current?.current_version_number;
    const shadow = current?.shadow_version_number;
    if (shadow) {
      const recent = (await api("GET", `/v1/functions/${fn.id}/invocations?size=200`))._embedded.invocations.filter((r) => r.shadow);
      const same = recent.filter((r) => r.shadow.same_outcome).length;
      shadowInfo.textContent = `v${shadow} runs in shadow: it agreed with the live version on ${same} of the last ${recent.length} invocations.`;
    } else {
      shadowInfo.textContent = "No version runs in shadow.";
    }
    const byNumber = new Map(page._embedded.versions.map((v) => [v.version_number, v]));
    const pickA = h("select", { id: "diff-from", "aria-label": "Compare from" }, page._embedded.versions.map((v, i) => h("option", { value: v.version_number, selected: i === 1 }, `v${v.version_number}`)));
    const pickB = h("select", { id: "diff-to", "aria-label": "Compare to" }, page._embedded.versions.map((v, i) => h("option", { value: v.version_number, selected: i === 0 }, `v${v.version_number}`)));
    const compare = () => compared.replaceChildren(diffView(byNumber.get(Number(pickA.value)), byNumber.get(Number(pickB.value))));
    compared.replaceChildren();
    versions.parentElement?.querySelector(".compare")?.remove();
    versions.after(h("div", { class: "toolbar compare" }, "Compare ", pickA, " with ", pickB, h("button", { id: "compare", onclick: compare }, "Show the changes")));
    versions.replaceChildren(...page._embedded.versions.map((v) =>
      h("li", { "data-version": v.version_number },
        h("span", {}, `v${v.version_number} `, h("span", { class: "muted" }, new Date(v.created_time).toLocaleString())),
        v.version_number === shadow
          ? h("button", { class: "stop-shadow", onclick: async () => {
            await api("PUT", `/v1/functions/${fn.id}/shadow-version`, { version_number: null });
            await loadFunctions();
            await listVersions();
          } }, "Stop shadow")
          : v.version_number !== now
            ? h("button", { class: "shadow", onclick: async () => {
              await api("PUT", `/v1/functions/${fn.id}/shadow-version`, { version_number: v.version_number });
              await loadFunctions();
              await listVersions();
            } }, "Run in shadow")
            : null,
        v.version_number === now
          ? h("span", { class: "tag SUCCEEDED" }, "current")
          : h("button", { class: "make-current", onclick: async () => {
            await api("PUT", `/v1/functions/${fn.id}/current-version`, { version_number: v.version_number });
            status.className = "status good";
            status.textContent = `Version ${v.version_number} is current now.`;
            await loadFunctions();
            await showFunctions(root);
            document.getElementById("save-status").className = "status good";
            document.getElementById("save-status").textContent = `Version ${v.version_number} is current now.`;
          } }, "Make current"))));
  };
  root.replaceChildren(h("div", { class: "layout" },
    h("section", { class: "panel", "aria-label": "Functions" }, h("h2", {}, "Functions"), functionList(() => showFunctions(root))),
    h("section", { class: "panel", "aria-label": "Editor" },
      h("h2", {}, `${fn.type} `, h("span", { class: "muted" }, file)),
      editorHost,
      h("div", { class: "toolbar" },
        h("button", { id: "save", class: "primary", onclick: save }, "Save and deploy"),
        h("span", { class: "muted" }, "Compiled first: nothing changes when it does not compile.")),
      status,
      h("h2", {}, "Versions"),
      shadowInfo,
      versions,
      compared)));
  if (state.pendingError?.location?.line && state.pendingError.location.file !== file) {
    const { location, message } = state.pendingError;
    state.pendingError = null;
    status.className = "status bad";
    status.textContent = `The test run threw in ${location.file}, line ${location.line}, column ${location.column}: ${message}`;
  } else if (state.pendingError?.location?.line) {
    const { location, message } = state.pendingError;
    state.pendingError = null;
    const line = view.state.doc.line(Math.min(location.line, view.state.doc.lines));
    const from = Math.min(line.from + Math.max((location.column ?? 1) - 1, 0), line.to);
    view.dispatch(setDiagnostics(view.state, [{ from, to: Math.max(from, line.to), severity: "error", message }]));
    view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
    status.className = "status bad";
    status.textContent = `The test run threw at line ${location.line}, column ${location.column}: ${message}`;
  }
  view.contentDOM.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") {
      e.preventDefault();
      save();
    }
  });
  await listVersions();
}

/** The changes from version `a` to `b`, line by line (longest common subsequence). */
function diffView(a, b) {
  const x = a.handler_script.split("\n");
  const y = b.handler_script.split("\n");
  const n = x.length;
  const m = y.length;
  const common = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i][j] = x[i] === y[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const lines = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      lines.push(h("div", { class: "same" }, `  ${x[i]}`));
      i++;
      j++;
    } else if (j < m && (i === n || common[i][j + 1] >= common[i + 1][j])) {
      lines.push(h("div", { class: "added" }, `+ ${y[j++]}`));
    } else {
      lines.push(h("div", { class: "removed" }, `- ${x[i++]}`));
    }
  }
  return h("div", { class: "panel" }, h("h3", {}, `v${a.version_number} → v${b.version_number}`), h("pre", { class: "diff" }, lines));
}

/** Opens the Functions page with `error`'s line (its `location`) marked in the editor. */
async function showErrorInEditor(error) {
  state.pendingError = error;
  await go("Functions");
}

// ---- invocations -------------------------------------------------------------------------

async function showInvocations(root) {
  const fn = state.functions.find((f) => f.id === state.selected);
  const body = h("tbody", { id: "invocations" });
  const detail = h("div", { id: "invocation-detail" });
  const live = h("input", { type: "checkbox", id: "live", checked: true });
  const row = (r) => {
    const who = r.args?.username ?? r.args?.user?.name ?? r.args?.user?.id ?? "";
    const error = r.result?.error?.message ?? r.result?.decision?.message ?? "";
    const tr = h("tr", { "data-id": r.id },
      h("td", {}, new Date(r.created_time).toLocaleTimeString()),
      h("td", {}, h("span", { class: `tag ${r.status}` }, r.status)),
      h("td", {}, `v${r.version_number}`),
      h("td", {}, String(who)),
      h("td", {}, `${r.duration_ms.toFixed(1)} ms`),
      h("td", {}, error),
      h("td", {}, h("button", { class: "link", onclick: () => showRecord(detail, r) }, "details")));
    tr.record = r;
    tr.hidden = !shown(tr);
    return tr;
  };
  const tail = h("span", { class: "muted", id: "tail-state" });
  const byStatus = h("select", { id: "filter-status", "aria-label": "Status" }, ["", "SUCCEEDED", "FAILED"].map((v) => h("option", { value: v }, v || "any status")));
  const byVersion = h("input", { id: "filter-version", placeholder: "version", size: 7, "aria-label": "Version" });
  const byUser = h("input", { id: "filter-user", placeholder: "user", size: 10, "aria-label": "User" });
  const byTime = h("select", { id: "filter-time", "aria-label": "Time" }, [["", "any time"], ["5", "last 5 minutes"], ["60", "last hour"], ["1440", "last day"]].map(([v, t]) => h("option", { value: v }, t)));
  const shown = (tr) => {
    const r = tr.record;
    const who = String(r.args?.username ?? r.args?.user?.name ?? r.args?.user?.id ?? "");
    return (!byStatus.value || r.status === byStatus.value)
      && (!byVersion.value.trim() || `v${r.version_number}` === `v${byVersion.value.trim().replace(/^v/, "")}`)
      && (!byUser.value.trim() || who.includes(byUser.value.trim()))
      && (!byTime.value || Date.now() - Date.parse(r.created_time) <= Number(byTime.value) * 60_000);
  };
  const filter = () => body.querySelectorAll("tr").forEach((tr) => { tr.hidden = !shown(tr); });
  for (const control of [byStatus, byVersion, byUser, byTime]) {
    control.addEventListener("input", filter);
    control.addEventListener("change", filter);
  }
  // The live tail: server-sent events read through fetch (EventSource cannot send the token).
  let reading = null;
  const follow = () => {
    const stop = new AbortController();
    reading = stop;
    tail.textContent = "following";
    (async () => {
      const res = await fetch(`/v1/function-invocations/live?function_id=${fn.id}`, {
        headers: { authorization: `Bearer ${session.token}`, accept: "text/event-stream" },
        signal: stop.signal,
      });
      if (res.status === 401) return signOut("Your session ended: sign in again.");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        let end;
        while ((end = pending.indexOf("\n\n")) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const event = /^event: ?(.*)$/m.exec(block)?.[1];
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          if (event === "invocation" && data) {
            const record = JSON.parse(data);
            if (!body.querySelector(`tr[data-id="${record.id}"]`)) body.prepend(row(record));
          } else if (event === "lagged") {
            tail.textContent = `following (${data} missed: too many at once)`;
          }
        }
      }
    })().catch(() => {}).finally(() => {
      if (reading === stop) tail.textContent = "paused";
    });
  };
  const pause = () => {
    reading?.abort();
    reading = null;
    tail.textContent = "paused";
  };
  live.addEventListener("change", () => (live.checked ? follow() : pause()));
  root.replaceChildren(h("div", { class: "layout" },
    h("section", { class: "panel" }, h("h2", {}, "Functions"), functionList(() => showInvocations(root))),
    h("section", { class: "panel", "aria-label": "Invocations" },
      h("h2", {}, `Invocations of ${fn?.type ?? "—"}`),
      h("div", { class: "toolbar" }, h("label", {}, live, " live tail (newest first)"), tail),
      h("div", { class: "toolbar", role: "search" }, byStatus, byVersion, byUser, byTime),
      h("table", {}, h("thead", {}, h("tr", {}, ["time", "status", "version", "user", "duration", "error", ""].map((c) => h("th", {}, c)))), body),
      detail)));
  if (!fn) return;
  // Following first, then the recent ones below what arrived meanwhile: nothing falls between.
  follow();
  stopLive = pause;
  const page = await api("GET", `/v1/functions/${fn.id}/invocations?size=50`);
  for (const r of page._embedded.invocations) {
    if (!body.querySelector(`tr[data-id="${r.id}"]`)) body.append(row(r));
  }
}

async function showRecord(root, r) {
  const versions = (await api("GET", `/v1/functions/${r.function_id}/versions?size=100`))._embedded.versions;
  const pick = h("select", { id: "replay-version", "aria-label": "Version to replay on" },
    versions.map((v) => h("option", { value: v.version_number, selected: v.version_number === r.version_number }, `v${v.version_number}`)));
  const replayed = h("div", { id: "replay-result" });
  const replay = async () => {
    replayed.replaceChildren(h("p", { class: "muted" }, "Replaying…"));
    try {
      const run = await api("POST", `/v1/function-invocations/${r.id}/replay`, { version_number: Number(pick.value) });
      const side = (title, status, outcome) => h("div", { class: "panel" }, h("h3", {}, title), h("p", {}, status), h("pre", {}, JSON.stringify(outcome, null, 2)));
      replayed.replaceChildren(
        h("p", { id: "replay-verdict", class: `status ${run.same_outcome ? "good" : "bad"}` },
          run.same_outcome ? "Same outcome as the original." : "A different outcome from the original."),
        h("div", { class: "sides" },
          side(`Original (v${run.original_version_number})`, run.original_status, run.original_result),
          side(`Replay (v${run.replay.version_number})`, run.replay.outcome.status === "returned" ? "SUCCEEDED" : "FAILED", run.replay.outcome)));
    } catch (e) {
      replayed.replaceChildren(h("p", { class: "status bad" }, e.message));
    }
  };
  root.replaceChildren(h("div", { class: "panel" },
    h("h2", {}, `Invocation ${r.id}`),
    h("p", {}, `${r.type} · version ${r.version_number} · ${r.status} · ${r.duration_ms.toFixed(1)} ms`),
    h("div", { class: "toolbar" }, h("span", {}, "Replay on"), pick, h("button", { id: "replay", onclick: replay }, "Replay"),
      h("span", { class: "muted" }, "with the event, Users answers, HTTP responses and clock it had; nothing live changes")),
    replayed,
    h("h3", {}, "Event"), h("pre", {}, JSON.stringify(r.args, null, 2)),
    h("h3", {}, "Outcome"), h("pre", {}, JSON.stringify(r.result, null, 2)),
    h("h3", {}, "Console"), h("pre", { class: "logs" }, r.logs.map((l) => `${l.level}: ${l.message}`).join("\n") || "(nothing)"),
    h("h3", {}, "Tape"),
    h("p", { class: "muted" }, "What it saw from outside (its clock, Users answers, HTTP responses), as a replay gives them back."),
    h("pre", { class: "tape" }, JSON.stringify(r.tape, null, 2))));
}

// ---- test --------------------------------------------------------------------------------

const EXAMPLES = {
  "user.attempted.start_session": { username: "alice", authParams: {} },
  "user.sent.message": { user: { id: 1, name: "alice" }, channel: { id: 1, type: "PUBLIC" }, message: { id: 1, type: "TEXT", body: "hello" } },
  "user.received.notification": { user: { id: 1, name: "alice" }, notification: { title: "New message" }, userHasActiveSession: false },
  "user.started.chat_session": { user: { id: 1, name: "alice" }, channel: { id: 1 }, channelUnread: false, channelMessagesCount: 0 },
  "user.read.message": { user: { id: 1, name: "alice" }, message: { id: 1 }, receipt: {} },
  "user.received.channel_invite": { user: { id: 1, name: "alice" }, channel: { id: 1 } },
  "user.triggered.event": { user: { id: 1, name: "alice" }, channel: { id: 1 }, event: { type: "typing" } },
  "system.triggered.event": { channel: { id: 1 }, event: { type: "cron" } },
  "user.reacted.to_message": { user: { id: 1, name: "alice" }, message: { id: 1 }, reaction: { emoji: "👍" } },
};

async function showTest(root) {
  const fn = state.functions.find((f) => f.id === state.selected);
  const event = h("textarea", { id: "test-event", spellcheck: "false", "aria-label": "Event (JSON)" });
  event.value = JSON.stringify(EXAMPLES[fn?.type] ?? {}, null, 2);
  const result = h("div", { id: "test-result", role: "status" });
  const seed = h("textarea", { id: "test-users", spellcheck: "false", "aria-label": "Users to seed (JSON array)", placeholder: '[{"name": "carol", "displayName": "Carol"}]', style: "min-height: 3rem" });
  // Saved examples: this browser's, per app and trigger.
  const examplesKey = `chatfn.examples.${session.app}.${fn?.type}`;
  const saved = () => JSON.parse(localStorage.getItem(examplesKey) ?? "{}");
  const examples = h("select", { id: "test-examples", "aria-label": "Saved examples" });
  const listExamples = () => examples.replaceChildren(h("option", { value: "" }, "saved examples…"), ...Object.keys(saved()).map((n) => h("option", { value: n }, n)));
  listExamples();
  examples.addEventListener("change", () => {
    const chosen = saved()[examples.value];
    if (chosen) event.value = JSON.stringify(chosen, null, 2);
  });
  const saveExample = () => {
    const name = prompt("Save this event as");
    if (!name) return;
    try {
      localStorage.setItem(examplesKey, JSON.stringify({ ...saved(), [name]: JSON.parse(event.value) }));
      listExamples();
      examples.value = name;
    } catch (e) {
      result.replaceChildren(h("p", { class: "status bad" }, `The event is not valid JSON: ${e.message}`));
    }
  };
  const versions = fn ? (await api("GET", `/v1/functions/${fn.id}/versions?size=100`))._embedded.versions : [];
  const pick = h("select", { id: "test-version", "aria-label": "Version" }, versions.map((v) =>
    h("option", { value: v.version_number, selected: v.version_number === fn.current_version_number }, `v${v.version_number}${v.version_number === fn.current_version_number ? " (current)" : ""}`)));
  let lastRun = null;
  const download = () => {
    if (!lastRun) return;
    const { event: ev, run } = lastRun;
    const outcome = run.decision ? (run.decision.allowed ? "allowed" : "denied") : run.outcome.status === "returned" ? "succeeded" : "failed";
    const expect = { outcome };
    const message = run.decision?.message ?? run.outcome?.error?.message;
    if (message) expect.message = `^${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
    const spec = { name: `${fn.type} (v${run.version_number})`, trigger: fn.type, event: ev, expect };
    const link = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(spec, null, 2) + "\n"], { type: "application/json" })), download: `${fn.type.replaceAll(".", "-")}.test.json` });
    link.click();
    URL.revokeObjectURL(link.href);
  };
  const run = async () => {
    result.replaceChildren(h("p", { class: "muted" }, "Running…"));
    let parsed;
    try {
      parsed = JSON.parse(event.value);
    } catch (e) {
      result.replaceChildren(h("p", { class: "status bad" }, `The event is not valid JSON: ${e.message}`));
      return;
    }
    let users = [];
    try {
      users = seed.value.trim() ? JSON.parse(seed.value) : [];
    } catch (e) {
      result.replaceChildren(h("p", { class: "status bad" }, `The users to seed are not valid JSON: ${e.message}`));
      return;
    }
    try {
      const version = versions.find((v) => String(v.version_number) === pick.value) ?? versions[0];
      const run = await api("POST", `/v1/function-versions/${version.id}/test`, { event: parsed, users });
      lastRun = { event: parsed, run };
      const decision = run.decision
        ? run.decision.allowed ? `allowed (${run.decision.user?.name})` : `denied: ${run.decision.error}: ${run.decision.message}`
        : run.outcome.status === "returned" ? "succeeded" : `failed: ${run.outcome.status}`;
      result.replaceChildren(
        h("p", { class: `status ${run.outcome.status === "returned" ? "good" : "bad"}`, id: "test-decision" }, `v${run.version_number}: ${decision}`),
        h("p", { class: "muted", id: "test-duration" }, `${(run.invocation?.durationMs ?? 0).toFixed(1)} ms`),
        run.outcome.error?.location?.line
          ? h("button", { id: "show-error", onclick: () => showErrorInEditor(run.outcome.error) }, `Show line ${run.outcome.error.location.line} in the editor`)
          : null,
        h("h3", {}, "Outcome"), h("pre", {}, JSON.stringify(run.outcome, null, 2)),
        h("h3", {}, "Console"), h("pre", {}, (run.invocation?.logs ?? []).map((l) => `${l.level}: ${l.message}`).join("\n") || "(nothing)"),
        run.users_created.length ? h("p", {}, `Users created (in a scratch copy): ${run.users_created.map((u) => u.name).join(", ")}`) : null);
    } catch (e) {
      result.replaceChildren(h("p", { class: "status bad" }, e.message));
    }
  };
  root.replaceChildren(h("div", { class: "layout" },
    h("section", { class: "panel" }, h("h2", {}, "Functions"), functionList(() => showTest(root))),
    h("section", { class: "panel", "aria-label": "Test" },
      h("h2", {}, `Test ${fn?.type ?? ""}`),
      h("p", { class: "muted" }, "Runs a version on this event in a fresh isolate, over a scratch copy of the users: nothing live changes. Save the case as a test file for `chatfn test`."),
      h("div", { class: "toolbar" }, examples, h("button", { id: "save-example", onclick: saveExample }, "Save example")),
      event,
      h("label", {}, "Users to seed in the scratch copy (optional, a JSON array)", seed),
      h("div", { class: "toolbar" }, "on ", pick, h("button", { id: "run-test", class: "primary", onclick: run }, "Run"),
        h("button", { id: "download-test", onclick: download }, "Save as .test.json")),
      result)));
}

// ---- runtime -----------------------------------------------------------------------------

async function showRuntime(root) {
  const runtime = await api("GET", "/v1/runtimes/nodejs");
  const status = h("p", { id: "runtime-status", class: "status", role: "status" });
  const say = (text, good) => {
    status.className = `status ${good ? "good" : "bad"}`;
    status.textContent = text;
  };
  // Dependencies: the whole list is saved at once, installed first.
  const rows = h("tbody", { id: "dependencies" });
  const depRow = (name = "", version = "") => {
    const row = h("tr", {},
      h("td", {}, h("input", { class: "dep-name", value: name, "aria-label": "Package", placeholder: "package" })),
      h("td", {}, h("input", { class: "dep-version", value: version, "aria-label": "Version range", placeholder: "^1" })),
      h("td", {}, h("button", { class: "link", onclick: () => row.remove() }, "remove")));
    rows.append(row);
  };
  for (const d of runtime.dependencies) depRow(d.name, d.version);
  const saveDeps = async () => {
    const list = [...rows.querySelectorAll("tr")]
      .map((tr) => ({ name: tr.querySelector(".dep-name").value.trim(), version: tr.querySelector(".dep-version").value.trim() }))
      .filter((d) => d.name);
    say("Installing…", true);
    try {
      const answer = await api("PUT", "/v1/runtimes/nodejs/dependencies", list);
      const c = answer.changes;
      const what = [
        ...Object.entries(c.added).map(([n, v]) => `added ${n}@${v}`),
        ...c.removed.map((n) => `removed ${n}`),
        ...Object.entries(c.changed).map(([n, r]) => `changed ${n} ${r.from} -> ${r.to}`),
      ];
      const installed = answer.installed ? `; installed ${answer.installed.packages} packages (${answer.installed.downloaded} downloaded)` : "";
      say(what.length ? `${what.join(", ")}${installed}; deployed.` : "Nothing changed.", true);
    } catch (e) {
      say(e.message, false);
    }
  };
  // The initialization script, in the same editor as functions.
  const initStatus = h("p", { id: "init-status", class: "status", role: "status" });
  const initHost = h("div", { class: "editor", id: "init-editor" });
  const initFile = runtime.initialization_script?.file ?? "initialization-script.ts";
  const init = new EditorView({
    doc: runtime.initialization_script?.script ?? "",
    extensions: [basicSetup, javascript({ typescript: /\.[cm]?ts$/.test(initFile) }), EditorView.lineWrapping],
    parent: initHost,
  });
  const saveInit = async () => {
    init.dispatch(setDiagnostics(init.state, []));
    try {
      await api("PUT", "/v1/runtimes/nodejs/initialization-script", { script: init.state.doc.toString(), file: initFile });
      initStatus.className = "status good";
      initStatus.textContent = "Saved and deployed.";
    } catch (e) {
      initStatus.className = "status bad";
      const at = e.data?.location;
      initStatus.textContent = at?.line ? `Not saved: line ${at.line}, column ${at.column}: ${e.message}` : `Not saved: ${e.message}`;
      if (at?.line) {
        const line = init.state.doc.line(Math.min(at.line, init.state.doc.lines));
        init.dispatch(setDiagnostics(init.state, [{ from: line.from, to: line.to, severity: "error", message: e.message }]));
      }
    }
  };
  // Environment variables: names only; values are written, never read back.
  const envList = h("ul", { class: "list", id: "environment" });
  const renderEnv = (names) => envList.replaceChildren(...names.map((name) =>
    h("li", { "data-name": name }, h("code", {}, name), h("span", { class: "muted" }, "••••••••"),
      h("button", { class: "link", onclick: async () => {
        const answer = await api("PATCH", "/v1/runtimes/nodejs/environment-variables", { [name]: null });
        renderEnv(Object.keys(answer.environment_variables));
        say(`Removed ${name}; deployed.`, true);
      } }, "remove"))));
  renderEnv(Object.keys(runtime.environment_variables));
  const envName = h("input", { id: "env-name", placeholder: "NAME", "aria-label": "Variable name" });
  const envValue = h("input", { id: "env-value", type: "password", placeholder: "value", "aria-label": "Value" });
  const setEnv = async () => {
    try {
      const answer = await api("PATCH", "/v1/runtimes/nodejs/environment-variables", { [envName.value]: envValue.value });
      renderEnv(Object.keys(answer.environment_variables));
      say(`Set ${envName.value}; deployed.`, true);
      envName.value = envValue.value = "";
    } catch (e) {
      say(e.message, false);
    }
  };
  root.replaceChildren(h("div", { class: "layout halves" },
    h("section", { class: "panel", "aria-label": "Dependencies" },
      h("h2", {}, "npm dependencies"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "package"), h("th", {}, "version"), h("th", {}))), rows),
      h("div", { class: "toolbar" },
        h("button", { id: "add-dependency", onclick: () => depRow() }, "Add"),
        h("button", { id: "save-dependencies", class: "primary", onclick: saveDeps }, "Install and deploy")),
      status,
      h("h2", {}, "Environment variables"),
      envList,
      h("div", { class: "toolbar" }, envName, envValue, h("button", { id: "set-env", onclick: setEnv }, "Set"))),
    h("section", { class: "panel", "aria-label": "Initialization script" },
      h("h2", {}, "Initialization script ", h("span", { class: "muted" }, initFile)),
      initHost,
      h("div", { class: "toolbar" }, h("button", { id: "save-init", class: "primary", onclick: saveInit }, "Save and deploy")),
      initStatus)));
}

// ---- users -------------------------------------------------------------------------------

async function showUsers(root) {
  const rows = h("tbody", { id: "users" });
  const name = h("input", { id: "user-search", placeholder: "exact name", "aria-label": "Find a user by name" });
  const info = h("p", { class: "muted", id: "users-page" });
  const detail = h("div", { id: "user-detail" });
  let page = 0;
  const render = async () => {
    const query = name.value.trim() ? `&name=${encodeURIComponent(name.value.trim())}` : "";
    const answer = await api("GET", `/v1/users?page=${page}&size=25${query}`);
    rows.replaceChildren(...answer._embedded.users.map((u) => h("tr", { "data-name": u.name },
      h("td", {}, String(u.id)),
      h("td", {}, h("button", { class: "link user-name", onclick: async () => {
        const secrets = await api("GET", `/v1/users/${u.id}/secrets`);
        detail.replaceChildren(h("div", { class: "panel" },
          h("h3", {}, `${u.display_name} (${u.name}, id ${u.id})`),
          h("p", {}, `${u.is_guest ? "Guest" : "Registered"} user since ${new Date(u.created_time).toLocaleString()}.`),
          h("h3", {}, "Properties"), h("pre", {}, JSON.stringify(u.properties, null, 2)),
          h("h3", {}, "Secrets"),
          h("ul", { class: "list", id: "user-secrets" }, secrets.names.length
            ? secrets.names.map((n) => h("li", {}, h("code", {}, n), h("span", { class: "muted" }, "value not shown")))
            : [h("li", { class: "muted" }, "none")])));
      } }, u.name)),
      h("td", {}, u.display_name), h("td", {}, u.is_guest ? "guest" : ""),
      h("td", {}, h("pre", {}, JSON.stringify(u.properties))),
      h("td", {}, h("button", { class: "link delete-user", onclick: async () => {
        if (!confirm(`Delete ${u.name}?`)) return;
        await api("DELETE", `/v1/users/${u.id}`);
        await render();
      } }, "delete")))));
    info.textContent = `${answer.page.total_elements} users · page ${page + 1} of ${Math.max(answer.page.total_pages, 1)}`;
  };
  root.replaceChildren(h("div", { class: "panel", style: "margin: 1rem" },
    h("h2", {}, "Users"),
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); page = 0; render(); } },
      name, h("button", { type: "submit" }, "Find"),
      h("button", { type: "button", onclick: () => { if (page > 0) { page--; render(); } } }, "Previous"),
      h("button", { type: "button", onclick: () => { page++; render(); } }, "Next"), info),
    h("table", {}, h("thead", {}, h("tr", {}, ["id", "name", "display name", "", "properties", ""].map((c) => h("th", {}, c)))), rows),
    detail));
  await render();
}

// ---- settings ----------------------------------------------------------------------------

async function showSettings(root) {
  const settings = await api("GET", "/v1/application/settings");
  const guests = h("select", { id: "guest-users", "aria-label": "Guest users" },
    ["ENABLED", "DISABLED"].map((v) => h("option", { value: v, selected: settings.guest_users === v }, v)));
  const status = h("p", { id: "settings-status", class: "status", role: "status" });
  guests.addEventListener("change", async () => {
    const answer = await api("PATCH", "/v1/application/settings", { guest_users: guests.value });
    status.className = "status good";
    status.textContent = `Guest users ${answer.guest_users}: applies to the next attempt.`;
  });
  const limits = Object.entries(settings.limits).map(([name, value]) =>
    h("tr", {}, h("td", {}, h("code", {}, name)), h("td", { "data-limit": name }, value === null ? "default" : String(value))));
  root.replaceChildren(h("div", { class: "panel", style: "margin: 1rem" },
    h("h2", {}, "Settings"),
    h("label", {}, "Guest users ", guests),
    h("p", { class: "muted" }, "ENABLED lets a user in without a function vouching for them (ChatKitty's guest users)."),
    status,
    h("p", {}, `Denial reasons reach the client: ${settings.expose_denial_reason ? "yes" : "no (\"Access denied\")"}.`),
    h("h2", {}, "Limits in effect"),
    h("p", { class: "muted" }, "From chatfn.toml's [limits]; change them there."),
    h("table", { id: "limits" }, h("tbody", {}, limits))));
}

showSignIn();
