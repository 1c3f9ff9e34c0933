//! Outbound HTTP from functions: the one Rust layer every `fetch` goes through.
//!
//! - **Policy.** Public addresses are reachable; loopback, private, link-local, CGNAT,
//!   multicast and unspecified addresses (IPv4 and IPv6, also IPv4-mapped) are refused unless
//!   the app names the host in `[network] allow_hosts`. The check runs on the addresses DNS
//!   returns (so a public name pointing inside is caught, and the connection uses the checked
//!   address), on IP literals, and again on every redirect. Nothing is sent to a refused
//!   address.
//! - **Fixtures.** `[[network.fixtures]]` answer chosen URLs with recorded responses, so a
//!   function that fetches, say, Google's certificates runs offline and unmodified.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;

/// Largest response body a function may receive.
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("{0} is not a valid URL")]
    BadUrl(String),
    #[error("only http and https URLs can be fetched, not {0}")]
    Scheme(String),
    #[error("blocked by chatfn's network policy: {host} is {what} (allow it with [network] allow_hosts)")]
    Blocked { host: String, what: &'static str },
    #[error("the response body is larger than {} MB", MAX_RESPONSE_BYTES >> 20)]
    TooLarge,
    /// No connection could be made (refused, unreachable, DNS).
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
}

impl NetError {
    /// The `code` Node gives such a failure (chatfn's own for its refusals).
    pub fn code(&self) -> &'static str {
        match self {
            NetError::BadUrl(_) => "ERR_INVALID_URL",
            NetError::Scheme(_) => "ERR_INVALID_PROTOCOL",
            NetError::Blocked { .. } => "ERR_CHATFN_NETWORK_POLICY",
            NetError::TooLarge => "ERR_CHATFN_RESPONSE_TOO_LARGE",
            NetError::Connect(_) => "ECONNREFUSED",
            NetError::Timeout(_) => "ETIMEDOUT",
            NetError::Failed(_) => "ECONNRESET",
        }
    }
}

/// Which hosts a function may reach.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    allow_hosts: HashSet<String>,
}

impl NetworkPolicy {
    pub fn new(allow_hosts: impl IntoIterator<Item = String>) -> NetworkPolicy {
        NetworkPolicy {
            allow_hosts: allow_hosts
                .into_iter()
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
                .collect(),
        }
    }

    fn allows_name(&self, host: &str) -> bool {
        self.allow_hosts.contains(&host.trim_matches(['[', ']']).to_ascii_lowercase())
    }

    /// Checks a URL before any connection: scheme, and the host when it is an IP literal.
    pub fn check_url(&self, url: &Url) -> Result<(), NetError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetError::Scheme(url.scheme().to_string()));
        }
        let host = url.host_str().ok_or_else(|| NetError::BadUrl(url.to_string()))?;
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            if let Some(what) = internal(ip) {
                if !self.allows_name(host) {
                    return Err(NetError::Blocked { host: host.to_string(), what });
                }
            }
        }
        Ok(())
    }

    /// The addresses of `host` a connection may use.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, NetError> {
        if self.allows_name(host) {
            return Ok(addrs);
        }
        let mut refused = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match internal(a.ip()) {
                Some(what) => {
                    refused = Some(what);
                    false
                }
                None => true,
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (true, Some(what)) => Err(NetError::Blocked { host: host.to_string(), what }),
            _ => Ok(allowed),
        }
    }
}

/// What kind of non-public address `ip` is, if it is one.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.segments()[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                // IPv4-compatible (::/96, deprecated): may reach the embedded IPv4 address.
                Some("an IPv4-compatible address (deprecated, never public)")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("an unspecified address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private (unique local) address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if first == 0x64 && v6.segments()[1] == 0xff9b && v6.segments()[2..6] == [0; 4] {
                // NAT64 (64:ff9b::/96) can reach any IPv4 address, private ones included.
                internal_v4(Ipv4Addr::from((u128::from(v6) & 0xffff_ffff) as u32))
                    .map(|_| "a NAT64 form of an internal address")
            } else if first == 0x2002 {
                // 6to4 (2002::/16) embeds an IPv4 address in its next 32 bits.
                let s = v6.segments();
                internal_v4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32))
                    .map(|_| "a 6to4 form of an internal address")
            } else if special_v6(v6) {
                Some("a special-purpose address (IANA: not globally reachable)")
            } else {
                None
            }
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata lives here)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast or reserved address")
    } else if special_v4(ip) {
        Some("a special-purpose address (IANA: not globally reachable)")
    } else {
        None
    }
}

/// IANA's IPv4 special-purpose blocks that are not globally reachable, beyond those above:
/// IETF protocol assignments (192.0.0.0/24, less the two global anycast addresses),
/// documentation (TEST-NET-1/2/3), benchmarking (198.18.0.0/15) and the deprecated 6to4 relay
/// anycast (192.88.99.0/24).
fn special_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    (o[..3] == [192, 0, 0] && o[3] != 9 && o[3] != 10)
        || o[..3] == [192, 0, 2]
        || o[..3] == [198, 51, 100]
        || o[..3] == [203, 0, 113]
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[..3] == [192, 88, 99]
}

/// IANA's IPv6 special-purpose blocks that are not globally reachable, beyond loopback,
/// unspecified, mapped, unique-local and link-local: local-use NAT64 (64:ff9b:1::/48),
/// discard-only (100::/64), IETF protocol assignments (2001::/23, less its global blocks:
/// 2001:1::1/128, 2001:1::2/128, 2001:3::/32 AMT, 2001:4:112::/48 AS112, 2001:20::/28
/// ORCHIDv2, 2001:30::/28 DRIP), documentation (2001:db8::/32, 3fff::/20) and SRv6 SIDs
/// (5f00::/16).
fn special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let global_in_ietf = ip == Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1)
        || ip == Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2)
        || (s[0] == 0x2001 && s[1] == 3)
        || (s[0] == 0x2001 && s[1] == 4 && s[2] == 0x112)
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x20)
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x30);
    (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || s[..4] == [0x100, 0, 0, 0]
        || (s[0] == 0x2001 && s[1] < 0x200 && !global_in_ietf)
        || (s[0] == 0x2001 && s[1] == 0xdb8)
        || (s[0] == 0x3fff && s[1] < 0x1000)
        || s[0] == 0x5f00
}

/// A recorded response for one URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fixture {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A request as `fetch` makes it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `fetch` follows redirects; `node:http` hands them to the caller.
    pub follow_redirects: bool,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundResponse {
    pub status: u16,
    pub status_text: String,
    pub url: String,
    pub redirected: bool,
    pub headers: Vec<(String, String)>,
}

/// The HTTP client of one app: policy-checking DNS, redirects re-checked, fixtures first.
/// Its clients are made at its first request that goes out (an app that never makes one, or
/// only meets fixtures, never pays for them), with the process's one TLS configuration.
#[derive(Clone)]
pub struct Outbound {
    clients: Arc<OnceLock<Result<Clients, NetError>>>,
    policy: Arc<NetworkPolicy>,
    fixtures: Arc<HashMap<String, Fixture>>,
}

struct Clients {
    follow: reqwest::Client,
    /// The same, but answering redirects instead of following them.
    no_redirects: reqwest::Client,
}

/// The TLS configuration of every client: the platform's verifier over the system's roots,
/// which reads every certificate file, so it is made once per process.
fn tls_config() -> Result<rustls::ClientConfig, NetError> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            crate::deps::registry::install_crypto_provider();
            use rustls_platform_verifier::ConfigVerifierExt;
            let mut config =
                rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string())?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
        .map_err(NetError::Failed)
}

struct PolicyResolver(Arc<NetworkPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.filter(&host, addrs)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Outbound {
    pub fn new(
        policy: NetworkPolicy,
        fixtures: HashMap<String, Fixture>,
    ) -> Result<Outbound, NetError> {
        let fixtures = fixtures.into_iter().map(|(url, f)| (normalize(&url), f)).collect();
        Ok(Outbound {
            clients: Arc::default(),
            policy: Arc::new(policy),
            fixtures: Arc::new(fixtures),
        })
    }

    fn clients(&self) -> Result<&Clients, NetError> {
        self.clients.get_or_init(|| Clients::new(&self.policy)).as_ref().map_err(Clone::clone)
    }
}

impl Clients {
    fn new(policy: &Arc<NetworkPolicy>) -> Result<Clients, NetError> {
        let tls = tls_config()?;
        let redirect_policy = policy.clone();
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("chatfn/", env!("CARGO_PKG_VERSION")))
                .no_proxy()
                .tls_backend_preconfigured(tls.clone())
                .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
        };
        let no_redirects = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NetError::Failed(e.to_string()))?;
        let follow = builder()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt
                        .error(NetError::Failed(format!("more than {MAX_REDIRECTS} redirects")));
                }
                match redirect_policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .build()
            .map_err(|e| NetError::Failed(e.to_string()))?;
        Ok(Clients { follow, no_redirects })
    }
}

impl Outbound {
    /// Sends `request`; answers the response head and a reader for the body as it arrives.
    pub async fn open(
        &self,
        request: OutboundRequest,
    ) -> Result<(OutboundResponse, BodyReader), NetError> {
        let url = Url::parse(&request.url).map_err(|_| NetError::BadUrl(request.url.clone()))?;
        if let Some(fixture) = self.fixtures.get(url.as_str()) {
            let head = OutboundResponse {
                status: fixture.status,
                status_text: status_text(fixture.status),
                url: url.to_string(),
                redirected: false,
                headers: fixture
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect(),
            };
            return Ok((head, BodyReader::Recorded(Some(fixture.body.clone()))));
        }
        self.policy.check_url(&url)?;
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                NetError::Failed(format!("{:?} is not a valid HTTP method", request.method))
            })?;
        let client = if request.follow_redirects {
            &self.clients()?.follow
        } else {
            &self.clients()?.no_redirects
        };
        let mut builder = client.request(method, url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(describe)?;
        let final_url = response.url().to_string();
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
            .collect();
        let head = OutboundResponse {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_string(),
            redirected: final_url != url.as_str(),
            url: final_url,
            headers,
        };
        Ok((head, BodyReader::Network { response, read: 0 }))
    }
}

/// A response body, read chunk by chunk; at most [`MAX_RESPONSE_BYTES`] in all.
pub enum BodyReader {
    /// A fixture's body: one chunk.
    Recorded(Option<Vec<u8>>),
    Network {
        response: reqwest::Response,
        read: usize,
    },
}

impl BodyReader {
    /// The next chunk, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, NetError> {
        match self {
            BodyReader::Recorded(body) => Ok(body.take().filter(|b| !b.is_empty())),
            BodyReader::Network { response, read } => {
                match response.chunk().await.map_err(describe)? {
                    Some(chunk) => {
                        *read += chunk.len();
                        if *read > MAX_RESPONSE_BYTES {
                            return Err(NetError::TooLarge);
                        }
                        Ok(Some(chunk.to_vec()))
                    }
                    None => Ok(None),
                }
            }
        }
    }
}

/// The policy's own refusal when it is the cause, else reqwest's chain of reasons.
fn describe(error: reqwest::Error) -> NetError {
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        if let Some(policy) = e.downcast_ref::<NetError>() {
            return policy.clone();
        }
        source = e.source();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    if error.is_timeout() {
        NetError::Timeout(text)
    } else if error.is_connect() {
        NetError::Connect(text)
    } else {
        NetError::Failed(text)
    }
}

fn normalize(url: &str) -> String {
    Url::parse(url).map(|u| u.to_string()).unwrap_or_else(|_| url.to_string())
}

fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::8.8.8.8",
        ] {
            assert!(internal(ip.parse().unwrap()).is_some(), "{ip} should be internal");
        }
        for ip in [
            "8.8.8.8",
            "142.250.1.1",
            "2607:f8b0::1",
            "172.32.0.1",
            "100.128.0.1",
            "64:ff9b::808:808",
        ] {
            assert_eq!(internal(ip.parse().unwrap()), None, "{ip} should be public");
        }
    }

    /// IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and later), one
    /// address per block: every block IANA marks not globally reachable is refused, and the
    /// globally reachable ones are not. (Mapped, NAT64 and 6to4 forms follow their IPv4 address.)
    #[test]
    fn the_iana_special_purpose_blocks_are_refused_unless_globally_reachable() {
        let not_global = [
            "0.0.0.1",
            "10.1.1.1",
            "100.64.1.1",
            "127.0.0.2",
            "169.254.1.1",
            "172.16.1.1",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.1",
            "203.0.113.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:10.0.0.1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "2002:a00:1::",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fe80::1",
        ];
        for ip in not_global {
            assert!(
                internal(ip.parse().unwrap()).is_some(),
                "{ip} is not globally reachable: refuse it"
            );
        }
        let global = [
            "192.0.0.9",
            "192.0.0.10",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "2001:1::1",
            "2001:1::2",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2620:4f:8000::1",
            "64:ff9b::808:808",
            "2002:808:808::",
            "8.8.8.8",
            "2606:4700::1111",
        ];
        for ip in global {
            assert_eq!(internal(ip.parse().unwrap()), None, "{ip} is globally reachable");
        }
    }

    #[test]
    fn urls_are_checked_before_connecting() {
        let policy = NetworkPolicy::new(["localhost".to_string(), "10.0.0.5".to_string()]);
        let check = |u: &str| policy.check_url(&Url::parse(u).unwrap());
        assert!(check("https://example.com/").is_ok());
        assert!(matches!(
            check("http://169.254.169.254/latest/meta-data"),
            Err(NetError::Blocked { .. })
        ));
        assert!(matches!(check("http://[::1]:8080/"), Err(NetError::Blocked { .. })));
        assert!(check("http://10.0.0.5/").is_ok(), "named in allow_hosts");
        assert!(matches!(check("file:///etc/passwd"), Err(NetError::Scheme(_))));
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let policy = NetworkPolicy::new(["db.internal".to_string()]);
        let addrs = |list: &[&str]| {
            list.iter().map(|a| SocketAddr::new(a.parse().unwrap(), 0)).collect::<Vec<_>>()
        };
        assert!(matches!(
            policy.filter("evil.example", addrs(&["127.0.0.1"])),
            Err(NetError::Blocked { .. })
        ));
        assert_eq!(
            policy.filter("mixed.example", addrs(&["10.0.0.1", "93.184.216.34"])).unwrap(),
            addrs(&["93.184.216.34"])
        );
        assert_eq!(
            policy.filter("db.internal", addrs(&["10.0.0.1"])).unwrap(),
            addrs(&["10.0.0.1"])
        );
    }
}
