//! `op_url_*`: WHATWG URL parsing for the `URL` global and `node:url`, over the `url` crate.

use deno_core::op2;
use deno_core::url::{Position, Url};
use serde::Serialize;

#[derive(Serialize)]
struct UrlParts {
    href: String,
    origin: String,
    protocol: String,
    username: String,
    password: String,
    host: String,
    hostname: String,
    port: String,
    pathname: String,
    search: String,
    hash: String,
}

fn parts(url: &Url) -> UrlParts {
    let piece = |from: Position, to: Position| url[from..to].to_string();
    let search = piece(Position::AfterPath, Position::AfterQuery);
    let hash = piece(Position::AfterQuery, Position::AfterFragment);
    UrlParts {
        href: url.as_str().to_string(),
        origin: url.origin().ascii_serialization(),
        protocol: format!("{}:", url.scheme()),
        username: url.username().to_string(),
        password: url.password().unwrap_or("").to_string(),
        host: piece(Position::BeforeHost, Position::AfterPort),
        hostname: piece(Position::BeforeHost, Position::AfterHost),
        port: url.port().map(|p| p.to_string()).unwrap_or_default(),
        pathname: url.path().to_string(),
        search: if search == "?" { String::new() } else { search },
        hash: if hash == "#" { String::new() } else { hash },
    }
}

/// The parts of `url` as JSON text, which `web/url.js` parses: an object serde_v8 made would be
/// a dictionary-mode one (no shared shape) for every `URL`.
fn parts_json(url: &Url) -> String {
    serde_json::to_string(&parts(url)).expect("URL parts serialize")
}

/// The parts of `href` (against `base` unless it is empty), or `null` when it is not a valid URL.
#[op2]
#[string]
pub fn op_url_parse(#[string] href: String, #[string] base: String) -> Option<String> {
    let url = if base.is_empty() {
        Url::parse(&href).ok()?
    } else {
        Url::parse(&base).ok()?.join(&href).ok()?
    };
    Some(parts_json(&url))
}

/// `href` with one part replaced, as the URL setters do; `null` when the result is invalid.
#[op2]
#[string]
pub fn op_url_set(
    #[string] href: String,
    #[string] part: String,
    #[string] value: String,
) -> Option<String> {
    let mut url = Url::parse(&href).ok()?;
    let strip = |v: &str, p: char| v.strip_prefix(p).unwrap_or(v).to_string();
    match part.as_str() {
        "href" => url = Url::parse(&value).ok()?,
        "protocol" => url.set_scheme(value.trim_end_matches(':')).ok()?,
        "username" => url.set_username(&value).ok()?,
        "password" => url.set_password(Some(&value)).ok()?,
        "host" => deno_core::url::quirks::set_host(&mut url, &value).ok()?,
        "hostname" => deno_core::url::quirks::set_hostname(&mut url, &value).ok()?,
        "port" => deno_core::url::quirks::set_port(&mut url, &value).ok()?,
        "pathname" => url.set_path(&value),
        "search" => {
            url.set_query(Some(&strip(&value, '?')).filter(|q| !q.is_empty()).map(|q| q.as_str()))
        }
        "hash" => url
            .set_fragment(Some(&strip(&value, '#')).filter(|f| !f.is_empty()).map(|f| f.as_str())),
        _ => return None,
    }
    Some(parts_json(&url))
}

/// `punycode.encode`/`decode` and `toASCII`/`toUnicode`, over the `idna` crate. `mode` is
/// "encode", "decode", "toASCII" or "toUnicode"; `null` when the input cannot be converted.
#[op2]
#[string]
pub fn op_url_punycode(#[string] mode: &str, #[string] input: &str) -> Option<String> {
    match mode {
        "encode" => idna::punycode::encode_str(input),
        "decode" => idna::punycode::decode_to_string(input),
        "toASCII" => idna::domain_to_ascii(input).ok(),
        "toUnicode" => Some(idna::domain_to_unicode(input).0),
        _ => None,
    }
}
