//! The npm registry, over reqwest: package documents ("packuments", abbreviated form) and
//! tarballs. The registry is `NPM_CONFIG_REGISTRY`, else the `registry=` of the app's `.npmrc`,
//! else of `~/.npmrc`, else the public one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::DepsError;

pub const PUBLIC_REGISTRY: &str = "https://registry.npmjs.org/";

/// What the install needs of one version's manifest.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VersionManifest {
    pub version: String,
    #[serde(default)]
    pub dependencies: BTreeMap<String, String>,
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    pub peer_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    pub peer_dependencies_meta: BTreeMap<String, PeerMeta>,
    pub dist: Dist,
    #[serde(default)]
    pub has_install_script: bool,
    #[serde(default)]
    pub os: Vec<String>,
    #[serde(default)]
    pub cpu: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PeerMeta {
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Dist {
    pub tarball: String,
    #[serde(default)]
    pub integrity: Option<String>,
    #[serde(default)]
    pub shasum: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Packument {
    pub name: String,
    #[serde(default)]
    pub dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub versions: BTreeMap<String, VersionManifest>,
}

#[derive(Clone)]
pub struct Registry {
    base: String,
    http: reqwest::Client,
    packuments: Arc<Mutex<HashMap<String, Arc<Packument>>>>,
}

impl Registry {
    pub fn new(base: &str) -> Result<Registry, DepsError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("chatfn/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| DepsError::Registry { what: "the HTTP client".into(), detail: e.to_string() })?;
        let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
        Ok(Registry { base, http, packuments: Default::default() })
    }

    /// The registry configured for an app directory.
    pub fn url_for(app_root: &Path) -> String {
        if let Ok(url) = std::env::var("NPM_CONFIG_REGISTRY").or_else(|_| std::env::var("npm_config_registry")) {
            if !url.trim().is_empty() {
                return url.trim().to_string();
            }
        }
        let home_npmrc = std::env::var_os("HOME").map(|h| Path::new(&h).join(".npmrc"));
        for npmrc in [Some(app_root.join(".npmrc")), home_npmrc].into_iter().flatten() {
            if let Some(url) = std::fs::read_to_string(&npmrc).ok().and_then(|text| npmrc_registry(&text)) {
                return url;
            }
        }
        PUBLIC_REGISTRY.to_string()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn packument(&self, name: &str) -> Result<Arc<Packument>, DepsError> {
        if let Some(p) = self.packuments.lock().unwrap().get(name) {
            return Ok(p.clone());
        }
        // Scoped names keep their `@` and encode the slash, as npm does.
        let url = format!("{}{}", self.base, name.replace('/', "%2f"));
        let response = self
            .http
            .get(&url)
            .header("accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8")
            .send()
            .await
            .map_err(|e| DepsError::Unreachable { registry: self.base.clone(), package: name.to_string(), detail: e.to_string() })?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(DepsError::UnknownPackage { package: name.to_string(), registry: self.base.clone() });
        }
        if !response.status().is_success() {
            return Err(DepsError::Registry { what: format!("package {name}"), detail: format!("HTTP {}", response.status()) });
        }
        let packument: Packument = response
            .json()
            .await
            .map_err(|e| DepsError::Registry { what: format!("package {name}"), detail: format!("unreadable metadata: {e}") })?;
        let packument = Arc::new(packument);
        self.packuments.lock().unwrap().insert(name.to_string(), packument.clone());
        Ok(packument)
    }

    pub async fn tarball(&self, package: &str, url: &str) -> Result<Vec<u8>, DepsError> {
        let unreachable = |e: reqwest::Error| DepsError::Unreachable {
            registry: self.base.clone(),
            package: package.to_string(),
            detail: e.to_string(),
        };
        let response = self.http.get(url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(DepsError::Registry { what: format!("the tarball of {package}"), detail: format!("HTTP {} from {url}", response.status()) });
        }
        Ok(response.bytes().await.map_err(unreachable)?.to_vec())
    }
}

fn npmrc_registry(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "registry").then(|| value.trim().to_string()).filter(|v| !v.is_empty())
    })
}

fn install_crypto_provider() {
    // reqwest is built without a default TLS provider; ring is installed once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npmrc_registry_lines_are_read() {
        assert_eq!(npmrc_registry("fund=false\nregistry = http://127.0.0.1:4873/\n"), Some("http://127.0.0.1:4873/".into()));
        assert_eq!(npmrc_registry("fund=false\n"), None);
    }
}
