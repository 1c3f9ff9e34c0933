//! The JavaScript runtime of one isolate: the `chatfn` deno_core extension (ops + embedded
//! bootstrap modules). The bootstrap modules live beside this file (chatfn's own: console,
//! context, main loop) and in `npm-shim/` (Node compatibility: `require`, the built-ins and
//! their registry `builtins.js`, the globals in `globals.js`, the web's in `web/`); `build.rs`
//! embeds them all. What runs them is `worker`.

pub mod esm;
pub mod transpile;

use std::borrow::Cow;

use deno_core::ExtensionFileSource;

use crate::ops;

/// The module that starts everything else; it imports the rest.
const ENTRY_POINT: &str = "ext:chatfn/worker.js";

/// Every module of `npm-shim/` and of this folder, listed by `build.rs`.
fn bootstrap_modules() -> Vec<ExtensionFileSource> {
    include!(concat!(env!("OUT_DIR"), "/bootstrap_modules.rs"))
}

deno_core::extension!(
    chatfn,
    ops = [
        ops::users::op_users_check_exists,
        ops::users::op_users_create,
        ops::users::op_users_retrieve,
        ops::users::op_users_update,
        ops::users::op_users_delete,
        ops::users::op_users_list,
        ops::users::op_users_set_secret,
        ops::users::op_users_retrieve_secret,
        ops::users::op_users_remove_secret,
        ops::crypto::op_crypto_digest,
        ops::crypto::op_crypto_hmac,
        ops::crypto::op_crypto_random_fill,
        ops::crypto_keys::op_crypto_key_parse,
        ops::crypto_keys::op_crypto_sign,
        ops::crypto_keys::op_crypto_verify,
        ops::crypto_keys::op_crypto_spki_key,
        ops::crypto_keys::op_crypto_ec_sign,
        ops::crypto_keys::op_crypto_ec_verify,
        ops::crypto_keys::op_crypto_ec_public,
        ops::crypto_keys::op_crypto_ec_export,
        ops::crypto_ciphers::op_crypto_cipher,
        ops::crypto_ciphers::op_crypto_cipher_check,
        ops::crypto_keys::op_crypto_ec_key,
        ops::fs::op_fs_stat,
        ops::fs::op_fs_read_file,
        ops::fs::op_fs_read_dir,
        ops::http::op_http_open,
        ops::http::op_http_read,
        ops::http::op_http_close,
        ops::url::op_url_parse,
        ops::url::op_url_set,
        ops::url::op_url_punycode,
        ops::modules::op_modules_stat,
        ops::modules::op_modules_read,
        ops::modules::op_modules_compile,
        esm::op_modules_esm_host,
        esm::op_modules_format,
        esm::op_modules_detected_esm,
        ops::worker::op_worker_app,
        ops::worker::op_chat_backend,
        ops::worker::op_worker_monotonic_ms,
        ops::worker::op_worker_host_log,
        ops::worker::op_worker_log,
        ops::worker::op_worker_memory_charge,
        ops::worker::op_worker_memory_release,
        ops::worker::op_worker_memory_usage,
        ops::worker::op_error_location,
        ops::zlib::op_zlib_process,
    ],
    customizer = |ext: &mut deno_core::Extension| {
        ext.esm_files = Cow::Owned(bootstrap_modules());
        ext.esm_entry_point = Some(ENTRY_POINT);
    },
);
