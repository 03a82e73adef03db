//! The processor function's handler on every kind of invocation, on the embedded adapters
//! (the same handler runs on the AWS adapters in `adapters/aws`'s tests).

use bytes::Bytes;
use eventpulse_embedded::Embedded;
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::keys;
use eventpulse_handlers::ports::{Bucket, ObjectStore};
use eventpulse_processor::{Function, FunctionError, Invocation, classify, handle};
use serde_json::{Value, json};
use std::sync::Arc;

const FIXTURE: &str =
    include_str!("../../../handlers/tests/fixtures/eventbridge-s3-object-created.json");
const BUCKET: &str = "eventpulse-process-111122223333";

fn function(backend: &Embedded) -> Function {
    let ports = backend.ports();
    let intake = Arc::new(
        Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100).expect("intake"),
    );
    Function::new(
        ports.processor(intake),
        ports.exporter(),
        ports.objects.clone(),
        ports.table.clone(),
        BUCKET,
    )
}

fn object_created(key: &str) -> Value {
    let mut e: Value = serde_json::from_str(FIXTURE).expect("fixture");
    e["detail"]["object"]["key"] = json!(key);
    e
}

async fn upload(backend: &Embedded, key: &str, body: &Value) {
    backend
        .objects
        .put(
            Bucket::Process,
            key,
            Bytes::from(body.to_string()),
            "application/json",
        )
        .await
        .expect("put");
}

fn view(id: &str) -> Value {
    json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
           "source": "web", "data": {"url": "https://example.com/"}})
}

#[test]
fn invocations_are_told_apart_by_their_shapes() {
    let e: Value = serde_json::from_str(FIXTURE).expect("fixture");
    assert!(matches!(classify(&e), Invocation::ObjectCreated(_)));
    let mut tags = e.clone();
    tags["detail-type"] = json!("Object Tags Added");
    assert!(matches!(classify(&tags), Invocation::Ignored(_)));
    let schedule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "1", "time": "2026-12-01T00:00:00Z",
        "region": "eu-west-1", "resources": [], "detail": {}});
    assert!(matches!(classify(&schedule), Invocation::Sweep));
    let sqs = json!({"Records": [{"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"}]});
    assert!(matches!(classify(&sqs), Invocation::Exports(m) if m.len() == 1));
    let sns = json!({"Records": [{"EventSource": "aws:sns"}]});
    assert!(matches!(classify(&sns), Invocation::Ignored(_)));
}

#[tokio::test]
async fn an_object_created_event_stores_the_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend =
        Embedded::open(dir.path(), eventpulse_embedded::Options::default()).expect("backend");
    let f = function(&backend);
    let key = keys::incoming_key("alice", "u-1");
    upload(&backend, &key, &json!([view("a"), view("b")])).await;
    let out = handle(&f, object_created(&key)).await.expect("handled");
    assert_eq!(out["outcome"], "stored", "{out}");
    assert_eq!(out["events"], 2);
    assert!(
        backend
            .objects
            .head(Bucket::Process, &key)
            .await
            .expect("head")
            .is_none()
    );
    // At least once: the same event again is a no-op.
    let again = handle(&f, object_created(&key)).await.expect("handled");
    assert_eq!(again["outcome"], "skipped", "{again}");
}

#[tokio::test]
async fn events_that_are_not_for_us_are_acknowledged_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend =
        Embedded::open(dir.path(), eventpulse_embedded::Options::default()).expect("backend");
    let f = function(&backend);
    let key = keys::incoming_key("alice", "u-2");
    upload(&backend, &key, &view("a")).await;
    let mut other_bucket = object_created(&key);
    other_bucket["detail"]["bucket"]["name"] = json!("someone-elses-bucket");
    let out = handle(&f, other_bucket).await.expect("acknowledged");
    assert!(out["ignored"].is_string(), "{out}");
    let mut tags = object_created(&key);
    tags["detail-type"] = json!("Object Tags Added");
    assert!(handle(&f, tags).await.expect("acknowledged")["ignored"].is_string());
    // Neither touched the object.
    assert!(
        backend
            .objects
            .head(Bucket::Process, &key)
            .await
            .expect("head")
            .is_some()
    );
}

#[tokio::test]
async fn the_sweep_processes_what_was_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend =
        Embedded::open(dir.path(), eventpulse_embedded::Options::default()).expect("backend");
    let mut f = function(&backend);
    f.sweep_after = chrono::Duration::zero();
    let key = keys::incoming_key("alice", "u-3");
    upload(&backend, &key, &json!({"not": "an event"})).await;
    let out = handle(
        &f,
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
    )
    .await
    .expect("sweep");
    assert_eq!(out["objectsProcessed"], 1, "{out}");
    assert!(
        backend
            .objects
            .head(Bucket::Process, &key)
            .await
            .expect("head")
            .is_none()
    );
}

#[test]
fn errors_become_diagnostics_marked_retryable_or_not() {
    let d: lambda_runtime::Diagnostic = FunctionError {
        retryable: true,
        message: "throttled".into(),
    }
    .into();
    assert_eq!(d.error_type, "EventPulse.Retryable");
    let d: lambda_runtime::Diagnostic = FunctionError {
        retryable: false,
        message: "no such bucket".into(),
    }
    .into();
    assert_eq!(d.error_type, "EventPulse.Permanent");
}
