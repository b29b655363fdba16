//! What runs the jobs: the worker's role, its function and the queue → function mapping.

use super::desired::{self, FunctionSpec, Image, WorkerResources};
use super::{Action, Deployer, SdkResultExt, is_pending, pending};
use anyhow::{Result, anyhow, bail};
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{Environment, EphemeralStorage, FunctionCode, FunctionResponseType, PackageType};
use aws_sdk_s3::error::DisplayErrorContext;
use std::fmt;
use std::time::Duration;

/// How long a function may take to become active or finish an update (image functions are
/// optimised on creation, which takes minutes for large images).
const FUNCTION_WAIT: Duration = Duration::from_secs(600);
/// Attempts, and the pause between them, while IAM propagates a new role to Lambda.
const ROLE_ATTEMPTS: u32 = 10;
const ROLE_RETRY_DELAY: Duration = Duration::from_secs(3);

impl Deployer<'_> {
    /// The function's execution role: `aws.role_arn` as given, or `{project}-worker-role` with
    /// the worker's inline policy, created or corrected. Returns its ARN.
    pub(super) async fn role(&mut self, resources: &WorkerResources) -> Result<String> {
        if let Some(arn) = &self.config.aws.role_arn {
            self.record(Action::Unchanged, "role", arn, "set by aws.role_arn");
            return Ok(arn.clone());
        }
        let name = format!("{}-worker-role", self.config.project);
        let current = self
            .iam
            .get_role()
            .role_name(&name)
            .send()
            .await
            .or_absent(format_args!("role {name}"), |e| e.is_no_such_entity_exception())?
            .and_then(|output| output.role);
        let trust = desired::trust_policy().to_string();
        let trusted = current.as_ref().and_then(|role| role.assume_role_policy_document.as_deref());
        let action = Action::of(
            current.is_some(),
            trusted.is_some_and(|document| {
                desired::same_json(&desired::decode_policy_document(document), &trust)
            }),
        );
        let mut arn = current.map(|role| role.arn);
        if self.writes(action) {
            if arn.is_some() {
                let update = self.iam.update_assume_role_policy().role_name(&name).policy_document(&trust);
                update.send().await.or_fail(format_args!("role {name}: setting its trust policy"))?;
            } else {
                let created = self
                    .iam
                    .create_role()
                    .role_name(&name)
                    .assume_role_policy_document(&trust)
                    .description("Transflow worker (Lambda)")
                    .send()
                    .await
                    .or_fail(format_args!("role {name}: creating"))?;
                arn = created.role.map(|role| role.arn);
            }
        }
        self.record(action, "role", &name, "assumed by lambda.amazonaws.com");
        self.role_policy(&name, resources).await?;
        Ok(arn.unwrap_or_else(|| pending("role", &name)))
    }

    /// The worker role's inline policy `{project}-worker`.
    async fn role_policy(&mut self, role: &str, resources: &WorkerResources) -> Result<()> {
        let name = format!("{}-worker", self.config.project);
        let wanted = desired::worker_policy(resources).to_string();
        let current = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&name)
            .send()
            .await
            .or_absent(format_args!("role {role}: reading policy {name}"), |e| {
                e.is_no_such_entity_exception()
            })?;
        let action = Action::of(
            current.is_some(),
            current.is_some_and(|c| {
                desired::same_json(&desired::decode_policy_document(&c.policy_document), &wanted)
            }),
        );
        if self.writes(action) {
            let put = self.iam.put_role_policy().role_name(role).policy_name(&name).policy_document(wanted);
            put.send().await.or_fail(format_args!("role {role}: setting policy {name}"))?;
        }
        self.record(action, "role-policy", &name, "buckets, table, queues, logs");
        Ok(())
    }

    /// Creates the function or updates the settings and image that differ, waiting after each
    /// write until Lambda accepts the next. Returns its ARN.
    pub(super) async fn function(&mut self, spec: &FunctionSpec, image: &Image) -> Result<String> {
        let name = self.names.function.clone();
        let current = self
            .lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .or_absent(format_args!("function {name}"), |e| e.is_resource_not_found_exception())?;
        let Some(current) = current else {
            let mut arn = pending("function", &name);
            if !self.dry_run {
                arn = self.create_function(&name, spec, image).await?;
            }
            self.record(Action::Create, "function", &name, image.uri.as_str());
            return Ok(arn);
        };
        let Some(configuration) = current.configuration() else {
            bail!("function {name}: Lambda returned no configuration");
        };
        if configuration.package_type() != Some(&PackageType::Image) {
            bail!("function {name}: it is not a container-image function; delete it or set `aws.function`");
        }
        let mut differences = desired::configuration_differences(configuration, spec);
        let code_differs = desired::code_differs(current.code(), image);
        if !self.dry_run && !differences.is_empty() {
            let update = self
                .lambda
                .update_function_configuration()
                .function_name(&name)
                .role(&spec.role)
                .memory_size(spec.memory_mb)
                .timeout(spec.timeout_secs)
                .ephemeral_storage(EphemeralStorage::builder().size(spec.ephemeral_storage_mb).build()?)
                .environment(environment(spec));
            let what = format!("function {name}: updating its configuration");
            retry_while_role_propagates(&what, || update.clone().send()).await?;
            self.wait_for_update(&name).await?;
        }
        if code_differs {
            if !self.dry_run {
                let update = self.lambda.update_function_code().function_name(&name).image_uri(&image.uri);
                update.send().await.or_fail(format_args!("function {name}: updating its image"))?;
                self.wait_for_update(&name).await?;
            }
            differences.push("image");
        }
        let action = Action::of(true, differences.is_empty());
        self.record(action, "function", &name, differences.join(", "));
        Ok(configuration.function_arn().unwrap_or_default().to_owned())
    }

    async fn create_function(&self, name: &str, spec: &FunctionSpec, image: &Image) -> Result<String> {
        let create = self
            .lambda
            .create_function()
            .function_name(name)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(&image.uri).build())
            .role(&spec.role)
            .memory_size(spec.memory_mb)
            .timeout(spec.timeout_secs)
            .ephemeral_storage(EphemeralStorage::builder().size(spec.ephemeral_storage_mb).build()?)
            .environment(environment(spec));
        let what = format!("function {name}: creating");
        let created = retry_while_role_propagates(&what, || create.clone().send()).await?;
        let waiter = self.lambda.wait_until_function_active_v2().function_name(name);
        waiter
            .wait(FUNCTION_WAIT)
            .await
            .map_err(|e| anyhow!("function {name}: waiting until active: {}", DisplayErrorContext(e)))?;
        Ok(created.function_arn.unwrap_or_default())
    }

    async fn wait_for_update(&self, name: &str) -> Result<()> {
        let waiter = self.lambda.wait_until_function_updated_v2().function_name(name);
        waiter
            .wait(FUNCTION_WAIT)
            .await
            .map_err(|e| anyhow!("function {name}: waiting for the update: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Lambda polls the queue for the function, reporting failed messages one by one so the
    /// rest of a batch is not retried with them. A disabled mapping (by hand, or by a deploy
    /// with `aws.lambda = false`) is enabled again.
    pub(super) async fn mapping(&mut self, queue_arn: &str, function_arn: &str) -> Result<()> {
        let name = format!("{}->{}", self.names.queue, self.names.function);
        let batch_size = self.config.aws.batch_size;
        let current = if is_pending(queue_arn) || is_pending(function_arn) {
            None
        } else {
            // Listed by queue and matched here: moto ignores a function ARN as a filter.
            self.lambda
                .list_event_source_mappings()
                .event_source_arn(queue_arn)
                .send()
                .await
                .or_fail(format_args!("mapping {name}: listing"))?
                .event_source_mappings
                .unwrap_or_default()
                .into_iter()
                .find(|mapping| mapping.function_arn() == Some(function_arn))
        };
        let action = Action::of(
            current.is_some(),
            current.as_ref().is_some_and(|mapping| desired::mapping_matches(mapping, batch_size)),
        );
        let was_disabled = current.as_ref().is_some_and(|mapping| !desired::mapping_enabled(mapping));
        if self.writes(action) {
            let partial_failures = FunctionResponseType::ReportBatchItemFailures;
            match current.as_ref().and_then(|mapping| mapping.uuid()) {
                Some(uuid) => {
                    let update = self.lambda.update_event_source_mapping().uuid(uuid).enabled(true);
                    let update = update.batch_size(batch_size).function_response_types(partial_failures);
                    update.send().await.or_fail(format_args!("mapping {name}: updating"))?;
                }
                None => {
                    let create = self
                        .lambda
                        .create_event_source_mapping()
                        .event_source_arn(queue_arn)
                        .function_name(function_arn)
                        .batch_size(batch_size)
                        .function_response_types(partial_failures);
                    let what = format!("mapping {name}: creating");
                    retry_while_role_propagates(&what, || create.clone().send()).await?;
                }
            }
        }
        let enabling = if was_disabled { ", enabled (it was disabled)" } else { "" };
        self.record(
            action,
            "event-source-mapping",
            &name,
            format!("batch {batch_size}, ReportBatchItemFailures{enabling}"),
        );
        Ok(())
    }

    /// With `aws.lambda = false` the long-running worker reads the queue, and a mapping would
    /// hand it every message first: each mapping on the queue is disabled (not deleted, so a
    /// later Lambda deploy finds it as it was).
    pub(super) async fn disable_mappings(&mut self, queue_arn: &str) -> Result<()> {
        if is_pending(queue_arn) {
            return Ok(());
        }
        let mappings = self
            .lambda
            .list_event_source_mappings()
            .event_source_arn(queue_arn)
            .send()
            .await
            .or_fail(format_args!("queue {}: listing its event source mappings", self.names.queue))?
            .event_source_mappings
            .unwrap_or_default();
        for mapping in mappings {
            let function = mapping.function_arn().and_then(|arn| arn.rsplit(':').next()).unwrap_or("?");
            let name = format!("{}->{function}", self.names.queue);
            let action = if desired::mapping_enabled(&mapping) { Action::Update } else { Action::Unchanged };
            if self.writes(action) {
                let update =
                    self.lambda.update_event_source_mapping().uuid(mapping.uuid().unwrap_or_default());
                update.enabled(false).send().await.or_fail(format_args!("mapping {name}: disabling"))?;
            }
            self.record(action, "event-source-mapping", &name, "disabled: aws.lambda = false");
        }
        Ok(())
    }
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder().set_variables(Some(spec.environment.clone().into_iter().collect())).build()
}

/// Calls `call` again while Lambda reports the role not ready, for a bounded time. IAM is
/// eventually consistent: for some seconds a new role "cannot be assumed by Lambda", and its new
/// policy does not yet let Lambda read the queue; both are `InvalidParameterValueException`s
/// naming the role.
async fn retry_while_role_propagates<T, E, R, F>(what: &str, call: impl Fn() -> F) -> Result<T>
where
    F: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < ROLE_ATTEMPTS && role_not_ready(&error) => {
                tokio::time::sleep(ROLE_RETRY_DELAY).await;
                attempt += 1;
            }
            result => return result.or_fail(what),
        }
    }
}

fn role_not_ready(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some("InvalidParameterValueException")
        && error.message().is_some_and(|message| message.to_ascii_lowercase().contains("role"))
}
