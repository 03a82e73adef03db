//! The processor end to end on the embedded adapters: files, SQLite and a counting notifier.

use bytes::Bytes;
use eventpulse_embedded::{FsObjectStore, SqliteTable, TABLE_FILE};
use eventpulse_generated::types::{Notification, NotificationKind, ReasonCode, UploadState};
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::keys;
use eventpulse_handlers::ports::{
    Bucket, EventTable, Notifier, ObjectStore, PortError, PortResult, SystemClock, report_key,
};
use eventpulse_handlers::processor::{Outcome, Processor};
use eventpulse_handlers::wiring::Delivery;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Counts deliveries; can be told to fail.
#[derive(Default)]
struct Counting {
    delivered: Mutex<Vec<(String, Notification)>>,
    fail: AtomicBool,
}

impl Counting {
    fn count(&self) -> usize {
        self.delivered.lock().expect("lock").len()
    }
}

#[async_trait::async_trait]
impl Notifier for Counting {
    async fn deliver(&self, owner: &str, n: &Notification) -> PortResult<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(PortError::transient("webhook down"));
        }
        self.delivered
            .lock()
            .expect("lock")
            .push((owner.into(), n.clone()));
        Ok(())
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<FsObjectStore>,
    table: Arc<SqliteTable>,
    notifier: Arc<Counting>,
    processor: Processor,
}

fn env() -> Env {
    env_with(Delivery::Outbox)
}

fn env_with(delivery: Delivery) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsObjectStore::open(dir.path()).expect("store"));
    let table = Arc::new(SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table"));
    let notifier = Arc::new(Counting::default());
    let processor = Processor {
        objects: store.clone(),
        table: table.clone(),
        notifier: notifier.clone(),
        clock: Arc::new(SystemClock),
        intake: Arc::new(
            Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100).expect("intake"),
        ),
        delivery,
    };
    Env {
        _dir: dir,
        store,
        table,
        notifier,
        processor,
    }
}

fn order(id: &str, currency: &str) -> Value {
    json!({"eventId": id, "type": "order.placed", "occurredAt": "2026-11-27T10:30:00.123456789+01:00",
           "source": "shop", "data": {"orderId": format!("o-{id}"), "currency": currency,
           "amountMinor": 1999, "items": [{"sku": "S-1", "quantity": 2}]}})
}

fn view(id: &str, url: &str) -> Value {
    json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T09:30:00Z", "source": "web",
           "data": {"url": url}})
}

impl Env {
    async fn upload(&self, key: &str, doc: &Value) -> Bytes {
        let bytes = Bytes::from(serde_json::to_vec_pretty(doc).expect("json"));
        self.store
            .put(Bucket::Process, key, bytes.clone(), "application/json")
            .await
            .expect("put");
        bytes
    }

    /// Processes one object, then runs the outbox, as `eventpulse local` does (the processor
    /// only records notifications; the outbox delivers them).
    async fn process(&self, key: &str) -> Outcome {
        let outcome = self.processor.process(key).await.expect("process");
        self.processor.flush_outbox().await.expect("outbox");
        outcome
    }

    async fn in_process_bucket(&self, key: &str) -> bool {
        self.store
            .head(Bucket::Process, key)
            .await
            .expect("head")
            .is_some()
    }

    async fn report(&self, qkey: &str) -> Value {
        let o = self
            .store
            .get(Bucket::Quarantine, &report_key(qkey), 1 << 20)
            .await
            .expect("get")
            .expect("report beside the quarantined object");
        serde_json::from_slice(&o.bytes).expect("report json")
    }
}

#[tokio::test]
async fn a_valid_object_is_stored_and_removed() {
    let env = env();
    let key = keys::incoming_key("alice", "u-1");
    env.upload(
        &key,
        &json!([order("e-1", "EUR"), view("e-2", "https://example.com/a")]),
    )
    .await;
    let etag = env
        .store
        .head(Bucket::Process, &key)
        .await
        .expect("head")
        .expect("object")
        .etag;

    assert_eq!(
        env.process(&key).await,
        Outcome::Stored {
            owner: "alice".into(),
            upload_id: "u-1".into(),
            events: 2,
            inserted: 2,
            duplicates: 0
        }
    );
    assert!(
        !env.in_process_bucket(&key).await,
        "a stored object leaves the process bucket"
    );
    let upload = env
        .table
        .get_upload("alice", "u-1")
        .await
        .expect("get")
        .expect("upload");
    assert_eq!(
        (upload.status, upload.etag, upload.event_count),
        (UploadState::Stored, Some(etag), Some(2))
    );
    let e1 = env
        .table
        .get_event("alice", "e-1")
        .await
        .expect("get")
        .expect("event");
    assert_eq!(e1.body.to_value().unwrap(), order("e-1", "EUR"));
    assert_eq!(
        e1.occurred_at.to_rfc3339(),
        "2026-11-27T09:30:00.123456789+00:00"
    );
    assert!(
        env.table
            .get_event("bob", "e-1")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(env.notifier.count(), 0);

    // The same content uploaded again under the same key (a client retry, or a crash
    // before the clean-up): recognised, cleaned up, nothing duplicated.
    env.upload(
        &key,
        &json!([order("e-1", "EUR"), view("e-2", "https://example.com/a")]),
    )
    .await;
    assert!(matches!(env.process(&key).await, Outcome::Skipped { .. }));
    assert!(!env.in_process_bucket(&key).await);
    // And once the object is gone, a late delivery is skipped too.
    assert!(matches!(env.process(&key).await, Outcome::Skipped { .. }));
}

#[tokio::test]
async fn an_invalid_object_is_quarantined_with_its_report_and_one_notification() {
    let env = env();
    let key = keys::incoming_key("alice", "u-2");
    let bytes = env
        .upload(&key, &json!([order("g-1", "EUR"), order("g-2", "eur")]))
        .await;

    assert_eq!(
        env.process(&key).await,
        Outcome::Quarantined {
            owner: "alice".into(),
            upload_id: "u-2".into(),
            reason: ReasonCode::SchemaViolation,
            errors: 1
        }
    );
    assert!(!env.in_process_bucket(&key).await);
    let qkey = keys::quarantine_key("alice", "u-2");
    let copy = env
        .store
        .get(Bucket::Quarantine, &qkey, 1 << 20)
        .await
        .expect("get")
        .expect("quarantined object");
    assert_eq!(
        copy.bytes, bytes,
        "the quarantined object is the uploaded one, byte for byte"
    );

    let report = env.report(&qkey).await;
    assert_eq!(report["reportVersion"], 1);
    assert_eq!(report["uploadId"], "u-2");
    assert_eq!(report["key"], key.as_str());
    assert_eq!(report["reasonCode"], "schema_violation");
    assert_eq!(report["errorCount"], 1);
    assert_eq!(report["eventCount"], 2);
    assert_eq!(report["sizeBytes"], bytes.len());
    assert_eq!(report["truncated"], false);
    let error = &report["errors"][0];
    assert_eq!(error["pointer"], "/1/data/currency");
    assert_eq!(error["index"], 1);
    assert_eq!(error["eventId"], "g-2");
    assert!(report["message"].as_str().is_some_and(|m| !m.is_empty()));

    assert!(
        env.table
            .get_event("alice", "g-1")
            .await
            .expect("get")
            .is_none(),
        "nothing of a refused object is stored"
    );
    let q = env
        .table
        .get_quarantine("alice", "u-2")
        .await
        .expect("get")
        .expect("indexed");
    assert_eq!(
        (q.key.as_str(), q.reason_code, q.error_count, q.size_bytes),
        (
            qkey.as_str(),
            ReasonCode::SchemaViolation,
            1,
            bytes.len() as u64
        )
    );
    assert_eq!(
        env.table
            .get_upload("alice", "u-2")
            .await
            .expect("get")
            .map(|u| u.status),
        Some(UploadState::Quarantined)
    );

    let delivered = env.notifier.delivered.lock().expect("lock").clone();
    assert_eq!(delivered.len(), 1);
    let (owner, n) = &delivered[0];
    assert_eq!(owner, "alice");
    assert_eq!(n.kind, NotificationKind::ObjectQuarantined);
    assert_eq!(n.upload_id.as_deref().map(String::as_str), Some("u-2"));
    assert_eq!(n.reason_code, Some(ReasonCode::SchemaViolation));
    assert_eq!(
        env.table
            .list_notifications("alice", None, 10)
            .await
            .expect("list"),
        vec![n.clone()]
    );
    assert!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .is_empty(),
        "delivered → marked"
    );

    // Processed twice: skipped, no second notification — whether the object is gone or was
    // uploaded again with the same content.
    assert!(matches!(env.process(&key).await, Outcome::Skipped { .. }));
    env.store
        .put(Bucket::Process, &key, bytes.clone(), "application/json")
        .await
        .expect("put");
    assert!(matches!(env.process(&key).await, Outcome::Skipped { .. }));
    assert!(!env.in_process_bucket(&key).await);
    assert_eq!(env.notifier.count(), 1, "no second notification");
    assert_eq!(
        env.table
            .list_notifications("alice", None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_conflicting_event_id_quarantines_the_whole_object() {
    let env = env();
    let first = keys::incoming_key("alice", "u-3");
    env.upload(&first, &view("c-1", "https://example.com/original"))
        .await;
    assert!(matches!(
        env.process(&first).await,
        Outcome::Stored { inserted: 1, .. }
    ));

    let second = keys::incoming_key("alice", "u-4");
    env.upload(
        &second,
        &json!([
            view("c-2", "https://example.com/new"),
            view("c-1", "https://example.com/changed")
        ]),
    )
    .await;
    assert_eq!(
        env.process(&second).await,
        Outcome::Quarantined {
            owner: "alice".into(),
            upload_id: "u-4".into(),
            reason: ReasonCode::EventIdConflict,
            errors: 1
        }
    );
    let report = env.report(&keys::quarantine_key("alice", "u-4")).await;
    assert_eq!(report["reasonCode"], "event_id_conflict");
    assert_eq!(report["errors"][0]["pointer"], "/1/eventId");
    assert_eq!(report["errors"][0]["keyword"], "eventIdConflict");
    assert_eq!(report["errors"][0]["eventId"], "c-1");
    assert!(
        env.table
            .get_event("alice", "c-2")
            .await
            .expect("get")
            .is_none(),
        "nothing of the object is stored"
    );
    let kept = env
        .table
        .get_event("alice", "c-1")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        kept.body.to_value().unwrap()["data"]["url"],
        "https://example.com/original"
    );
    assert_eq!(env.notifier.count(), 1);

    // Identical content under another upload is a duplicate, not a conflict; another owner
    // has its own eventIds.
    let third = keys::incoming_key("alice", "u-5");
    env.upload(&third, &view("c-1", "https://example.com/original"))
        .await;
    assert!(matches!(
        env.process(&third).await,
        Outcome::Stored {
            inserted: 0,
            duplicates: 1,
            ..
        }
    ));
    let bobs = keys::incoming_key("bob", "u-3");
    env.upload(&bobs, &view("c-1", "https://example.com/changed"))
        .await;
    assert!(matches!(
        env.process(&bobs).await,
        Outcome::Stored { inserted: 1, .. }
    ));
}

#[tokio::test]
async fn a_key_outside_the_layout_is_quarantined_for_the_operator() {
    let env = env();
    let key = "stray/upload.json";
    env.upload(key, &view("s-1", "https://example.com/")).await;
    let (qkey, id) = keys::operator_quarantine(key);

    assert_eq!(
        env.process(key).await,
        Outcome::Quarantined {
            owner: keys::OPERATOR.into(),
            upload_id: id.clone(),
            reason: ReasonCode::InvalidKey,
            errors: 1
        }
    );
    assert!(qkey.starts_with("_operator/"));
    assert!(!env.in_process_bucket(key).await);
    assert!(
        env.store
            .head(Bucket::Quarantine, &qkey)
            .await
            .expect("head")
            .is_some()
    );
    let report = env.report(&qkey).await;
    assert_eq!(report["reasonCode"], "invalid_key");
    assert_eq!(report["key"], key);
    assert_eq!(
        env.table
            .get_quarantine(keys::OPERATOR, &id)
            .await
            .expect("get")
            .map(|q| q.key),
        Some(qkey)
    );
    assert_eq!(
        env.notifier.count(),
        0,
        "the operator space is not notified"
    );
    assert!(
        env.table
            .get_event(keys::OPERATOR, "s-1")
            .await
            .expect("get")
            .is_none()
    );
    // The operator's notification was cleared from the outbox without a delivery.
    assert_eq!(env.processor.flush_outbox().await.expect("flush"), 0);
    assert_eq!(env.notifier.count(), 0);
    assert!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_delivery_waits_in_the_outbox() {
    let env = env();
    env.notifier.fail.store(true, Ordering::SeqCst);
    let key = keys::incoming_key("alice", "u-6");
    env.upload(&key, &json!({"not": "an event"})).await;
    assert!(
        matches!(env.process(&key).await, Outcome::Quarantined { .. }),
        "delivery failure does not fail processing"
    );
    assert!(!env.in_process_bucket(&key).await);
    assert_eq!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .len(),
        1
    );

    assert_eq!(
        env.processor.flush_outbox().await.expect("flush"),
        0,
        "still down: nothing delivered, and the notification stays in the outbox"
    );
    assert_eq!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .len(),
        1
    );
    env.notifier.fail.store(false, Ordering::SeqCst);
    assert_eq!(env.processor.flush_outbox().await.expect("flush"), 1);
    assert_eq!(env.notifier.count(), 1);
    assert!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .is_empty()
    );
    assert_eq!(
        env.processor.flush_outbox().await.expect("flush"),
        0,
        "delivered once"
    );
}

/// On Lambda the processor delivers what it recorded before it answers; a failed delivery
/// stays in the outbox for the sweep.
#[tokio::test]
async fn delivered_at_once_when_nothing_may_run_after_the_answer() {
    let env = env_with(Delivery::AtOnce);
    let key = keys::incoming_key("alice", "u-at-once");
    env.upload(&key, &json!({"not": "an event"})).await;
    assert!(matches!(
        env.process(&key).await,
        Outcome::Quarantined { .. }
    ));
    assert_eq!(
        env.notifier.count(),
        1,
        "delivered by the processing call itself"
    );
    assert!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .is_empty(),
        "and marked delivered"
    );

    env.notifier.fail.store(true, Ordering::SeqCst);
    let key = keys::incoming_key("alice", "u-at-once-2");
    env.upload(&key, &json!({"not": "an event"})).await;
    assert!(
        matches!(env.process(&key).await, Outcome::Quarantined { .. }),
        "a failed delivery does not fail processing"
    );
    assert_eq!(
        env.table
            .undelivered_notifications(10)
            .await
            .expect("outbox")
            .len(),
        1
    );
    env.notifier.fail.store(false, Ordering::SeqCst);
    assert_eq!(env.processor.flush_outbox().await.expect("sweep"), 1);
    assert_eq!(env.notifier.count(), 2);
}

#[tokio::test]
async fn a_reprocessed_upload_that_is_stored_leaves_quarantine() {
    let env = env();
    let key = keys::incoming_key("alice", "u-7");
    // First attempt: conflicts with an event stored earlier.
    env.upload(&keys::incoming_key("alice", "u-0"), &json!({"eventId": "e", "type": "page.view",
        "occurredAt": "2026-11-27T10:00:00Z", "source": "s", "data": {"url": "https://a.example/"}})).await;
    assert!(matches!(
        env.process(&keys::incoming_key("alice", "u-0")).await,
        Outcome::Stored { .. }
    ));
    let conflicting = json!({"eventId": "e", "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
        "source": "s", "data": {"url": "https://b.example/"}});
    env.upload(&key, &conflicting).await;
    assert!(matches!(
        env.process(&key).await,
        Outcome::Quarantined {
            reason: ReasonCode::EventIdConflict,
            ..
        }
    ));
    let qkey = keys::quarantine_key("alice", "u-7");
    assert!(
        env.processor
            .objects
            .head(Bucket::Quarantine, &qkey)
            .await
            .expect("head")
            .is_some()
    );

    // Reprocess after the user fixed the cause: reopen, then the object comes back.
    assert!(
        env.table
            .reopen_upload(
                "alice",
                "u-7",
                chrono::Utc::now(),
                chrono::Utc::now() - eventpulse_handlers::api::REOPEN_LEASE
            )
            .await
            .expect("reopen")
    );
    assert!(
        env.table
            .get_quarantine("alice", "u-7")
            .await
            .expect("get")
            .is_some(),
        "still listed while reprocessing"
    );
    // (The copy goes under the reprocess key; content that stores this time stands in for
    // "the cause was fixed".)
    let copy = keys::reprocess_key("alice", "u-7");
    env.upload(
        &copy,
        &json!({"eventId": "e2", "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
        "source": "s", "data": {"url": "https://b.example/"}}),
    )
    .await;
    assert!(matches!(env.process(&copy).await, Outcome::Stored { .. }));
    assert!(
        env.processor
            .objects
            .head(Bucket::Process, &copy)
            .await
            .expect("head")
            .is_none(),
        "the copy is removed"
    );
    let upload = env
        .table
        .get_upload("alice", "u-7")
        .await
        .expect("get")
        .expect("upload");
    assert_eq!(
        upload.key, key,
        "records name the owner's key, not the copy's"
    );
    assert!(
        env.table
            .get_quarantine("alice", "u-7")
            .await
            .expect("get")
            .is_none(),
        "stored: no longer quarantined"
    );
    assert!(
        env.processor
            .objects
            .head(Bucket::Quarantine, &qkey)
            .await
            .expect("head")
            .is_none(),
        "quarantined copy removed"
    );
    assert!(
        env.processor
            .objects
            .head(Bucket::Quarantine, &report_key(&qkey))
            .await
            .expect("head")
            .is_none()
    );
}

#[tokio::test]
async fn a_second_object_under_a_final_uploads_key_changes_nothing_and_is_kept() {
    let env = env();
    let key = keys::incoming_key("alice", "u-8");
    let first = json!({"eventId": "f", "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
        "source": "s", "data": {"url": "https://a.example/"}});
    env.upload(&key, &first).await;
    assert!(matches!(env.process(&key).await, Outcome::Stored { .. }));
    // The presigned URL is used again, with other (invalid) content.
    env.upload(&key, &json!({"not": "an event"})).await;
    let outcome = env.process(&key).await;
    assert!(
        matches!(outcome, Outcome::Quarantined { reason: ReasonCode::InvalidKey, ref owner, .. } if owner == keys::OPERATOR),
        "{outcome:?}"
    );
    let upload = env
        .table
        .get_upload("alice", "u-8")
        .await
        .expect("get")
        .expect("upload");
    assert_eq!(
        (upload.status, upload.event_count),
        (UploadState::Stored, Some(1)),
        "one upload id, one outcome"
    );
    assert!(
        env.table
            .get_quarantine("alice", "u-8")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        env.notifier.count(),
        0,
        "the owner is not told their stored upload failed"
    );
    assert!(!env.in_process_bucket(&key).await);
}
