//! Lists the JavaScript modules embedded in the binary, so none is listed by hand: every `.js`
//! file of `npm-shim/` (Node's built-ins and globals, the web's in `npm-shim/web/`; not its
//! tests) and of `runtime/src/js/` (chatfn's own) becomes `ext:chatfn/<path in its folder>`.
//! `js::bootstrap_modules` includes the generated list.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let roots = [
        (manifest.join("../npm-shim"), &["tests", "types"][..]),
        (manifest.join("src/js"), &[][..]),
    ];
    let mut modules: Vec<(String, PathBuf)> = Vec::new();
    for (root, skip) in &roots {
        println!("cargo:rerun-if-changed={}", root.display());
        collect(root, root, skip, &mut modules);
    }
    modules.sort();
    for pair in modules.windows(2) {
        assert!(pair[0].0 != pair[1].0, "two JavaScript modules would both be {}", pair[0].0);
    }
    let mut code = String::from("vec![\n");
    for (specifier, file) in &modules {
        let file = file.canonicalize().unwrap();
        writeln!(
            code,
            "    ExtensionFileSource::new({specifier:?}, deno_core::ascii_str_include!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bootstrap_modules.rs");
    std::fs::write(out, code).unwrap();
}

fn collect(root: &Path, dir: &Path, skip: &[&str], modules: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            if !skip.contains(&relative.as_str()) {
                collect(root, &path, skip, modules);
            }
        } else if relative.ends_with(".js") {
            modules.push((format!("ext:chatfn/{relative}"), path));
        }
    }
}
