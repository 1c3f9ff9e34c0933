//! Native ops, one file per domain, all named `op_<domain>_<verb>` and gathered into the
//! `chatfn` extension in `js/mod.rs`.

pub mod crypto;
pub mod crypto_ciphers;
pub mod crypto_keys;
pub mod fs;
pub mod http;
pub mod modules;
pub mod url;
pub mod users;
pub mod worker;
pub mod zlib;
