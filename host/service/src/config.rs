//! `transflow.toml`: one file for every mode, with `TRANSFLOW_{SECTION}_{KEY}` environment
//! overrides (e.g. `TRANSFLOW_AUTH_JWT_SECRET`, `TRANSFLOW_WORKER_CONCURRENCY`).
//!
//! Unknown keys are errors, not warnings: a misspelt `max_file_size` that silently falls back
//! to the default is how limits stop being limits. Every error names the key.

use crate::backends::BackendKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use transflow_aws::{AwsClients, AwsSettings};
use transflow_ffmpeg::policy::{Policy, PolicyExtensions};
use transflow_ffmpeg::{SandboxSettings, ToolLimits, ToolSettings};
use transflow_store::prefix_urls::{PrefixSigner, PublicUrls};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Project name; prefixes cloud resource names.
    pub project: String,
    /// Branch assemblies belong to (`uploads/{branch}/…`, `outputs/{branch}/…`).
    pub branch: String,
    /// Where embedded backends keep their files.
    pub data_dir: PathBuf,
    /// Which backends to use: `local` (files and SQLite under `data_dir`) or `aws` (`[aws]`).
    pub backend: BackendKind,
    /// API authentication.
    pub auth: AuthConfig,
    /// Upload limits.
    pub limits: LimitsConfig,
    /// Webhook delivery.
    pub webhook: WebhookConfig,
    /// How workers take jobs: concurrency, leases, visibility and retries.
    pub worker: WorkerConfig,
    /// The HTTP server of `transflow dev` and `transflow serve`.
    pub server: ServerConfig,
    /// AWS resources and settings (`transflow deploy`, the Lambda and SQS workers).
    pub aws: AwsConfig,
    /// ffmpeg, ffprobe and their sandbox.
    pub tools: ToolsConfig,
    /// How long uploads wait and what is kept.
    pub retention: RetentionConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            project: "transflow".into(),
            branch: "main".into(),
            data_dir: PathBuf::from(".transflow"),
            backend: BackendKind::Local,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            webhook: WebhookConfig::default(),
            worker: WorkerConfig::default(),
            server: ServerConfig::default(),
            aws: AwsConfig::default(),
            tools: ToolsConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for API tokens. Required unless `disabled`.
    pub jwt_secret: Option<String>,
    /// The claim naming the user.
    pub user_claim: String,
    /// Accept requests without a token (as user `anonymous`). For trusted networks only.
    pub disabled: bool,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig { jwt_secret: None, user_claim: "sub".into(), disabled: false }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted upload, bytes.
    pub max_file_size: u64,
    /// Most files per assembly.
    pub max_files: usize,
    /// Accepted content types; `video/*` style wildcards allowed.
    pub allowed_types: Vec<String>,
    /// How long an upload URL stays valid, seconds.
    pub upload_url_ttl_secs: u64,
    /// Per-step time limit, seconds.
    pub step_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_file_size: 2 << 30,
            max_files: 10,
            allowed_types: vec!["video/*".into(), "audio/*".into(), "image/*".into()],
            upload_url_ttl_secs: 3600,
            step_timeout_secs: 1800,
        }
    }
}

impl LimitsConfig {
    /// Whether `mime` matches one of the allowed types.
    pub fn allows_type(&self, mime: &str) -> bool {
        let mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        self.allowed_types.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            match pattern.strip_suffix("/*") {
                Some(kind) => mime.split_once('/').is_some_and(|(k, sub)| k == kind && !sub.is_empty()),
                None => pattern == "*/*" || pattern == mime,
            }
        })
    }
}

/// `[webhook]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Secret (`whsec_…`) signing notify_url deliveries.
    pub secret: Option<String>,
    /// Secrets templates name in their webhook, by name.
    pub secrets: BTreeMap<String, String>,
    /// Deliver to private (RFC 1918, ULA) addresses.
    pub allow_private: bool,
    /// Deliver to loopback addresses.
    pub allow_loopback: bool,
    /// Seconds a delivery may last from its first attempt: no retry starts, and no attempt
    /// runs, past it.
    pub retry_window_secs: u64,
    /// Attempts per delivery, the first included. A receiver that has not answered within
    /// `timeout_secs` has failed an attempt and gets the same message (same `webhook-id`) again.
    pub max_attempts: u32,
    /// Seconds one attempt may take, connecting included.
    pub timeout_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> WebhookConfig {
        WebhookConfig {
            secret: None,
            secrets: BTreeMap::new(),
            allow_private: false,
            allow_loopback: false,
            retry_window_secs: 3600,
            max_attempts: 10,
            timeout_secs: 10,
        }
    }
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Jobs run at once; by default four per core, at most 16. The tools' CPU budget already
    /// keeps the ffmpeg runs to one per core, so the extra jobs only fill the time a job spends
    /// outside ffmpeg (probing its uploads, storing results, writing its status) that would
    /// leave a core idle. The cap keeps the engine's instance pool (jobs × steps at once, each
    /// reserving its memories' address space) in bounds on machines with many cores.
    pub concurrency: usize,
    /// Deliveries of a job before it is set aside.
    pub max_receive_count: u32,
    /// Lease length, seconds (renewed while a job runs).
    pub lease_secs: u64,
    /// Queue visibility timeout, seconds (renewed while a job runs).
    pub visibility_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        WorkerConfig {
            concurrency: (4 * cores).min(16),
            max_receive_count: 5,
            lease_secs: 60,
            visibility_secs: 60,
        }
    }
}

impl WorkerConfig {
    /// The lease length.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(3))
    }
}

/// `[retention]`: how long an assembly may wait for its uploads, and how long the uploads of
/// assemblies that did not complete are kept. Completed assemblies keep their uploads and
/// results until their branch is cleaned up (on AWS, until the bucket's lifecycle rule).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Seconds an attempt may stay `ASSEMBLY_UPLOADING`; then it fails with `UPLOAD_EXPIRED`
    /// and its partial uploads are removed.
    pub upload_expiry_secs: u64,
    /// Seconds the uploads of a failed or canceled assembly are kept after it ended.
    pub failed_uploads_secs: u64,
    /// Seconds between two sweeps of a worker; 0 turns its sweeps off.
    pub sweep_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            upload_expiry_secs: 24 * 3600,
            failed_uploads_secs: 7 * 24 * 3600,
            sweep_interval_secs: 600,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Base URL clients reach the server at; defaults to `http://{listen}` in `transflow dev`.
    /// On AWS, where `transflow serve` answers it: set it (with `signing_key`) for the workers
    /// too, and result and upload URLs point at the server's `/r/…` route instead of S3.
    pub public_url: Option<String>,
    /// Key signing upload and file URLs; `transflow dev` generates one and keeps it in the
    /// data directory when absent. On AWS the same key goes to `serve` and the workers.
    pub signing_key: Option<String>,
    /// Seconds a client has to send a whole request head (and an idle keep-alive connection
    /// stays open); a slower one is disconnected.
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may send nothing before the request fails (408) and its
    /// connection is closed.
    pub body_idle_timeout_secs: u64,
}

impl ServerConfig {
    /// The signer of `/r/…` file URLs, when a signing key is set.
    pub fn file_tokens(&self) -> Option<PrefixSigner> {
        self.signing_key.as_deref().map(|key| PrefixSigner::new(key.as_bytes()))
    }

    /// Prefix-signed URLs through this server's `/r/` route, when both the public URL and the
    /// signing key are set.
    pub fn public_urls(&self) -> Option<PublicUrls> {
        Some(PublicUrls::new(self.public_url.as_deref()?, self.file_tokens()?))
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            signing_key: None,
            header_read_timeout_secs: 30,
            body_idle_timeout_secs: 60,
        }
    }
}

/// `[aws]`. Credentials never live here: the AWS SDK's own chain (environment, profile,
/// instance or function role) supplies them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Region of every resource.
    pub region: String,
    /// Endpoint override for every service (an emulator such as moto); path-style S3 URLs.
    pub endpoint_url: Option<String>,
    /// Bucket of uploads, outputs and oversized status records [default: `{project}-media`].
    pub bucket: Option<String>,
    /// Bucket of published templates [default: the media bucket].
    pub templates_bucket: Option<String>,
    /// DynamoDB status table [default: `{project}-assemblies`].
    pub table: Option<String>,
    /// SQS job queue; its dead-letter queue is `{queue}-dlq` [default: `{project}-jobs`].
    pub queue: Option<String>,
    /// The job queue's URL, when a worker should not look it up by name (`transflow worker
    /// --queue-url`).
    pub queue_url: Option<String>,
    /// Whether `transflow deploy` sets up the Lambda worker (role, image, function and the
    /// queue → function mapping). `false` leaves the queue to the long-running `transflow
    /// worker`: deploy then makes none of them and disables a mapping an earlier deploy made,
    /// which would otherwise take every upload event.
    pub lambda: bool,
    /// Lambda worker function [default: `{project}-worker`].
    pub function: Option<String>,
    /// Container image of the Lambda worker (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/…:TAG`).
    pub image_uri: Option<String>,
    /// Execution role of the function; `transflow deploy` creates `{project}-worker-role`
    /// when absent.
    pub role_arn: Option<String>,
    /// Function memory, MiB (CPU scales with it).
    pub memory_mb: i32,
    /// Function timeout, seconds (at most 900); the queue's visibility is 6 times this.
    pub timeout_secs: i32,
    /// Function `/tmp` size, MiB (inputs, workspaces, results and the compiled-template cache).
    pub ephemeral_storage_mb: i32,
    /// Messages per Lambda invocation.
    pub batch_size: i32,
    /// Days a status record lives before DynamoDB's TTL removes it.
    pub status_ttl_days: u64,
    /// Days before the bucket's lifecycle rule deletes objects under `uploads/`.
    pub uploads_expire_days: i32,
    /// Origins allowed to `PUT` to pre-signed URLs from a browser.
    pub cors_origins: Vec<String>,
    /// How long a worker trusts a template's current-version pointer before reading it again.
    pub template_pointer_ttl_ms: u64,
}

impl Default for AwsConfig {
    fn default() -> AwsConfig {
        AwsConfig {
            region: "us-east-1".into(),
            endpoint_url: None,
            bucket: None,
            templates_bucket: None,
            table: None,
            queue: None,
            queue_url: None,
            lambda: true,
            function: None,
            image_uri: None,
            role_arn: None,
            memory_mb: 3008,
            timeout_secs: 900,
            ephemeral_storage_mb: 10240,
            batch_size: 1,
            status_ttl_days: 30,
            uploads_expire_days: 7,
            cors_origins: vec!["*".into()],
            template_pointer_ttl_ms: 2000,
        }
    }
}

/// `[tools]`: where ffmpeg and ffprobe are and how they are confined.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    /// ffmpeg [default: found on `PATH`].
    pub ffmpeg: Option<PathBuf>,
    /// ffprobe [default: found on `PATH`].
    pub ffprobe: Option<PathBuf>,
    /// The exec helper every tool starts through [default: `transflow-confine` beside this
    /// program, else on `PATH`].
    pub confine: Option<PathBuf>,
    /// Stack bubblewrap under the helper where user namespaces exist.
    pub bubblewrap: bool,
    /// Layers that must be in force or the worker refuses to start, e.g. `"landlock+seccomp"`;
    /// `"none"` accepts whatever the kernel offers (with a warning when that is nothing).
    pub require: String,
    /// Largest single file a tool may write, bytes.
    pub max_file_bytes: u64,
    /// Additions to the ffmpeg argument allowlist (`[tools.policy]`): options, filters and their
    /// parameters, codec-dictionary keys, formats and codecs, each with a value type that can
    /// never be a file.
    pub policy: PolicyExtensions,
    /// ffmpeg runs this process lets run at once, shared by every step of every assembly
    /// [default: one per core].
    pub cpu_budget: Option<usize>,
}

impl Default for ToolsConfig {
    fn default() -> ToolsConfig {
        ToolsConfig {
            ffmpeg: None,
            ffprobe: None,
            confine: None,
            bubblewrap: true,
            require: "none".into(),
            max_file_bytes: ToolLimits::default().max_file_bytes,
            policy: PolicyExtensions::default(),
            cpu_budget: None,
        }
    }
}

impl ToolsConfig {
    /// The settings [`transflow_ffmpeg::MediaTools::detect`] takes.
    pub fn settings(&self) -> Result<ToolSettings, String> {
        let require = self.require.parse().map_err(|e| format!("`tools.require`: {e}"))?;
        Ok(ToolSettings {
            ffmpeg: self.ffmpeg.clone(),
            ffprobe: self.ffprobe.clone(),
            sandbox: SandboxSettings { confine: self.confine.clone(), bubblewrap: self.bubblewrap, require },
            limits: ToolLimits { max_file_bytes: self.max_file_bytes },
            policy: self.policy.clone(),
            cpu_budget: self.cpu_budget,
        })
    }
}

/// The AWS resource names of a project, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsNames {
    /// Uploads, outputs, spilled status records.
    pub bucket: String,
    /// Published templates.
    pub templates_bucket: String,
    /// Status table.
    pub table: String,
    /// Job queue.
    pub queue: String,
    /// Its dead-letter queue.
    pub dead_letter_queue: String,
    /// Lambda worker.
    pub function: String,
    /// ECR repository of the worker image.
    pub repository: String,
}

impl Config {
    /// Where the project keeps its data on AWS.
    pub fn aws_settings(&self) -> AwsSettings {
        let names = self.aws_names();
        AwsSettings {
            bucket: names.bucket,
            templates_bucket: names.templates_bucket,
            table: names.table,
            queue: names.queue,
            status_ttl: Duration::from_secs(self.aws.status_ttl_days * 24 * 3600),
            template_pointer_ttl: Duration::from_millis(self.aws.template_pointer_ttl_ms),
        }
    }

    /// Clients for `[aws]`'s region and endpoint.
    pub async fn aws_clients(&self) -> AwsClients {
        AwsClients::connect(&self.aws.region, self.aws.endpoint_url.as_deref()).await
    }

    /// The AWS resource names, from `[aws]` or derived from `project`.
    pub fn aws_names(&self) -> AwsNames {
        let project = &self.project;
        let bucket = self.aws.bucket.clone().unwrap_or_else(|| format!("{project}-media"));
        let queue = self.aws.queue.clone().unwrap_or_else(|| format!("{project}-jobs"));
        AwsNames {
            templates_bucket: self.aws.templates_bucket.clone().unwrap_or_else(|| bucket.clone()),
            bucket,
            table: self.aws.table.clone().unwrap_or_else(|| format!("{project}-assemblies")),
            dead_letter_queue: format!("{queue}-dlq"),
            queue,
            function: self.aws.function.clone().unwrap_or_else(|| format!("{project}-worker")),
            repository: format!("{project}-worker"),
        }
    }
}

/// A configuration problem, naming the key or file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file, or a value in it, is not valid.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or the environment variable.
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The sections whose keys environment variables may override.
const SECTIONS: [&str; 8] = ["auth", "limits", "webhook", "worker", "server", "aws", "tools", "retention"];

impl Config {
    /// Reads `path` if it exists (defaults otherwise), then applies `TRANSFLOW_*` variables
    /// from `env`.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let origin = path.display().to_string();
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Invalid {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let mut overridden = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("TRANSFLOW_") else { continue };
            let rest = rest.to_ascii_lowercase();
            let value = env_value(&value);
            match SECTIONS.iter().find_map(|s| rest.strip_prefix(&format!("{s}_")).map(|key| (*s, key))) {
                Some((section, key)) => {
                    let entry =
                        table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    let toml::Value::Table(section_table) = entry else {
                        return Err(ConfigError::Invalid {
                            origin,
                            message: format!("`{section}` must be a table"),
                        });
                    };
                    section_table.insert(key.to_owned(), value);
                }
                // Variables the CLI reads itself, and unrelated ones, are not config keys.
                None if ["project", "branch", "data_dir", "backend"].contains(&rest.as_str()) => {
                    table.insert(rest.clone(), value);
                }
                None => continue,
            }
            overridden.push(name);
        }
        let origin =
            if overridden.is_empty() { origin } else { format!("{origin} (with {})", overridden.join(", ")) };
        let config: Config = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid { origin: origin.clone(), message: e.to_string() }
        })?;
        config.check().map_err(|message| ConfigError::Invalid { origin, message })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        transflow_store::template::check_name("branch", &self.branch)?;
        transflow_store::template::check_name("project", &self.project)?;
        if !self.auth.disabled && self.auth.jwt_secret.as_deref().is_some_and(|s| s.len() < 16) {
            return Err("`auth.jwt_secret` must have at least 16 characters".into());
        }
        if self.worker.concurrency == 0 {
            return Err("`worker.concurrency` must be at least 1".into());
        }
        if self.tools.cpu_budget == Some(0) {
            return Err("`tools.cpu_budget` must be at least 1 (or absent for one per core)".into());
        }
        if self.worker.max_receive_count == 0 {
            return Err("`worker.max_receive_count` must be at least 1".into());
        }
        if !(1..=900).contains(&self.aws.timeout_secs) {
            return Err("`aws.timeout_secs` must be between 1 and 900 (Lambda's limit)".into());
        }
        if !(1..=10).contains(&self.aws.batch_size) {
            return Err("`aws.batch_size` must be between 1 and 10".into());
        }
        if self.server.signing_key.as_deref().is_some_and(|key| key.len() < 16) {
            return Err("`server.signing_key` must have at least 16 characters".into());
        }
        if let Some(public_url) = &self.server.public_url
            && !url::Url::parse(public_url).is_ok_and(|url| ["http", "https"].contains(&url.scheme()))
        {
            return Err(format!("`server.public_url` `{public_url}` must be an http or https URL"));
        }
        if self.webhook.timeout_secs == 0 || self.webhook.retry_window_secs == 0 {
            return Err("`webhook.timeout_secs` and `webhook.retry_window_secs` must be at least 1".into());
        }
        if self.server.header_read_timeout_secs == 0 || self.server.body_idle_timeout_secs == 0 {
            return Err(
                "`server.header_read_timeout_secs` and `server.body_idle_timeout_secs` must be at least 1"
                    .into(),
            );
        }
        if self.limits.max_files == 0 {
            return Err("`limits.max_files` must be at least 1".into());
        }
        self.tools.settings()?;
        Policy::new(&self.tools.policy).map_err(|e| format!("`tools.policy`: {e}"))?;
        Ok(())
    }
}

/// An environment value as TOML (numbers, booleans, arrays), or else as a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transflow.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_missing_file_means_defaults() {
        let config = Config::load(Path::new("/nonexistent/transflow.toml"), Vec::new()).unwrap();
        assert_eq!(config.branch, "main");
        assert_eq!(config.limits.max_files, 10);
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "branch = \"feature-x\"\n[worker]\nconcurrency = 4\n",
            &[
                ("TRANSFLOW_WORKER_CONCURRENCY", "8"),
                ("TRANSFLOW_AUTH_JWT_SECRET", "0123456789abcdef-secret"),
                ("PATH", "/bin"),
            ],
        )
        .unwrap();
        assert_eq!(config.branch, "feature-x");
        assert_eq!(config.worker.concurrency, 8);
        assert_eq!(config.auth.jwt_secret.as_deref(), Some("0123456789abcdef-secret"));
    }

    #[test]
    fn the_backend_is_local_unless_aws_is_chosen() {
        assert_eq!(load("", &[]).unwrap().backend, BackendKind::Local);
        assert_eq!(load("backend = \"aws\"\n", &[]).unwrap().backend, BackendKind::Aws);
        let from_env = load("backend = \"local\"\n", &[("TRANSFLOW_BACKEND", "aws")]).unwrap();
        assert_eq!(from_env.backend, BackendKind::Aws);
        let error = load("backend = \"gcs\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("gcs") && error.contains("backend"), "{error}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let error = load("[limits]\nmax_file_sise = 10\n", &[]).unwrap_err().to_string();
        assert!(error.contains("max_file_sise"), "{error}");
        let error = load("[worker]\nconcurrency = \"many\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("concurrency"), "{error}");
        let error = load("", &[("TRANSFLOW_WORKER_CONCURENCY", "3")]).unwrap_err().to_string();
        assert!(error.contains("concurency") && error.contains("TRANSFLOW_WORKER_CONCURENCY"), "{error}");
        let error = load("branch = \"Feature/X\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("branch"), "{error}");
        let error = load("[worker]\nconcurrency = 0\n", &[]).unwrap_err().to_string();
        assert!(error.contains("worker.concurrency"), "{error}");
        let error = load("[server]\nsigning_key = \"short\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("server.signing_key"), "{error}");
        let error = load("[server]\npublic_url = \"media.example.com\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("server.public_url"), "{error}");
        let error = load("[server]\nbody_idle_timeout_secs = 0\n", &[]).unwrap_err().to_string();
        assert!(error.contains("server.body_idle_timeout_secs"), "{error}");
    }

    #[test]
    fn tools_settings_are_checked_at_load() {
        let config = load(
            "[tools]\nrequire = \"landlock+seccomp\"\nbubblewrap = false\n[tools.policy.options]\nlocal-tuning = \"integer\"\n",
            &[],
        )
        .unwrap();
        let settings = config.tools.settings().unwrap();
        assert_eq!(settings.sandbox.require.to_string(), "landlock+seccomp");
        assert!(!settings.sandbox.bubblewrap);
        let error = load("[tools]\nrequire = \"landlock+apparmor\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("tools.require") && error.contains("apparmor"), "{error}");
        let error = load("[tools.policy.filters.sendcmd]\nc = \"text\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("tools.policy") && error.contains("sendcmd"), "{error}");
        let error = load("[tools.policy.options]\nx = \"file\"\n", &[]).unwrap_err().to_string();
        assert!(error.contains("file"), "{error}");
        assert_eq!(config.tools.settings().unwrap().cpu_budget, None, "one per core unless set");
        let budgeted = load("", &[("TRANSFLOW_TOOLS_CPU_BUDGET", "3")]).unwrap();
        assert_eq!(budgeted.tools.settings().unwrap().cpu_budget, Some(3));
        let error = load("[tools]\ncpu_budget = 0\n", &[]).unwrap_err().to_string();
        assert!(error.contains("tools.cpu_budget"), "{error}");
    }

    #[test]
    fn content_types_match_with_wildcards() {
        let limits = LimitsConfig {
            allowed_types: vec!["video/*".into(), "image/png".into()],
            ..LimitsConfig::default()
        };
        assert!(limits.allows_type("video/mp4"));
        assert!(limits.allows_type("Video/QuickTime; codecs=x"));
        assert!(limits.allows_type("image/png"));
        assert!(!limits.allows_type("image/jpeg"));
        assert!(!limits.allows_type("video"));
        assert!(!limits.allows_type("application/x-video/mp4"));
    }
}
