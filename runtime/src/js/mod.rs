//! The JavaScript runtime of one isolate: the `chatfn` deno_core extension (ops + embedded
//! bootstrap modules) and the constructor of a configured `JsRuntime`. The bootstrap modules
//! live beside this file (chatfn's own: console, context, main loop) and in `npm-shim/` (Node
//! compatibility: `require`, `process`, timers). What runs them is `worker`.

pub mod esm;
pub mod transpile;

use std::borrow::Cow;

use deno_core::{ascii_str_include, ExtensionFileSource};

use crate::ops;

/// The module that starts everything else; it imports the rest.
const ENTRY_POINT: &str = "ext:chatfn/worker.js";

fn bootstrap_modules() -> Vec<ExtensionFileSource> {
    vec![
        ExtensionFileSource::new("ext:chatfn/internal/path.js", ascii_str_include!("../../../npm-shim/internal/path.js")),
        ExtensionFileSource::new("ext:chatfn/internal/bytes.js", ascii_str_include!("../../../npm-shim/internal/bytes.js")),
        ExtensionFileSource::new("ext:chatfn/require.js", ascii_str_include!("../../../npm-shim/require.js")),
        ExtensionFileSource::new("ext:chatfn/buffer.js", ascii_str_include!("../../../npm-shim/buffer.js")),
        ExtensionFileSource::new("ext:chatfn/events.js", ascii_str_include!("../../../npm-shim/events.js")),
        ExtensionFileSource::new("ext:chatfn/path.js", ascii_str_include!("../../../npm-shim/path.js")),
        ExtensionFileSource::new("ext:chatfn/stream.js", ascii_str_include!("../../../npm-shim/stream.js")),
        ExtensionFileSource::new("ext:chatfn/stream_web.js", ascii_str_include!("../../../npm-shim/stream_web.js")),
        ExtensionFileSource::new("ext:chatfn/string_decoder.js", ascii_str_include!("../../../npm-shim/string_decoder.js")),
        ExtensionFileSource::new("ext:chatfn/os.js", ascii_str_include!("../../../npm-shim/os.js")),
        ExtensionFileSource::new("ext:chatfn/querystring.js", ascii_str_include!("../../../npm-shim/querystring.js")),
        ExtensionFileSource::new("ext:chatfn/util.js", ascii_str_include!("../../../npm-shim/util.js")),
        ExtensionFileSource::new("ext:chatfn/assert.js", ascii_str_include!("../../../npm-shim/assert.js")),
        ExtensionFileSource::new("ext:chatfn/crypto.js", ascii_str_include!("../../../npm-shim/crypto.js")),
        ExtensionFileSource::new("ext:chatfn/url.js", ascii_str_include!("../../../npm-shim/url.js")),
        ExtensionFileSource::new("ext:chatfn/subtle.js", ascii_str_include!("subtle.js")),
        ExtensionFileSource::new("ext:chatfn/fs.js", ascii_str_include!("../../../npm-shim/fs.js")),
        ExtensionFileSource::new("ext:chatfn/zlib.js", ascii_str_include!("../../../npm-shim/zlib.js")),
        ExtensionFileSource::new("ext:chatfn/http.js", ascii_str_include!("../../../npm-shim/http.js")),
        ExtensionFileSource::new("ext:chatfn/unsupported.js", ascii_str_include!("../../../npm-shim/unsupported.js")),
        ExtensionFileSource::new("ext:chatfn/process.js", ascii_str_include!("../../../npm-shim/process.js")),
        ExtensionFileSource::new("ext:chatfn/timers.js", ascii_str_include!("../../../npm-shim/timers.js")),
        ExtensionFileSource::new("ext:chatfn/console.js", ascii_str_include!("console.js")),
        ExtensionFileSource::new("ext:chatfn/pending.js", ascii_str_include!("pending.js")),
        ExtensionFileSource::new("ext:chatfn/tape.js", ascii_str_include!("tape.js")),
        ExtensionFileSource::new("ext:chatfn/chatkitty.js", ascii_str_include!("chatkitty.js")),
        ExtensionFileSource::new("ext:chatfn/abort.js", ascii_str_include!("abort.js")),
        ExtensionFileSource::new("ext:chatfn/fetch.js", ascii_str_include!("fetch.js")),
        ExtensionFileSource::new("ext:chatfn/memory.js", ascii_str_include!("memory.js")),
        ExtensionFileSource::new(ENTRY_POINT, ascii_str_include!("worker.js")),
    ]
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
        ops::modules::op_modules_strip,
        esm::op_modules_esm_host,
        ops::worker::op_worker_app,
        ops::worker::op_worker_monotonic_ms,
        ops::worker::op_worker_host_log,
        ops::worker::op_worker_log,
        ops::worker::op_worker_memory_charge,
        ops::worker::op_worker_memory_release,
        ops::worker::op_error_location,
        ops::zlib::op_zlib_process,
    ],
    customizer = |ext: &mut deno_core::Extension| {
        ext.esm_files = Cow::Owned(bootstrap_modules());
        ext.esm_entry_point = Some(ENTRY_POINT);
    },
);
