//! From the app's dependency ranges to a full tree: each range resolved against the registry
//! (the `latest` tag when it satisfies, else the highest satisfying version, as npm does), then
//! placed by `tree.rs`. Dependencies, optional dependencies (skipped when they fail or do not
//! fit this platform) and non-optional peer dependencies are followed.

use std::collections::{BTreeMap, VecDeque};

use nodejs_semver::{Range, Version};

use super::lockfile::LockedPackage;
use super::registry::{Registry, VersionManifest};
use super::tree::{install_path, Location, Placement, Tree};
use super::DepsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Required,
    Optional,
}

struct Request {
    from: Location,
    name: String,
    spec: String,
    kind: Kind,
}

/// A resolved tree, keyed by install path (`node_modules/a/node_modules/b`).
pub type Resolved = BTreeMap<String, LockedPackage>;

pub async fn resolve(
    registry: &Registry,
    roots: &BTreeMap<String, String>,
) -> Result<Resolved, DepsError> {
    let mut tree = Tree::default();
    let mut resolved = Resolved::new();
    let mut queue: VecDeque<Request> = roots
        .iter()
        .map(|(name, spec)| Request {
            from: Vec::new(),
            name: name.clone(),
            spec: spec.clone(),
            kind: Kind::Required,
        })
        .collect();
    while let Some(request) = queue.pop_front() {
        let range = match parse_range(&request.name, &request.spec) {
            Ok(range) => range,
            Err(e) if request.kind == Kind::Optional => {
                tracing::debug!("skipping optional {}: {e}", request.name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let satisfies = |v: &str| Version::parse(v).is_ok_and(|v| range.satisfies(&v));
        // Already reachable in a satisfying version: nothing to fetch.
        if let Some(existing) =
            tree.lookup(&request.from, &request.name).map(|(_, v)| v.to_string())
        {
            if satisfies(&existing) {
                tree.place(&request.from, &request.name, &existing, satisfies);
                continue;
            }
        }
        let manifest = match choose(registry, &request.name, &request.spec, &range).await {
            Ok(m) if request.kind == Kind::Optional && !fits_platform(&m) => continue,
            Ok(m) => m,
            Err(e) if request.kind == Kind::Optional => {
                tracing::debug!("skipping optional {}: {e}", request.name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let location = match tree.place(&request.from, &request.name, &manifest.version, satisfies)
        {
            Placement::Reused(_) => continue,
            Placement::Placed(location) => location,
        };
        resolved.insert(
            install_path(&location),
            LockedPackage {
                name: request.name.clone(),
                version: manifest.version.clone(),
                resolved: manifest.dist.tarball.clone(),
                integrity: manifest.dist.integrity.clone(),
                shasum: manifest.dist.shasum.clone(),
                has_install_script: manifest.has_install_script,
            },
        );
        let deps = manifest.dependencies.iter().map(|(n, s)| (n, s, Kind::Required));
        let optional = manifest.optional_dependencies.iter().map(|(n, s)| (n, s, Kind::Optional));
        let peers = manifest
            .peer_dependencies
            .iter()
            .filter(|(n, _)| !manifest.optional_peers.contains(*n))
            .map(|(n, s)| (n, s, Kind::Required));
        for (name, spec, kind) in deps.chain(optional).chain(peers) {
            // An optional dependency listed among the regular ones too is optional (npm's rule).
            let kind = if manifest.optional_dependencies.contains_key(name) {
                Kind::Optional
            } else {
                kind
            };
            queue.push_back(Request {
                from: location.clone(),
                name: name.clone(),
                spec: spec.clone(),
                kind,
            });
        }
    }
    Ok(resolved)
}

fn parse_range(name: &str, spec: &str) -> Result<Range, DepsError> {
    let spec = spec.trim();
    let unsupported = ["http:", "https:", "git", "file:", "link:", "github:", "npm:", "workspace:"];
    if unsupported.iter().any(|p| spec.starts_with(p)) || spec.contains('/') {
        return Err(DepsError::Unsupported { package: name.to_string(), spec: spec.to_string() });
    }
    let spec = if spec.is_empty() || spec == "latest" { "*" } else { spec };
    Range::parse(spec).map_err(|e| DepsError::Unsupported {
        package: name.to_string(),
        spec: format!("{spec} ({e})"),
    })
}

async fn choose(
    registry: &Registry,
    name: &str,
    spec: &str,
    range: &Range,
) -> Result<VersionManifest, DepsError> {
    let packument = registry.packument(name).await?;
    let latest = packument.dist_tags.get("latest").and_then(|v| Version::parse(v).ok());
    if let Some(latest) = latest.filter(|v| range.satisfies(v)) {
        if let Some(m) = packument.manifest(&latest.to_string()) {
            return Ok(m);
        }
    }
    let versions: Vec<Version> = packument
        .versions
        .keys()
        .filter(|v| packument.manifest(v).is_some())
        .filter_map(|v| Version::parse(v).ok())
        .collect();
    let best = range.max_satisfying(&versions).ok_or_else(|| DepsError::NoMatchingVersion {
        package: name.to_string(),
        range: spec.to_string(),
        latest: packument.dist_tags.get("latest").cloned(),
    })?;
    packument.manifest(&best.to_string()).ok_or_else(|| DepsError::Registry {
        what: format!("{name}@{best}"),
        detail: "version listed without a manifest".into(),
    })
}

fn fits_platform(m: &VersionManifest) -> bool {
    let allowed = |list: &[String], ours: &str| {
        list.is_empty()
            || (list.iter().any(|x| x == ours)
                || (list.iter().all(|x| x.starts_with('!'))
                    && !list.iter().any(|x| x == &format!("!{ours}"))))
    };
    allowed(&m.os, "linux") && allowed(&m.cpu, "x64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_npm() {
        assert!(parse_range("a", "^13").unwrap().satisfies(&Version::parse("13.6.0").unwrap()));
        assert!(!parse_range("a", "^13").unwrap().satisfies(&Version::parse("14.0.0").unwrap()));
        assert!(parse_range("a", "").unwrap().satisfies(&Version::parse("0.0.1").unwrap()));
        assert!(parse_range("a", "latest").is_ok());
        assert!(matches!(parse_range("a", "github:x/y"), Err(DepsError::Unsupported { .. })));
        assert!(matches!(parse_range("a", "not a range!"), Err(DepsError::Unsupported { .. })));
    }

    #[test]
    fn platform_filters_follow_npm() {
        let m = |os: &[&str], cpu: &[&str]| VersionManifest {
            os: os.iter().map(|s| s.to_string()).collect(),
            cpu: cpu.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(fits_platform(&m(&[], &[])));
        assert!(fits_platform(&m(&["linux"], &["x64"])));
        assert!(!fits_platform(&m(&["darwin"], &[])));
        assert!(!fits_platform(&m(&["!linux"], &[])));
        assert!(fits_platform(&m(&["!win32"], &[])));
        assert!(!fits_platform(&m(&[], &["arm64"])));
    }
}
