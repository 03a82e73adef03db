//! The processor's entry point: an S3 "Object Created" event as EventBridge delivers it.
//!
//! The processing Lambda receives exactly this JSON; `eventpulse local` builds the same
//! event when an upload completes and passes it through the same [`handle`], so both run
//! one code path from the event on.

use crate::processor::{Outcome, ProcessError, Processor};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An EventBridge event whose `detail` is S3's "Object Created" detail. Only the fields
/// EventPulse uses are typed; the rest are kept so the event round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectCreatedEvent {
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    pub time: DateTime<Utc>,
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: ObjectCreatedDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectCreatedDetail {
    pub version: String,
    pub bucket: BucketRef,
    pub object: ObjectRef,
    #[serde(
        rename = "request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    #[serde(
        rename = "source-ip-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// AWS spells it `etag`; moto, `eTag`.
    #[serde(default, alias = "eTag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(
        rename = "version-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

pub const DETAIL_TYPE: &str = "Object Created";
pub const SOURCE: &str = "aws.s3";

impl ObjectCreatedEvent {
    /// The event S3 would send for a `PutObject` of `key` into `bucket` (used locally).
    pub fn put_object(bucket: &str, key: &str, size: u64, etag: &str, at: DateTime<Utc>) -> Self {
        Self {
            version: "0".into(),
            id: uuid::Uuid::new_v4().to_string(),
            detail_type: DETAIL_TYPE.into(),
            source: SOURCE.into(),
            account: "000000000000".into(),
            time: at,
            region: "local".into(),
            resources: vec![format!("arn:aws:s3:::{bucket}")],
            detail: ObjectCreatedDetail {
                version: "0".into(),
                bucket: BucketRef {
                    name: bucket.into(),
                },
                object: ObjectRef {
                    key: key.into(),
                    size: Some(size),
                    etag: Some(etag.into()),
                    version_id: None,
                    sequencer: Some(format!(
                        "{:016X}",
                        at.timestamp_nanos_opt().unwrap_or_default()
                    )),
                },
                request_id: None,
                requester: None,
                source_ip_address: None,
                reason: Some("PutObject".into()),
            },
        }
    }

    /// The object key, decoded. S3 percent-encodes some characters of keys in events; keys in
    /// our layout never contain `%`, so decoding cannot misread one of ours, and a key that
    /// does not decode is passed on as is (it will be quarantined as outside the layout).
    pub fn key(&self) -> String {
        let raw = &self.detail.object.key;
        if !raw.contains('%') {
            return raw.clone();
        }
        percent_decode(raw).unwrap_or_else(|| raw.clone())
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why an event was not processed.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// Not an event for us: wrong source, type or bucket. Never worth a retry.
    #[error("ignored event: {0}")]
    NotForUs(String),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

impl EntryError {
    pub fn retryable(&self) -> bool {
        match self {
            EntryError::NotForUs(_) => false,
            EntryError::Process(e) => e.retryable(),
        }
    }
}

/// Processes the object an event is about. `process_bucket` is the bucket name this
/// deployment processes; events about other buckets are refused.
pub async fn handle(
    processor: &Processor,
    process_bucket: &str,
    event: &ObjectCreatedEvent,
) -> Result<Outcome, EntryError> {
    if event.source != SOURCE || event.detail_type != DETAIL_TYPE {
        return Err(EntryError::NotForUs(format!(
            "{} / {}",
            event.source, event.detail_type
        )));
    }
    if event.detail.bucket.name != process_bucket {
        return Err(EntryError::NotForUs(format!(
            "bucket {} is not {process_bucket}",
            event.detail.bucket.name
        )));
    }
    Ok(processor.process(&event.key()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/eventbridge-s3-object-created.json");

    #[test]
    fn parses_the_aws_event_and_round_trips() {
        let e: ObjectCreatedEvent = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(e.detail.bucket.name, "eventpulse-process-111122223333");
        assert_eq!(
            e.key(),
            "incoming/alice/0193a5b2c3d4e5f6a7b8c9d0e1f2a3b4.json"
        );
        assert_eq!(e.detail.object.size, Some(5));
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(FIXTURE).unwrap()
        );
    }

    #[test]
    fn local_events_have_the_aws_shape() {
        let e = ObjectCreatedEvent::put_object("b", "incoming/a/u.json", 3, "abc", Utc::now());
        let v = serde_json::to_value(&e).unwrap();
        for field in [
            "/detail-type",
            "/detail/bucket/name",
            "/detail/object/key",
            "/detail/object/etag",
            "/detail/reason",
        ] {
            assert!(v.pointer(field).is_some(), "{field}");
        }
        assert_eq!(serde_json::from_value::<ObjectCreatedEvent>(v).unwrap(), e);
    }

    #[test]
    fn keys_are_percent_decoded() {
        let mut e: ObjectCreatedEvent = serde_json::from_str(FIXTURE).unwrap();
        e.detail.object.key = "incoming/a%40b.c/u1.json".into();
        assert_eq!(e.key(), "incoming/a@b.c/u1.json");
        e.detail.object.key = "incoming/%zz/u1.json".into();
        assert_eq!(e.key(), "incoming/%zz/u1.json");
    }
}
