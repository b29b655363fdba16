//! Embedded-stack figures for BENCHMARKS.md (not a test; nothing here asserts a time):
//!
//! - `GET /api/status/{id}` on loopback: requests/s and latency percentiles, next to a baseline
//!   of the same client against a route that does no work (`GET /` serves a static page), so the
//!   ratio shows what auth + SQLite + JSON cost on top of HTTP itself;
//! - upload hashing: a 1 GiB body streamed into the blob store (MD5 + SHA-256 while writing),
//!   next to the same bytes written to disk without hashing, with peak RSS before and after.

use std::time::{Duration, Instant};
use tokio::io::AsyncRead;
use transflow_local::LocalBlobStore;
use transflow_store::backends::{BlobSpec, BlobStore};
use transflow_tests::stack::TestStack;

const CONNECTIONS: usize = 32;
const DURATION: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let stack = TestStack::start(|_| {}).await;
    let clip = transflow_tests::media().clip.as_path();
    let plan: serde_json::Value =
        stack.create_upload("video-thumbnails", &[clip], serde_json::json!({})).await.json().await.unwrap();
    let id = plan["assembly_id"].as_str().unwrap().to_owned();

    let (page_rate, page_latency) = load(&stack, "/", false).await;
    let (status_rate, status_latency) = load(&stack, &format!("/api/status/{id}"), true).await;
    println!(
        "GET / (static page, baseline) : {page_rate:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        page_latency.0, page_latency.1
    );
    println!(
        "GET /api/status/{{id}}         : {status_rate:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        status_latency.0, status_latency.1
    );
    println!("status ÷ baseline throughput  : {:.2}", status_rate / page_rate);
    stack.stop().await;

    hashing().await;
}

/// Runs `CONNECTIONS` concurrent clients for `DURATION`; returns requests/s and (p50, p99) ms.
async fn load(stack: &TestStack, path: &str, authenticated: bool) -> (f64, (f64, f64)) {
    let url = format!("{}{path}", stack.base);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = reqwest::Client::new();
        let (url, token) = (url.clone(), stack.token.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < DURATION {
                let begin = Instant::now();
                let mut request = client.get(&url);
                if authenticated {
                    request = request.bearer_auth(&token);
                }
                let response = request.send().await.expect("server answers");
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
                latencies.push(begin.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (latencies.len() as f64 / elapsed, (at(0.50), at(0.99)))
}

/// `left` bytes: one pseudo-random 1 MiB block, repeated, so producing the body costs a memcpy
/// and the figures measure the store, not the generator.
struct Generated {
    left: u64,
    block: std::sync::Arc<Vec<u8>>,
}

impl Generated {
    fn new(left: u64, block: &std::sync::Arc<Vec<u8>>) -> Generated {
        Generated { left, block: block.clone() }
    }
}

fn random_block() -> std::sync::Arc<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for word in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
    }
    std::sync::Arc::new(block)
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let offset =
            (self.block.len() as u64 - self.left % self.block.len() as u64) as usize % self.block.len();
        let n = (buf.remaining() as u64).min(self.left).min((self.block.len() - offset) as u64) as usize;
        buf.put_slice(&self.block[offset..offset + n]);
        self.left -= n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

const GIB: u64 = 1 << 30;

async fn hashing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::new(dir.path(), "http://127.0.0.1:1/blobs", b"bench").unwrap();
    let block = random_block();
    let before = peak_rss_kib();

    let started = Instant::now();
    let mut file = tokio::fs::File::create(dir.path().join("plain.bin")).await.unwrap();
    tokio::io::copy(&mut Generated::new(GIB, &block), &mut file).await.unwrap();
    file.sync_all().await.unwrap();
    let plain = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(dir.path().join("plain.bin")).unwrap();

    let started = Instant::now();
    let body = Box::pin(Generated::new(GIB, &block));
    let stored = store
        .put("uploads/bench/one-gib.bin", body, &BlobSpec { size: Some(GIB), ..BlobSpec::default() })
        .await
        .unwrap();
    let hashed = started.elapsed().as_secs_f64();
    assert_eq!(stored.size, GIB);

    let mib = GIB as f64 / (1 << 20) as f64;
    println!("1 GiB write, no hashing (baseline)  : {:>7.0} MB/s", mib * 1.048576 / plain);
    println!("1 GiB put with MD5 + SHA-256        : {:>7.0} MB/s", mib * 1.048576 / hashed);
    println!("hashed ÷ baseline throughput        : {:.2}", plain / hashed);
    println!("peak RSS before / after the 1 GiB put: {} / {} MiB", before / 1024, peak_rss_kib() / 1024);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
