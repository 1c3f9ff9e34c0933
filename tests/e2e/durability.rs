//! Every answered write survives a crash: many concurrent first logins, `SIGKILL` at a random
//! moment, restart on the same data directory, and every user whose attempt was answered 200
//! must be there with the same id. sled buffers writes in memory between its own periodic
//! flushes, so this fails if a write is acknowledged before `flush_async` returns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::harness::{case_dir, post, without_colours, Server};

const ROUNDS: usize = 4;
const CLIENTS: usize = 8;

fn random_below(n: u64) -> u64 {
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    (nanos.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33) % n
}

#[test]
fn answered_users_survive_sigkill() {
    let app = case_dir("guests-enabled");
    let data = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<(String, u64)> = Vec::new();
    for round in 0..ROUNDS {
        let mut server = Server::start(&app, data.path());
        let answered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (base, answered, stop) = (server.base.clone(), answered.clone(), stop.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let name = format!("r{round}-c{client}-{i}");
                        match post(&base, "/v1/sessions", &json!({ "username": name }).to_string())
                        {
                            Some((200, answer)) => answered
                                .lock()
                                .unwrap()
                                .push((name, answer["user"]["id"].as_u64().unwrap())),
                            Some((status, answer)) => panic!("{name}: {status} {answer}"),
                            None => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        // Kill at a random moment once the clients are well under way.
        let started = std::time::Instant::now();
        while answered.lock().unwrap().len() < 2 * CLIENTS {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: attempts are not being answered"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(random_below(300)));
        server.kill_now();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let answered = std::mem::take(&mut *answered.lock().unwrap());
        acknowledged.extend(answered);

        // Restart on the same data: the store opens and holds every acknowledged user.
        let server = Server::start(&app, data.path());
        for (name, id) in &acknowledged {
            let (status, answer) = server.start_session(&json!({ "username": name }));
            assert_eq!(status, 200, "{name}: {answer}");
            assert_eq!(
                answer["user"]["id"].as_u64(),
                Some(*id),
                "round {round}: {name} was lost or re-created: {answer}"
            );
        }
        server.stop();
    }
}

/// What a server takes from its app directory at start (settings, runtime, a function version)
/// is durable once it serves: killed at once, the server finds nothing new to take at its next
/// start.
#[test]
fn what_the_app_directory_gave_survives_sigkill_at_once() {
    let data = tempfile::tempdir().unwrap();
    let app = case_dir("users-api");
    for round in 0..2 {
        let log = data.path().join(format!("serve-{round}.log"));
        let mut server = Server::start_logged(&app, &data.path().join("store"), &log);
        server.kill_now();
        let text = without_colours(&std::fs::read_to_string(&log).unwrap());
        let took = text.lines().find(|l| l.contains("from the app directory"));
        if round == 0 {
            assert!(took.is_some_and(|l| l.contains("version 1")), "{text}");
        } else {
            assert_eq!(took, None, "taken again after the crash:\n{text}");
        }
    }
}
