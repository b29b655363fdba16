//! Where things live under the data directory.

use std::path::{Path, PathBuf};

/// Paths resolved from the command line before any work starts.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Baked templates: `<id>.wasm` and `manifest.json`.
    pub templates: PathBuf,
    /// Compiled components, by sha256.
    pub cache: PathBuf,
    /// Job workspaces (deleted after each job).
    pub work: PathBuf,
    /// Results: `{branch}/{assembly_id}/{step}/…`.
    pub outputs: PathBuf,
}

impl Paths {
    /// The layout under `data_dir`.
    pub fn under(data_dir: &Path) -> Paths {
        Paths {
            templates: data_dir.join("templates"),
            cache: data_dir.join("cache"),
            work: data_dir.join("work"),
            outputs: data_dir.join("outputs"),
        }
    }
}
