//! `transflow bake`: build template crates for wasm32-wasip2, check them in the host, publish
//! each as the current version in the local template registry (and, with `--publish`, in the
//! AWS one).

use crate::cli::BakeArgs;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use transflow_host::backends::aws::AwsClients;
use transflow_host::backends::local::DirTemplateRegistry;
use transflow_host::backends::{TemplateRegistry, TemplateVersion};
use transflow_host::config::Config;
use transflow_host::embedded::Layout;
use transflow_host::{JobLimits, TemplateEngine};

const TARGET: &str = "wasm32-wasip2";

/// Builds, checks and registers every template under `args.templates`.
pub async fn bake(paths: &Layout, config: &Config, args: BakeArgs) -> Result<ExitCode> {
    let crates = template_crates(&args.templates)?;
    if crates.is_empty() {
        bail!(
            "no template crates in {}\nhint: each template is a directory with a Cargo.toml; create one or pass --templates DIR",
            args.templates.display()
        );
    }
    check_target_installed()?;
    let registry_dir = args.out.clone().unwrap_or_else(|| paths.templates.clone());
    let mut registries: Vec<Arc<dyn TemplateRegistry>> =
        vec![Arc::new(DirTemplateRegistry::new(&registry_dir))];
    if args.publish {
        registries.push(AwsClients::connect(&config.aws).await.templates(config));
    }
    let engine = super::engine(paths, JobLimits::default())?;
    let total = crates.len();
    for (index, dir) in crates.iter().enumerate() {
        let label =
            dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        eprintln!("[{}/{total}] building {label}", index + 1);
        let wasm = build(dir).with_context(|| format!("template `{label}` did not build"))?;
        let bytes = fs_err::read(&wasm)?;
        let version = checked_version(&engine, &bytes, "rust").await.with_context(|| {
            format!("template `{label}` built, but the host rejects it ({})", wasm.display())
        })?;
        eprintln!(
            "      {} v{} ({} KiB, steps: {})",
            version.id,
            &version.sha256[..12],
            bytes.len() / 1024,
            version.description.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" → ")
        );
        for registry in &registries {
            registry.publish(&bytes, version.clone()).await?;
        }
    }
    eprintln!("baked {total} template(s) into {}", registry_dir.display());
    if args.publish {
        eprintln!("published {total} template(s) to s3://{}/templates/", config.aws_names().templates_bucket);
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads a component in the host (which checks its world and its description) and returns
/// the version to publish.
pub(super) async fn checked_version(
    engine: &TemplateEngine,
    bytes: &[u8],
    language: &str,
) -> Result<TemplateVersion> {
    let (template, _) = engine.load(bytes).await?;
    Ok(TemplateVersion {
        id: template.description.id.clone(),
        sha256: template.version.clone(),
        size: bytes.len() as u64,
        language: language.into(),
        published_at: transflow_host::assembly::now_rfc3339(),
        description: template.description.clone(),
    })
}

/// Sub-directories of `root` holding a `Cargo.toml`, in name order.
fn template_crates(root: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs_err::read_dir(root)
        .with_context(|| "cannot list templates\nhint: run from the project root or pass --templates DIR")?;
    let mut crates: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    Ok(crates)
}

/// Fails with the exact fix when rustup lacks the target.
fn check_target_installed() -> Result<()> {
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
fn build(dir: &Path) -> Result<PathBuf> {
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
