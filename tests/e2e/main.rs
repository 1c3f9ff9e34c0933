//! End-to-end tests: the real `chatfn` binary, over real HTTP, with real V8 and sled. One test
//! binary (each one links nothing heavy, but keeps the build short), split into modules.

mod builtins;
mod cases;
mod cli;
mod cluster;
mod code_cache;
mod dashboard;
mod durability;
mod engine;
mod events;
mod example_app;
mod firebase;
mod function_tests;
mod harness;
mod limits;
mod network;
mod npm;
mod platform;
mod postgres;
mod snapshots;
mod store;
