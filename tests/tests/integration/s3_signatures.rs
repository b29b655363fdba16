//! Pre-signed S3 URLs against a server that checks SigV4 signatures (s3s-fs), which moto does
//! not: the declared body is accepted exactly as declared; another type, metadata, body, a
//! tampered signature or an expired URL is refused, and nothing is stored.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use md5::{Digest, Md5};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::collections::BTreeMap;
use std::time::Duration;
use transflow_aws::{AwsClients, S3BlobStore};
use transflow_store::backends::{BlobSpec, BlobStore, UploadTarget};

const ACCESS_KEY: &str = "AKIDTRANSFLOWTEST";
const SECRET_KEY: &str = "transflow-test-secret-key-0123456789";

/// An s3s-fs server with one bucket, `media`, checking signatures with the test key.
async fn signature_checking_s3(root: &std::path::Path) -> String {
    std::fs::create_dir_all(root.join("media")).unwrap();
    let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    endpoint
}

fn store(endpoint: &str) -> S3BlobStore {
    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(transflow_aws::https_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        )))
        .build();
    S3BlobStore::new(AwsClients::from_sdk(sdk).s3, "media")
}

async fn put(target: &UploadTarget, headers: &BTreeMap<String, String>, body: &[u8]) -> reqwest::StatusCode {
    let mut request = reqwest::Client::new().put(&target.url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body.to_vec()).send().await.expect("the server answers").status()
}

#[tokio::test]
async fn presigned_uploads_admit_exactly_the_declared_body() {
    let root = tempfile::tempdir().unwrap();
    let endpoint = signature_checking_s3(root.path()).await;
    let store = store(&endpoint);
    let body = b"the declared body of a small upload".to_vec();
    let spec = BlobSpec {
        size: Some(body.len() as u64),
        md5: Some(hex::encode(Md5::digest(&body))),
        content_type: "video/mp4".into(),
        metadata: [("assembly".to_owned(), "a1".to_owned())].into(),
    };
    let key = "uploads/main/a1/u1/clip.mp4";
    let target = store.presign_put(key, &spec, Duration::from_secs(300)).await.unwrap();
    assert!(!target.url.contains("x-amz-checksum"), "no empty-body checksum is signed: {}", target.url);

    // Tampering with what was signed is refused before anything is stored.
    let mut wrong_type = target.headers.clone();
    wrong_type.insert("content-type".into(), "text/html".into());
    let mut no_metadata = target.headers.clone();
    no_metadata.remove("x-amz-meta-assembly");
    let mut other_metadata = target.headers.clone();
    other_metadata.insert("x-amz-meta-assembly".into(), "a2".into());
    for (what, headers) in
        [("type", &wrong_type), ("metadata", &no_metadata), ("metadata value", &other_metadata)]
    {
        let status = put(&target, headers, &body).await;
        assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "a changed {what} is refused");
    }
    let mut forged = target.clone();
    let last = forged.url.pop().unwrap();
    forged.url.push(if last == '0' { '1' } else { '0' });
    assert_eq!(put(&forged, &target.headers, &body).await, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(store.head(key).await.unwrap(), None, "nothing was stored");
    // A body of the same length with another MD5 is refused too (S3 stores nothing then;
    // s3s-fs checks after writing, so only the refusal is checked here).
    let mut same_length = body.clone();
    same_length[0] ^= 1;
    let status = put(&target, &target.headers, &same_length).await;
    assert!(status.is_client_error(), "a body with another MD5 is refused: {status}");

    // The declared body goes in, with its type and metadata.
    assert!(put(&target, &target.headers, &body).await.is_success());
    let info = store.head(key).await.unwrap().expect("stored");
    assert_eq!((info.size, info.content_type.as_str()), (body.len() as u64, "video/mp4"));
    assert_eq!(info.metadata.get("assembly").map(String::as_str), Some("a1"));

    // Download URLs are signed too.
    let url = store.download_url(key, Duration::from_secs(300)).await.unwrap();
    let fetched = reqwest::get(&url).await.unwrap();
    assert!(fetched.status().is_success());
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), body.as_slice());
    let tampered = url.replace("uploads/main/a1", "uploads/main/a2");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), reqwest::StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_expired_upload_url_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let endpoint = signature_checking_s3(root.path()).await;
    let store = store(&endpoint);
    let spec = BlobSpec { size: Some(4), content_type: "audio/wav".into(), ..BlobSpec::default() };
    let target = store.presign_put("uploads/main/a1/u1/a.wav", &spec, Duration::from_secs(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(put(&target, &target.headers, b"RIFF").await, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(store.head("uploads/main/a1/u1/a.wav").await.unwrap(), None);
}
