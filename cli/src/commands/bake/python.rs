//! Python templates: a directory whose `pyproject.toml` has a `[tool.transflow]` table naming the
//! SDK, built by the SDK's `build.py` with componentize-py.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The parts of a template's `pyproject.toml` that bake reads.
#[derive(Debug, Default, Deserialize)]
struct PyProject {
    #[serde(default)]
    tool: Tools,
}

#[derive(Debug, Default, Deserialize)]
struct Tools {
    transflow: Option<TransflowTable>,
}

/// `[tool.transflow]`.
#[derive(Debug, Deserialize)]
struct TransflowTable {
    /// `template-sdk/python` of a Transflow checkout, relative to the template.
    sdk: PathBuf,
}

/// Whether `dir` is a Python template: a `pyproject.toml` with a `[tool.transflow]` table.
pub(super) fn is_template(dir: &Path) -> bool {
    read(dir).is_ok_and(|project| project.tool.transflow.is_some())
}

fn read(dir: &Path) -> Result<PyProject> {
    let path = dir.join("pyproject.toml");
    let text = fs_err::read_to_string(&path)?;
    toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))
}

/// Builds the template in `dir` to `dir/dist/template.wasm` and returns that path.
pub(super) fn build(dir: &Path) -> Result<PathBuf> {
    let table = read(dir)?.tool.transflow.context("pyproject.toml has no [tool.transflow] table")?;
    let sdk = dir.join(&table.sdk);
    let script = sdk.join("build.py");
    if !script.is_file() {
        bail!(
            "the Python SDK is not at {}\nhint: point `sdk` in [tool.transflow] at template-sdk/python of a Transflow checkout",
            sdk.display()
        );
    }
    // The checkout's own componentize-py (scripts/setup.sh), else whatever is on PATH.
    let venv_python = sdk.join("../../.tools/componentize-py/bin/python");
    let python = if venv_python.is_file() { venv_python } else { PathBuf::from("python3") };
    super::run_sdk_build(&python, &script, dir, "run `bash scripts/setup.sh`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pyproject_with_a_transflow_table_is_a_template() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_template(dir.path()));
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname = \"tool\"\n").unwrap();
        assert!(!is_template(dir.path()));
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.transflow]\nsdk = \"../sdk\"\n").unwrap();
        assert!(is_template(dir.path()));
        let missing = build(dir.path()).unwrap_err().to_string();
        assert!(missing.contains("the Python SDK is not at"), "{missing}");
    }
}
