//! RSA and EC (P-256, P-384) keys, signatures and verification for `node:crypto`
//! (`createPrivateKey`, `createPublicKey`, `createSign`, `createVerify`, `sign`, `verify`),
//! over ring, which rustls already brings. Keys arrive as PEM (PKCS#8, PKCS#1, SEC1, SPKI,
//! X.509 certificates), DER or (EC) JWK parts; a small DER walker reads those structures, and
//! writes EC keys back out (PKCS#8, SEC1, SPKI).

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
pub struct KeyMaterial {
    /// "private" or "public".
    #[serde(rename = "type")]
    kind: String,
    /// RSA: "pkcs8" or "pkcs1" for private keys, "rsa" (RSAPublicKey) for public ones; EC: "ec".
    format: String,
    /// RSA: the DER of `format`; EC: the private scalar, or for a public key its point.
    #[serde(with = "uint8_array")]
    der: Vec<u8>,
    modulus_length: usize,
    /// "rsa" or "ec".
    #[serde(default = "rsa")]
    key_type: String,
    /// EC: Node's name of the curve (`prime256v1`, `secp384r1`).
    #[serde(default)]
    named_curve: Option<String>,
    /// EC: the uncompressed public point (also of a private key).
    #[serde(default, with = "uint8_array")]
    point: Vec<u8>,
}

fn rsa() -> String {
    "rsa".into()
}

/// Key bytes cross to JavaScript as a `Uint8Array` and back from any `ArrayBufferView` (serde's
/// default for `Vec<u8>` is an array of numbers: a V8 call per byte, each way, per signature).
mod uint8_array {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    bytes.push(b);
                }
                Ok(bytes)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

// ---- EC -----------------------------------------------------------------------------------

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x2b, 0x81, 0x04, 0x00, 0x22],
        }
    }

    fn from_oid(oid: &[u8]) -> Option<Curve> {
        [Curve::P256, Curve::P384].into_iter().find(|c| c.oid() == oid)
    }

    /// P-256, prime256v1 or secp256r1 (and the same for P-384).
    fn from_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" | "prime256v1" | "secp256r1" => Some(Curve::P256),
            "P-384" | "secp384r1" => Some(Curve::P384),
            _ => None,
        }
    }

    fn node_name(self) -> &'static str {
        match self {
            Curve::P256 => "prime256v1",
            Curve::P384 => "secp384r1",
        }
    }

    fn key(self, kind: &str, scalar: Vec<u8>, point: Vec<u8>) -> KeyMaterial {
        KeyMaterial {
            kind: kind.into(),
            format: "ec".into(),
            der: if kind == "private" { scalar } else { point.clone() },
            modulus_length: 0,
            key_type: "ec".into(),
            named_curve: Some(self.node_name().into()),
            point,
        }
    }

    /// Checks that `point` is `scalar`'s (or, without a scalar, that it has a point's form).
    fn check(self, scalar: &[u8], point: &[u8]) -> Result<(), JsErrorBox> {
        let rng = ring::rand::SystemRandom::new();
        let signing = match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        if scalar.is_empty() {
            // ring checks a public point only as it verifies with it (a point off the curve
            // fails every verification); here, its form: uncompressed, the curve's width.
            let width = if self == Curve::P256 { 65 } else { 97 };
            if point.len() != width || point[0] != 4 {
                return Err(invalid("not an uncompressed point of the key's curve"));
            }
            return Ok(());
        }
        signature::EcdsaKeyPair::from_private_key_and_public_key(signing, scalar, point, &rng)
            .map(|_| ())
            .map_err(|e| invalid(format!("not a {} key pair ({e})", self.node_name())))
    }
}

/// The curve of an AlgorithmIdentifier's contents when it is id-ecPublicKey.
fn ec_curve(algorithm: &[u8]) -> Option<Curve> {
    let (0x06, oid, rest) = der(algorithm)? else { return None };
    if oid != OID_EC_PUBLIC_KEY {
        return None;
    }
    let (0x06, curve, _) = der(rest)? else { return None };
    Curve::from_oid(curve)
}

/// An ECPrivateKey (SEC1): its curve (or `hint`'s, from the PKCS#8 around it), scalar and point.
fn ec_from_sec1(sec1: &[u8], hint: Option<Curve>) -> Result<(Curve, Vec<u8>, Vec<u8>), JsErrorBox> {
    let bad = || invalid("not an EC private key");
    let (0x30, body, _) = der(sec1).ok_or_else(bad)? else { return Err(bad()) };
    let (0x02, _version, rest) = der(body).ok_or_else(bad)? else { return Err(bad()) };
    let (0x04, scalar, mut rest) = der(rest).ok_or_else(bad)? else { return Err(bad()) };
    let (mut curve, mut point) = (hint, None);
    while let Some((tag, contents, after)) = der(rest) {
        match tag {
            0xa0 => curve = der(contents).and_then(|(_, oid, _)| Curve::from_oid(oid)).or(curve),
            0xa1 => {
                point = der(contents)
                    .filter(|(tag, bits, _)| *tag == 0x03 && bits.first() == Some(&0))
                    .map(|(_, bits, _)| bits[1..].to_vec())
            }
            _ => {}
        }
        rest = after;
    }
    let curve = curve.ok_or_else(|| invalid("the EC key's curve is not P-256 or P-384"))?;
    let point = point.ok_or_else(|| {
        invalid("the EC private key does not hold its public key, which chatfn needs")
    })?;
    curve.check(scalar, &point)?;
    Ok((curve, scalar.to_vec(), point))
}

/// A DER element around `contents`.
fn der_wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

fn ec_algorithm_identifier(curve: Curve) -> Vec<u8> {
    der_wrap(0x30, &[der_wrap(0x06, OID_EC_PUBLIC_KEY), der_wrap(0x06, curve.oid())].concat())
}

fn ec_sec1(curve: Curve, scalar: &[u8], point: &[u8], with_curve: bool) -> Vec<u8> {
    let mut body = [der_wrap(0x02, &[1]), der_wrap(0x04, scalar)].concat();
    if with_curve {
        body.extend(der_wrap(0xa0, &der_wrap(0x06, curve.oid())));
    }
    body.extend(der_wrap(0xa1, &der_wrap(0x03, &[&[0u8][..], point].concat())));
    der_wrap(0x30, &body)
}

/// An EC key as DER: `pkcs8` or `sec1` for a private key, `spki` for a public one.
#[op2]
#[buffer]
pub fn op_crypto_ec_export(
    #[serde] key: KeyMaterial,
    #[string] structure: &str,
) -> Result<Vec<u8>, JsErrorBox> {
    let curve = key
        .named_curve
        .as_deref()
        .and_then(Curve::from_name)
        .ok_or_else(|| invalid("not an EC key"))?;
    Ok(match (key.kind.as_str(), structure) {
        ("private", "sec1") => ec_sec1(curve, &key.der, &key.point, true),
        ("private", "pkcs8") => der_wrap(
            0x30,
            &[
                der_wrap(0x02, &[0]),
                ec_algorithm_identifier(curve),
                der_wrap(0x04, &ec_sec1(curve, &key.der, &key.point, false)),
            ]
            .concat(),
        ),
        ("public", "spki") => der_wrap(
            0x30,
            &[ec_algorithm_identifier(curve), der_wrap(0x03, &[&[0u8][..], &key.point].concat())]
                .concat(),
        ),
        (kind, other) => {
            return Err(JsErrorBox::type_error(format!(
                "The property 'options.type' is invalid. Received '{other}' for an EC {kind} key"
            )))
        }
    })
}

/// An EC key from its parts (a JWK's `crv`, `x`||`y` as an uncompressed point, and `d`).
#[op2]
#[serde]
pub fn op_crypto_ec_key(
    #[string] curve: &str,
    #[buffer] point: &[u8],
    #[buffer] scalar: &[u8],
) -> Result<KeyMaterial, JsErrorBox> {
    let curve = Curve::from_name(curve).ok_or_else(|| {
        invalid(format!("Unsupported JWK EC curve: {curve} (chatfn has P-256, P-384)"))
    })?;
    curve.check(scalar, point)?;
    let kind = if scalar.is_empty() { "public" } else { "private" };
    Ok(curve.key(kind, scalar.to_vec(), point.to_vec()))
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

fn private_key(format: &str, der: Vec<u8>) -> Result<KeyMaterial, JsErrorBox> {
    if format == "pkcs8" {
        // PrivateKeyInfo: version, AlgorithmIdentifier, OCTET STRING; EC keys hold a SEC1 key.
        let ec = self::der(&der)
            .filter(|(tag, _, _)| *tag == 0x30)
            .and_then(|(_, body, _)| self::der(body))
            .and_then(|(_, _, rest)| self::der(rest))
            .filter(|(tag, _, _)| *tag == 0x30)
            .and_then(|(_, algorithm, rest)| Some((ec_curve(algorithm)?, rest)));
        if let Some((curve, rest)) = ec {
            let (0x04, sec1, _) = self::der(rest).ok_or_else(|| invalid("not a PKCS#8 key"))?
            else {
                return Err(invalid("not a PKCS#8 key"));
            };
            let (curve, scalar, point) = ec_from_sec1(sec1, Some(curve))?;
            return Ok(curve.key("private", scalar, point));
        }
    }
    let pair = key_pair(format, &der)?;
    Ok(KeyMaterial {
        kind: "private".into(),
        format: format.into(),
        modulus_length: pair.public().modulus_len() * 8,
        der,
        key_type: rsa(),
        named_curve: None,
        point: Vec::new(),
    })
}

/// The public key of a SubjectPublicKeyInfo: RSA or EC.
fn public_from_spki(spki: &[u8]) -> Result<KeyMaterial, JsErrorBox> {
    let ec = der(spki)
        .filter(|(tag, _, _)| *tag == 0x30)
        .and_then(|(_, body, _)| der(body))
        .filter(|(tag, _, _)| *tag == 0x30)
        .and_then(|(_, algorithm, rest)| Some((ec_curve(algorithm)?, rest)));
    if let Some((curve, rest)) = ec {
        let point = der(rest)
            .filter(|(tag, bits, _)| *tag == 0x03 && bits.first() == Some(&0))
            .map(|(_, bits, _)| bits[1..].to_vec())
            .ok_or_else(|| invalid("not an EC public key"))?;
        curve.check(&[], &point)?;
        return Ok(curve.key("public", Vec::new(), point));
    }
    public_key(rsa_from_spki(spki).ok_or_else(|| invalid("not an RSA or EC public key"))?)
}

fn public_key(rsa: Vec<u8>) -> Result<KeyMaterial, JsErrorBox> {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    let (0x30, body, _) = der(&rsa).ok_or_else(|| invalid("not an RSA public key"))? else {
        return Err(invalid("not an RSA public key"));
    };
    let (0x02, modulus, _) = der(body).ok_or_else(|| invalid("not an RSA public key"))? else {
        return Err(invalid("not an RSA public key"));
    };
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    Ok(KeyMaterial {
        kind: "public".into(),
        format: "rsa".into(),
        modulus_length: significant * 8,
        der: rsa,
        key_type: self::rsa(),
        named_curve: None,
        point: Vec::new(),
    })
}

/// Parses key material. `want` is "private" or "public" (a private key also yields its public half).
#[op2]
#[serde]
pub fn op_crypto_key_parse(
    #[string] want: &str,
    #[buffer] input: &[u8],
    #[string] format: &str,
) -> Result<KeyMaterial, JsErrorBox> {
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
        "EC PRIVATE KEY" | "SEC1" => {
            let (curve, scalar, point) = ec_from_sec1(&bytes, None)?;
            Some(curve.key("private", scalar, point))
        }
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
        (_, Some(key)) if key.key_type == "ec" => {
            let curve = key
                .named_curve
                .as_deref()
                .and_then(Curve::from_name)
                .ok_or_else(|| invalid("not an EC key"))?;
            Ok(curve.key("public", Vec::new(), key.point))
        }
        (_, Some(key)) => {
            public_key(key_pair(&key.format, &key.der)?.public_key().as_ref().to_vec())
        }
        (_, None) => match label.as_str() {
            "CERTIFICATE" => {
                let spki = spki_from_certificate(&bytes)
                    .ok_or_else(|| invalid("the certificate could not be read"))?;
                public_from_spki(&spki)
            }
            "PUBLIC KEY" | "SPKI" => public_from_spki(&bytes),
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

/// The hash a signature algorithm's name says: `SHA256`, `sha384`, `RSA-SHA512`,
/// `ecdsa-with-SHA256`...
fn hash_of(name: &str) -> &'static str {
    let name = name.to_ascii_lowercase().replace('-', "");
    if name.ends_with("sha384") || name.contains("sha384") {
        "sha384"
    } else if name.contains("sha512") {
        "sha512"
    } else if name.contains("sha256") {
        "sha256"
    } else {
        ""
    }
}

fn ec_signing(
    curve: Curve,
    hash: &str,
    fixed: bool,
) -> Result<&'static signature::EcdsaSigningAlgorithm, JsErrorBox> {
    Ok(match (curve, hash, fixed) {
        (Curve::P256, "sha256", false) => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        (Curve::P256, "sha256", true) => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        (Curve::P384, "sha384", false) => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        (Curve::P384, "sha384", true) => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => {
            return Err(invalid(format!(
                "chatfn signs with P-256 and SHA-256 or P-384 and SHA-384, not {} and {hash}",
                curve.node_name()
            )))
        }
    })
}

fn ec_verifying(
    curve: Curve,
    hash: &str,
    fixed: bool,
) -> Result<&'static signature::EcdsaVerificationAlgorithm, JsErrorBox> {
    Ok(match (curve, hash, fixed) {
        (Curve::P256, "sha256", false) => &signature::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, "sha256", true) => &signature::ECDSA_P256_SHA256_FIXED,
        (Curve::P256, "sha384", false) => &signature::ECDSA_P256_SHA384_ASN1,
        (Curve::P384, "sha256", false) => &signature::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, "sha384", false) => &signature::ECDSA_P384_SHA384_ASN1,
        (Curve::P384, "sha384", true) => &signature::ECDSA_P384_SHA384_FIXED,
        _ => {
            return Err(invalid(format!(
                "chatfn cannot verify {} signatures with {hash} in that encoding",
                curve.node_name()
            )))
        }
    })
}

fn ec_curve_of(key: &KeyMaterial) -> Result<Curve, JsErrorBox> {
    key.named_curve.as_deref().and_then(Curve::from_name).ok_or_else(|| invalid("not an EC key"))
}

/// Signs `data`; `dsa_encoding` ("der", the default, or "ieee-p1363") shapes EC signatures.
#[op2]
#[buffer]
pub fn op_crypto_sign(
    #[string] alg: &str,
    #[serde] key: KeyMaterial,
    #[buffer] data: &[u8],
    #[string] dsa_encoding: &str,
) -> Result<Vec<u8>, JsErrorBox> {
    if key.kind != "private" {
        return Err(invalid("signing needs a private key"));
    }
    let rng = ring::rand::SystemRandom::new();
    if key.key_type == "ec" {
        let curve = ec_curve_of(&key)?;
        let algorithm = ec_signing(curve, hash_of(alg), dsa_encoding == "ieee-p1363")?;
        let pair = signature::EcdsaKeyPair::from_private_key_and_public_key(
            algorithm, &key.der, &key.point, &rng,
        )
        .map_err(|e| invalid(format!("not an EC key pair ({e})")))?;
        return Ok(pair.sign(&rng, data).map_err(|_| invalid("signing failed"))?.as_ref().to_vec());
    }
    let (encoding, _) = algorithm(alg)?;
    let pair = key_pair(&key.format, &key.der)?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(encoding, &rng, data, &mut signature).map_err(|_| invalid("signing failed"))?;
    Ok(signature)
}

#[op2]
pub fn op_crypto_verify(
    #[string] alg: &str,
    #[serde] key: KeyMaterial,
    #[buffer] data: &[u8],
    #[buffer] signature: &[u8],
    #[string] dsa_encoding: &str,
) -> Result<bool, JsErrorBox> {
    if key.key_type == "ec" {
        let curve = ec_curve_of(&key)?;
        let algorithm = ec_verifying(curve, hash_of(alg), dsa_encoding == "ieee-p1363")?;
        return Ok(UnparsedPublicKey::new(algorithm, &key.point).verify(data, signature).is_ok());
    }
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
