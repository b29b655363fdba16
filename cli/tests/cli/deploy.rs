//! `transflow deploy` as a process against moto: the first run creates every resource as
//! configured, a second changes nothing, a changed config updates only what it changes, a dry
//! run writes nothing, a deploy for the long-running worker leaves the queue to it, a failed
//! step still leaves the plan printed, and `--build` without a docker daemon says so.

use aws_sdk_dynamodb::types::{BillingMode, KeyType, ProjectionType, TimeToLiveStatus};
use aws_sdk_lambda::types::{FunctionResponseType, PackageType};
use aws_sdk_s3::types::Event;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use transflow_aws::AwsClients;
use transflow_tests::moto::MotoServer;

use crate::BINARY;
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1";

/// A config with non-default values wherever deploy derives something from them.
fn config(timeout_secs: u32, batch_size: u32, expire_days: u32) -> String {
    format!(
        r#"project = "demo"
[worker]
max_receive_count = 3
[aws]
image_uri = "{IMAGE}"
templates_bucket = "demo-templates"
memory_mb = 2048
timeout_secs = {timeout_secs}
batch_size = {batch_size}
uploads_expire_days = {expire_days}
cors_origins = ["https://app.example"]
"#
    )
}

/// Runs `transflow deploy ARGS` in `dir` (outside the checkout) with nothing but `PATH`, the
/// emulator's environment and `env`.
fn run_deploy(server: &MotoServer, dir: &Path, config: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_deploy_in(server, dir, dir, config, args, env)
}

/// [`run_deploy`] with the config in `dir`, run from `cwd`.
fn run_deploy_in(
    server: &MotoServer,
    dir: &Path,
    cwd: &Path,
    config: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let path = dir.join("transflow.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(BINARY)
        .arg("--config")
        .arg(&path)
        .arg("deploy")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(server.env())
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .expect("the CLI runs")
}

/// The lines of a deploy's plan.
fn plan_of(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

/// Runs `transflow deploy ARGS`, which must succeed; returns its plan lines.
fn deploy(server: &MotoServer, dir: &Path, config: &str, args: &[&str]) -> Vec<String> {
    let output = run_deploy(server, dir, config, args, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "deploy failed:\n{}\n{stderr}", plan_of(&output).join("\n"));
    plan_of(&output)
}

/// The plan line about `kind` `name`.
fn line<'a>(plan: &'a [String], kind: &str, name: &str) -> &'a str {
    plan.iter()
        .find(|line| line.split_whitespace().skip(1).take(2).eq([kind, name]))
        .unwrap_or_else(|| panic!("no {kind} {name} in\n{}", plan.join("\n")))
}

fn action<'a>(plan: &'a [String], kind: &str, name: &str) -> &'a str {
    line(plan, kind, name).split_whitespace().next().unwrap()
}

async fn queue_attributes(clients: &AwsClients, name: &str) -> HashMap<QueueAttributeName, String> {
    let url = clients.sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap();
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await;
    attributes.unwrap().attributes.unwrap()
}

#[tokio::test]
async fn deploy_creates_everything_then_changes_only_what_the_config_changes() {
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let first = deploy(&server, dir.path(), &config(120, 4, 7), &[]);
    for (kind, name) in [
        ("bucket", "demo-media"),
        ("bucket", "demo-templates"),
        ("queue", "demo-jobs-dlq"),
        ("queue", "demo-jobs"),
        ("table", "demo-assemblies"),
        ("role", "demo-worker-role"),
        ("function", "demo-worker"),
        ("event-source-mapping", "demo-jobs->demo-worker"),
    ] {
        assert_eq!(action(&first, kind, name), "create", "{kind} {name}");
    }

    let sdk = server.sdk_config();
    let clients = AwsClients::from_sdk(sdk.clone());
    let (lambda, iam) = (aws_sdk_lambda::Client::new(&sdk), aws_sdk_iam::Client::new(&sdk));

    // Buckets, CORS, upload expiry.
    clients.s3.head_bucket().bucket("demo-templates").send().await.expect("the templates bucket exists");
    let cors = clients.s3.get_bucket_cors().bucket("demo-media").send().await.unwrap();
    let [rule] = cors.cors_rules() else { panic!("one CORS rule: {cors:?}") };
    assert_eq!(rule.allowed_origins(), ["https://app.example"]);
    assert_eq!(rule.allowed_methods(), ["PUT", "GET", "HEAD"]);
    assert_eq!(
        (rule.allowed_headers(), rule.expose_headers()),
        (&["*".to_owned()][..], &["ETag".to_owned()][..])
    );
    let lifecycle =
        clients.s3.get_bucket_lifecycle_configuration().bucket("demo-media").send().await.unwrap();
    let [rule] = lifecycle.rules() else { panic!("one lifecycle rule: {lifecycle:?}") };
    assert_eq!(rule.filter().and_then(|f| f.prefix()), Some("uploads/"));
    assert_eq!(rule.expiration().and_then(|e| e.days()), Some(7));
    assert_eq!(rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()), Some(1));

    // Queues.
    let dead_letters = queue_attributes(&clients, "demo-jobs-dlq").await;
    assert_eq!(dead_letters[&QueueAttributeName::MessageRetentionPeriod], "1209600");
    let jobs = queue_attributes(&clients, "demo-jobs").await;
    assert_eq!(jobs[&QueueAttributeName::VisibilityTimeout], "720", "6 × timeout_secs");
    assert_eq!(jobs[&QueueAttributeName::ReceiveMessageWaitTimeSeconds], "20");
    let redrive: Value = serde_json::from_str(&jobs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], dead_letters[&QueueAttributeName::QueueArn].as_str());
    let receives =
        redrive["maxReceiveCount"].as_u64().or_else(|| redrive["maxReceiveCount"].as_str()?.parse().ok());
    assert_eq!(receives, Some(5), "at least 5 although the config says 3");
    let policy: Value = serde_json::from_str(&jobs[&QueueAttributeName::Policy]).unwrap();
    assert_eq!(policy["Statement"][0]["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"], "arn:aws:s3:::demo-media");
    let queue_arn = jobs[&QueueAttributeName::QueueArn].clone();

    // Upload notification.
    let notifications = clients.s3.get_bucket_notification_configuration().bucket("demo-media").send().await;
    let notifications = notifications.unwrap();
    let [notification] = notifications.queue_configurations() else { panic!("one: {notifications:?}") };
    assert_eq!(notification.queue_arn(), queue_arn);
    assert_eq!(notification.events(), [Event::S3ObjectCreated]);
    let rules = notification.filter().and_then(|f| f.key()).map(|k| k.filter_rules()).unwrap_or_default();
    assert_eq!(rules.iter().map(|r| r.value().unwrap_or_default()).collect::<Vec<_>>(), ["uploads/"]);

    // Status table.
    let table =
        clients.dynamodb.describe_table().table_name("demo-assemblies").send().await.unwrap().table.unwrap();
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    assert_eq!(table.key_schema()[0].attribute_name(), "assembly_id");
    let [index] = table.global_secondary_indexes() else { panic!("one index: {table:?}") };
    assert_eq!(index.index_name(), Some("branch-created"));
    let keys: Vec<_> =
        index.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().clone())).collect();
    assert_eq!(keys, [("branch", KeyType::Hash), ("created_at", KeyType::Range)]);
    assert_eq!(index.projection().and_then(|p| p.projection_type()), Some(&ProjectionType::All));
    let ttl = clients.dynamodb.describe_time_to_live().table_name("demo-assemblies").send().await.unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(
        (ttl.time_to_live_status(), ttl.attribute_name()),
        (Some(&TimeToLiveStatus::Enabled), Some("expires_at"))
    );

    // Role, function, mapping.
    let role = iam.get_role().role_name("demo-worker-role").send().await.unwrap().role.unwrap();
    let policy = iam.get_role_policy().role_name("demo-worker-role").policy_name("demo-worker").send().await;
    assert!(policy.unwrap().policy_document.contains("dynamodb%3AQuery"), "the worker policy is attached");
    let function = lambda.get_function().function_name("demo-worker").send().await.unwrap();
    let configuration = function.configuration().unwrap();
    assert_eq!(configuration.package_type(), Some(&PackageType::Image));
    assert_eq!(function.code().and_then(|c| c.image_uri()), Some(IMAGE));
    assert_eq!(configuration.role(), Some(role.arn.as_str()));
    assert_eq!((configuration.memory_size(), configuration.timeout()), (Some(2048), Some(120)));
    let environment = configuration.environment().and_then(|e| e.variables()).unwrap();
    assert_eq!(environment["TRANSFLOW_AWS_TABLE"], "demo-assemblies");
    assert_eq!(environment["TRANSFLOW_AWS_TEMPLATES_BUCKET"], "demo-templates");
    assert_eq!(environment["TRANSFLOW_WORKER_MAX_RECEIVE_COUNT"], "5");
    assert_eq!(environment["TRANSFLOW_AWS_ENDPOINT_URL"], server.endpoint);
    assert!(!environment.keys().any(|k| k.starts_with("AWS_")), "no credentials: {environment:?}");
    let mappings = lambda.list_event_source_mappings().event_source_arn(&queue_arn).send().await.unwrap();
    let [mapping] = mappings.event_source_mappings() else { panic!("one mapping: {mappings:?}") };
    assert_eq!(mapping.function_arn(), configuration.function_arn());
    assert_eq!(mapping.batch_size(), Some(4));
    assert_eq!(mapping.function_response_types(), [FunctionResponseType::ReportBatchItemFailures]);

    let second = deploy(&server, dir.path(), &config(120, 4, 7), &[]);
    assert_eq!(second.len(), first.len(), "{second:#?}");
    assert!(second.iter().all(|line| line.starts_with("unchanged ")), "{second:#?}");

    let changed = deploy(&server, dir.path(), &config(60, 2, 3), &[]);
    for (kind, name) in [
        ("queue", "demo-jobs"),
        ("lifecycle", "demo-media"),
        ("function", "demo-worker"),
        ("event-source-mapping", "demo-jobs->demo-worker"),
    ] {
        assert_eq!(action(&changed, kind, name), "update", "{kind} {name}");
    }
    assert!(line(&changed, "queue", "demo-jobs").contains("VisibilityTimeout=360"), "{changed:#?}");
    assert_eq!(action(&changed, "table", "demo-assemblies"), "unchanged");
    assert_eq!(queue_attributes(&clients, "demo-jobs").await[&QueueAttributeName::VisibilityTimeout], "360");
    let function = lambda.get_function_configuration().function_name("demo-worker").send().await.unwrap();
    assert_eq!(function.timeout(), Some(60));

    let again = deploy(&server, dir.path(), &config(60, 2, 3), &[]);
    assert!(again.iter().all(|line| line.starts_with("unchanged ")), "{again:#?}");
}

#[tokio::test]
async fn a_dry_run_lists_the_creations_and_creates_nothing() {
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let plan = deploy(&server, dir.path(), &config(120, 4, 7), &["--dry-run"]);
    for (kind, name) in [
        ("bucket", "demo-media"),
        ("queue", "demo-jobs"),
        ("notification", "demo-media"),
        ("table", "demo-assemblies"),
        ("ttl", "demo-assemblies"),
        ("role-policy", "demo-worker"),
        ("function", "demo-worker"),
        ("event-source-mapping", "demo-jobs->demo-worker"),
    ] {
        assert_eq!(action(&plan, kind, name), "create", "{kind} {name}");
    }

    let sdk = server.sdk_config();
    let clients = AwsClients::from_sdk(sdk.clone());
    assert!(clients.s3.list_buckets().send().await.unwrap().buckets().is_empty());
    assert!(clients.sqs.list_queues().send().await.unwrap().queue_urls().is_empty());
    assert!(clients.dynamodb.list_tables().send().await.unwrap().table_names().is_empty());
    assert!(aws_sdk_iam::Client::new(&sdk).list_roles().send().await.unwrap().roles().is_empty());
    assert!(aws_sdk_lambda::Client::new(&sdk).list_functions().send().await.unwrap().functions().is_empty());
}

/// Whether a plan has any line about `kind`.
fn mentions(plan: &[String], kind: &str) -> bool {
    plan.iter().any(|line| line.split_whitespace().nth(1) == Some(kind))
}

/// The state Lambda reports for the queue's one mapping.
async fn mapping_state(lambda: &aws_sdk_lambda::Client, queue_arn: &str) -> String {
    let mappings = lambda.list_event_source_mappings().event_source_arn(queue_arn).send().await.unwrap();
    let [mapping] = mappings.event_source_mappings() else { panic!("one mapping: {mappings:?}") };
    mapping.state().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_deploy_for_the_long_running_worker_leaves_the_queue_to_it() {
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sdk = server.sdk_config();
    let (clients, lambda) = (AwsClients::from_sdk(sdk.clone()), aws_sdk_lambda::Client::new(&sdk));
    let with_lambda = config(120, 4, 7);
    deploy(&server, dir.path(), &with_lambda, &[]);
    let queue_arn = queue_attributes(&clients, "demo-jobs").await[&QueueAttributeName::QueueArn].clone();
    assert_eq!(mapping_state(&lambda, &queue_arn).await, "Enabled");

    // Without Lambda: no role, image or function, and the earlier mapping is disabled.
    let without_lambda = with_lambda.replace("[aws]\n", "[aws]\nlambda = false\n");
    let plan = deploy(&server, dir.path(), &without_lambda, &[]);
    assert_eq!(action(&plan, "event-source-mapping", "demo-jobs->demo-worker"), "update", "{plan:#?}");
    assert!(line(&plan, "event-source-mapping", "demo-jobs->demo-worker").contains("disabled"));
    for kind in ["role", "role-policy", "image", "function"] {
        assert!(!mentions(&plan, kind), "{kind} in {plan:#?}");
    }
    assert_eq!(mapping_state(&lambda, &queue_arn).await, "Disabled");
    let again = deploy(&server, dir.path(), &without_lambda, &[]);
    assert!(again.iter().all(|line| line.starts_with("unchanged ")), "{again:#?}");

    // Upload events now wait in the queue for `transflow worker`.
    let put = clients.s3.put_object().bucket("demo-media").key("uploads/main/a/u/clip.mp4");
    put.body(b"bytes".to_vec().into()).send().await.unwrap();
    let queue_url =
        clients.sqs.get_queue_url().queue_name("demo-jobs").send().await.unwrap().queue_url.unwrap();
    // S3 URL-encodes the key in its events.
    let is_upload_event = |body: &String| body.contains("ObjectCreated") && body.contains("u%2Fclip.mp4");
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let received = clients.sqs.receive_message().queue_url(&queue_url).wait_time_seconds(1).send().await;
        bodies.extend(received.unwrap().messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
        if bodies.iter().any(is_upload_event) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bodies.iter().any(is_upload_event), "{bodies:#?}");

    // Back to Lambda, the disabled mapping is a change: it is enabled again.
    let back = deploy(&server, dir.path(), &with_lambda, &[]);
    assert_eq!(action(&back, "event-source-mapping", "demo-jobs->demo-worker"), "update", "{back:#?}");
    assert!(line(&back, "event-source-mapping", "demo-jobs->demo-worker").contains("it was disabled"));
    assert_eq!(mapping_state(&lambda, &queue_arn).await, "Enabled");
}

#[tokio::test]
async fn a_failed_step_still_prints_the_plan_up_to_it() {
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(120, 4, 7).replace("[aws]\n", "[aws]\nrole_arn = \"not-a-role-arn\"\n");
    let output = run_deploy(&server, dir.path(), &config, &[], &[]);
    assert!(!output.status.success());
    let plan = plan_of(&output);
    assert_eq!(action(&plan, "bucket", "demo-media"), "create", "{plan:#?}");
    assert_eq!(action(&plan, "table", "demo-assemblies"), "create", "{plan:#?}");
    assert_eq!(action(&plan, "role", "not-a-role-arn"), "unchanged", "{plan:#?}");
    assert!(!mentions(&plan, "function"), "{plan:#?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("function demo-worker: creating"), "{stderr}");
}

#[tokio::test]
async fn build_without_a_docker_daemon_prints_the_commands_from_any_directory() {
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(120, 4, 7).replace(&format!("image_uri = \"{IMAGE}\"\n"), "");
    let no_daemon = format!("unix://{}/no-docker.sock", dir.path().display());
    let env = [("DOCKER_HOST", no_daemon.as_str())];
    let docker_on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join("docker").is_file());
    let why = if docker_on_path { "docker's daemon does not answer (" } else { "docker is not on PATH" };
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo-worker:v1";

    // A dry run names the registry the new repository will have, not a placeholder. Run from
    // a directory inside the checkout but not its root: the checkout is found walking up (the
    // binary itself may live outside it, under another CARGO_TARGET_DIR).
    let inside = checkout.join("cli").join("src");
    for args in [&["--dry-run", "--build", "--tag", "v1"][..], &["--build", "--tag", "v1"][..]] {
        let output = run_deploy_in(&server, dir.path(), &inside, &config, args, &env);
        let plan = plan_of(&output);
        assert!(output.status.success(), "{plan:#?}\n{}", String::from_utf8_lossy(&output.stderr));
        let built = line(&plan, "image", image);
        assert_eq!(action(&plan, "image", image), "unchanged", "{args:?}");
        assert!(built.contains(why), "{built}");
        let build = format!("docker build --platform=linux/amd64 -t {image} {} && ", checkout.display());
        assert!(built.contains(&build), "{built}");
        let login = "--password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com && docker push";
        assert!(built.contains(login), "{built}");
    }
}
