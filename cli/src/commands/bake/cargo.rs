//! Rust templates: a crate built by cargo for wasm32-wasip2.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;

const TARGET: &str = "wasm32-wasip2";

/// Fails with the exact fix when rustup lacks the target.
pub(super) fn check_target_installed() -> Result<()> {
    let output = std::process::Command::new("rustup").args(["target", "list", "--installed"]).output();
    match output {
        Ok(output) if output.status.success() => {
            if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == TARGET) {
                Ok(())
            } else {
                bail!("the {TARGET} Rust target is not installed\nhint: run `rustup target add {TARGET}`")
            }
        }
        // Without rustup (a distribution toolchain) cargo itself reports a missing target.
        _ => Ok(()),
    }
}

/// Builds one crate in release mode and returns the component cargo produced.
pub(super) fn build(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let output = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", TARGET, "--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo\nhint: install Rust with rustup (https://rustup.rs)")?;
    if !output.status.success() {
        bail!(
            "cargo exited with {}\nhint: fix the errors above, then try `cargo build --release --target {TARGET} --manifest-path {}`",
            output.status,
            manifest.display()
        );
    }
    component_artifact(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!(
            "cargo built no .wasm for {}\nhint: set `[lib] crate-type = [\"cdylib\"]` in it",
            manifest.display()
        )
    })
}

/// The `.wasm` file of the last `cdylib` artifact in cargo's JSON messages.
fn component_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::component_artifact;

    #[test]
    fn finds_the_cdylib_wasm() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libsdk.rlib"]}
{"reason":"compiler-artifact","target":{"kind":["cdylib"]},"filenames":["/t/wasm32-wasip2/release/thumbs.wasm"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            component_artifact(messages).unwrap().to_str(),
            Some("/t/wasm32-wasip2/release/thumbs.wasm")
        );
        assert_eq!(component_artifact(r#"{"reason":"build-finished"}"#), None);
    }
}
