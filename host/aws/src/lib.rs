//! The AWS backends: S3 for blobs and templates, DynamoDB for status records, SQS for jobs.
//!
//! They keep the promises of the traits in [`transflow_store::backends`] with the services' own tools:
//! checked multipart uploads, conditional writes on a version attribute, visibility timeouts
//! and a redrive policy. Every client comes from one [`AwsClients`], so an endpoint override
//! (an emulator on loopback) reaches all of them at once.

mod blobs;
mod queue;
pub mod schema;
mod status;

pub use blobs::S3BlobStore;
pub use queue::SqsJobQueue;
pub use status::DynamoStatusStore;

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use std::sync::Arc;
use std::time::Duration;
use transflow_store::backends::BackendError;
use transflow_store::backends::Backends;
use transflow_store::blob_registry::BlobTemplateRegistry;

/// Where a project keeps its data on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The bucket of uploads, outputs and spilled status records.
    pub bucket: String,
    /// The bucket of published templates (often the media bucket).
    pub templates_bucket: String,
    /// The DynamoDB table of status records.
    pub table: String,
    /// The job queue's name.
    pub queue: String,
    /// How long DynamoDB keeps an ended assembly's status (its TTL attribute).
    pub status_ttl: Duration,
    /// How long a worker trusts a template's current-version pointer before reading it again.
    pub template_pointer_ttl: Duration,
}

/// The one HTTP client every SDK call goes through: hyper with rustls on ring (the SDK's
/// default features would build a second TLS stack on aws-lc for the same job).
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Clients of the services Transflow uses, sharing one region, endpoint and credentials.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// The resolved SDK configuration (for clients of other services, as `transflow deploy`
    /// needs).
    pub sdk: aws_config::SdkConfig,
    /// S3. Checksums are computed only where S3 requires them: a pre-signed URL that carried
    /// the checksum of an empty body would refuse every real upload.
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB, for the status table.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS, for the job queue and its dead-letter queue.
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// Builds the clients for `region` (and a custom endpoint, such as an emulator's), with
    /// credentials from the SDK's default chain.
    pub async fn connect(region: &str, endpoint_url: Option<&str>) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https_client())
            .region(aws_config::Region::new(region.to_owned()));
        if let Some(endpoint) = endpoint_url {
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
    pub fn blobs(&self, settings: &AwsSettings) -> Arc<S3BlobStore> {
        Arc::new(S3BlobStore::new(self.s3.clone(), &settings.bucket))
    }

    /// The status table, spilling large records to the media bucket.
    pub fn statuses(&self, settings: &AwsSettings) -> Arc<DynamoStatusStore> {
        Arc::new(DynamoStatusStore::new(
            self.dynamodb.clone(),
            &settings.table,
            self.blobs(settings),
            settings.status_ttl,
        ))
    }

    /// The template registry in the templates bucket.
    pub fn templates(&self, settings: &AwsSettings) -> Arc<BlobTemplateRegistry> {
        let bucket = S3BlobStore::new(self.s3.clone(), &settings.templates_bucket);
        Arc::new(BlobTemplateRegistry::new(Arc::new(bucket), settings.template_pointer_ttl))
    }

    /// The four backends of a deployed project; `queue_url` overrides the configured queue.
    pub async fn open(
        &self,
        settings: &AwsSettings,
        queue_url: Option<&str>,
    ) -> Result<Backends, BackendError> {
        let queue_url = match queue_url {
            Some(url) => url.to_owned(),
            None => SqsJobQueue::url_of(&self.sqs, &settings.queue).await?,
        };
        Ok(Backends {
            blobs: self.blobs(settings),
            statuses: self.statuses(settings),
            queue: Arc::new(SqsJobQueue::open(self.sqs.clone(), &queue_url).await?),
            templates: self.templates(settings),
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
