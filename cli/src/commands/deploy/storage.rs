//! Where data lives: buckets (with CORS, upload expiry and the upload notification), the job
//! queues and the status table.
//!
//! Reads of a bucket's or table's settings treat a missing bucket or table as having none:
//! that only happens on a dry run, where the bucket or table is about to be created.

use super::desired::{self, Attributes};
use super::{Action, Deployer, SdkResultExt, pending};
use anyhow::{Result, anyhow, bail};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CorsConfiguration, CreateBucketConfiguration,
    NotificationConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;
use transflow_aws::schema::{self, BRANCH_INDEX, TTL_ATTRIBUTE};

/// How long a new or updated table may take to become `ACTIVE`.
const TABLE_WAIT: Duration = Duration::from_secs(600);

/// Error codes of a bucket without the setting asked for, or without the bucket.
fn no_bucket_setting(error: &impl ProvideErrorMetadata, setting: &str) -> bool {
    error.code().is_some_and(|code| code == setting || code == "NoSuchBucket")
}

impl Deployer<'_> {
    /// Creates the bucket if it is missing. An existing bucket is never emptied or replaced.
    pub(super) async fn bucket(&mut self, name: &str) -> Result<()> {
        let s3 = &self.clients.s3;
        let exists = s3
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .or_absent(format_args!("bucket {name}"), |e| e.is_not_found())?
            .is_some();
        let action = Action::of(exists, true);
        if self.writes(action) {
            let region = &self.config.aws.region;
            // us-east-1 is the default location and the one S3 refuses to be told explicitly.
            let location = (region != "us-east-1").then(|| {
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build()
            });
            s3.create_bucket()
                .bucket(name)
                .set_create_bucket_configuration(location)
                .send()
                .await
                .or_fail(format_args!("bucket {name}: creating"))?;
        }
        self.record(action, "bucket", name, "");
        Ok(())
    }

    /// Browser uploads to pre-signed URLs need CORS on the media bucket.
    pub(super) async fn cors(&mut self, bucket: &str) -> Result<()> {
        let s3 = &self.clients.s3;
        let wanted = desired::cors_rules(&self.config.aws.cors_origins)?;
        let current = s3
            .get_bucket_cors()
            .bucket(bucket)
            .send()
            .await
            .or_absent(format_args!("bucket {bucket}: reading CORS"), |e| {
                no_bucket_setting(e, "NoSuchCORSConfiguration")
            })?;
        let current = current.as_ref().map(|output| output.cors_rules()).unwrap_or_default();
        // No origins configured wants no rules, which a bucket without CORS already has.
        let action = if current == wanted.as_slice() {
            Action::Unchanged
        } else {
            Action::of(!current.is_empty(), false)
        };
        if self.writes(action) {
            let what = format_args!("bucket {bucket}: setting CORS");
            if wanted.is_empty() {
                s3.delete_bucket_cors().bucket(bucket).send().await.or_fail(what)?;
            } else {
                let cors = CorsConfiguration::builder().set_cors_rules(Some(wanted)).build()?;
                s3.put_bucket_cors().bucket(bucket).cors_configuration(cors).send().await.or_fail(what)?;
            }
        }
        let origins = &self.config.aws.cors_origins;
        let detail = if origins.is_empty() {
            "no origins".into()
        } else {
            format!("PUT GET HEAD from {}", origins.join(" "))
        };
        self.record(action, "cors", bucket, detail);
        Ok(())
    }

    /// Expires uploads (and abandoned multipart uploads); the bucket's other rules are kept.
    pub(super) async fn lifecycle(&mut self, bucket: &str) -> Result<()> {
        let s3 = &self.clients.s3;
        let days = self.config.aws.uploads_expire_days;
        let wanted = desired::uploads_expiry_rule(days)?;
        let rules = s3
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .or_absent(format_args!("bucket {bucket}: reading lifecycle rules"), |e| {
                no_bucket_setting(e, "NoSuchLifecycleConfiguration")
            })?
            .map(|output| output.rules().to_vec())
            .unwrap_or_default();
        let ours = rules.iter().find(|rule| rule.id() == Some(desired::UPLOADS_RULE_ID));
        let action =
            Action::of(ours.is_some(), ours.is_some_and(|rule| desired::same_lifecycle_rule(rule, &wanted)));
        if self.writes(action) {
            let rules = rules.iter().filter(|rule| rule.id() != Some(desired::UPLOADS_RULE_ID)).cloned();
            let configuration = BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules.chain([wanted]).collect()))
                .build()?;
            s3.put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(configuration)
                .send()
                .await
                .or_fail(format_args!("bucket {bucket}: setting lifecycle rules"))?;
        }
        self.record(action, "lifecycle", bucket, format!("uploads/ expire after {days} days"));
        Ok(())
    }

    /// Creates the queue if missing and sets the attributes that differ; returns its ARN.
    /// `wanted` gets the queue's own ARN, which its policy names.
    pub(super) async fn queue(
        &mut self,
        name: &str,
        wanted: impl FnOnce(&str) -> Attributes,
    ) -> Result<String> {
        let sqs = &self.clients.sqs;
        let url = sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .or_absent(format_args!("queue {name}"), |e| e.is_queue_does_not_exist())?
            .and_then(|output| output.queue_url);
        let exists = url.is_some();
        let url = match url {
            Some(url) => url,
            None if self.dry_run => {
                let arn = pending("queue", name);
                let detail = describe(&wanted(&arn).iter().collect::<Vec<_>>());
                self.record(Action::Create, "queue", name, detail);
                return Ok(arn);
            }
            // Created bare, then given its attributes below like an existing queue: the policy
            // names the queue's ARN, which only exists from now on.
            None => sqs
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .or_fail(format_args!("queue {name}: creating"))?
                .queue_url
                .unwrap_or_default(),
        };
        let current = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .or_fail(format_args!("queue {name}: reading attributes"))?
            .attributes
            .unwrap_or_default();
        let arn = current.get(&QueueAttributeName::QueueArn).cloned().unwrap_or_default();
        let wanted = wanted(&arn);
        let differences = desired::attribute_differences(&current, &wanted);
        let (changed, detail) = (!differences.is_empty(), describe(&differences));
        if changed && !self.dry_run {
            // All of them, not only those that differ: moto drops a policy left out of the call.
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(wanted.into_iter().collect()))
                .send()
                .await
                .or_fail(format_args!("queue {name}: setting attributes"))?;
        }
        let action = Action::of(exists, !changed);
        self.record(action, "queue", name, detail);
        Ok(arn)
    }

    /// New uploads are announced on the job queue; the bucket's other notifications are kept.
    /// S3 checks that it may send to the queue, hence after the queue's policy.
    pub(super) async fn notification(&mut self, bucket: &str, queue_arn: &str) -> Result<()> {
        let s3 = &self.clients.s3;
        let wanted = desired::upload_notification(queue_arn)?;
        let current = match s3.get_bucket_notification_configuration().bucket(bucket).send().await {
            Err(error) if empty_notifications_from_moto(&error) => None,
            result => result.or_absent(format_args!("bucket {bucket}: reading notifications"), |e| {
                no_bucket_setting(e, "NoSuchBucket")
            })?,
        };
        let queues = current.as_ref().map(|c| c.queue_configurations()).unwrap_or_default();
        let ours = queues.iter().find(|c| c.id() == Some(desired::NOTIFICATION_ID));
        let action = Action::of(
            ours.is_some(),
            ours.is_some_and(|config| desired::same_notification(config, &wanted)),
        );
        if self.writes(action) {
            let others = queues.iter().filter(|c| c.id() != Some(desired::NOTIFICATION_ID)).cloned();
            let configuration = NotificationConfiguration::builder()
                .set_queue_configurations(Some(others.chain([wanted]).collect()))
                .set_topic_configurations(current.as_ref().map(|c| c.topic_configurations().to_vec()))
                .set_lambda_function_configurations(
                    current.as_ref().map(|c| c.lambda_function_configurations().to_vec()),
                )
                .set_event_bridge_configuration(
                    current.as_ref().and_then(|c| c.event_bridge_configuration().cloned()),
                )
                .build();
            s3.put_bucket_notification_configuration()
                .bucket(bucket)
                .notification_configuration(configuration)
                .send()
                .await
                .or_fail(format_args!("bucket {bucket}: setting notifications"))?;
        }
        self.record(action, "notification", bucket, format!("s3:ObjectCreated:* uploads/ -> {queue_arn}"));
        Ok(())
    }

    /// Creates the status table, or brings an existing one to on-demand billing with the branch
    /// index; waits until it is `ACTIVE`. Returns its ARN. A different key cannot be changed in
    /// place, so it is an error rather than a replacement.
    pub(super) async fn table(&mut self, name: &str) -> Result<String> {
        let dynamodb = &self.clients.dynamodb;
        let current = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .or_absent(format_args!("table {name}"), |e| e.is_resource_not_found_exception())?
            .and_then(|output| output.table);
        let key = schema::table_key()?;
        let index = schema::branch_index()?;
        let (mut provisioned, mut index_missing) = (false, false);
        if let Some(table) = &current {
            if table.key_schema() != key.as_slice() {
                bail!("table {name}: its key is not `assembly_id`; deploy cannot change a table's key");
            }
            // Tables that were never on demand have no billing summary at all.
            provisioned = table.billing_mode_summary().and_then(|s| s.billing_mode())
                != Some(&BillingMode::PayPerRequest);
            match table.global_secondary_indexes().iter().find(|i| i.index_name() == Some(BRANCH_INDEX)) {
                Some(existing) if !desired::index_matches(existing, &index) => {
                    bail!("table {name}: index {} has another key or projection", BRANCH_INDEX)
                }
                existing => index_missing = existing.is_none(),
            }
        }
        let action = Action::of(current.is_some(), !provisioned && !index_missing);
        let mut arn = current.and_then(|table| table.table_arn);
        if self.writes(action) {
            let what = format!("table {name}: updating");
            if arn.is_none() {
                let created = dynamodb
                    .create_table()
                    .table_name(name)
                    .billing_mode(BillingMode::PayPerRequest)
                    .set_attribute_definitions(Some(schema::table_attributes()?))
                    .set_key_schema(Some(key))
                    .global_secondary_indexes(index.clone())
                    .send()
                    .await
                    .or_fail(format_args!("table {name}: creating"))?;
                arn = created.table_description.and_then(|table| table.table_arn);
            }
            // DynamoDB takes one kind of change per update, each once the last is done.
            if provisioned {
                let update =
                    dynamodb.update_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
                update.send().await.or_fail(&what)?;
                self.wait_for_table(name).await?;
            }
            if index_missing {
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(BRANCH_INDEX)
                    .set_key_schema(Some(index.key_schema().to_vec()))
                    .set_projection(index.projection().cloned())
                    .build()?;
                dynamodb
                    .update_table()
                    .table_name(name)
                    .set_attribute_definitions(Some(schema::table_attributes()?))
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().create(create).build(),
                    )
                    .send()
                    .await
                    .or_fail(&what)?;
            }
        }
        if !self.dry_run {
            // A table still `CREATING` or `UPDATING` (this run, or an interrupted one) refuses TTL.
            self.wait_for_table(name).await?;
        }
        let detail = match action {
            Action::Create => vec!["PAY_PER_REQUEST", "index branch-created"],
            _ => [(provisioned, "billing PAY_PER_REQUEST"), (index_missing, "add index branch-created")]
                .into_iter()
                .filter_map(|(differs, change)| differs.then_some(change))
                .collect(),
        };
        self.record(action, "table", name, detail.join(", "));
        Ok(arn.unwrap_or_else(|| pending("table", name)))
    }

    async fn wait_for_table(&self, name: &str) -> Result<()> {
        let waiter = self.clients.dynamodb.wait_until_table_exists().table_name(name);
        waiter
            .wait(TABLE_WAIT)
            .await
            .map_err(|e| anyhow!("table {name}: waiting until ACTIVE: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// Status records carry their expiry; DynamoDB's TTL deletes them after it.
    pub(super) async fn time_to_live(&mut self, table: &str) -> Result<()> {
        let dynamodb = &self.clients.dynamodb;
        let current = dynamodb
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            // moto says `ResourceNotFound` where DynamoDB says `ResourceNotFoundException`.
            .or_absent(format_args!("table {table}: reading TTL"), |e| {
                e.is_resource_not_found_exception() || e.code() == Some("ResourceNotFound")
            })?
            .and_then(|output| output.time_to_live_description);
        let status = current.as_ref().and_then(|d| d.time_to_live_status());
        let attribute = current.as_ref().and_then(|d| d.attribute_name());
        let enabled = matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
        if enabled && attribute != Some(TTL_ATTRIBUTE) {
            bail!(
                "table {table}: TTL is on `{}`; disable it first (DynamoDB cannot move it to `{}` directly)",
                attribute.unwrap_or_default(),
                TTL_ATTRIBUTE
            );
        }
        let action = Action::of(enabled, true);
        if self.writes(action) {
            let specification =
                TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL_ATTRIBUTE).build()?;
            dynamodb
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(specification)
                .send()
                .await
                .or_fail(format_args!("table {table}: enabling TTL"))?;
        }
        self.record(action, "ttl", table, TTL_ATTRIBUTE);
        Ok(())
    }
}

/// moto answers for a bucket without notifications with an empty `<GetBucketNotificationResponse/>`,
/// which the SDK refuses (S3 sends an empty `<NotificationConfiguration/>`): both mean none.
fn empty_notifications_from_moto<E>(error: &SdkError<E, HttpResponse>) -> bool {
    error.raw_response().is_some_and(|raw| {
        let body = raw.body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
        raw.status().is_success()
            && body.contains("<GetBucketNotificationResponse")
            && body.trim_end().ends_with("/>")
    })
}

/// `Name=value` for plain attributes, the name alone for JSON documents.
fn describe(attributes: &[(&QueueAttributeName, &String)]) -> String {
    let describe = |(name, value): &(&QueueAttributeName, &String)| match name {
        QueueAttributeName::Policy | QueueAttributeName::RedrivePolicy => name.as_str().to_owned(),
        _ => format!("{}={value}", name.as_str()),
    };
    attributes.iter().map(describe).collect::<Vec<_>>().join(", ")
}
