use std::process::ExitCode;

use clap::Parser;

use chatfn::cli::{Cli, Command, Validated};
use chatfn::commands;

/// jemalloc serves every allocation of the process: with its `malloc` and `free` in place of
/// glibc's, V8's and sled's allocations too. Measured against glibc's on 2026-12-07 (the
/// Firebase app, the server's CPU per attempt from /proc, builds alternated): 221 -> 185 µs at
/// c=16 over five pairs (on a loaded machine), 190 -> 171 µs at c=16 and 279 -> 263 µs at c=1
/// over two more (glibc spent 10-14% of the profile in `malloc`, `free` and the consolidation
/// of its bins); 10,000 apps idle after a restart 654 MB against 921 (glibc kept sled's freed
/// buffers in its arenas, which an mmap threshold held down). Its defaults: giving freed pages
/// back after one second from its background thread measured 6% above glibc's CPU (five
/// alternated pairs) and was dropped; what a burst freed stays up to 10 s (RSS 109-125 MB right
/// after one, against 96-111).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `chatfn test` prints its own report; the server's chatter would only bury it.
    let default_filter =
        if matches!(cli.command, Command::Test { .. }) { "chatfn=warn" } else { "chatfn=info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let validated = match cli.validate() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("chatfn: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Validated::Snapshot = validated {
        // A child of `chatfn serve`, on a thread of its own (see worker::snapshot).
        return match chatfn::worker::snapshot::take_from_stdin() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e:#}");
                ExitCode::from(2)
            }
        };
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match validated {
            Validated::Serve(config) => commands::serve(config).await.map(|()| true),
            Validated::Invoke(config) => commands::invoke(config).await,
            Validated::DepsInstall { app, force } => {
                commands::deps_install(&app, force).await.map(|()| true)
            }
            Validated::Test { app, junit } => commands::test(&app, junit.as_deref()).await,
            Validated::Keys { app, data, store, command } => {
                commands::keys(&app, &data, store.as_ref(), &command).await.map(|()| true)
            }
            Validated::Replay { id, version, server, key } => {
                commands::replay(id, version, &server, &key).await
            }
            Validated::Snapshot => unreachable!("handled above"),
            Validated::StoreCopy { from, to, apps } => {
                use chatfn::store_copy::{copy, Place};
                copy(Place::parse(&from), Place::parse(&to), &apps).await.map(|()| true)
            }
            Validated::Openapi => {
                println!(
                    "{}",
                    chatfn::platform::openapi().to_pretty_json().expect("the document serializes")
                );
                Ok(true)
            }
            Validated::Apply { app, server, key } => {
                commands::apply(&app, &server, &key).await.map(|()| true)
            }
            Validated::Logs { function, follow, last, server, key } => {
                commands::logs(function, follow, last, &server, &key).await.map(|()| true)
            }
            Validated::Events { command, server, key } => {
                commands::events(&command, &server, &key).await.map(|()| true)
            }
            Validated::Export { dir, server, key } => {
                commands::export(&dir, &server, &key).await.map(|()| true)
            }
        }
    });
    // Whatever the server started ends with it (a snapshot process could hold its files).
    chatfn::worker::snapshot::stop();
    // Packages compiled by this run serve the next from the code cache (`chatfn test`...).
    chatfn::worker::code_cache::flush();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("chatfn: {e:#}");
            ExitCode::from(2)
        }
    }
}
