//! The local template registry: `<id>.wasm` files plus `manifest.json` describing them.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use transflow_host::template::TemplateDescription;

/// One baked template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Template id.
    pub id: String,
    /// sha256 of the component: the template version.
    pub sha256: String,
    /// Component size in bytes.
    pub size: u64,
    /// Language it was written in.
    pub language: String,
    /// When it was baked (RFC 3339).
    pub built_at: String,
    /// What `describe()` returned.
    pub description: TemplateDescription,
}

/// The registry directory.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Registry {
        Registry { dir: dir.into() }
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// Every baked template by id.
    pub fn manifest(&self) -> Result<BTreeMap<String, ManifestEntry>> {
        let path = self.manifest_path();
        if !path.exists() {
            return Ok(BTreeMap::new());
        }
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    /// The component file of template `id`, if baked.
    pub fn component_path(&self, id: &str) -> Option<PathBuf> {
        let path = self.dir.join(format!("{id}.wasm"));
        path.is_file().then_some(path)
    }

    /// Stores a component and its manifest entry (both written atomically).
    pub fn publish(&self, bytes: &[u8], entry: ManifestEntry) -> Result<()> {
        fs_err::create_dir_all(&self.dir)?;
        write_atomically(&self.dir.join(format!("{}.wasm", entry.id)), bytes)?;
        let mut manifest = self.manifest()?;
        manifest.insert(entry.id.clone(), entry);
        write_atomically(&self.manifest_path(), serde_json::to_string_pretty(&manifest)?.as_bytes())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    fs_err::write(&temporary, bytes)?;
    fs_err::rename(&temporary, path)?;
    Ok(())
}
