//! Package tarballs: checked against the registry's `integrity` before anything is written,
//! then unpacked into one package folder with every entry kept inside it. Absolute paths, `..`
//! and links that would lead outside are refused (the whole package, not just the entry),
//! and the unpacked size is capped so a gzip bomb cannot fill the disk.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use sha2::Digest;

use super::DepsError;

/// Largest unpacked package accepted.
pub const MAX_UNPACKED_BYTES: u64 = 512 << 20;

/// Checks `bytes` against an SRI string (`sha512-…`, also `sha256`/`sha1`) or a hex `shasum`.
pub fn verify(
    package: &str,
    bytes: &[u8],
    integrity: Option<&str>,
    shasum: Option<&str>,
) -> Result<(), DepsError> {
    let mismatch = |expected: &str| DepsError::Integrity {
        package: package.to_string(),
        expected: expected.to_string(),
    };
    if let Some(sri) = integrity {
        // An SRI string may list several hashes; the strongest one we know must match.
        let mut best: Option<(u8, &str, &str)> = None;
        for entry in sri.split_whitespace() {
            let Some((algo, digest)) = entry.split_once('-') else { continue };
            let rank = match algo {
                "sha512" => 3,
                "sha256" => 2,
                "sha1" => 1,
                _ => continue,
            };
            if best.is_none_or(|(r, _, _)| rank > r) {
                best = Some((rank, algo, digest));
            }
        }
        let Some((_, algo, digest)) = best else {
            return Err(DepsError::Registry {
                what: format!("package {package}"),
                detail: format!("unsupported integrity {sri:?}"),
            });
        };
        let actual = match algo {
            "sha512" => sha2::Sha512::digest(bytes).to_vec(),
            "sha256" => sha2::Sha256::digest(bytes).to_vec(),
            _ => sha1_digest(bytes),
        };
        let expected = base64::engine::general_purpose::STANDARD
            .decode(digest.split('?').next().unwrap_or(""));
        return if expected.is_ok_and(|e| e == actual) { Ok(()) } else { Err(mismatch(sri)) };
    }
    match shasum {
        Some(hex) if crate::hex::hex(&sha1_digest(bytes)) == hex.to_ascii_lowercase() => Ok(()),
        Some(hex) => Err(mismatch(hex)),
        None => Err(DepsError::Registry {
            what: format!("package {package}"),
            detail: "the registry gave no integrity for it".into(),
        }),
    }
}

/// The SRI string chatfn writes in its lockfile for bytes it verified.
pub fn sha512_integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

fn sha1_digest(bytes: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).to_vec()
}

/// Unpacks a `.tgz` into `dest` (created), dropping the tarball's top folder (`package/`).
pub fn unpack(package: &str, tgz: &[u8], dest: &Path) -> Result<(), DepsError> {
    unpack_limited(package, tgz, dest, MAX_UNPACKED_BYTES)
}

fn unpack_limited(package: &str, tgz: &[u8], dest: &Path, max_bytes: u64) -> Result<(), DepsError> {
    let bad = |detail: String| DepsError::BadTarball { package: package.to_string(), detail };
    std::fs::create_dir_all(dest)
        .map_err(|e| bad(format!("cannot create {}: {e}", dest.display())))?;
    let limited = flate2::read::GzDecoder::new(tgz).take(max_bytes + 1);
    let mut archive = tar::Archive::new(limited);
    let mut total: u64 = 0;
    let entries = archive.entries().map_err(|e| bad(format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let raw_path =
            entry.path().map_err(|e| bad(format!("unreadable entry name: {e}")))?.into_owned();
        let Some(relative) = inside_package(&raw_path) else {
            return Err(bad(format!(
                "entry {} would be written outside the package",
                raw_path.display()
            )));
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        let kind = entry.header().entry_type();
        total += entry.header().size().unwrap_or(0);
        if total > max_bytes {
            return Err(bad(format!("unpacks to more than {} MB", max_bytes >> 20)));
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| bad(format!("{}: {e}", relative.display())))?;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry.link_name().ok().flatten().map(|l| l.into_owned()).unwrap_or_default();
            let resolved = if kind.is_symlink() {
                relative.parent().unwrap_or(Path::new("")).join(&link)
            } else {
                link.clone()
            };
            if link.is_absolute() || inside_package(&resolved).is_none() {
                return Err(bad(format!(
                    "link {} → {} leads outside the package",
                    relative.display(),
                    link.display()
                )));
            }
        } else if !kind.is_file()
            && kind != tar::EntryType::Continuous
            && kind != tar::EntryType::GNUSparse
        {
            // Devices, fifos and pax/GNU metadata records carry nothing a package needs.
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| bad(format!("{}: {e}", relative.display())))?;
        }
        if kind.is_hard_link() {
            let source = dest.join(
                inside_package(&entry.link_name().ok().flatten().unwrap_or_default())
                    .unwrap_or_default(),
            );
            std::fs::copy(&source, &target)
                .map_err(|e| bad(format!("{}: {e}", relative.display())))?;
            continue;
        }
        entry.set_preserve_permissions(false);
        entry.set_preserve_mtime(false);
        entry.unpack(&target).map_err(|e| bad(format!("{}: {e}", relative.display())))?;
    }
    Ok(())
}

/// The path without the tarball's top folder, if it stays inside the package.
fn inside_package(path: &Path) -> Option<PathBuf> {
    let mut components = path.components().peekable();
    // npm tarballs put everything under one top folder, usually `package/`.
    if path.components().count() > 1 {
        if let Some(Component::Normal(_)) = components.peek() {
            components.next();
        }
    }
    crate::paths::join_within(Path::new(""), components)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a `.tgz` from (path, contents) pairs; `None` contents make a symlink to the
    /// path in `link`.
    pub fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Written raw so that hostile names (absolute, `..`) reach the unpacker as they are.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    pub fn tgz_with_symlink(path: &str, target: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, path, target).unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn integrity_is_checked_before_anything_else() {
        let bytes = b"package bytes";
        let good = sha512_integrity(bytes);
        assert!(verify("p", bytes, Some(&good), None).is_ok());
        assert!(matches!(
            verify("p", b"tampered", Some(&good), None),
            Err(DepsError::Integrity { .. })
        ));
        let sha1 = crate::hex::hex(&sha1_digest(bytes));
        assert!(verify("p", bytes, None, Some(&sha1)).is_ok());
        assert!(verify("p", b"other", None, Some(&sha1)).is_err());
    }

    #[test]
    fn a_package_unpacks_without_its_top_folder() {
        let dir = tempfile::tempdir().unwrap();
        let archive = tgz(&[
            ("package/package.json", b"{\"name\":\"p\"}"),
            ("package/lib/index.js", b"module.exports = 1;"),
        ]);
        unpack("p", &archive, &dir.path().join("p")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("p/lib/index.js")).unwrap(),
            "module.exports = 1;"
        );
    }

    #[test]
    fn entries_leaving_the_package_are_refused() {
        for hostile in
            ["package/../../escape.js", "/etc/chatfn-escape", "package/a/../../../escape.js"]
        {
            let dir = tempfile::tempdir().unwrap();
            let archive = tgz(&[(hostile, b"x")]);
            let err = unpack("p", &archive, &dir.path().join("nm/p")).unwrap_err();
            assert!(matches!(err, DepsError::BadTarball { .. }), "{hostile}: {err}");
            assert!(
                !dir.path().join("escape.js").exists() && !dir.path().join("nm/escape.js").exists()
            );
        }
    }

    #[test]
    fn links_leaving_the_package_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(
            "p",
            &tgz_with_symlink("package/evil", "../../../etc/passwd"),
            &dir.path().join("p"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("leads outside the package"), "{err}");
        let ok =
            unpack("p", &tgz_with_symlink("package/alias.js", "index.js"), &dir.path().join("q"));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // 8 MB of zeros compress to a few kilobytes.
        let zeros = vec![0u8; 8 << 20];
        let archive = tgz(&[("package/zeros.bin", &zeros)]);
        assert!(archive.len() < 64 << 10, "the bomb is small: {} bytes", archive.len());
        let err = unpack_limited("p", &archive, &dir.path().join("p"), 4 << 20).unwrap_err();
        assert!(err.to_string().contains("unpacks to more than 4 MB"), "{err}");
        assert!(!dir.path().join("p/zeros.bin").exists());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack("p", b"definitely not gzip", &dir.path().join("p")).unwrap_err();
        assert!(matches!(err, DepsError::BadTarball { .. }), "{err}");
    }
}

/// Random archives and random entry names: an error or a package inside its folder, never a
/// panic and never a file outside it.
#[cfg(test)]
mod hostile_input {
    use proptest::prelude::*;

    use super::tests::tgz;
    use super::*;

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(files_under(&path));
            }
            out.push(path);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn nothing_lands_outside_the_package(
            names in proptest::collection::vec("(/|\\.\\./|\\./|package/|[a-z]{1,3}/){0,5}[a-z\\.]{1,8}", 1..6),
            garbage in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let root = tempfile::tempdir().unwrap();
            let dest = root.path().join("node_modules/p");
            let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), b"x" as &[u8])).filter(|(n, _)| n.len() < 100).collect();
            let _ = unpack("p", &tgz(&entries), &dest);
            let _ = unpack("p", &garbage, &root.path().join("node_modules/q"));
            for file in files_under(root.path()) {
                prop_assert!(file.starts_with(root.path().join("node_modules")), "{} escaped", file.display());
            }
            for file in files_under(&root.path().join("node_modules")) {
                prop_assert!(file.starts_with(&dest) || file.starts_with(root.path().join("node_modules/q")), "{} escaped", file.display());
            }
        }
    }
}
