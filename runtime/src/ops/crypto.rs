//! `op_crypto_*`: hashes, HMACs and randomness for `node:crypto` and `globalThis.crypto`,
//! over RustCrypto (sha1, sha2, md-5, hmac) and the OS's random source.

use deno_core::op2;
use deno_error::JsErrorBox;
use hmac::{Hmac, Mac};
use sha2::Digest;

fn unknown(algorithm: &str) -> JsErrorBox {
    JsErrorBox::new("Error", format!("Digest method not supported: {algorithm} (chatfn has md5, sha1, sha224, sha256, sha384, sha512)"))
}

fn digest(algorithm: &str, data: &[u8]) -> Result<Vec<u8>, JsErrorBox> {
    Ok(match algorithm.to_ascii_lowercase().as_str() {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" | "sha-1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" | "sha-224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" | "sha-256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" | "sha-384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" | "sha-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return Err(unknown(algorithm)),
    })
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[op2]
#[buffer]
pub fn op_crypto_digest(
    #[string] algorithm: &str,
    #[buffer] data: &[u8],
) -> Result<Vec<u8>, JsErrorBox> {
    digest(algorithm, data)
}

#[op2]
#[buffer]
pub fn op_crypto_hmac(
    #[string] algorithm: &str,
    #[buffer] key: &[u8],
    #[buffer] data: &[u8],
) -> Result<Vec<u8>, JsErrorBox> {
    Ok(match algorithm.to_ascii_lowercase().as_str() {
        "md5" => hmac::<Hmac<md5::Md5>>(key, data),
        "sha1" => hmac::<Hmac<sha1::Sha1>>(key, data),
        "sha224" => hmac::<Hmac<sha2::Sha224>>(key, data),
        "sha256" => hmac::<Hmac<sha2::Sha256>>(key, data),
        "sha384" => hmac::<Hmac<sha2::Sha384>>(key, data),
        "sha512" => hmac::<Hmac<sha2::Sha512>>(key, data),
        _ => return Err(unknown(algorithm)),
    })
}

/// Fills `buf` from the OS's cryptographically secure source.
#[op2(fast)]
pub fn op_crypto_random_fill(#[buffer] buf: &mut [u8]) -> Result<(), JsErrorBox> {
    getrandom::getrandom(buf)
        .map_err(|e| JsErrorBox::new("Error", format!("no randomness available: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hex::hex;

    #[test]
    fn digests_and_hmacs_match_known_vectors() {
        assert_eq!(
            hex(&digest("sha256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&digest("md5", b"").unwrap()), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&hmac::<Hmac<sha2::Sha256>>(
                b"key",
                b"The quick brown fox jumps over the lazy dog"
            )),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(digest("whirlpool", b"").is_err());
    }
}
