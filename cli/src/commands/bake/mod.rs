//! `transflow bake`: build the templates under `templates/` (Rust crates with cargo, TypeScript
//! and JavaScript packages with componentize-js, Python projects with componentize-py), check
//! each in the host, and publish it as the current version in the local template registry (and,
//! with `--publish`, in the AWS one).

mod cargo;
mod language;
mod node;
mod python;

pub(crate) use language::component_language;

use crate::cli::BakeArgs;
use crate::progress::{Count, Progress};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use transflow_local::DirTemplateRegistry;
use transflow_runtime::{JobLimits, TemplateEngine};
use transflow_service::config::Config;
use transflow_service::embedded::Layout;
use transflow_store::backends::{TemplateRegistry, TemplateVersion};

/// A template's source directory and how it is built.
#[derive(Debug)]
struct TemplateSource {
    dir: PathBuf,
    kind: SourceKind,
}

/// What marks a template directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    /// A `Cargo.toml`: a Rust crate using `transflow-sdk`.
    Cargo,
    /// A `package.json`: a TypeScript or JavaScript package using `@transflow/template-sdk`.
    Node,
    /// A `pyproject.toml` with a `[tool.transflow]` table: Python using `transflow_sdk`.
    Python,
}

impl TemplateSource {
    fn label(&self) -> String {
        self.dir
            .file_name()
            .map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// Builds the component; returns its path and the language to record with the version.
    fn build(&self) -> Result<(PathBuf, &'static str)> {
        match self.kind {
            SourceKind::Cargo => Ok((cargo::build(&self.dir)?, "rust")),
            SourceKind::Node => node::build(&self.dir),
            SourceKind::Python => Ok((python::build(&self.dir)?, "python")),
        }
    }
}

/// Builds, checks and registers every template under `args.templates` (or only those named).
pub async fn bake(paths: &Layout, config: &Config, args: BakeArgs) -> Result<ExitCode> {
    let sources = selected(template_sources(&args.templates)?, &args.names, &args.templates)?;
    if sources.iter().any(|s| s.kind == SourceKind::Cargo) {
        cargo::check_target_installed()?;
    }
    let registry_dir = args.out.clone().unwrap_or_else(|| paths.templates.clone());
    let mut registries: Vec<Arc<dyn TemplateRegistry>> =
        vec![Arc::new(DirTemplateRegistry::new(&registry_dir))];
    if args.publish {
        registries.push(config.aws_clients().await.templates(&config.aws_settings()));
    }
    let engine = super::engine(paths, JobLimits::default())?;
    let total = sources.len();
    let mut progress = Progress::new("bake", Count::Items(total as u64));
    for (index, source) in sources.iter().enumerate() {
        let label = source.label();
        progress.update(index as u64, &format!("building {label}"));
        let (wasm, language) = progress
            .suspend(|| source.build())
            .with_context(|| format!("template `{label}` did not build"))?;
        // Written into the component, so `templates publish` of this file records it too.
        language::record_language(&wasm, language)?;
        let bytes = fs_err::read(&wasm)?;
        let version = checked_version(&engine, &bytes, language).await.with_context(|| {
            format!("template `{label}` built, but the host rejects it ({})", wasm.display())
        })?;
        progress.println(&format!(
            "baked {} v{} ({language}, {} KiB, steps: {})",
            version.id,
            &version.sha256[..12],
            bytes.len() / 1024,
            version.description.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" → ")
        ));
        for registry in &registries {
            registry.publish(&bytes, version.clone()).await?;
        }
    }
    progress.finish();
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
        published_at: transflow_store::assembly::now_rfc3339(),
        description: template.description.clone(),
    })
}

/// Runs an SDK's build script on the template in `dir` (`{interpreter} {script} {dir} --out …`)
/// and returns the component it wrote, `dir/dist/template.wasm`.
fn run_sdk_build(interpreter: &Path, script: &Path, dir: &Path, install_hint: &str) -> Result<PathBuf> {
    let out = dir.join("dist").join("template.wasm");
    let status = std::process::Command::new(interpreter)
        .arg(script)
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}\nhint: {install_hint}", interpreter.display()))?;
    if !status.success() {
        bail!(
            "{} exited with {status}\nhint: fix the errors above, then try `{} {} {}`",
            script.display(),
            interpreter.display(),
            script.display(),
            dir.display()
        );
    }
    Ok(out)
}

/// Sub-directories of `root` that are templates, in name order.
fn template_sources(root: &Path) -> Result<Vec<TemplateSource>> {
    let entries = fs_err::read_dir(root)
        .with_context(|| "cannot list templates\nhint: run from the project root or pass --templates DIR")?;
    let mut sources: Vec<TemplateSource> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|dir| {
            let kind = if dir.join("Cargo.toml").is_file() {
                SourceKind::Cargo
            } else if dir.join("package.json").is_file() {
                SourceKind::Node
            } else if python::is_template(&dir) {
                SourceKind::Python
            } else {
                return None;
            };
            Some(TemplateSource { dir, kind })
        })
        .collect();
    sources.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(sources)
}

/// The sources named in `names` (all when empty); a name that matches nothing is an error.
fn selected(sources: Vec<TemplateSource>, names: &[String], root: &Path) -> Result<Vec<TemplateSource>> {
    if sources.is_empty() {
        bail!(
            "no templates in {}\nhint: each template is a directory with a Cargo.toml, a package.json or a pyproject.toml with [tool.transflow]; create one with `transflow new template NAME` or pass --templates DIR",
            root.display()
        );
    }
    if let Some(missing) = names.iter().find(|name| !sources.iter().any(|s| &s.label() == *name)) {
        let known: Vec<String> = sources.iter().map(TemplateSource::label).collect();
        bail!("no template `{missing}` in {}; there are: {}", root.display(), known.join(", "));
    }
    Ok(sources.into_iter().filter(|s| names.is_empty() || names.contains(&s.label())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_templates_of_every_language_and_selects_by_name() {
        let root = tempfile::tempdir().unwrap();
        let files = [
            ("b-rust", "Cargo.toml", ""),
            ("a-ts", "package.json", ""),
            ("c-py", "pyproject.toml", "[tool.transflow]\nsdk = \"sdk\"\n"),
            ("d-tool", "pyproject.toml", "[project]\nname = \"d\"\n"),
            ("notes", "README.md", ""),
        ];
        for (dir, marker, contents) in files {
            std::fs::create_dir(root.path().join(dir)).unwrap();
            std::fs::write(root.path().join(dir).join(marker), contents).unwrap();
        }
        let found = template_sources(root.path()).unwrap();
        let summary: Vec<(String, SourceKind)> = found.iter().map(|s| (s.label(), s.kind)).collect();
        let expected =
            [("a-ts", SourceKind::Node), ("b-rust", SourceKind::Cargo), ("c-py", SourceKind::Python)];
        assert_eq!(summary, expected.map(|(label, kind)| (label.to_owned(), kind)));

        let only = selected(found, &["b-rust".into()], root.path()).unwrap();
        assert_eq!(only.len(), 1);
        let error =
            selected(template_sources(root.path()).unwrap(), &["nope".into()], root.path()).unwrap_err();
        assert!(error.to_string().contains("no template `nope`"), "{error}");
        assert!(error.to_string().contains("a-ts, b-rust, c-py"), "{error}");
    }
}
