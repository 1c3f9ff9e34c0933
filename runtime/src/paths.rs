//! Path arithmetic that cannot escape: shared by the app file's paths (`config`) and package
//! tarball entries (`deps::tarball`).

use std::path::{Component, Path, PathBuf};

/// `base` joined with `components`, resolving `.` and `..` lexically; `None` when a component
/// is absolute (root or prefix) or a `..` would climb above `base`.
pub fn join_within<'a>(
    base: &Path,
    components: impl IntoIterator<Item = Component<'a>>,
) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for c in components {
        match c {
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => {
                out.pop();
                depth -= 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_may_not_climb_above_the_base() {
        let join = |rel: &str| join_within(Path::new("/app"), Path::new(rel).components());
        assert_eq!(join("functions/../init.js"), Some(PathBuf::from("/app/init.js")));
        assert_eq!(join("./a/./b"), Some(PathBuf::from("/app/a/b")));
        assert_eq!(join("functions/../../init.js"), None);
        assert_eq!(join("/etc/passwd"), None);
    }
}
