//! Symmetric ciphers for `node:crypto` (`createCipheriv`, `createDecipheriv`): AES in CBC
//! (PKCS#7 padding, or none) and GCM (with additional data and a 4 to 16 byte tag), with 128,
//! 192 and 256 bit keys, over the RustCrypto crates. The JavaScript side gathers what
//! `update` is given and runs the whole message here at `final`.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{AesGcm, KeyInit};
use deno_core::op2;
use deno_error::JsErrorBox;

/// A cipher name Node takes, as (mode, key bytes).
fn parse(name: &str) -> Result<(&'static str, usize), JsErrorBox> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "aes-128-cbc" | "aes128" => ("cbc", 16),
        "aes-192-cbc" | "aes192" => ("cbc", 24),
        "aes-256-cbc" | "aes256" => ("cbc", 32),
        "aes-128-gcm" | "id-aes128-gcm" => ("gcm", 16),
        "aes-192-gcm" | "id-aes192-gcm" => ("gcm", 24),
        "aes-256-gcm" | "id-aes256-gcm" => ("gcm", 32),
        _ => {
            return Err(JsErrorBox::new(
                "Error",
                format!("Unknown cipher: {name} (chatfn has AES-128/192/256 in CBC and GCM)"),
            ))
        }
    })
}

/// Checks a cipher's key and IV lengths as Node does, when the cipher is created.
#[op2(fast)]
pub fn op_crypto_cipher_check(
    #[string] name: &str,
    key_len: u32,
    iv_len: u32,
) -> Result<(), JsErrorBox> {
    let (mode, key_bytes) = parse(name)?;
    if key_len as usize != key_bytes {
        return Err(JsErrorBox::range_error("Invalid key length"));
    }
    let iv_ok = match mode {
        "cbc" => iv_len == 16,
        _ => iv_len == 12,
    };
    if !iv_ok {
        return Err(JsErrorBox::type_error(if mode == "gcm" {
            "Invalid initialization vector (chatfn's GCM takes a 12-byte IV)"
        } else {
            "Invalid initialization vector"
        }));
    }
    Ok(())
}

fn bad_decrypt() -> JsErrorBox {
    JsErrorBox::new("Error", "error:1C800064:Provider routines::bad decrypt")
}

fn gcm_failed() -> JsErrorBox {
    JsErrorBox::new("Error", "Unsupported state or unable to authenticate data")
}

macro_rules! cbc {
    ($aes:ty, $decrypt:expr, $key:expr, $iv:expr, $data:expr, $padding:expr) => {{
        if $decrypt {
            let cipher = cbc::Decryptor::<$aes>::new_from_slices($key, $iv)
                .map_err(|_| JsErrorBox::range_error("Invalid key length"))?;
            if $padding {
                cipher.decrypt_padded_vec_mut::<Pkcs7>($data).map_err(|_| bad_decrypt())
            } else {
                cipher.decrypt_padded_vec_mut::<NoPadding>($data).map_err(|_| {
                    JsErrorBox::new(
                        "Error",
                        "error:1C80006B:Provider routines::wrong final block length",
                    )
                })
            }
        } else {
            let cipher = cbc::Encryptor::<$aes>::new_from_slices($key, $iv)
                .map_err(|_| JsErrorBox::range_error("Invalid key length"))?;
            if $padding {
                Ok(cipher.encrypt_padded_vec_mut::<Pkcs7>($data))
            } else if $data.len() % 16 != 0 {
                Err(JsErrorBox::new(
                    "Error",
                    "error:1C80006B:Provider routines::wrong final block length",
                ))
            } else {
                Ok(cipher.encrypt_padded_vec_mut::<NoPadding>($data))
            }
        }
    }};
}

macro_rules! gcm {
    ($aes:ty, $decrypt:expr, $key:expr, $iv:expr, $data:expr, $aad:expr, $tag:expr, $tag_len:expr) => {{
        let cipher = AesGcm::<$aes, U12>::new_from_slice($key)
            .map_err(|_| JsErrorBox::range_error("Invalid key length"))?;
        let nonce = aes_gcm::Nonce::<U12>::from_slice($iv);
        let mut buffer = $data.to_vec();
        if $decrypt {
            if $tag.len() != 16 {
                // The RustCrypto GCM checks 16-byte tags only; a shorter one is refused.
                return Err(gcm_failed());
            }
            cipher
                .decrypt_in_place_detached(nonce, $aad, &mut buffer, $tag.into())
                .map_err(|_| gcm_failed())?;
            Ok(buffer)
        } else {
            let tag = cipher
                .encrypt_in_place_detached(nonce, $aad, &mut buffer)
                .map_err(|_| JsErrorBox::new("Error", "encryption failed"))?;
            buffer.extend_from_slice(&tag[..$tag_len]);
            Ok(buffer)
        }
    }};
}

/// Runs a whole message through a cipher. Encrypting with GCM answers the ciphertext followed
/// by the tag (`tag_len` bytes); decrypting with GCM checks `tag`.
#[op2]
#[buffer]
#[allow(clippy::too_many_arguments)]
pub fn op_crypto_cipher(
    #[string] name: &str,
    decrypt: bool,
    #[buffer] key: &[u8],
    #[buffer] iv: &[u8],
    #[buffer] data: &[u8],
    #[buffer] aad: &[u8],
    #[buffer] tag: &[u8],
    padding: bool,
    tag_len: u32,
) -> Result<Vec<u8>, JsErrorBox> {
    let (mode, key_bytes) = parse(name)?;
    let tag_len = (tag_len as usize).clamp(4, 16);
    match (mode, key_bytes) {
        ("cbc", 16) => cbc!(aes::Aes128, decrypt, key, iv, data, padding),
        ("cbc", 24) => cbc!(aes::Aes192, decrypt, key, iv, data, padding),
        ("cbc", _) => cbc!(aes::Aes256, decrypt, key, iv, data, padding),
        (_, 16) => gcm!(aes::Aes128, decrypt, key, iv, data, aad, tag, tag_len),
        (_, 24) => gcm!(aes::Aes192, decrypt, key, iv, data, aad, tag, tag_len),
        (_, _) => gcm!(aes::Aes256, decrypt, key, iv, data, aad, tag, tag_len),
    }
}
