//! An AWS emulator for offline tests: `moto_server` on a free loopback port, killed on drop.
//!
//! `scripts/setup.sh` installs moto into `.tools/moto`; `TRANSFLOW_MOTO_SERVER` or `PATH` may
//! point elsewhere. Each server is a fresh account, so tests do not see each other's resources.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl MotoServer {
    /// Starts a server and waits (bounded) until it answers.
    pub fn start() -> MotoServer {
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        let child = Command::new(moto_server_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (bash scripts/setup.sh installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let server = MotoServer { child, endpoint };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Environment a child process (the CLI, `bootstrap`) needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("TRANSFLOW_AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
        ]
    }

    /// An SDK configuration for this server with the test credentials moto accepts.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(transflow_aws::https_client())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .build()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRANSFLOW_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/moto/bin/moto_server");
    if installed.exists() { installed } else { PathBuf::from("moto_server") }
}
