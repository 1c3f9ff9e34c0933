//! Where each package goes in `node_modules`, the way npm lays it out: as high (close to the
//! app root) as possible, nested only where two versions of one name must coexist, and never
//! where it would shadow a version another package already resolved through that folder.
//! Pure data: versions are chosen elsewhere (`resolve.rs`); this only places them.

use std::collections::{BTreeMap, BTreeSet};

/// A folder of the tree, by its path of package names from the root: `[]` is the app's own
/// `node_modules`, `["a"]` is `node_modules/a/node_modules`, and so on.
pub type Location = Vec<String>;

#[derive(Debug, Default)]
pub struct Tree {
    /// folder → name → version placed there.
    placed: BTreeMap<Location, BTreeMap<String, String>>,
    /// folder → names that packages below it resolved from a folder above it: placing one of
    /// these names in the folder would shadow what they resolved.
    reserved: BTreeMap<Location, BTreeSet<String>>,
}

/// What placing a dependency did.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// A satisfying version was already reachable at this package location.
    Reused(Location),
    /// The version was placed as this new package location.
    Placed(Location),
}

impl Tree {
    /// The version of `name` that code in the package at `from` would load, and where it is.
    pub fn lookup(&self, from: &[String], name: &str) -> Option<(Location, &str)> {
        for depth in (0..=from.len()).rev() {
            let folder = &from[..depth];
            if let Some(version) = self.placed.get(folder).and_then(|names| names.get(name)) {
                let mut location = folder.to_vec();
                location.push(name.to_string());
                return Some((location, version));
            }
        }
        None
    }

    /// Places `name@version` for the package at `from` (`[]` for the app itself), or reuses
    /// what `from` already sees when `satisfies` accepts it.
    pub fn place(
        &mut self,
        from: &[String],
        name: &str,
        version: &str,
        satisfies: impl Fn(&str) -> bool,
    ) -> Placement {
        // Walk up from the requester's own folder: the highest folder that is free of `name`
        // (and not reserved for it) with nothing in between that would shadow it.
        let mut chosen = from.len();
        for depth in (0..=from.len()).rev() {
            let folder = &from[..depth];
            match self.placed.get(folder).and_then(|names| names.get(name)) {
                Some(existing) if satisfies(existing) => {
                    let mut location = folder.to_vec();
                    location.push(name.to_string());
                    self.reserve_between(from, depth, name);
                    return Placement::Reused(location);
                }
                Some(_) => break,
                None if self.reserved.get(folder).is_some_and(|r| r.contains(name)) => break,
                None => chosen = depth,
            }
        }
        let folder = from[..chosen].to_vec();
        self.placed
            .entry(folder.clone())
            .or_default()
            .insert(name.to_string(), version.to_string());
        self.reserve_between(from, chosen, name);
        let mut location = folder;
        location.push(name.to_string());
        Placement::Placed(location)
    }

    /// Folders strictly below `depth` on the way to `from` must not gain `name` later.
    fn reserve_between(&mut self, from: &[String], depth: usize, name: &str) {
        for d in depth + 1..=from.len() {
            self.reserved.entry(from[..d].to_vec()).or_default().insert(name.to_string());
        }
    }
}

/// `node_modules/a/node_modules/b` for the location `[a, b]`.
pub fn install_path(location: &[String]) -> String {
    location.iter().map(|name| format!("node_modules/{name}")).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(parts: &[&str]) -> Location {
        parts.iter().map(|s| s.to_string()).collect()
    }

    fn exactly(v: &'static str) -> impl Fn(&str) -> bool {
        move |existing| existing == v
    }

    #[test]
    fn packages_are_hoisted_to_the_root_when_free() {
        let mut t = Tree::default();
        assert_eq!(t.place(&[], "a", "1.0.0", exactly("1.0.0")), Placement::Placed(loc(&["a"])));
        assert_eq!(
            t.place(&loc(&["a"]), "b", "2.0.0", exactly("2.0.0")),
            Placement::Placed(loc(&["b"]))
        );
        assert_eq!(install_path(&loc(&["b"])), "node_modules/b");
    }

    #[test]
    fn satisfying_versions_are_shared() {
        let mut t = Tree::default();
        t.place(&[], "a", "1.0.0", exactly("1.0.0"));
        t.place(&[], "c", "1.0.0", exactly("1.0.0"));
        t.place(&loc(&["a"]), "b", "2.1.0", exactly("2.1.0"));
        assert_eq!(
            t.place(&loc(&["c"]), "b", "2.1.0", |v| v.starts_with("2.")),
            Placement::Reused(loc(&["b"]))
        );
    }

    #[test]
    fn conflicting_versions_nest_under_their_dependent() {
        let mut t = Tree::default();
        t.place(&[], "b", "1.0.0", exactly("1.0.0"));
        t.place(&[], "a", "1.0.0", exactly("1.0.0"));
        assert_eq!(
            t.place(&loc(&["a"]), "b", "2.0.0", exactly("2.0.0")),
            Placement::Placed(loc(&["a", "b"]))
        );
        assert_eq!(install_path(&loc(&["a", "b"])), "node_modules/a/node_modules/b");
        assert_eq!(t.lookup(&loc(&["a"]), "b"), Some((loc(&["a", "b"]), "2.0.0")));
        assert_eq!(t.lookup(&[], "b"), Some((loc(&["b"]), "1.0.0")));
    }

    #[test]
    fn a_new_package_never_shadows_what_others_resolved() {
        let mut t = Tree::default();
        // x → a → (c, d); d resolved c from the root through a's folder.
        t.place(&[], "a", "1.0.0", exactly("1.0.0"));
        t.place(&[], "c", "1.0.0", exactly("1.0.0"));
        t.place(&loc(&["a"]), "d", "1.0.0", exactly("1.0.0")); // hoisted to root
                                                               // A dependency of a nested package resolves c@1 from the root through a's folder…
        t.place(&loc(&["a", "e"]), "c", "1.0.0", exactly("1.0.0"));
        // …so a later c@2 for a/e's sibling must not land in a's folder, where it would shadow.
        assert_eq!(
            t.place(&loc(&["a", "f"]), "c", "2.0.0", exactly("2.0.0")),
            Placement::Placed(loc(&["a", "f", "c"]))
        );
    }
}
