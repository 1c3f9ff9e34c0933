use std::process::ExitCode;

use clap::Parser;

use chatfn::cli::{Cli, Command, Validated};
use chatfn::commands;

fn main() -> ExitCode {
    fixed_mmap_threshold();
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

/// glibc serves an allocation of 128 KiB or more with its own mapping, returned to the system
/// when freed, until a freed one raises that threshold to its size (up to 32 MiB); from then on
/// such buffers come from the threads' arenas, which keep what is freed. sled's buffers at a
/// database's opening (its log segment's, about half a MiB, several per database) then stayed
/// in the arenas: a server opening 1,000 apps' stores kept 540 MB where it used 220. Setting
/// the threshold fixes it where it starts.
fn fixed_mmap_threshold() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
