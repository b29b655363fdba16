//! `transflow deploy`: the project's AWS resources, brought to what the configuration says.
//!
//! Every step reads the live resource, compares it with the desired state ([`desired`]) and
//! writes only what differs, so a second deploy changes nothing and a dry run is the same walk
//! without the writes. Nothing is ever deleted: buckets, queues and tables hold data. The plan
//! is printed even when a step fails, so it shows what was done before the failure.

mod desired;
mod image;
mod storage;
mod worker;

use crate::cli::DeployArgs;
use crate::progress::{Count, Progress};
use anyhow::{Result, anyhow};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use std::fmt;
use std::process::ExitCode;
use transflow_aws::AwsClients;
use transflow_service::config::{AwsNames, Config};

/// What `transflow deploy` is asked to do.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Read the current state and report what would change, writing nothing.
    pub dry_run: bool,
    /// Build and push the worker image with docker (when its daemon answers).
    pub build: bool,
    /// Tag of the worker image in the project's ECR repository.
    pub image_tag: String,
}

/// What deploy did, or on a dry run would do, to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Create,
    /// It existed with other settings.
    Update,
    /// It already matched.
    Unchanged,
}

impl Action {
    /// `Create` when absent, `Update` when present but different.
    fn of(exists: bool, matches: bool) -> Action {
        match (exists, matches) {
            (false, _) => Action::Create,
            (true, false) => Action::Update,
            (true, true) => Action::Unchanged,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padded here: `{:<9}` on the caller's side would be ignored by `write_str`.
        f.pad(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One resource's line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub action: Action,
    /// `bucket`, `queue`, `function`, …
    pub kind: &'static str,
    /// The resource's name or ARN.
    pub name: String,
    /// What differed, or what to do by hand.
    pub detail: String,
}

/// Every resource deploy looked at, in the order it did.
#[derive(Debug, Clone, Default)]
pub struct DeployPlan {
    /// One per resource.
    pub changes: Vec<Change>,
}

impl fmt::Display for DeployPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for Change { action, kind, name, detail } in &self.changes {
            let line = format!("{action:<9}  {kind:<20}  {name}  {detail}");
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `transflow deploy`: connects with the SDK's credential chain and prints the plan.
pub async fn run(config: &Config, args: DeployArgs) -> Result<ExitCode> {
    let options = DeployOptions {
        dry_run: args.dry_run,
        build: args.build,
        image_tag: args.tag.unwrap_or_else(|| default_image_tag(&config.branch)),
    };
    let clients = config.aws_clients().await;
    let (plan, outcome) = deploy(config, &clients, &options).await;
    print!("{plan}");
    outcome?;
    if options.dry_run {
        eprintln!("dry run: nothing was changed");
    }
    Ok(ExitCode::SUCCESS)
}

/// `{branch}-{short commit}` inside a git checkout, `{branch}-local` outside one.
fn default_image_tag(branch: &str) -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty());
    format!("{branch}-{}", commit.as_deref().unwrap_or("local"))
}

/// Brings every resource of the project to its desired state (or, with `dry_run`, only
/// compares), in dependency order: buckets, queues, notification, table, then, unless
/// `aws.lambda` is off, role, image, function and mapping. Returns what it did up to the end or
/// to the step that failed, and how it ended.
pub async fn deploy(
    config: &Config,
    clients: &AwsClients,
    options: &DeployOptions,
) -> (DeployPlan, Result<()>) {
    if config.aws.uploads_expire_days < 1 {
        let error =
            anyhow!("`aws.uploads_expire_days` must be at least 1 (S3 lifecycle rules count whole days)");
        return (DeployPlan::default(), Err(error));
    }
    let mut deployer = Deployer {
        config,
        names: config.aws_names(),
        clients,
        lambda: aws_sdk_lambda::Client::new(&clients.sdk),
        iam: aws_sdk_iam::Client::new(&clients.sdk),
        ecr: aws_sdk_ecr::Client::new(&clients.sdk),
        dry_run: options.dry_run,
        plan: DeployPlan::default(),
        progress: Progress::new("deploy", Count::Unknown),
    };
    let outcome = deployer.run(options).await;
    deployer.progress.finish();
    (deployer.plan, outcome)
}

/// The clients, the names and the plan so far; each step is a method in a submodule.
struct Deployer<'a> {
    config: &'a Config,
    names: AwsNames,
    clients: &'a AwsClients,
    lambda: aws_sdk_lambda::Client,
    iam: aws_sdk_iam::Client,
    ecr: aws_sdk_ecr::Client,
    dry_run: bool,
    plan: DeployPlan,
    /// Names the resource being looked at while the calls for it are in flight.
    progress: Progress,
}

impl Deployer<'_> {
    async fn run(&mut self, options: &DeployOptions) -> Result<()> {
        let (config, names) = (self.config, self.names.clone());
        let buckets = desired::buckets(&names);
        for bucket in &buckets {
            self.doing("bucket", bucket);
            self.bucket(bucket).await?;
        }
        self.doing("bucket CORS and lifecycle", &names.bucket);
        self.cors(&names.bucket).await?;
        self.lifecycle(&names.bucket).await?;
        self.doing("queue", &names.dead_letter_queue);
        let dead_letter_arn =
            self.queue(&names.dead_letter_queue, |_| desired::dead_letter_attributes()).await?;
        self.doing("queue", &names.queue);
        let queue_arn = self
            .queue(&names.queue, |queue_arn| {
                desired::queue_attributes(config, &names.bucket, &dead_letter_arn, queue_arn)
            })
            .await?;
        self.doing("notification", &names.bucket);
        self.notification(&names.bucket, &queue_arn).await?;
        self.doing("table", &names.table);
        let table_arn = self.table(&names.table).await?;
        self.time_to_live(&names.table).await?;
        if !config.aws.lambda {
            self.doing("mappings", &names.function);
            return self.disable_mappings(&queue_arn).await;
        }
        self.doing("worker role for", &names.function);
        let role_arn = self
            .role(&desired::WorkerResources {
                region: config.aws.region.clone(),
                buckets,
                table_arn,
                queue_arns: [queue_arn.clone(), dead_letter_arn],
                function: names.function.clone(),
            })
            .await?;
        self.doing("image", &names.repository);
        let image = self.image(options).await?;
        let spec = desired::FunctionSpec {
            role: role_arn,
            memory_mb: config.aws.memory_mb,
            timeout_secs: config.aws.timeout_secs,
            ephemeral_storage_mb: config.aws.ephemeral_storage_mb,
            environment: desired::worker_environment(config, &names),
        };
        self.doing("function", &names.function);
        let function_arn = self.function(&spec, &image).await?;
        self.doing("mapping", &names.function);
        self.mapping(&queue_arn, &function_arn).await
    }

    /// Whether to write: something differs and this is not a dry run.
    fn writes(&self, action: Action) -> bool {
        action != Action::Unchanged && !self.dry_run
    }

    /// Shows which resource the next calls are about; the plan says what came of it.
    fn doing(&mut self, kind: &str, name: &str) {
        let checking = if self.dry_run { "comparing" } else { "bringing up to date" };
        self.progress.update(0, &format!("{checking} {kind} {name}"));
    }

    fn record(&mut self, action: Action, kind: &'static str, name: &str, detail: impl Into<String>) {
        self.plan.changes.push(Change { action, kind, name: name.to_owned(), detail: detail.into() });
    }
}

/// Stands in, on a dry run, for the ARN or URI of a resource that would be created; it matches
/// nothing, so whatever refers to it shows as a change.
fn pending(kind: &str, name: &str) -> String {
    format!("<new {kind} {name}>")
}

/// Whether `id` is a [`pending`] stand-in rather than something the service can look up.
fn is_pending(id: &str) -> bool {
    id.starts_with("<new ")
}

/// SDK results as `anyhow` errors naming the resource, with the service's own message (the
/// SDK's `Display` alone says only "service error").
trait SdkResultExt<T, E> {
    /// The output, or an error naming `what`.
    fn or_fail(self, what: impl fmt::Display) -> Result<T>;
    /// `None` when the service reports the resource `absent`.
    fn or_absent(self, what: impl fmt::Display, absent: impl FnOnce(&E) -> bool) -> Result<Option<T>>;
}

impl<T, E, R> SdkResultExt<T, E> for Result<T, SdkError<E, R>>
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn or_fail(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|error| anyhow!("{what}: {}", DisplayErrorContext(error)))
    }

    fn or_absent(self, what: impl fmt::Display, absent: impl FnOnce(&E) -> bool) -> Result<Option<T>> {
        match self {
            Ok(output) => Ok(Some(output)),
            Err(error) if error.as_service_error().is_some_and(absent) => Ok(None),
            Err(error) => Err(anyhow!("{what}: {}", DisplayErrorContext(error))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_prints_one_aligned_line_per_resource() {
        let plan = DeployPlan {
            changes: vec![
                Change { action: Action::Create, kind: "bucket", name: "m".into(), detail: String::new() },
                Change {
                    action: Action::Unchanged,
                    kind: "queue",
                    name: "q".into(),
                    detail: "VisibilityTimeout=720".into(),
                },
            ],
        };
        assert_eq!(
            plan.to_string(),
            "create     bucket                m\nunchanged  queue                 q  VisibilityTimeout=720\n"
        );
    }

    #[test]
    fn actions_follow_existence_then_equality() {
        assert_eq!(Action::of(false, true), Action::Create);
        assert_eq!(Action::of(true, false), Action::Update);
        assert_eq!(Action::of(true, true), Action::Unchanged);
        assert!(is_pending(&pending("queue", "q")));
        assert!(!is_pending("arn:aws:sqs:us-east-1:1:q"));
    }

    #[test]
    fn the_default_tag_names_the_branch() {
        assert!(default_image_tag("main").starts_with("main-"));
    }
}
