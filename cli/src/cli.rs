//! Command-line definitions only; resolution into settings lives in `settings.rs`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Transflow: media processing with WebAssembly templates.
#[derive(Debug, Parser)]
#[command(name = "transflow", version, about)]
pub struct Cli {
    /// Where Transflow keeps templates, caches, uploads and outputs [default: from the config
    /// file, else `.transflow`].
    #[arg(long, global = true, env = "TRANSFLOW_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The configuration file; missing means defaults. `TRANSFLOW_{SECTION}_{KEY}` variables
    /// override it.
    #[arg(long, global = true, env = "TRANSFLOW_CONFIG", default_value = "transflow.toml")]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every template crate for wasm32-wasip2, check it in the host and register it.
    Bake(BakeArgs),
    /// Run one assembly locally and print its final status JSON.
    Run(RunArgs),
    /// Serve the API, the upload page, the worker and webhooks on embedded defaults.
    Dev(DevArgs),
    /// Print the status JSON of an assembly from the embedded status store.
    Status(StatusArgs),
}

/// `transflow dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Port on 127.0.0.1 [default: from `server.listen` in the config, else 8080]; 0 picks a free one.
    #[arg(long)]
    pub port: Option<u16>,
}

/// `transflow status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The assembly id.
    pub assembly_id: String,
}

/// `transflow bake`.
#[derive(Debug, Args)]
pub struct BakeArgs {
    /// Directory holding one template crate per sub-directory.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,
    /// Registry directory to publish into (`{id}/{sha256}.wasm`, `{sha256}.json`, `pointer.json`)
    /// [default: DATA_DIR/templates].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `transflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A baked template id, or a path to a `.wasm` component.
    #[arg(long)]
    pub template: String,
    /// A user field, `name=value`; repeat for more.
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
    /// The user the assembly belongs to.
    #[arg(long, default_value = "local")]
    pub user: String,
    /// The branch the assembly belongs to.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Per-step time limit in seconds.
    #[arg(long, default_value_t = 1800)]
    pub step_timeout: u64,
    /// Files to process.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn parse_field(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{raw}` is not NAME=VALUE")),
    }
}
