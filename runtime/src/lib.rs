//! chatfn: a self-hosted runtime for chat functions.
//!
//! The path of a session attempt: `http` (axum, `POST /v1/sessions`) → `session` (ChatKitty's
//! start-session rules) → `worker` (the execution engine: shared isolate threads, a pool of isolates per app, and the
//! limits of each invocation) → `js` (the
//! deno_core runtime and its bootstrap JavaScript) → `ops` (native functions the JavaScript
//! calls) → `store` (users on sled, or PostgreSQL shared by several nodes, which `cluster` keeps
//! in step); outbound HTTP from functions goes through `net`.
//! `platform` is ChatKitty's Platform API (OAuth client credentials, settings, users) beside
//! the session endpoint. `config` reads the app's `chatfn.toml`; `deps` installs its npm
//! dependencies; `testing` runs `chatfn test`; `cli` and `commands` are the binary's front door.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod deps;
pub mod events;
pub mod hex;
pub mod hosting;
pub mod http;
pub mod js;
pub mod net;
pub mod ops;
pub mod paths;
pub mod platform;
pub mod remote;
pub mod session;
pub mod store;
pub mod store_copy;
pub mod testing;
pub mod time;
pub mod worker;
