//! Compiles every guest crate the tests need (the built-in templates and the fixtures under
//! `fixtures/`) for wasm32-wasip2 in release mode, in a target directory of its own so the
//! nested cargo never waits on the outer build's lock, and writes their paths as constants.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    for watched in ["templates", "template-sdk", "wit", "tests/components/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let guests: Vec<(String, PathBuf)> = crates_in(&root.join("templates"))
        .into_iter()
        .chain(crates_in(&manifest_dir.join("fixtures")))
        .collect();
    let target_dir = root.join("target/test-components");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir);
    for (package, _) in &guests {
        cargo.args(["-p", package]);
    }
    // The outer build's flags are for the host target; they must not leak into the guest build.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTC_WRAPPER"]
    {
        cargo.env_remove(var);
    }
    let status = cargo.status().expect("run cargo for the test components");
    assert!(
        status.success(),
        "building the test components failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    let mut constants = String::new();
    for (package, _) in &guests {
        let file =
            target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
        assert!(file.is_file(), "{} was not built", file.display());
        let name = package.trim_start_matches("fixture-").replace('-', "_").to_uppercase();
        constants.push_str(&format!(
            "/// `{package}` as a component.\npub const {name}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(out, constants).unwrap();
}

/// `(package name, dir)` of each crate directly under `dir`.
fn crates_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let manifest = std::fs::read_to_string(path.join("Cargo.toml")).ok()?;
            let name = manifest.lines().find_map(|l| l.strip_prefix("name = "))?.trim_matches('"').to_owned();
            Some((name, path))
        })
        .collect();
    found.sort();
    found
}
