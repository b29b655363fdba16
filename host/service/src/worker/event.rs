//! The queue message: an S3 event notification, parsed leniently.
//!
//! On AWS, S3 sends `ObjectCreated` events to SQS; the embedded upload endpoint enqueues the
//! same shape, so one parser serves both. Only the fields Transflow needs are read, every one
//! optional, so an event version with more (or fewer) fields still parses; keys arrive
//! URL-encoded with `+` for spaces and are decoded here.

use serde::{Deserialize, Serialize};
use transflow_store::keys::{NotAnUpload, UploadKey};

/// An S3 event notification as S3 sends it (and as the embedded store imitates it).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct S3Event {
    /// The records; absent in `s3:TestEvent`.
    #[serde(rename = "Records", default)]
    pub records: Vec<S3EventRecord>,
    /// `s3:TestEvent` when S3 checks that it may write to the queue.
    #[serde(rename = "Event", default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// One record of an event.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct S3EventRecord {
    /// E.g. `ObjectCreated:Put`.
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    /// Bucket and object.
    #[serde(default)]
    pub s3: S3Entity,
}

/// The `s3` part of a record.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct S3Entity {
    /// Where the object was stored; not read, since a worker has one media bucket.
    #[serde(default)]
    pub bucket: S3Bucket,
    /// The object that was created; its key names the upload.
    #[serde(default)]
    pub object: S3Object,
}

/// A bucket reference.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct S3Bucket {
    /// Bucket name.
    #[serde(default)]
    pub name: String,
}

/// An object reference.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct S3Object {
    /// The key, URL-encoded.
    #[serde(default)]
    pub key: String,
    /// Size in bytes; not read, since the worker looks the uploads up itself.
    #[serde(default)]
    pub size: Option<u64>,
}

/// Why a message cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not shaped like an S3 event.
    #[error("the message is not an S3 event: {0}")]
    NotAnEvent(String),
    /// An object key outside the uploads layout.
    #[error(transparent)]
    NotAnUpload(#[from] NotAnUpload),
}

/// The uploads an event announces: empty for a test event or for events that are not object
/// creations.
pub fn parse_event(body: &str) -> Result<Vec<UploadKey>, EventError> {
    let event: S3Event = serde_json::from_str(body).map_err(|e| EventError::NotAnEvent(e.to_string()))?;
    if event.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if event.records.is_empty() {
        return Err(EventError::NotAnEvent("it has no records".into()));
    }
    event
        .records
        .iter()
        .filter(|record| record.event_name.starts_with("ObjectCreated:"))
        .map(|record| Ok(UploadKey::parse(&decode_key(&record.s3.object.key))?))
        .collect()
}

/// The event the embedded store enqueues when an upload lands, shaped like S3's.
pub fn object_created(bucket: &str, key: &str, size: u64) -> String {
    let event = S3Event {
        records: vec![S3EventRecord {
            event_name: "ObjectCreated:Put".into(),
            s3: S3Entity {
                bucket: S3Bucket { name: bucket.into() },
                object: S3Object { key: encode_key(key), size: Some(size) },
            },
        }],
        event: None,
    };
    serde_json::to_string(&event).expect("an S3 event serializes")
}

/// S3's key encoding in events: form-URL-encoding, `+` for space.
fn decode_key(key: &str) -> String {
    url::form_urlencoded::parse(format!("k={key}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .next()
        .unwrap_or_default()
}

fn encode_key(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>().replace("%2F", "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "f50ea2cbed5208ace1069f28ff46e252347659e10ee93334a49807a29e533461";
    const UID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn keys_are_url_decoded_with_plus_as_space() {
        let body = format!(
            r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{{"bucket":{{"name":"media"}},"object":{{"key":"uploads/main/{AID}/{UID}/my+clip%282%29.mp4","size":5,"eTag":"x"}}}}}}]}}"#
        );
        let uploads = parse_event(&body).unwrap();
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].name, "my clip(2).mp4");
        assert_eq!(uploads[0].key(), format!("uploads/main/{AID}/{UID}/my clip(2).mp4"));
    }

    #[test]
    fn our_events_round_trip() {
        let key = format!("uploads/feature-x/{AID}/{UID}/a b+c&d.mov");
        let uploads = parse_event(&object_created("local", &key, 9)).unwrap();
        assert_eq!(uploads[0].key(), key);
        assert_eq!(uploads[0].branch, "feature-x");
    }

    #[test]
    fn test_events_and_other_event_names_announce_nothing() {
        let test_event =
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-01T00:00:00Z","Bucket":"b"}"#;
        assert_eq!(parse_event(test_event).unwrap(), Vec::new());
        let removed = format!(
            r#"{{"Records":[{{"eventName":"ObjectRemoved:Delete","s3":{{"object":{{"key":"uploads/main/{AID}/{UID}/x"}}}}}}]}}"#
        );
        assert_eq!(parse_event(&removed).unwrap(), Vec::new());
    }

    #[test]
    fn malformed_messages_and_foreign_keys_are_refused() {
        assert!(matches!(parse_event("not json"), Err(EventError::NotAnEvent(_))));
        assert!(matches!(parse_event("{}"), Err(EventError::NotAnEvent(_))));
        assert!(matches!(parse_event(r#"{"Records":"x"}"#), Err(EventError::NotAnEvent(_))));
        let foreign =
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"outputs/main/a/b/c"}}}]}"#;
        assert!(matches!(parse_event(foreign), Err(EventError::NotAnUpload(_))));
    }
}
