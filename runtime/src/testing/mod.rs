//! `chatfn test`: sandboxed function tests, kept next to the functions as `*.test.json` (or
//! `*.test.yaml`) files.
//!
//! Each test gives an event, the users that exist beforehand, environment overrides and HTTP
//! fixtures, and what must happen (allowed or denied, a message pattern, users created, log
//! lines). Every test runs in a fresh scratch store and a fresh isolate of the app, so tests
//! neither touch real users nor see each other. Results print one line per test with a diff
//! on failure and end with `N passed, M failed`; `--junit FILE` also writes JUnit XML.

mod junit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{App, GuestUsers, Trigger};
use crate::net::Fixture;
use crate::session::{
    scratch_run, AttemptRequest, Decision, ScratchRequest, ScratchResult, ScratchRun,
};
use crate::store::{NewUser, User};
use crate::worker::{Invocation, Outcome};

pub use junit::write_junit;

/// One test as written in a test file (a file holds one test or an array of them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestSpec {
    name: Option<String>,
    #[serde(default = "default_trigger")]
    trigger: String,
    event: Value,
    #[serde(default)]
    users: Vec<NewUserSpec>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    fixtures: Vec<FixtureSpec>,
    guest_users: Option<GuestUsers>,
    expect: Expect,
}

fn default_trigger() -> String {
    "user.attempted.start_session".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewUserSpec {
    name: String,
    display_name: Option<String>,
    #[serde(default)]
    is_guest: bool,
    #[serde(default)]
    properties: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureSpec {
    url: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A string is sent as is; any other JSON value is sent serialized.
    #[serde(default)]
    body: Value,
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    outcome: ExpectedOutcome,
    code: Option<String>,
    /// A regular expression the denial message must match.
    message: Option<String>,
    /// Users that must exist afterwards and did not before, with these fields.
    users_created: Option<Vec<Map<String, Value>>>,
    /// Regular expressions; each must match some console line of the invocation.
    #[serde(default)]
    logs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ExpectedOutcome {
    /// A session attempt's decisions.
    Allowed,
    Denied,
    /// A chat event's function returned, or did not (threw, hit a limit...).
    Succeeded,
    Failed,
}

/// The result of one test.
#[derive(Debug)]
pub struct TestResult {
    pub file: String,
    pub name: String,
    pub duration_ms: f64,
    /// Empty when the test passed; otherwise one line per mismatch.
    pub failures: Vec<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Every test file next to the app's functions: under the folders holding its function
/// files (or under the app directory when it has no functions), not in `node_modules` or
/// hidden folders.
pub fn discover(app: &App) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        app.functions.values().filter_map(|f| f.path.parent().map(Path::to_path_buf)).collect();
    if dirs.is_empty() {
        dirs.push(app.root.clone());
    }
    dirs.sort();
    dirs.dedup_by(|inner, outer| inner.starts_with(outer));
    let mut found = Vec::new();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "node_modules" || name == "target" {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if TEST_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                found.push(path);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Runs every test of every file, in order.
pub async fn run_all(app: &App, files: &[PathBuf]) -> Vec<TestResult> {
    let mut results = Vec::new();
    for file in files {
        let shown = file.strip_prefix(&app.root).unwrap_or(file).display().to_string();
        let specs = match read_specs(file) {
            Ok(specs) => specs,
            Err(message) => {
                results.push(TestResult {
                    file: shown.clone(),
                    name: shown.clone(),
                    duration_ms: 0.0,
                    failures: vec![message],
                });
                continue;
            }
        };
        for (i, spec) in specs.into_iter().enumerate() {
            let name =
                spec.name.clone().unwrap_or_else(|| format!("{} #{}", file_stem(file), i + 1));
            let started = Instant::now();
            let failures = match run_one(app, spec).await {
                Ok(failures) => failures,
                Err(e) => vec![format!("could not run: {e:#}")],
            };
            results.push(TestResult {
                file: shown.clone(),
                name,
                duration_ms: started.elapsed().as_secs_f64() * 1e3,
                failures,
            });
        }
    }
    results
}

/// Test files: JSON, or YAML for people who keep tests by hand.
const TEST_SUFFIXES: [&str; 3] = [".test.json", ".test.yaml", ".test.yml"];

fn file_stem(file: &Path) -> String {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    TEST_SUFFIXES.iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name).to_string()
}

fn read_specs(file: &Path) -> Result<Vec<TestSpec>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let value: Value = if file.to_string_lossy().ends_with(".json") {
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))?
    } else {
        serde_yaml::from_str(&text)
            .map_err(|e| format!("{} is not valid YAML: {e}", file.display()))?
    };
    let list = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    list.into_iter()
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| format!("{}: not a valid test: {e}", file.display()))
        })
        .collect()
}

async fn run_one(app: &App, spec: TestSpec) -> anyhow::Result<Vec<String>> {
    let Some(trigger) = Trigger::from_name(&spec.trigger) else {
        let known: Vec<_> = Trigger::ALL.iter().map(|t| t.name()).collect();
        return Ok(vec![format!(
            "trigger {:?} is not one chatfn knows; one of {}",
            spec.trigger,
            known.join(", ")
        )]);
    };
    // The app as this test sees it.
    let mut app = app.clone();
    app.environment.extend(spec.environment);
    if let Some(guests) = spec.guest_users {
        app.guest_users = guests;
    }
    for f in spec.fixtures {
        let body = match f.body {
            Value::String(s) => s.into_bytes(),
            Value::Null => Vec::new(),
            other => other.to_string().into_bytes(),
        };
        app.fixtures.insert(f.url, Fixture { status: f.status, headers: f.headers, body });
    }

    let request = if trigger.is_blocking() {
        match AttemptRequest::from_event(spec.event.clone()) {
            Ok(request) => ScratchRequest::Attempt(request),
            Err(e) => return Ok(vec![format!("event: {e}")]),
        }
    } else {
        if let Err(e) = crate::events::check_shape(trigger, &spec.event) {
            return Ok(vec![format!("event: {e}")]);
        }
        ScratchRequest::Event { trigger, event: spec.event.clone(), replay: None }
    };
    // A scratch store with the users that exist beforehand, and a fresh isolate.
    let users = spec
        .users
        .into_iter()
        .map(|u| NewUser {
            name: u.name,
            display_name: u.display_name,
            is_guest: Some(u.is_guest),
            properties: Some(u.properties),
        })
        .collect();
    let ScratchRun { result, before, after } =
        scratch_run(&app, users, app.guest_users, request).await?;
    let (seen, invocation) = match result {
        ScratchResult::Attempt(attempt) => match attempt {
            Ok(attempt) => (Seen::decided(&attempt.decision), attempt.invocation),
            Err(e) => return Ok(vec![format!("the attempt was refused as a bad request: {e}")]),
        },
        ScratchResult::Event(invocation) => (Seen::ran(&invocation), Some(invocation)),
    };
    Ok(compare(&spec.expect, &seen, invocation.as_ref(), &before, &after))
}

/// What a test saw: the outcome as tests name it, with a code and a message when it was not
/// the happy one.
struct Seen {
    outcome: ExpectedOutcome,
    code: Option<String>,
    message: Option<String>,
}

impl Seen {
    /// A session attempt: allowed, or denied with its code and message.
    fn decided(decision: &Decision) -> Seen {
        match decision {
            Decision::Allowed { .. } => {
                Seen { outcome: ExpectedOutcome::Allowed, code: None, message: None }
            }
            Decision::Denied(d) => Seen {
                outcome: ExpectedOutcome::Denied,
                code: Some(d.code.as_str().to_string()),
                message: Some(d.message.clone()),
            },
        }
    }

    /// A chat event: the function succeeded, or failed with the outcome's status (`threw`,
    /// `timed_out`...) and the error's message.
    fn ran(invocation: &Invocation) -> Seen {
        if invocation.outcome == Outcome::Returned {
            return Seen { outcome: ExpectedOutcome::Succeeded, code: None, message: None };
        }
        let outcome = serde_json::to_value(&invocation.outcome).unwrap_or_default();
        Seen {
            outcome: ExpectedOutcome::Failed,
            code: outcome["status"].as_str().map(str::to_string),
            message: outcome["error"]["message"]
                .as_str()
                .or(outcome["message"].as_str())
                .map(str::to_string),
        }
    }
}

fn compare(
    expect: &Expect,
    seen: &Seen,
    invocation: Option<&Invocation>,
    before: &[User],
    after: &[User],
) -> Vec<String> {
    let mut failures = Vec::new();
    let Seen { outcome, code, message } = seen;
    let happy = match outcome {
        ExpectedOutcome::Allowed | ExpectedOutcome::Denied => "none (allowed)",
        _ => "none (succeeded)",
    };
    if *outcome != expect.outcome {
        let detail = match (&code, &message) {
            (Some(code), Some(message)) => format!(" ({code}: {message})"),
            _ => String::new(),
        };
        failures.push(format!("outcome: expected {:?}, got {outcome:?}{detail}", expect.outcome));
    }
    if let Some(expected) = &expect.code {
        if code.as_deref() != Some(expected.as_str()) {
            failures.push(format!(
                "code: expected {expected}, got {}",
                code.as_deref().unwrap_or(happy)
            ));
        }
    }
    if let Some(pattern) = &expect.message {
        match regex::Regex::new(pattern) {
            Err(e) => failures
                .push(format!("message: {pattern:?} is not a valid regular expression: {e}")),
            Ok(re) if !message.as_deref().is_some_and(|m| re.is_match(m)) => {
                failures.push(format!(
                    "message: expected /{pattern}/, got {:?}",
                    message.as_deref().unwrap_or(happy)
                ))
            }
            Ok(_) => {}
        }
    }
    if let Some(expected) = &expect.users_created {
        let created: Vec<&User> =
            after.iter().filter(|u| !before.iter().any(|b| b.id == u.id)).collect();
        if created.len() != expected.len() {
            let names: Vec<&str> = created.iter().map(|u| u.name.as_str()).collect();
            failures.push(format!(
                "usersCreated: expected {} user(s), got {} {names:?}",
                expected.len(),
                created.len()
            ));
        }
        for (want, got) in expected.iter().zip(&created) {
            let got = serde_json::to_value(got).unwrap_or_default();
            for (field, value) in want {
                if got.get(field) != Some(value) {
                    failures.push(format!(
                        "usersCreated: {field}: expected {value}, got {}",
                        got.get(field).unwrap_or(&Value::Null)
                    ));
                }
            }
        }
    }
    let logs: Vec<&str> =
        invocation.map(|i| i.logs.iter().map(|l| l.message.as_str()).collect()).unwrap_or_default();
    for pattern in &expect.logs {
        match regex::Regex::new(pattern) {
            Err(e) => {
                failures.push(format!("logs: {pattern:?} is not a valid regular expression: {e}"))
            }
            Ok(re) if !logs.iter().any(|l| re.is_match(l)) => {
                failures.push(format!("logs: no line matches /{pattern}/; got {logs:?}"))
            }
            Ok(_) => {}
        }
    }
    failures
}

/// Prints the results as people read them and returns whether all passed.
pub fn report(results: &[TestResult]) -> bool {
    let mut current_file = "";
    for r in results {
        if r.file != current_file {
            println!("{}", r.file);
            current_file = &r.file;
        }
        let mark = if r.passed() { "ok  " } else { "FAIL" };
        println!("  {mark} {} ({:.0} ms)", r.name, r.duration_ms);
        for failure in &r.failures {
            println!("       - {failure}");
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    failed == 0
}
