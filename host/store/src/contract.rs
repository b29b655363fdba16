//! What every backend implementation promises, checked the same way against each: the
//! embedded ones on disk and the AWS ones against moto, side by side in
//! `tests/tests/integration/contract.rs`. Ids are prefixed per call, so a store may be shared
//! with other tests.

use crate::assembly::AssemblyStatus;
use crate::backends::{BackendError, BlobSpec, BlobStore, Created, JobQueue, StatusStore, Versioned};
use md5::{Digest, Md5};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// A minimal status document, built from JSON so it keeps compiling as optional fields are
/// added to [`AssemblyStatus`].
pub fn status(id: &str, branch: &str, created_at: &str) -> AssemblyStatus {
    serde_json::from_value(serde_json::json!({
        "assembly_id": id,
        "ok": "ASSEMBLY_UPLOADING",
        "message": "Waiting for uploads",
        "template_id": "thumbnails",
        "template_version": "0".repeat(64),
        "branch": branch,
        "user": { "user_id": "u1" },
        "fields": {},
        "uploads": [],
        "results": {},
        "bytes_expected": 10,
        "bytes_received": 0,
        "bytes_usage": 0,
        "progress": 0.0,
        "sandbox": "none",
        "created_at": created_at,
        "updated_at": created_at,
    }))
    .expect("the fixture matches AssemblyStatus")
}

/// Create-once, compare-and-set, leases, branch listing and deletion, and documents too large
/// for one DynamoDB item.
pub async fn status_store(store: &dyn StatusStore, prefix: &str) {
    let id = |name: &str| format!("{prefix}{name}");
    let now = crate::assembly::now_rfc3339();

    // Create keeps the first record.
    let first = status(&id("a1"), "main", &now);
    assert_eq!(store.create(&first).await.unwrap(), Created::New);
    let mut second = first.clone();
    second.message = "something else".into();
    let existing = Created::Existing(Box::new(Versioned { value: first.clone(), version: 1 }));
    assert_eq!(store.create(&second).await.unwrap(), existing);
    assert_eq!(store.get(&id("missing")).await.unwrap(), None);
    let error = store.create(&status(&id("bad-time"), "main", "yesterday")).await.unwrap_err();
    assert!(matches!(error, BackendError::Rejected(_)), "{error:?}");

    // Update is compare-and-set.
    let mut record = first.clone();
    record.progress = 50.0;
    assert_eq!(store.update(&record, 1).await.unwrap(), 2);
    assert_eq!(store.get(&id("a1")).await.unwrap(), Some(Versioned { value: record.clone(), version: 2 }));
    record.progress = 75.0;
    let stale = store.update(&record, 1).await.unwrap_err();
    assert!(matches!(stale, BackendError::Conflict(_)), "{stale:?}");
    let missing = store.update(&status(&id("nope"), "main", &now), 1).await.unwrap_err();
    assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");

    // The document as JSON is byte for byte what serializing the stored record gives.
    let json = store.get_json(&id("a1")).await.unwrap().expect("the record exists");
    let stored = store.get(&id("a1")).await.unwrap().expect("the record exists").value;
    assert_eq!(json, serde_json::to_string(&stored).unwrap());
    assert_eq!(store.get_json(&id("missing")).await.unwrap(), None);

    // A live lease belongs to one run: exclusive against other workers, against a second run
    // on the same worker, and against its own run taking it again (runs renew). It leaves the
    // version alone.
    let a1 = id("a1");
    let lease =
        store.acquire_lease(&a1, "w1", Duration::from_secs(10)).await.unwrap().expect("the lease is free");
    assert_eq!(lease.owner, "w1");
    assert_eq!(store.acquire_lease(&a1, "w2", LONG).await.unwrap(), None);
    assert_eq!(store.acquire_lease(&a1, "w1/second-run", LONG).await.unwrap(), None);
    assert_eq!(store.acquire_lease(&a1, "w1", LONG).await.unwrap(), None, "taken once per run");
    assert_eq!(store.update(&record, 2).await.unwrap(), 3);
    let missing = store.acquire_lease(&id("nope"), "w1", LONG).await.unwrap_err();
    assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");

    // Only the holder renews or releases.
    let stranger = store.renew_lease(&a1, "w2", LONG).await.unwrap_err();
    assert!(matches!(stranger, BackendError::Conflict(_)), "{stranger:?}");
    assert!(store.renew_lease(&a1, "w1", LONG).await.unwrap().expires_at > lease.expires_at);
    store.release_lease(&a1, "w2").await.unwrap();
    assert_eq!(store.acquire_lease(&a1, "w2", LONG).await.unwrap(), None);
    store.release_lease(&a1, "w1").await.unwrap();
    assert_eq!(
        store.acquire_lease(&a1, "w2", Duration::from_millis(300)).await.unwrap().unwrap().owner,
        "w2"
    );

    // An expired lease can be taken over; its old holder then cannot renew it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.acquire_lease(&a1, "w3", LONG).await.unwrap().unwrap().owner, "w3");
    let lost = store.renew_lease(&a1, "w2", LONG).await.unwrap_err();
    assert!(matches!(lost, BackendError::Conflict(_)), "{lost:?}");

    // A document far past DynamoDB's 400 KB item limit round-trips.
    let mut large = status(&id("large"), "main", &now);
    large.fields.insert("notes".into(), "x".repeat(600 * 1024));
    store.create(&large).await.unwrap();
    assert_eq!(store.get(&id("large")).await.unwrap().unwrap().value, large);
    large.progress = 10.0;
    assert_eq!(store.update(&large, 1).await.unwrap(), 2);
    large.fields.clear();
    assert_eq!(store.update(&large, 2).await.unwrap(), 3);
    assert_eq!(store.get(&id("large")).await.unwrap().unwrap().value, large);

    // Branches are listed newest first (as times, ties by id) and deleted apart.
    let (main, dev) = (format!("{prefix}main"), format!("{prefix}dev"));
    for (name, created_at) in [
        ("m1", "2024-05-01T10:00:00Z"),
        ("m2", "2024-05-01T10:00:00.5Z"),
        ("m3", "2024-05-01T10:00:01Z"),
        ("m0", "2024-05-01T10:00:01Z"),
    ] {
        store.create(&status(&id(name), &main, created_at)).await.unwrap();
    }
    store.create(&status(&id("d1"), &dev, "2024-05-02T00:00:00Z")).await.unwrap();
    let ids = |list: Vec<AssemblyStatus>| {
        list.into_iter().map(|s| s.assembly_id.trim_start_matches(prefix).to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.list_branch(&main, 10).await.unwrap()), ["m3", "m0", "m2", "m1"]);
    assert_eq!(ids(store.list_branch(&main, 2).await.unwrap()), ["m3", "m0"]);
    assert_eq!(store.delete_branch(&main).await.unwrap(), 4);
    assert!(store.list_branch(&main, 10).await.unwrap().is_empty());
    assert_eq!(store.get(&id("m1")).await.unwrap(), None);
    assert_eq!(ids(store.list_branch(&dev, 10).await.unwrap()), ["d1"]);
}

/// Checked puts (small and multipart), refusals that store nothing, listing and deletion by
/// prefix, and files in and out.
pub async fn blob_store(store: &dyn BlobStore, prefix: &str) {
    let body = |bytes: Vec<u8>| -> crate::backends::ByteStream { Box::pin(std::io::Cursor::new(bytes)) };
    let spec_for = |bytes: &[u8]| BlobSpec {
        size: Some(bytes.len() as u64),
        md5: Some(hex::encode(Md5::digest(bytes))),
        content_type: "video/mp4".into(),
        metadata: [("assembly".to_owned(), "a1".to_owned())].into(),
    };
    let small = b"small body".to_vec();
    let key = format!("{prefix}uploads/small.mp4");
    let stored = store.put(&key, body(small.clone()), &spec_for(&small)).await.unwrap();
    assert_eq!(stored.md5, hex::encode(Md5::digest(&small)));
    let info = store.head(&key).await.unwrap().expect("stored");
    assert_eq!((info.size, info.content_type.as_str()), (small.len() as u64, "video/mp4"));
    assert_eq!(info.metadata.get("assembly").map(String::as_str), Some("a1"));

    // 20 MiB: three parts on S3.
    let large: Vec<u8> = (0..20 << 20).map(|i: u32| (i % 251) as u8).collect();
    let large_key = format!("{prefix}outputs/large.bin");
    let stored = store.put(&large_key, body(large.clone()), &spec_for(&large)).await.unwrap();
    assert_eq!((stored.size, stored.md5.clone()), (large.len() as u64, hex::encode(Md5::digest(&large))));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("large.bin");
    assert_eq!(store.get_to_file(&large_key, &copy).await.unwrap(), large.len() as u64);
    assert!(std::fs::read(&copy).unwrap() == large, "the large blob round-trips");
    // A range across a multipart boundary (on S3), and the last byte.
    for (start, length) in [((8 << 20) - 10, 20), (large.len() as u64 - 1, 1)] {
        let mut range = Vec::new();
        let mut stream = store.open_range(&large_key, start, length).await.unwrap();
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut range).await.unwrap();
        assert!(range[..] == large[start as usize..(start + length) as usize], "bytes {start}+{length}");
    }

    // A body that is not what was declared leaves nothing behind, small or multipart.
    for (bytes, declared) in [(small.clone(), b"other body".to_vec()), (large.clone(), large[1..].to_vec())] {
        let refused_key = format!("{prefix}uploads/refused-{}", bytes.len());
        let error = store.put(&refused_key, body(bytes), &spec_for(&declared)).await.unwrap_err();
        assert!(matches!(error, BackendError::Rejected(_)), "{error:?}");
        assert_eq!(store.head(&refused_key).await.unwrap(), None);
    }
    let missing = store.get_to_file(&format!("{prefix}missing"), &dir.path().join("m")).await.unwrap_err();
    assert!(matches!(missing, BackendError::NotFound(_)), "{missing:?}");

    let listed: Vec<_> = store.list(prefix).await.unwrap().into_iter().map(|b| (b.key, b.size)).collect();
    assert_eq!(listed, [(large_key.clone(), large.len() as u64), (key.clone(), small.len() as u64)]);
    assert_eq!(store.delete_prefix(&format!("{prefix}uploads/")).await.unwrap(), 1);
    assert_eq!(store.head(&key).await.unwrap(), None);
    assert!(store.head(&large_key).await.unwrap().is_some(), "other prefixes stay");
}

/// At-least-once delivery with visibility, receive counts, extension, release and
/// acknowledgement, on an empty queue.
pub async fn job_queue(queue: &dyn JobQueue) {
    let short = Duration::from_secs(1);
    let id = queue.send("job-1").await.unwrap();
    let first = receive_one(queue, short).await;
    assert_eq!(
        (first.message_id.as_str(), first.body.as_str(), first.receive_count),
        (id.as_str(), "job-1", 1)
    );
    assert!(queue.receive(10, short, Duration::ZERO).await.unwrap().is_empty(), "hidden while in flight");

    // Extended, it stays hidden past its first visibility timeout.
    queue.extend(&first.receipt, Duration::from_secs(3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(queue.receive(10, short, Duration::ZERO).await.unwrap().is_empty(), "extended");

    // Released, it is back at once with its receive count up.
    queue.release(&first.receipt).await.unwrap();
    let second = receive_one(queue, LONG).await;
    assert_eq!((second.message_id.as_str(), second.receive_count), (id.as_str(), 2));
    queue.ack(&second.receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(queue.receive(10, short, Duration::ZERO).await.unwrap().is_empty(), "acknowledged");
}

/// Waits (bounded) for one delivery.
async fn receive_one(queue: &dyn JobQueue, visibility: Duration) -> crate::backends::Delivery {
    for _ in 0..20 {
        if let Some(delivery) = queue.receive(1, visibility, Duration::from_secs(1)).await.unwrap().pop() {
            return delivery;
        }
    }
    panic!("no message arrived within 20 polls");
}
