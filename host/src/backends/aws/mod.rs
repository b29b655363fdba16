//! The AWS backends: S3 for blobs and templates, DynamoDB for status records, SQS for jobs.
//!
//! They keep the promises of the traits in [`crate::backends`] with the services' own tools:
//! checked multipart uploads, conditional writes on a version attribute, visibility timeouts
//! and a redrive policy. Every client comes from one [`AwsClients`], so an endpoint override
//! (an emulator on loopback) reaches all of them at once.

mod blobs;
mod queue;
mod status;

pub use blobs::S3BlobStore;
pub use queue::SqsJobQueue;
pub use status::{BRANCH_INDEX, DynamoStatusStore};

use crate::backends::BackendError;
use crate::backends::blob_registry::BlobTemplateRegistry;
use crate::config::Config;
use crate::worker::Backends;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use std::sync::Arc;
use std::time::Duration;

/// Clients of the services Transflow uses, sharing one region, endpoint and credentials.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// The resolved SDK configuration (for clients of other services, as `transflow deploy`
    /// needs).
    pub sdk: aws_config::SdkConfig,
    /// S3. Checksums are computed only where S3 requires them: a pre-signed URL that carried
    /// the checksum of an empty body would refuse every real upload.
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Builds the clients for `config.aws`, with credentials from the SDK's default chain.
    pub async fn connect(config: &crate::config::AwsConfig) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.region.clone()));
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        AwsClients::from_sdk(loader.load().await)
    }

    /// Builds the clients from a prepared SDK configuration (tests pass an emulator's).
    pub fn from_sdk(sdk: aws_config::SdkConfig) -> AwsClients {
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
            // Emulators and custom endpoints have no virtual-host DNS for buckets.
            .force_path_style(sdk.endpoint_url().is_some())
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            sdk,
        }
    }

    /// The media bucket.
    pub fn blobs(&self, config: &Config) -> Arc<S3BlobStore> {
        Arc::new(S3BlobStore::new(self.s3.clone(), &config.aws_names().bucket))
    }

    /// The status table, spilling large records to the media bucket.
    pub fn statuses(&self, config: &Config) -> Arc<DynamoStatusStore> {
        Arc::new(DynamoStatusStore::new(
            self.dynamodb.clone(),
            &config.aws_names().table,
            self.blobs(config),
            Duration::from_secs(config.aws.status_ttl_days * 24 * 3600),
        ))
    }

    /// The template registry in the templates bucket.
    pub fn templates(&self, config: &Config) -> Arc<BlobTemplateRegistry> {
        let bucket = S3BlobStore::new(self.s3.clone(), &config.aws_names().templates_bucket);
        Arc::new(BlobTemplateRegistry::new(
            Arc::new(bucket),
            Duration::from_millis(config.aws.template_pointer_ttl_ms),
        ))
    }

    /// The four backends of a deployed project; `queue_url` overrides the configured queue.
    pub async fn backends(&self, config: &Config, queue_url: Option<&str>) -> Result<Backends, BackendError> {
        let queue_url = match queue_url {
            Some(url) => url.to_owned(),
            None => SqsJobQueue::url_of(&self.sqs, &config.aws_names().queue).await?,
        };
        Ok(Backends {
            blobs: self.blobs(config),
            statuses: self.statuses(config),
            queue: Arc::new(SqsJobQueue::open(self.sqs.clone(), &queue_url).await?),
            templates: self.templates(config),
        })
    }
}

/// An SDK failure as a backend error, with the service's own message (the SDK's plain
/// `Display` says only "service error").
pub(crate) fn sdk_error<E, R>(
    context: impl Into<String>,
    error: aws_sdk_s3::error::SdkError<E, R>,
) -> BackendError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    BackendError::io(context, aws_sdk_s3::error::DisplayErrorContext(error).to_string())
}
