//! TypeScript and JavaScript templates: a package whose `package.json` depends on
//! `@transflow/template-sdk`, built by the SDK's `transflow-template-build` (type check, bundle,
//! componentize-js).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SDK_PACKAGE: &str = "@transflow/template-sdk";

/// The parts of a template's `package.json` that bake reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageJson {
    main: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, String>,
}

impl PackageJson {
    fn read(dir: &Path) -> Result<PackageJson> {
        let path = dir.join("package.json");
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid package.json", path.display()))
    }

    /// `typescript` unless the entry module is JavaScript.
    fn language(&self) -> &'static str {
        match self.main.as_deref().and_then(|m| Path::new(m).extension()).and_then(|e| e.to_str()) {
            Some("js" | "mjs") => "javascript",
            _ => "typescript",
        }
    }

    /// Where the SDK is: the directory of a `file:` dependency, else the installed package.
    fn sdk_dir(&self, dir: &Path) -> Result<PathBuf> {
        let spec = self.dev_dependencies.get(SDK_PACKAGE).or_else(|| self.dependencies.get(SDK_PACKAGE));
        let candidate = match spec.and_then(|s| s.strip_prefix("file:")) {
            Some(path) => dir.join(path),
            None if spec.is_some() => dir.join("node_modules").join(SDK_PACKAGE),
            None => bail!(
                "{} does not depend on {SDK_PACKAGE}\nhint: add \"devDependencies\": {{ \"{SDK_PACKAGE}\": \"file:PATH/TO/template-sdk/typescript\" }}",
                dir.join("package.json").display()
            ),
        };
        if !candidate.join("bin/build.mjs").is_file() {
            bail!(
                "{SDK_PACKAGE} is not at {}\nhint: point its `file:` dependency at template-sdk/typescript of a Transflow checkout",
                candidate.display()
            );
        }
        if !candidate.join("node_modules").is_dir() {
            bail!(
                "the TypeScript toolchain is not installed in {}\nhint: run `bash scripts/setup.sh` (or `npm ci` in that directory)",
                candidate.display()
            );
        }
        Ok(candidate)
    }
}

/// Builds the package in `dir` to `dir/dist/template.wasm`; returns it and the language.
pub(super) fn build(dir: &Path) -> Result<(PathBuf, &'static str)> {
    let package = PackageJson::read(dir)?;
    let sdk = package.sdk_dir(dir)?;
    let install = "install Node.js 18 or later (`bash scripts/setup.sh` does)";
    let out = super::run_sdk_build(Path::new("node"), &sdk.join("bin/build.mjs"), dir, install)?;
    Ok((out, package.language()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(json: &str) -> PackageJson {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn language_follows_the_entry_module() {
        assert_eq!(package("{}").language(), "typescript");
        assert_eq!(package(r#"{"main": "src/index.ts"}"#).language(), "typescript");
        assert_eq!(package(r#"{"main": "src/index.js"}"#).language(), "javascript");
    }

    #[test]
    fn the_sdk_comes_from_a_file_dependency_or_node_modules() {
        let root = tempfile::tempdir().unwrap();
        let sdk = root.path().join("sdk");
        std::fs::create_dir_all(sdk.join("bin")).unwrap();
        std::fs::create_dir_all(sdk.join("node_modules")).unwrap();
        std::fs::write(sdk.join("bin/build.mjs"), "").unwrap();
        let template = root.path().join("templates/t");
        std::fs::create_dir_all(&template).unwrap();

        let linked = package(r#"{"devDependencies": {"@transflow/template-sdk": "file:../../sdk"}}"#);
        assert_eq!(linked.sdk_dir(&template).unwrap(), template.join("../../sdk"));

        let missing = package("{}").sdk_dir(&template).unwrap_err().to_string();
        assert!(missing.contains("does not depend on @transflow/template-sdk"), "{missing}");
        let registry = package(r#"{"dependencies": {"@transflow/template-sdk": "^0.1"}}"#);
        let not_installed = registry.sdk_dir(&template).unwrap_err().to_string();
        assert!(not_installed.contains("node_modules/@transflow/template-sdk"), "{not_installed}");

        std::fs::remove_dir(sdk.join("node_modules")).unwrap();
        let no_toolchain = linked.sdk_dir(&template).unwrap_err().to_string();
        assert!(no_toolchain.contains("scripts/setup.sh"), "{no_toolchain}");
    }
}
