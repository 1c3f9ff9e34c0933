//! RSA keys, signatures and verification for `node:crypto` (`createPrivateKey`,
//! `createPublicKey`, `createSign`, `createVerify`, `sign`, `verify`), over ring, which
//! rustls already brings. Keys arrive as PEM (PKCS#8, PKCS#1, SPKI, X.509 certificates) or
//! DER; a small DER walker pulls the RSA public key out of certificates and SPKI.

use deno_core::op2;
use deno_error::JsErrorBox;
use ring::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use base64::Engine;

fn invalid(message: impl Into<String>) -> JsErrorBox {
    JsErrorBox::new("Error", message.into())
}

/// One DER element: (tag, contents, rest of the input).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo.
fn rsa_from_spki(spki: &[u8]) -> Option<Vec<u8>> {
    let (0x30, body, _) = der(spki)? else { return None };
    let (0x30, _algorithm, rest) = der(body)? else { return None };
    let (0x03, bits, _) = der(rest)? else { return None };
    // The BIT STRING starts with the count of unused bits (0).
    bits.split_first().filter(|(unused, _)| **unused == 0).map(|(_, key)| key.to_vec())
}

/// The SubjectPublicKeyInfo of an X.509 certificate.
fn spki_from_certificate(cert: &[u8]) -> Option<Vec<u8>> {
    let (0x30, body, _) = der(cert)? else { return None };
    let (0x30, tbs, _) = der(body)? else { return None };
    let mut rest = tbs;
    // [0] version (optional), serial, signature algorithm, issuer, validity, subject, then SPKI.
    if rest.first() == Some(&0xa0) {
        rest = der(rest)?.2;
    }
    for _ in 0..5 {
        rest = der(rest)?.2;
    }
    let (tag, _, after) = der(rest)?;
    (tag == 0x30).then(|| rest[..rest.len() - after.len()].to_vec())
}

fn pem(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let label_end = text[start + 11..].find("-----")? + start + 11;
    let label = text[start + 11..label_end].to_string();
    let end = text.find(&format!("-----END {label}-----"))?;
    let body: String = text[label_end + 5..end].chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    Some((label, bytes))
}

/// A key as the JS side keeps it: what it is and its canonical DER.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RsaKey {
    /// "private" or "public".
    #[serde(rename = "type")]
    kind: String,
    /// "pkcs8" or "pkcs1" for private keys, "rsa" (RSAPublicKey) for public ones.
    format: String,
    der: Vec<u8>,
    modulus_length: usize,
}

/// The ring key pair of a private key in `format` ("pkcs8" or "pkcs1").
fn key_pair(format: &str, der: &[u8]) -> Result<RsaKeyPair, JsErrorBox> {
    match format {
        "pkcs8" => RsaKeyPair::from_pkcs8(der),
        _ => RsaKeyPair::from_der(der),
    }
    .map_err(|e| {
        invalid(format!(
            "error:1E08010C:DECODER routines::unsupported ({e}); chatfn reads RSA private keys"
        ))
    })
}

fn private_key(format: &str, der: Vec<u8>) -> Result<RsaKey, JsErrorBox> {
    let pair = key_pair(format, &der)?;
    Ok(RsaKey {
        kind: "private".into(),
        format: format.into(),
        modulus_length: pair.public().modulus_len() * 8,
        der,
    })
}

fn public_key(rsa: Vec<u8>) -> Result<RsaKey, JsErrorBox> {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let (0x30, body, _) = der(&rsa).ok_or_else(|| invalid("not an RSA public key"))? else {
        return Err(invalid("not an RSA public key"));
    };
    let (0x02, modulus, _) = der(body).ok_or_else(|| invalid("not an RSA public key"))? else {
        return Err(invalid("not an RSA public key"));
    };
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    Ok(RsaKey {
        kind: "public".into(),
        format: "rsa".into(),
        modulus_length: significant * 8,
        der: rsa,
    })
}

/// Parses key material. `want` is "private" or "public" (a private key also yields its public half).
#[op2]
#[serde]
pub fn op_crypto_key_parse(
    #[string] want: &str,
    #[buffer] input: &[u8],
    #[string] format: &str,
) -> Result<RsaKey, JsErrorBox> {
    let (label, bytes) = match format {
        "pem" => pem(std::str::from_utf8(input).map_err(|_| invalid("a PEM key must be text"))?)
            .ok_or_else(|| {
                invalid("error:1E08010C:DECODER routines::unsupported (no PEM block found)")
            })?,
        // DER: the caller says which structure.
        other => (other.to_ascii_uppercase(), input.to_vec()),
    };
    let private = match label.as_str() {
        "PRIVATE KEY" | "PKCS8" => Some(private_key("pkcs8", bytes.clone())?),
        "RSA PRIVATE KEY" | "PKCS1" if want == "private" || label == "RSA PRIVATE KEY" => {
            Some(private_key("pkcs1", bytes.clone())?)
        }
        _ => None,
    };
    match (want, private) {
        ("private", Some(key)) => Ok(key),
        ("private", None) => Err(invalid(format!(
            "error:1E08010C:DECODER routines::unsupported ({label} is not a private key)"
        ))),
        (_, Some(key)) => {
            public_key(key_pair(&key.format, &key.der)?.public_key().as_ref().to_vec())
        }
        (_, None) => match label.as_str() {
            "CERTIFICATE" => {
                let spki = spki_from_certificate(&bytes)
                    .ok_or_else(|| invalid("the certificate could not be read"))?;
                public_key(
                    rsa_from_spki(&spki)
                        .ok_or_else(|| invalid("the certificate does not hold an RSA key"))?,
                )
            }
            "PUBLIC KEY" | "SPKI" => {
                public_key(rsa_from_spki(&bytes).ok_or_else(|| invalid("not an RSA public key"))?)
            }
            "RSA PUBLIC KEY" => public_key(bytes),
            other => {
                Err(invalid(format!("error:1E08010C:DECODER routines::unsupported ({other})")))
            }
        },
    }
}

fn algorithm(
    name: &str,
) -> Result<(&'static dyn signature::RsaEncoding, &'static signature::RsaParameters), JsErrorBox> {
    Ok(match name.to_ascii_lowercase().replace('-', "").as_str() {
        "rsasha256" | "sha256" | "sha256withrsaencryption" => {
            (&signature::RSA_PKCS1_SHA256, &signature::RSA_PKCS1_2048_8192_SHA256)
        }
        "rsasha384" | "sha384" | "sha384withrsaencryption" => {
            (&signature::RSA_PKCS1_SHA384, &signature::RSA_PKCS1_2048_8192_SHA384)
        }
        "rsasha512" | "sha512" | "sha512withrsaencryption" => {
            (&signature::RSA_PKCS1_SHA512, &signature::RSA_PKCS1_2048_8192_SHA512)
        }
        _ => {
            return Err(invalid(format!(
                "Invalid digest: {name} (chatfn signs RSA-SHA256, RSA-SHA384 and RSA-SHA512)"
            )))
        }
    })
}

#[op2]
#[buffer]
pub fn op_crypto_sign(
    #[string] alg: &str,
    #[serde] key: RsaKey,
    #[buffer] data: &[u8],
) -> Result<Vec<u8>, JsErrorBox> {
    if key.kind != "private" {
        return Err(invalid("signing needs a private key"));
    }
    let (encoding, _) = algorithm(alg)?;
    let pair = key_pair(&key.format, &key.der)?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(encoding, &ring::rand::SystemRandom::new(), data, &mut signature)
        .map_err(|_| invalid("signing failed"))?;
    Ok(signature)
}

#[op2]
pub fn op_crypto_verify(
    #[string] alg: &str,
    #[serde] key: RsaKey,
    #[buffer] data: &[u8],
    #[buffer] signature: &[u8],
) -> Result<bool, JsErrorBox> {
    let (_, parameters) = algorithm(alg)?;
    let public = if key.kind == "private" {
        key_pair(&key.format, &key.der)?.public_key().as_ref().to_vec()
    } else {
        key.der
    };
    Ok(UnparsedPublicKey::new(parameters, public).verify(data, signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_are_read() {
        assert_eq!(der(&[0x30, 0x03, 1, 2, 3, 9]), Some((0x30, &[1u8, 2, 3][..], &[9u8][..])));
        assert_eq!(der(&[0x04, 0x81, 0x02, 7, 8]), Some((0x04, &[7u8, 8][..], &[][..])));
        assert_eq!(der(&[0x04, 0x05, 1]), None, "a length past the input");
    }
}

/// The BIT STRING contents (the key) of a SubjectPublicKeyInfo: an RSAPublicKey for RSA, an
/// uncompressed point for EC.
#[op2]
#[buffer]
pub fn op_crypto_spki_key(#[buffer] spki: &[u8]) -> Result<Vec<u8>, JsErrorBox> {
    rsa_from_spki(spki).ok_or_else(|| invalid("not a SubjectPublicKeyInfo"))
}

fn ec_pair(pkcs8: &[u8]) -> Result<signature::EcdsaKeyPair, JsErrorBox> {
    signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|e| invalid(format!("not a P-256 PKCS#8 private key ({e})")))
}

/// ECDSA P-256 with SHA-256, the fixed-width r||s signature WebCrypto uses. The key is PKCS#8
/// DER, or (when `point` is not empty) the raw private scalar and its public point.
#[op2]
#[buffer]
pub fn op_crypto_ec_sign(
    #[buffer] key: &[u8],
    #[buffer] point: &[u8],
    #[buffer] data: &[u8],
) -> Result<Vec<u8>, JsErrorBox> {
    let rng = ring::rand::SystemRandom::new();
    let pair = if point.is_empty() {
        ec_pair(key)?
    } else {
        signature::EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            key,
            point,
            &rng,
        )
        .map_err(|e| invalid(format!("not a P-256 key pair ({e})")))?
    };
    Ok(pair.sign(&rng, data).map_err(|_| invalid("signing failed"))?.as_ref().to_vec())
}

#[op2(fast)]
pub fn op_crypto_ec_verify(
    #[buffer] point: &[u8],
    #[buffer] data: &[u8],
    #[buffer] signature: &[u8],
) -> bool {
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(data, signature)
        .is_ok()
}

/// The public point of a P-256 PKCS#8 private key.
#[op2]
#[buffer]
pub fn op_crypto_ec_public(#[buffer] pkcs8: &[u8]) -> Result<Vec<u8>, JsErrorBox> {
    Ok(ec_pair(pkcs8)?.public_key().as_ref().to_vec())
}
