//! Command-line definitions only. [`crate::commands::execute`] lays the global flags over
//! `transflow.toml` (`transflow_service::config::Config`) before any command runs.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

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

    /// Use the AWS backends of `[aws]` (S3, DynamoDB, SQS) instead of the embedded ones, for
    /// `status` and `templates`: the same as `backend = "aws"` in the configuration.
    #[arg(long, global = true)]
    pub aws: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the templates (Rust crates and TypeScript packages), check each in the host and
    /// register it.
    Bake(BakeArgs),
    /// Create something new from a starting point that builds and runs as is.
    #[command(subcommand)]
    New(NewCommand),
    /// Run one assembly locally and print its final status JSON.
    Run(RunArgs),
    /// Serve the API, the upload page, the worker and webhooks on embedded defaults.
    Dev(DevArgs),
    /// Print the status JSON of an assembly.
    Status(StatusArgs),
    /// Publish, list and roll back template versions.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Serve the HTTP API (create-upload, status, cancel, templates) on the AWS backends;
    /// uploads go straight to S3 through pre-signed URLs.
    Serve(ServeArgs),
    /// Run the long-running SQS worker of an AWS deployment until SIGTERM.
    Worker(WorkerArgs),
    /// Print an API token (a JWT signed with `auth.jwt_secret`, or with the secret `transflow
    /// dev` generated in the data directory) for `transflow serve` and `transflow dev`.
    Token(TokenArgs),
    /// Delete a branch's uploads, outputs and status records from AWS (never a bucket, never
    /// another branch).
    Cleanup(CleanupArgs),
    /// Create or update the AWS resources of the project; a second run changes nothing.
    Deploy(DeployArgs),
}

/// `transflow deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Print what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Build and push the worker image with docker, from the checkout this runs in (or that
    /// built this program); without a docker daemon the commands are printed instead.
    #[arg(long)]
    pub build: bool,
    /// Tag of the worker image [default: `{branch}-{short commit}`, `{branch}-local` outside git].
    #[arg(long)]
    pub tag: Option<String>,
}

/// `transflow templates …`.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Check a `.wasm` component in the host and make it the current version of its id.
    Publish(PublishArgs),
    /// Every template with its current version and history.
    List,
    /// Point a template back at its previous version, or at `--to`.
    Rollback(RollbackArgs),
}

/// `transflow templates publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The built component (`.wasm`), e.g. a template's `dist/template.wasm` after `bake`.
    pub wasm: PathBuf,
    /// Language the template was written in, recorded with the version [default: what the
    /// component's producers section says; `transflow bake` writes it there].
    #[arg(long)]
    pub language: Option<String>,
}

/// `transflow templates rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The template to roll back, by the id it was published under.
    pub id: String,
    /// The sha256 of the version to make current [default: the one before the current].
    #[arg(long)]
    pub to: Option<String>,
}

/// `transflow serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: `server.listen` from the config].
    #[arg(long)]
    pub listen: Option<String>,
}

/// `transflow worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The SQS queue [default: the `[aws]` queue of the project].
    #[arg(long)]
    pub queue_url: Option<String>,
}

/// `transflow token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user the token names (its `sub` claim, or `auth.user_claim`).
    #[arg(long)]
    pub user: String,
    /// How long the token is valid: a number with `s`, `m`, `h` or `d` (e.g. `90m`, `30d`).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// `transflow cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The branch to delete.
    #[arg(long)]
    pub branch: String,
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
    /// The assembly id create-upload returned (or `transflow run` printed).
    pub assembly_id: String,
}

/// `transflow new …`.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A template: one step making a JPEG poster frame of each video, ready to bake and run.
    Template(NewTemplateArgs),
}

/// `transflow new template`.
#[derive(Debug, Args)]
pub struct NewTemplateArgs {
    /// Template id and directory name: lower-case letters, digits and dashes.
    pub name: String,
    /// Language of the template.
    #[arg(long, value_enum, default_value_t = TemplateLanguage::Rust)]
    pub lang: TemplateLanguage,
    /// Directory to create it in.
    #[arg(long, default_value = "templates")]
    pub dir: PathBuf,
    /// The Transflow checkout whose SDKs the template uses [default: the nearest directory,
    /// from the current one up, holding `template-sdk/` and `wit/`].
    #[arg(long)]
    pub transflow: Option<PathBuf>,
}

/// A language templates are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateLanguage {
    /// Rust with `transflow-sdk`, built by cargo.
    Rust,
    /// TypeScript with `@transflow/template-sdk`, built by componentize-js.
    Typescript,
    /// Python with `transflow_sdk`, built by componentize-py.
    Python,
}

/// `transflow bake`.
#[derive(Debug, Args)]
pub struct BakeArgs {
    /// Only these templates (directory names) [default: all].
    pub names: Vec<String>,
    /// Directory holding one template (a crate or a package) per sub-directory.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,
    /// Registry directory to publish into (`{id}/{sha256}.wasm`, `{sha256}.json`, `pointer.json`)
    /// [default: DATA_DIR/templates].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also publish every template to the AWS template registry of `[aws]`.
    #[arg(long)]
    pub publish: bool,
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
    /// ffmpeg runs allowed at once (independent steps run side by side within it); 1 runs
    /// them one after another [default: `tools.cpu_budget`, else one per core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub cpu_budget: Option<u16>,
    /// The files to upload to the assembly, in order; the template sees each as an upload.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let unit_at = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(unit_at);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{raw}` is not a duration like `90s`, `15m`, `12h` or `30d`")),
    };
    match number.parse::<u64>().ok().and_then(|n| n.checked_mul(seconds)) {
        Some(total) if total > 0 => Ok(Duration::from_secs(total)),
        _ => Err(format!("`{raw}` is not a duration like `90s`, `15m`, `12h` or `30d`")),
    }
}

fn parse_field(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{raw}` is not NAME=VALUE")),
    }
}
