//! The npm registry, over reqwest: package documents ("packuments", abbreviated form) and
//! tarballs. The registry is `NPM_CONFIG_REGISTRY`, else the `registry=` of the app's `.npmrc`,
//! else of `~/.npmrc`, else the public one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;

use super::DepsError;

pub const PUBLIC_REGISTRY: &str = "https://registry.npmjs.org/";

/// What the install needs of one version's manifest.
#[derive(Debug, Clone, Default)]
pub struct VersionManifest {
    pub version: String,
    pub dependencies: BTreeMap<String, String>,
    pub optional_dependencies: BTreeMap<String, String>,
    pub peer_dependencies: BTreeMap<String, String>,
    /// Peers marked optional in `peerDependenciesMeta`.
    pub optional_peers: BTreeSet<String>,
    pub dist: Dist,
    pub has_install_script: bool,
    pub os: Vec<String>,
    pub cpu: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Dist {
    pub tarball: String,
    pub integrity: Option<String>,
    pub shasum: Option<String>,
}

impl VersionManifest {
    /// Reads a manifest leniently, as npm does: registries hold decades of hand-written
    /// package.json files (dependencies as arrays, non-string ranges), and a malformed field is
    /// treated as absent. `None` when there is no tarball to install.
    pub fn from_json(value: &Value) -> Option<VersionManifest> {
        let strings = |key: &str| -> BTreeMap<String, String> {
            value
                .get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let list = |key: &str| -> Vec<String> {
            match value.get(key) {
                Some(Value::Array(items)) => {
                    items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                }
                Some(Value::String(one)) => vec![one.clone()],
                _ => Vec::new(),
            }
        };
        let dist = value.get("dist")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Some(VersionManifest {
            version: value.get("version")?.as_str()?.to_string(),
            dependencies: strings("dependencies"),
            optional_dependencies: strings("optionalDependencies"),
            peer_dependencies: strings("peerDependencies"),
            optional_peers: value
                .get("peerDependenciesMeta")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| v.get("optional") == Some(&Value::Bool(true)))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default(),
            dist: Dist {
                tarball: text(dist.get("tarball"))?,
                integrity: text(dist.get("integrity")),
                shasum: text(dist.get("shasum")),
            },
            has_install_script: value.get("hasInstallScript") == Some(&Value::Bool(true)),
            os: list("os"),
            cpu: list("cpu"),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Packument {
    pub name: String,
    #[serde(default)]
    pub dist_tags: BTreeMap<String, String>,
    /// Raw manifests, read one by one with [`VersionManifest::from_json`].
    #[serde(default)]
    pub versions: BTreeMap<String, Value>,
}

impl Packument {
    pub fn manifest(&self, version: &str) -> Option<VersionManifest> {
        self.versions.get(version).and_then(VersionManifest::from_json)
    }
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
            .map_err(|e| DepsError::Registry {
                what: "the HTTP client".into(),
                detail: e.to_string(),
            })?;
        let base = if base.ends_with('/') { base.to_string() } else { format!("{base}/") };
        Ok(Registry { base, http, packuments: Default::default() })
    }

    /// The registry configured for an app directory.
    pub fn url_for(app_root: &Path) -> String {
        if let Ok(url) =
            std::env::var("NPM_CONFIG_REGISTRY").or_else(|_| std::env::var("npm_config_registry"))
        {
            if !url.trim().is_empty() {
                return url.trim().to_string();
            }
        }
        let home_npmrc = std::env::var_os("HOME").map(|h| Path::new(&h).join(".npmrc"));
        for npmrc in [Some(app_root.join(".npmrc")), home_npmrc].into_iter().flatten() {
            if let Some(url) =
                std::fs::read_to_string(&npmrc).ok().and_then(|text| npmrc_registry(&text))
            {
                return url;
            }
        }
        PUBLIC_REGISTRY.to_string()
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
            .map_err(|e| DepsError::Unreachable {
                registry: self.base.clone(),
                package: name.to_string(),
                detail: e.to_string(),
            })?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(DepsError::UnknownPackage {
                package: name.to_string(),
                registry: self.base.clone(),
            });
        }
        if !response.status().is_success() {
            return Err(DepsError::Registry {
                what: format!("package {name}"),
                detail: format!("HTTP {}", response.status()),
            });
        }
        let packument: Packument = response.json().await.map_err(|e| DepsError::Registry {
            what: format!("package {name}"),
            detail: format!("unreadable metadata: {e}"),
        })?;
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
            return Err(DepsError::Registry {
                what: format!("the tarball of {package}"),
                detail: format!("HTTP {} from {url}", response.status()),
            });
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

pub(crate) fn install_crypto_provider() {
    // reqwest is built without a default TLS provider; ring is installed once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npmrc_registry_lines_are_read() {
        assert_eq!(
            npmrc_registry("fund=false\nregistry = http://127.0.0.1:4873/\n"),
            Some("http://127.0.0.1:4873/".into())
        );
        assert_eq!(npmrc_registry("fund=false\n"), None);
    }
}
