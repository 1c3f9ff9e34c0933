//! The store conformance suite: the same checks of the users, settings, functions and invocation
//! records stores, run against
//! sled and against a real PostgreSQL server. Each check gets a store of its own (a fresh sled
//! directory, or a fresh app name in the database), so ids start at 1 in both.

use chatfn::config::GuestUsers;
use chatfn::store::events::{EventsStore, Failure, NewEvent};
use chatfn::store::functions::{FunctionsStore, Script};
use chatfn::store::invocations::InvocationRecord;
use chatfn::store::postgres::Database;
use chatfn::store::{self, NewUser, StoreError, Subject, UserPatch, UsersStore};
use serde_json::{json, Map, Value};

use crate::postgres::Postgres;

fn new_user(name: &str) -> NewUser {
    NewUser { name: name.into(), ..Default::default() }
}

/// Where each check's store comes from.
enum Backend {
    Sled(tempfile::TempDir),
    Postgres(Database),
}

impl Backend {
    /// The store of a new app called `app`.
    async fn open(&self, app: &str) -> store::Store {
        self.open_kept(app, 10).await
    }

    /// The store of app `app`, keeping `retention` invocation records.
    async fn open_kept(&self, app: &str, retention: usize) -> store::Store {
        match self {
            Backend::Sled(dir) => store::open(&dir.path().join(app), retention).unwrap(),
            Backend::Postgres(db) => {
                let local = tempfile::tempdir().unwrap().keep();
                store::open_shared(&local, retention, db, app).await.unwrap()
            }
        }
    }
}

async fn conformance(backend: Backend) {
    let users = async |app: &str| backend.open(app).await.users;
    create_assigns_sequential_ids_and_defaults(&users("ids").await).await;
    duplicate_names_conflict(&users("duplicates").await).await;
    names_are_nfc_and_invisible_characters_are_refused(&users("nfc").await).await;
    concurrent_get_or_create_makes_one_user(&users("concurrent").await).await;
    update_merges_properties_and_delete_removes_everything(&users("update").await).await;
    invalid_names_and_values_are_refused(&users("invalid").await).await;
    list_pages_in_id_order(&users("pages").await).await;
    apps_are_apart(&users("app-one").await, &users("app-two").await).await;
    users_survive_reopening(users("reopened").await, async || users("reopened").await).await;
    settings_are_kept(backend.open("settings").await, async || backend.open("settings").await)
        .await;
    versions_are_numbered_per_function_and_activation_switches_between_them(
        &backend.open("versions").await.functions,
    )
    .await;
    runtime_and_what_was_applied_are_kept(backend.open("runtime").await, async || {
        backend.open("runtime").await
    })
    .await;
    events_are_accepted_once_delivered_retried_dead_lettered_and_redriven(
        &backend.open("events").await.events,
    )
    .await;
    let records = backend.open_kept("records", 5).await;
    records_list_newest_first_per_function_and_old_ones_are_trimmed(records, async || {
        backend.open_kept("records", 5).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_conformance_suite_passes_on_sled() {
    conformance(Backend::Sled(tempfile::tempdir().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_conformance_suite_passes_on_postgres() {
    let server = Postgres::start();
    let url = server.database("conformance");
    let db = Database::connect(&url, 8).await.unwrap();
    // Migrating again (a second node starting) finds nothing to do.
    Database::connect(&url, 8).await.unwrap();
    conformance(Backend::Postgres(db)).await;
    let versions = server
        .query("conformance", "SELECT version FROM chatfn_schema_migrations ORDER BY version");
    let wanted: Vec<String> =
        (1..=store::postgres::SCHEMA_VERSION).map(|v| v.to_string()).collect();
    assert_eq!(versions.lines().collect::<Vec<_>>(), wanted, "each migration once");
}

async fn create_assigns_sequential_ids_and_defaults(s: &UsersStore) {
    let a = s.create(new_user("alice")).await.unwrap();
    let b = s
        .create(NewUser {
            display_name: Some("Bob B.".into()),
            is_guest: Some(true),
            ..new_user("bob")
        })
        .await
        .unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(a.display_name, "alice");
    assert!(!a.is_guest && b.is_guest);
    assert_eq!(s.find_by_name("bob").await.unwrap().unwrap(), b);
    assert_eq!(s.get(1).await.unwrap().unwrap(), a);
    assert!(s.exists("alice").await.unwrap() && !s.exists("carol").await.unwrap());
    assert_eq!(s.get(u64::MAX).await.unwrap(), None);
}

async fn duplicate_names_conflict(s: &UsersStore) {
    s.create(new_user("alice")).await.unwrap();
    assert!(matches!(s.create(new_user("alice")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.list(0, 10, None).await.unwrap().total, 1);
}

async fn names_are_nfc_and_invisible_characters_are_refused(s: &UsersStore) {
    let composed = s.create(new_user("Ren\u{e9}e")).await.unwrap();
    // The same name typed with a combining accent is the same user.
    assert!(matches!(s.create(new_user("Rene\u{301}e")).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.find_by_name("Rene\u{301}e").await.unwrap().unwrap().id, composed.id);
    assert!(s.exists("Rene\u{301}e").await.unwrap());
    for sneaky in ["ann\u{200b}", "\u{202e}nna", "a\u{2060}nn", "\u{feff}ann", "ann\u{e0041}"] {
        let err = s.create(new_user(sneaky)).await.unwrap_err();
        assert!(err.to_string().contains("invisible characters"), "{sneaky:?}: {err}");
    }
    // Emoji and scripts other than Latin are names like any other.
    for fine in ["\u{1f600}", "\u{4e2d}\u{6587}", "\u{645}\u{62d}\u{645}\u{62f}"] {
        s.create(new_user(fine)).await.unwrap();
        assert!(s.exists(fine).await.unwrap());
    }
}

async fn concurrent_get_or_create_makes_one_user(s: &UsersStore) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.get_or_create(new_user("carol")).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (user, was_created) = t.await.unwrap();
        created += was_created as usize;
        ids.insert(user.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
}

async fn update_merges_properties_and_delete_removes_everything(s: &UsersStore) {
    let mut props = Map::new();
    props.insert("plan".into(), "free".into());
    props.insert("team".into(), "red".into());
    let u = s.create(NewUser { properties: Some(props), ..new_user("dave") }).await.unwrap();
    let mut patch = Map::new();
    patch.insert("plan".into(), "pro".into());
    patch.insert("team".into(), Value::Null);
    let patch = UserPatch {
        properties: Some(patch),
        display_name: Some("Dave".into()),
        ..Default::default()
    };
    let u2 = s.update(u.id, patch).await.unwrap();
    assert_eq!(u2.properties.get("plan"), Some(&Value::from("pro")));
    assert!(!u2.properties.contains_key("team"));
    assert_eq!(u2.display_name, "Dave");
    assert_eq!(s.get(u.id).await.unwrap().unwrap(), u2, "the update was stored");

    s.set_secret(u.id, "token", &Value::from("abc")).await.unwrap();
    s.set_secret(u.id, "token", &serde_json::json!({ "rotated": true })).await.unwrap();
    s.set_secret(u.id, "api", &Value::from(1)).await.unwrap();
    assert_eq!(s.get_secret(u.id, "token").await.unwrap(), serde_json::json!({ "rotated": true }));
    assert_eq!(s.secret_names(u.id).await.unwrap(), ["api", "token"]);
    s.remove_secret(u.id, "api").await.unwrap();
    assert!(matches!(s.remove_secret(u.id, "api").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.get_secret(u.id, "api").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.set_secret(999, "x", &Value::Null).await, Err(StoreError::NotFound(_))));

    s.delete(u.id).await.unwrap();
    assert!(s.find_by_name("dave").await.unwrap().is_none());
    assert!(matches!(s.get_secret(u.id, "token").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.update(u.id, UserPatch::default()).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete(u.id).await, Err(StoreError::NotFound(_))));
    // The name is free again, under a new id; the old id's secrets did not come back.
    let again = s.create(new_user("dave")).await.unwrap();
    assert!(again.id > u.id);
    assert_eq!(s.secret_names(again.id).await.unwrap(), Vec::<String>::new());
}

async fn invalid_names_and_values_are_refused(s: &UsersStore) {
    for bad in ["", "   ", "a\nb", "a\u{0}b"] {
        assert!(matches!(s.create(new_user(bad)).await, Err(StoreError::Invalid(_))), "{bad:?}");
    }
    let long = "x".repeat(chatfn::store::users::MAX_NAME_LEN + 1);
    assert!(matches!(s.create(new_user(&long)).await, Err(StoreError::Invalid(_))));
    let blank = NewUser { display_name: Some(" ".into()), ..new_user("erin") };
    assert!(matches!(s.create(blank).await, Err(StoreError::Invalid(_))));
    let u = s.create(new_user("erin")).await.unwrap();
    let blank = UserPatch { display_name: Some("".into()), ..Default::default() };
    assert!(matches!(s.update(u.id, blank).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.set_secret(u.id, "", &Value::Null).await, Err(StoreError::Invalid(_))));
}

async fn list_pages_in_id_order(s: &UsersStore) {
    for n in ["a", "b", "c"] {
        s.create(new_user(n)).await.unwrap();
    }
    let p = s.list(1, 2, None).await.unwrap();
    assert_eq!(p.total, 3);
    assert_eq!(p.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["c"]);
    let all = s.list(0, 10, None).await.unwrap().users;
    assert_eq!(all.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(s.list(0, 10, Some("b")).await.unwrap().users[0].name, "b");
    assert_eq!(s.list(0, 10, Some("zed")).await.unwrap().total, 0);
}

async fn apps_are_apart(one: &UsersStore, two: &UsersStore) {
    let a = one.create(new_user("same")).await.unwrap();
    let b = two.create(new_user("same")).await.unwrap();
    assert_eq!((a.id, b.id), (1, 1), "ids count per app");
    one.delete(a.id).await.unwrap();
    assert!(two.find_by_name("same").await.unwrap().is_some());
}

async fn users_survive_reopening(s: UsersStore, reopen: impl AsyncFnOnce() -> UsersStore) {
    s.create(new_user("frank")).await.unwrap();
    // sled lets one process have the database at a time: this one lets it go first.
    drop(s);
    let s = reopen().await;
    assert_eq!(s.find_by_name("frank").await.unwrap().unwrap().id, 1);
    assert_eq!(s.create(new_user("gina")).await.unwrap().id, 2);
}

async fn settings_are_kept(store: store::Store, reopen: impl AsyncFnOnce() -> store::Store) {
    assert_eq!(store.settings.guest_users().await.unwrap(), None);
    store.settings.set_guest_users(GuestUsers::Disabled).await.unwrap();
    store.settings.set_guest_users(GuestUsers::Enabled).await.unwrap();
    drop(store);
    assert_eq!(reopen().await.settings.guest_users().await.unwrap(), Some(GuestUsers::Enabled));
}

async fn versions_are_numbered_per_function_and_activation_switches_between_them(
    store: &FunctionsStore,
) {
    let trigger = "user.attempted.start_session";
    let f = store.create_function(trigger, "Start session", None).await.unwrap();
    let twice = store.create_function(trigger, "again", None).await.unwrap_err();
    assert_eq!(twice.to_string(), format!("a function for {trigger} already exists"));
    assert_eq!(f.current_version_number, 0);
    assert_eq!(store.function_for(trigger).unwrap().unwrap(), f);
    let v1 = store.add_version(f.id, "async function handleEvent() {}", "functions/a.js").await;
    let v1 = v1.unwrap();
    let no = "async function handleEvent() { throw new Error('no') }";
    let v2 = store.add_version(f.id, no, "functions/a.js").await.unwrap();
    assert_eq!((v1.version_number, v2.version_number), (1, 2));
    assert_eq!(store.function(f.id).unwrap().unwrap().current_version_number, 2);
    assert_eq!(store.activate(f.id, 1).await.unwrap().current_version_number, 1);
    assert_eq!(store.function(f.id).unwrap().unwrap().current_version_number, 1);
    let missing = store.activate(f.id, 7).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(Subject::Version { number: 7, .. })));
    assert_eq!(missing.to_string(), format!("version 7 of function {} not found", f.id));
    let v3 = store.add_version(f.id, "x", "functions/a.js").await.unwrap();
    assert_eq!(v3.version_number, 3, "numbers never repeat, also after a rollback");
    assert_eq!(
        store.versions(f.id).unwrap().iter().map(|v| v.version_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(store.version(v2.id).unwrap().unwrap().handler_script, no, "kept as saved");
    assert_eq!(store.set_shadow(f.id, Some(2)).await.unwrap().shadow_version_number, Some(2));
    assert!(matches!(store.add_version(99, "x", "f.js").await, Err(StoreError::NotFound(_))));

    let other = store.create_function("user.sent.message", "Messages", None).await.unwrap();
    assert_eq!(store.add_version(other.id, "y", "b.js").await.unwrap().version_number, 1);
    store.delete_function(f.id).await.unwrap();
    assert_eq!(store.functions().unwrap(), vec![store.function(other.id).unwrap().unwrap()]);
    assert!(store.versions(f.id).unwrap().is_empty() && store.version(v2.id).unwrap().is_none());
    assert!(matches!(store.delete_function(f.id).await, Err(StoreError::NotFound(_))));
}

async fn runtime_and_what_was_applied_are_kept(
    store: store::Store,
    reopen: impl AsyncFnOnce() -> store::Store,
) {
    let functions = &store.functions;
    assert_eq!(functions.runtime().unwrap(), Default::default());
    let deps = [("ms".to_string(), "^2".to_string())].into_iter().collect();
    let first = functions.update_runtime(|r| r.dependencies = deps).await.unwrap();
    let second = functions
        .update_runtime(|r| {
            r.initialization_script = Some(Script { file: "init.js".into(), script: "1".into() })
        })
        .await
        .unwrap();
    assert_eq!((first.version, second.version), (1, 2));
    assert_eq!(second.dependencies["ms"], "^2", "a change keeps the rest");
    functions.set_applied("runtime.dependencies", "abc").await.unwrap();
    functions.set_applied("runtime.dependencies", "def").await.unwrap();
    functions.flush().await.unwrap();
    drop(store);
    let again = reopen().await;
    assert_eq!(again.functions.runtime().unwrap(), second);
    assert_eq!(again.functions.applied("runtime.dependencies").unwrap().as_deref(), Some("def"));
    assert_eq!(again.functions.applied("function.x").unwrap(), None);
}

fn record(function_id: u64, n: u64) -> InvocationRecord {
    InvocationRecord {
        id: 0,
        function_id,
        version_number: n,
        trigger: "user.attempted.start_session".into(),
        status: "SUCCEEDED".into(),
        args: json!({ "username": format!("u{n}") }),
        result: Value::Null,
        logs: Vec::new(),
        duration_ms: 1.0,
        tape: Some("{\"users\":[]}".into()),
        shadow: None,
        created_time: format!("2026-12-01T10:00:{n:02}.000Z"),
    }
}

async fn records_list_newest_first_per_function_and_old_ones_are_trimmed(
    store: store::Store,
    reopen: impl AsyncFnOnce() -> store::Store,
) {
    let records = &store.invocations;
    let mut ids = Vec::new();
    for n in 1..=8 {
        ids.push(records.record(record(1, n)).unwrap());
        // One write each, as if the writer ran between the invocations.
        records.settle().await.unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "ids are unique: {ids:?}");
    records.record(record(2, 99)).unwrap();
    let versions = |page: store::invocations::RecordPage| {
        page.records.iter().map(|r| r.version_number).collect::<Vec<_>>()
    };
    let page = records.list(1, 0, 3).await.unwrap();
    assert_eq!(page.total, 4, "five kept in all, one of them function 2's");
    assert_eq!(versions(page), [8, 7, 6]);
    assert_eq!(versions(records.list(1, 1, 3).await.unwrap()), [5]);
    assert!(records.get(ids[0]).await.unwrap().is_none(), "the oldest is gone");
    let newest = records.get(ids[7]).await.unwrap().unwrap();
    assert_eq!(newest, InvocationRecord { id: ids[7], ..record(1, 8) }, "kept as recorded");
    records.set_shadow(ids[7], json!({ "same_outcome": true })).await.unwrap();

    // Written records survive a reopen.
    drop(store);
    let store = reopen().await;
    let shadow = store.invocations.get(ids[7]).await.unwrap().unwrap().shadow;
    assert_eq!(shadow, Some(json!({ "same_outcome": true })));
    assert_eq!(store.invocations.list(1, 0, 10).await.unwrap().total, 4);
    let later = store.invocations.record(record(1, 9)).unwrap();
    assert!(!ids.contains(&later), "no id is given twice, also after a reopen");

    // More records than are kept, written at once: the newest five are, and only they.
    let burst: Vec<u64> =
        (10..=21).map(|n| store.invocations.record(record(1, n)).unwrap()).collect();
    store.invocations.settle().await.unwrap();
    let first = store.invocations.list(1, 0, 10).await.unwrap();
    let second = store.invocations.list(2, 0, 10).await.unwrap();
    assert_eq!(first.total + second.total, 5, "{} and {}", first.total, second.total);
    assert_eq!(versions(first)[..4], [21, 20, 19, 18]);
    assert!(store.invocations.get(burst[0]).await.unwrap().is_none(), "past the retention");
    assert!(store.invocations.get(burst[11]).await.unwrap().is_some());
}

fn new_event(id: &str, key: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        trigger: "user.sent.message".into(),
        key: key.into(),
        event: json!({ "message": { "body": id } }),
    }
}

async fn events_are_accepted_once_delivered_retried_dead_lettered_and_redriven(
    store: &EventsStore,
) {
    let first =
        store.accept(vec![new_event("a", "channel/1"), new_event("b", "channel/2")], 1, 10, 1_000);
    let first = first.await.unwrap();
    assert_eq!(first.iter().map(|a| a.duplicate).collect::<Vec<_>>(), [false, false]);
    assert!(first[0].seq < first[1].seq, "numbered in order: {first:?}");
    // A re-sent event (and one repeated within its batch) is a duplicate of the first.
    let again = store.accept(
        vec![new_event("a", "channel/1"), new_event("c", "channel/1"), new_event("c", "channel/1")],
        0,
        10,
        1_500,
    );
    let again = again.await.unwrap();
    assert_eq!(again.iter().map(|a| a.duplicate).collect::<Vec<_>>(), [true, false, true]);
    assert_eq!((again[0].seq, again[2].seq), (first[0].seq, again[1].seq));
    let scheduled = store.schedule(None).await.unwrap();
    assert_eq!(
        scheduled.iter().map(|s| s.0).collect::<Vec<_>>(),
        [first[0].seq, first[1].seq, again[1].seq]
    );
    assert_eq!(scheduled[0].1, "channel/1");
    let queued = store.get(first[0].seq).await.unwrap().unwrap();
    assert_eq!(
        (queued.id.as_str(), queued.received_at, queued.event["message"]["body"].as_str()),
        ("a", 1_000, Some("a"))
    );

    // Full: nothing of the batch is kept.
    let full = store.accept(
        (0..8).map(|i| new_event(&format!("f{i}"), "channel/3")).collect(),
        0,
        10,
        2_000,
    );
    assert!(matches!(full.await, Err(StoreError::Conflict(_))));
    assert_eq!(store.schedule(None).await.unwrap().len(), 3);

    store.delivered(first[0].seq).await.unwrap();
    assert!(store.get(first[0].seq).await.unwrap().is_none());
    let mut b = store.get(first[1].seq).await.unwrap().unwrap();
    b.runs = 1;
    b.next_at = 9_000;
    b.failures.push(Failure {
        attempt: 1,
        at: "then".into(),
        error: json!({ "status": "threw" }),
        record_id: Some(7),
    });
    store.failed(&b, false).await.unwrap();
    assert_eq!(store.get(b.seq).await.unwrap().unwrap(), b, "a failed run is kept on the event");
    b.runs = 2;
    store.failed(&b, true).await.unwrap();
    assert!(store.get(b.seq).await.unwrap().is_none());
    assert_eq!(store.dead_letter(b.seq).await.unwrap().unwrap().runs, 2);
    let (letters, total) = store.dead_letters(0, 10).await.unwrap();
    assert_eq!((letters.len(), total), (1, 1));

    let moved = store.redrive(&|e| e.id == "b", 3_000).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].seq > again[1].seq, "a redriven event goes after those accepted since");
    assert_eq!((moved[0].runs, moved[0].redriven, moved[0].next_at), (0, 1, 3_000));
    assert_eq!(store.dead_letters(0, 10).await.unwrap().1, 0);
    assert_eq!(
        store.get(moved[0].seq).await.unwrap().unwrap().failures.len(),
        1,
        "its history stays"
    );
    let mut c = store.get(again[1].seq).await.unwrap().unwrap();
    c.runs = 5;
    store.failed(&c, true).await.unwrap();
    assert_eq!(store.delete_dead(&|e| e.id == "c").await.unwrap(), 1);
    assert!(store.dead_letter(c.seq).await.unwrap().is_none());

    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.accepted, counts.duplicates, counts.unhandled, counts.delivered),
        (4, 2, 1, 1),
        "{counts:?}"
    );
    assert_eq!(
        (
            counts.failed_runs,
            counts.dead_lettered,
            counts.redriven,
            counts.queued,
            counts.dead_letters
        ),
        (3, 2, 1, 1, 0),
        "{counts:?}"
    );
    // Ids are forgotten past the window once their event settled: "a" (delivered) and "c"
    // (deleted); "b" is queued again.
    assert_eq!(store.forget_ids(5_000).await.unwrap(), 2);
    let later =
        store.accept(vec![new_event("a", "channel/1"), new_event("b", "channel/2")], 0, 10, 6_000);
    assert_eq!(later.await.unwrap().iter().map(|a| a.duplicate).collect::<Vec<_>>(), [false, true]);
}
