//! The desired state of each resource, as pure functions of the configuration and of the ARNs
//! earlier steps found, and the comparisons that decide whether what the services report
//! already matches it. Comparisons accept what the services return, not only what was sent:
//! IAM URL-encodes policy documents, SQS returns policies as JSON strings, S3 capitalises
//! filter rule names.

use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, GlobalSecondaryIndexDescription};
use aws_sdk_lambda::types::{
    EventSourceMappingConfiguration, FunctionCodeLocation, FunctionConfiguration, FunctionResponseType,
};
use aws_sdk_s3::error::BuildError;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, CorsRule, Event, ExpirationStatus, FilterRule, FilterRuleName,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use transflow_aws::schema::UPLOADS_KEY_PREFIX;
use transflow_service::config::{AwsNames, Config};

/// Queue attributes as SQS takes and returns them: strings.
pub type Attributes = BTreeMap<QueueAttributeName, String>;

/// Id of the lifecycle rule deploy owns; other rules on the bucket are kept.
pub const UPLOADS_RULE_ID: &str = "transflow-uploads-expiry";
/// Id of the queue notification deploy owns; other notifications on the bucket are kept.
pub const NOTIFICATION_ID: &str = "transflow-uploads";
/// SQS's longest retention: dead letters wait two weeks for someone to look at them.
const DEAD_LETTER_RETENTION_SECS: u32 = 14 * 24 * 3600;
/// Lambda's pollers receive messages they then fail to hand over when the function is
/// throttled; AWS advises at least 5 receives before a message is dead-lettered.
const MIN_RECEIVE_COUNT: u32 = 5;

/// The buckets, media first, once each.
pub fn buckets(names: &AwsNames) -> Vec<String> {
    let mut buckets = vec![names.bucket.clone()];
    if names.templates_bucket != names.bucket {
        buckets.push(names.templates_bucket.clone());
    }
    buckets
}

/// Browsers `PUT` uploads to pre-signed URLs and read results directly; multipart clients
/// need the `ETag` of each part. No rule at all when no origin is allowed.
pub fn cors_rules(origins: &[String]) -> Result<Vec<CorsRule>, BuildError> {
    if origins.is_empty() {
        return Ok(Vec::new());
    }
    let rule = CorsRule::builder()
        .set_allowed_methods(Some(["PUT", "GET", "HEAD"].map(String::from).to_vec()))
        .set_allowed_origins(Some(origins.to_vec()))
        .allowed_headers("*")
        .expose_headers("ETag")
        // Without it browsers repeat the preflight before every part of an upload.
        .max_age_seconds(3600)
        .build()?;
    Ok(vec![rule])
}

/// Uploads are inputs, consumed once the assembly has run; abandoned multipart uploads are
/// invisible but billed, so they go after a day.
pub fn uploads_expiry_rule(days: i32) -> Result<LifecycleRule, BuildError> {
    LifecycleRule::builder()
        .id(UPLOADS_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(UPLOADS_KEY_PREFIX).build())
        .expiration(LifecycleExpiration::builder().days(days).build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
        )
        .build()
}

/// Whether a lifecycle rule already says what [`uploads_expiry_rule`] says.
pub fn same_lifecycle_rule(current: &LifecycleRule, wanted: &LifecycleRule) -> bool {
    let prefix = |rule: &LifecycleRule| rule.filter().and_then(|f| f.prefix()).map(str::to_owned);
    current.status() == wanted.status()
        && prefix(current) == prefix(wanted)
        && current.expiration().and_then(|e| e.days()) == wanted.expiration().and_then(|e| e.days())
        && current.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation())
            == wanted.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation())
}

/// The receive count after which the queue dead-letters a message; the worker is told the
/// same number so it knows which delivery is the last.
pub fn max_receive_count(config: &Config) -> u32 {
    config.worker.max_receive_count.max(MIN_RECEIVE_COUNT)
}

/// The dead-letter queue keeps messages as long as SQS allows.
pub fn dead_letter_attributes() -> Attributes {
    BTreeMap::from([(QueueAttributeName::MessageRetentionPeriod, DEAD_LETTER_RETENTION_SECS.to_string())])
}

/// The job queue: redrive to the dead-letter queue, a visibility of six function timeouts (what
/// AWS advises for Lambda event sources, so retries of a slow batch do not overlap), long
/// polling, and a policy letting the media bucket, and only it, send upload events.
pub fn queue_attributes(config: &Config, bucket: &str, dead_letter_arn: &str, queue_arn: &str) -> Attributes {
    let redrive =
        json!({ "deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count(config) });
    BTreeMap::from([
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        (QueueAttributeName::VisibilityTimeout, (6 * config.aws.timeout_secs).to_string()),
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20".to_owned()),
        (QueueAttributeName::Policy, queue_policy(queue_arn, bucket).to_string()),
    ])
}

fn queue_policy(queue_arn: &str, bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "media-bucket-uploads",
            "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": format!("arn:aws:s3:::{bucket}") } },
        }],
    })
}

/// The attributes of `wanted` whose current value differs, with the wanted value.
pub fn attribute_differences<'a>(
    current: &HashMap<QueueAttributeName, String>,
    wanted: &'a Attributes,
) -> Vec<(&'a QueueAttributeName, &'a String)> {
    wanted
        .iter()
        .filter(|(name, value)| {
            let json = matches!(name, QueueAttributeName::Policy | QueueAttributeName::RedrivePolicy);
            match current.get(name) {
                Some(current) if json => !same_json(current, value),
                Some(current) => current != *value,
                None => true,
            }
        })
        .collect()
}

/// Whether two JSON documents (policies, redrive policies) mean the same.
pub fn same_json(a: &str, b: &str) -> bool {
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(a), Ok(b)) => normalize(a) == normalize(b),
        _ => a == b,
    }
}

/// Services reformat the policies they store: a one-element list may come back as its element,
/// lists in another order, numbers as strings. None of that changes what a policy means.
fn normalize(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(normalize).collect();
            items.sort_by_cached_key(Value::to_string);
            if items.len() == 1 { items.remove(0) } else { Value::Array(items) }
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        Value::String(text) => text.parse::<i64>().map(Value::from).unwrap_or(Value::String(text)),
        other => other,
    }
}

/// An IAM policy document as IAM returns it (URL-encoded JSON), decoded.
pub fn decode_policy_document(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match encoded.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
            Some(byte) if bytes[i] == b'%' => {
                decoded.push(byte);
                i += 3;
            }
            _ => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// New objects under `uploads/` are announced on the job queue.
pub fn upload_notification(queue_arn: &str) -> Result<QueueConfiguration, BuildError> {
    let prefix = FilterRule::builder().name(FilterRuleName::Prefix).value(UPLOADS_KEY_PREFIX).build();
    QueueConfiguration::builder()
        .id(NOTIFICATION_ID)
        .queue_arn(queue_arn)
        .events(Event::S3ObjectCreated)
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(prefix).build())
                .build(),
        )
        .build()
}

/// Whether a queue notification matches [`upload_notification`]. S3 returns filter rule
/// names capitalised (`Prefix`), which the SDK does not recognise as `prefix`.
pub fn same_notification(current: &QueueConfiguration, wanted: &QueueConfiguration) -> bool {
    let rules = |config: &QueueConfiguration| {
        let mut rules: Vec<(String, String)> = config
            .filter()
            .and_then(|f| f.key())
            .map(|key| key.filter_rules())
            .unwrap_or_default()
            .iter()
            .map(|rule| {
                let name = rule.name().map(|n| n.as_str().to_ascii_lowercase()).unwrap_or_default();
                (name, rule.value().unwrap_or_default().to_owned())
            })
            .collect();
        rules.sort();
        rules
    };
    let events = |config: &QueueConfiguration| {
        let mut events: Vec<String> = config.events().iter().map(|e| e.as_str().to_owned()).collect();
        events.sort_unstable();
        events
    };
    current.queue_arn() == wanted.queue_arn()
        && events(current) == events(wanted)
        && rules(current) == rules(wanted)
}

/// Whether an existing index has the key and projection of
/// [`branch_index`](transflow_aws::schema::branch_index).
pub fn index_matches(current: &GlobalSecondaryIndexDescription, wanted: &GlobalSecondaryIndex) -> bool {
    current.key_schema() == wanted.key_schema()
        && current.projection().and_then(|p| p.projection_type())
            == wanted.projection().and_then(|p| p.projection_type())
}

/// Lets Lambda, and nothing else, assume the worker role.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    })
}

/// The resources the worker touches, as ARNs where the service has them.
#[derive(Debug)]
pub struct WorkerResources {
    /// The region of every resource.
    pub region: String,
    /// Media and templates buckets.
    pub buckets: Vec<String>,
    /// The status table's ARN; its indexes are granted under it.
    pub table_arn: String,
    /// The job queue and its dead-letter queue.
    pub queue_arns: [String; 2],
    /// The function, whose log group the worker writes.
    pub function: String,
}

/// Exactly what the worker does: objects in the buckets, status records, its queue, its logs.
pub fn worker_policy(resources: &WorkerResources) -> Value {
    let WorkerResources { region, buckets, table_arn, queue_arns, function } = resources;
    // The account is in every ARN the services return; dry runs of a new table have none.
    let account = table_arn.split(':').nth(4).unwrap_or("*");
    let log_group = format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function}");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": buckets.iter().map(|b| format!("arn:aws:s3:::{b}/*")).collect::<Vec<_>>(),
            },
            {
                "Sid": "Buckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": buckets.iter().map(|b| format!("arn:aws:s3:::{b}")).collect::<Vec<_>>(),
            },
            {
                "Sid": "StatusRecords",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
                "Resource": [table_arn.clone(), format!("{table_arn}/index/*")],
            },
            {
                "Sid": "Jobs",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                ],
                "Resource": queue_arns,
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group.clone(), format!("{log_group}:*")],
            },
        ],
    })
}

/// The configuration the worker reads from its environment (it has no config file): resource
/// names, region, receive count, and the endpoint and the public URL of `transflow serve`
/// only when configured. Never credentials or the signing key: the function's role supplies
/// the former, the operator the latter.
pub fn worker_environment(config: &Config, names: &AwsNames) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::from(
        [
            ("TRANSFLOW_PROJECT", config.project.clone()),
            ("TRANSFLOW_BRANCH", config.branch.clone()),
            // Lambda sets AWS_REGION, but the worker's configuration has its own default.
            ("TRANSFLOW_AWS_REGION", config.aws.region.clone()),
            ("TRANSFLOW_AWS_BUCKET", names.bucket.clone()),
            ("TRANSFLOW_AWS_TEMPLATES_BUCKET", names.templates_bucket.clone()),
            ("TRANSFLOW_AWS_TABLE", names.table.clone()),
            ("TRANSFLOW_AWS_QUEUE", names.queue.clone()),
            ("TRANSFLOW_WORKER_MAX_RECEIVE_COUNT", max_receive_count(config).to_string()),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    if let Some(endpoint) = &config.aws.endpoint_url {
        environment.insert("TRANSFLOW_AWS_ENDPOINT_URL".into(), endpoint.clone());
    }
    if let Some(public_url) = &config.server.public_url {
        environment.insert("TRANSFLOW_SERVER_PUBLIC_URL".into(), public_url.clone());
    }
    environment
}

/// The worker image: a URI and, when it lives in the project's repository, the digest its tag
/// points at (a rebuilt image may keep its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `REGISTRY/REPOSITORY:TAG`.
    pub uri: String,
    /// `sha256:…`, when known.
    pub digest: Option<String>,
}

/// Everything about the function deploy sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Execution role ARN.
    pub role: String,
    /// MiB.
    pub memory_mb: i32,
    /// Seconds.
    pub timeout_secs: i32,
    /// `/tmp`, MiB.
    pub ephemeral_storage_mb: i32,
    /// The function's environment: the `TRANSFLOW_*` settings the worker reads at start.
    pub environment: BTreeMap<String, String>,
}

/// The settings of a function that differ from `wanted`, by name.
pub fn configuration_differences(
    current: &FunctionConfiguration,
    wanted: &FunctionSpec,
) -> Vec<&'static str> {
    let environment: BTreeMap<String, String> = current
        .environment()
        .and_then(|e| e.variables())
        .map(|variables| variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    [
        ("role", current.role() == Some(wanted.role.as_str())),
        ("memory", current.memory_size() == Some(wanted.memory_mb)),
        ("timeout", current.timeout() == Some(wanted.timeout_secs)),
        (
            "ephemeral storage",
            current.ephemeral_storage().map(|s| s.size()) == Some(wanted.ephemeral_storage_mb),
        ),
        ("environment", environment == wanted.environment),
    ]
    .into_iter()
    .filter_map(|(name, same)| (!same).then_some(name))
    .collect()
}

/// Whether the function runs another image: another URI, or (Lambda pins a tag to the digest it
/// had at the last code update) the same tag now pointing elsewhere.
pub fn code_differs(current: Option<&FunctionCodeLocation>, wanted: &Image) -> bool {
    let uri = current.and_then(|c| c.image_uri());
    let digest = current.and_then(|c| c.resolved_image_uri()).and_then(|r| r.split_once('@')).map(|(_, d)| d);
    uri != Some(wanted.uri.as_str()) || wanted.digest.as_deref().is_some_and(|wanted| digest != Some(wanted))
}

/// Whether a queue → function mapping is enabled, with the batch size and partial-failure
/// reporting wanted.
pub fn mapping_matches(current: &EventSourceMappingConfiguration, batch_size: i32) -> bool {
    mapping_enabled(current)
        && current.batch_size() == Some(batch_size)
        && current.function_response_types() == [FunctionResponseType::ReportBatchItemFailures]
}

/// Whether a mapping hands messages to its function, or is about to.
pub fn mapping_enabled(current: &EventSourceMappingConfiguration) -> bool {
    !matches!(current.state(), Some("Disabled" | "Disabling"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::types::{EnvironmentResponse, EphemeralStorage};
    use transflow_service::config::AwsConfig;

    fn config() -> Config {
        let aws = AwsConfig { timeout_secs: 120, ..AwsConfig::default() };
        Config { project: "demo".into(), aws, ..Config::default() }
    }

    #[test]
    fn a_shared_templates_bucket_is_listed_once() {
        let mut config = config();
        assert_eq!(buckets(&config.aws_names()), ["demo-media"]);
        config.aws.templates_bucket = Some("demo-templates".into());
        assert_eq!(buckets(&config.aws_names()), ["demo-media", "demo-templates"]);
    }

    #[test]
    fn cors_allows_uploads_from_the_configured_origins_only() {
        let rules = cors_rules(&["https://app.example".into()]).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].allowed_methods(), ["PUT", "GET", "HEAD"]);
        assert_eq!(rules[0].allowed_origins(), ["https://app.example"]);
        assert_eq!(rules[0].expose_headers(), ["ETag"]);
        assert!(cors_rules(&[]).unwrap().is_empty());
    }

    #[test]
    fn the_expiry_rule_matches_itself_and_not_other_days() {
        let rule = uploads_expiry_rule(7).unwrap();
        assert!(same_lifecycle_rule(&rule, &rule));
        assert!(!same_lifecycle_rule(&uploads_expiry_rule(8).unwrap(), &rule));
        assert_eq!(rule.filter().and_then(|f| f.prefix()), Some("uploads/"));
    }

    #[test]
    fn queue_attributes_follow_the_config() {
        let mut config = config();
        config.worker.max_receive_count = 3;
        let wanted = queue_attributes(&config, "demo-media", "arn:dlq", "arn:queue");
        assert_eq!(wanted[&QueueAttributeName::VisibilityTimeout], "720");
        let redrive: Value = serde_json::from_str(&wanted[&QueueAttributeName::RedrivePolicy]).unwrap();
        assert_eq!(redrive, json!({ "deadLetterTargetArn": "arn:dlq", "maxReceiveCount": 5 }));
        let policy: Value = serde_json::from_str(&wanted[&QueueAttributeName::Policy]).unwrap();
        assert_eq!(policy["Statement"][0]["Resource"], "arn:queue");
        assert_eq!(
            policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:aws:s3:::demo-media"
        );
        config.worker.max_receive_count = 9;
        assert_eq!(max_receive_count(&config), 9);
    }

    #[test]
    fn attributes_compare_as_the_service_returns_them() {
        let wanted = queue_attributes(&config(), "demo-media", "arn:dlq", "arn:queue");
        // SQS's own spacing and a number as a string mean the same.
        let mut current: HashMap<_, _> = wanted.clone().into_iter().collect();
        current.insert(
            QueueAttributeName::RedrivePolicy,
            r#"{"maxReceiveCount": "5", "deadLetterTargetArn": "arn:dlq"}"#.into(),
        );
        current.insert(QueueAttributeName::DelaySeconds, "0".into());
        assert!(attribute_differences(&current, &wanted).is_empty());
        current.insert(QueueAttributeName::VisibilityTimeout, "30".into());
        current.remove(&QueueAttributeName::Policy);
        let names: Vec<_> =
            attribute_differences(&current, &wanted).into_iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, [QueueAttributeName::Policy, QueueAttributeName::VisibilityTimeout]);
    }

    #[test]
    fn policies_compare_by_meaning() {
        assert!(same_json(r#"{"Action": ["a"], "R": ["x", "y"]}"#, r#"{"R":["y","x"],"Action":"a"}"#));
        assert!(!same_json(r#"{"Action": ["a", "b"]}"#, r#"{"Action": "a"}"#));
        assert!(!same_json("not json", "{}"));
    }

    #[test]
    fn iam_documents_are_url_decoded() {
        let encoded = "%7B%22Action%22%3A%20%22sts%3AAssumeRole%22%7D";
        assert_eq!(decode_policy_document(encoded), r#"{"Action": "sts:AssumeRole"}"#);
        assert_eq!(decode_policy_document("100%"), "100%");
    }

    #[test]
    fn notifications_match_despite_capitalised_rule_names() {
        let wanted = upload_notification("arn:queue").unwrap();
        let returned = QueueConfiguration::builder()
            .queue_arn("arn:queue")
            .events(Event::S3ObjectCreated)
            .filter(
                NotificationConfigurationFilter::builder()
                    .key(
                        S3KeyFilter::builder()
                            .filter_rules(
                                FilterRule::builder().name("Prefix".into()).value("uploads/").build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        assert!(same_notification(&returned, &wanted));
        assert!(!same_notification(&upload_notification("arn:other").unwrap(), &wanted));
    }

    #[test]
    fn a_disabled_mapping_does_not_match() {
        let mapping = |state: &str| {
            EventSourceMappingConfiguration::builder()
                .state(state)
                .batch_size(1)
                .function_response_types(FunctionResponseType::ReportBatchItemFailures)
                .build()
        };
        assert!(mapping_matches(&mapping("Enabled"), 1));
        assert!(!mapping_matches(&mapping("Enabled"), 2));
        for state in ["Disabled", "Disabling"] {
            assert!(!mapping_enabled(&mapping(state)) && !mapping_matches(&mapping(state), 1), "{state}");
        }
    }

    #[test]
    fn an_index_with_another_projection_does_not_match() {
        use aws_sdk_dynamodb::types::{Projection, ProjectionType};
        use transflow_aws::schema::{BRANCH_INDEX, branch_index};
        let index = branch_index().unwrap();
        let described = GlobalSecondaryIndexDescription::builder()
            .index_name(BRANCH_INDEX)
            .set_key_schema(Some(index.key_schema().to_vec()))
            .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
            .build();
        assert!(!index_matches(&described, &index));
    }

    #[test]
    fn the_worker_policy_names_each_resource() {
        let policy = worker_policy(&WorkerResources {
            region: "eu-west-1".into(),
            buckets: vec!["m".into(), "t".into()],
            table_arn: "arn:aws:dynamodb:eu-west-1:111122223333:table/demo-assemblies".into(),
            queue_arns: ["arn:q".into(), "arn:q-dlq".into()],
            function: "demo-worker".into(),
        });
        let statements = policy["Statement"].as_array().unwrap();
        let resources = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap()["Resource"].clone();
        assert_eq!(resources("Objects"), json!(["arn:aws:s3:::m/*", "arn:aws:s3:::t/*"]));
        assert_eq!(
            resources("StatusRecords")[1],
            "arn:aws:dynamodb:eu-west-1:111122223333:table/demo-assemblies/index/*"
        );
        assert_eq!(resources("Jobs"), json!(["arn:q", "arn:q-dlq"]));
        assert_eq!(
            resources("Logs")[1],
            "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/demo-worker:*"
        );
    }

    #[test]
    fn the_environment_carries_names_and_no_secrets() {
        let mut config = config();
        config.auth.jwt_secret = Some("a-secret-of-sixteen-chars".into());
        config.server.signing_key = Some("a-signing-secret-of-sixteen-chars".into());
        let environment = worker_environment(&config, &config.aws_names());
        assert_eq!(environment["TRANSFLOW_AWS_TABLE"], "demo-assemblies");
        assert_eq!(environment["TRANSFLOW_WORKER_MAX_RECEIVE_COUNT"], "5");
        assert!(!environment.contains_key("TRANSFLOW_AWS_ENDPOINT_URL"));
        assert!(!environment.contains_key("TRANSFLOW_SERVER_PUBLIC_URL"));
        assert!(environment.values().all(|v| !v.contains("secret")));
        config.aws.endpoint_url = Some("http://127.0.0.1:5000".into());
        config.server.public_url = Some("https://media.example.com".into());
        let environment = worker_environment(&config, &config.aws_names());
        assert_eq!(environment["TRANSFLOW_AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(environment["TRANSFLOW_SERVER_PUBLIC_URL"], "https://media.example.com");
    }

    #[test]
    fn function_settings_and_code_are_compared_one_by_one() {
        let wanted = FunctionSpec {
            role: "arn:role".into(),
            memory_mb: 3008,
            timeout_secs: 900,
            ephemeral_storage_mb: 10240,
            environment: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
        };
        let current = FunctionConfiguration::builder()
            .role("arn:role")
            .memory_size(2048)
            .timeout(900)
            .ephemeral_storage(EphemeralStorage::builder().size(10240).build().unwrap())
            .environment(EnvironmentResponse::builder().variables("A", "1").build())
            .build();
        assert_eq!(configuration_differences(&current, &wanted), ["memory"]);

        let code =
            FunctionCodeLocation::builder().image_uri("r/x:1").resolved_image_uri("r/x@sha256:aaa").build();
        let image =
            |uri: &str, digest: Option<&str>| Image { uri: uri.into(), digest: digest.map(String::from) };
        assert!(!code_differs(Some(&code), &image("r/x:1", None)));
        assert!(!code_differs(Some(&code), &image("r/x:1", Some("sha256:aaa"))));
        assert!(code_differs(Some(&code), &image("r/x:1", Some("sha256:bbb"))));
        assert!(code_differs(Some(&code), &image("r/x:2", None)));
    }
}
