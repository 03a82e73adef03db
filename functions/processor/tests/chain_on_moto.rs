//! The whole AWS chain on moto, with nothing in between stubbed: `provision`, the API built
//! as the API function builds it (presigned upload), a real PUT through the URL, S3's
//! EventBridge event on the rule's queue, this function's handler, DynamoDB, the quarantine
//! bucket, and SNS to a user's filtered SQS subscription.
//!
//! The rule's queue is drained like Lambda's event source would: each message body is the
//! exact EventBridge event, handed to [`handle`], deleted once handled. moto's deliveries are
//! treated as real at-least-once delivery: its events of different objects share one `id`
//! and `sequencer` (so nothing may deduplicate on them: replays are recognised by bucket,
//! key and ETag), it spells `eTag`, and besides "Object Created" it emits "Object Tags
//! Added" for every put (the rule filters those out; the handler acknowledges and ignores
//! one that gets through).
//!
//! Reads `EVENTPULSE_MOTO_ENDPOINT` (`eval "$(bash scripts/moto.sh start)"`) and fails when
//! it is unset. Every resource is named after a fresh prefix; moto is never reset.

use aws_sdk_sqs::types::QueueAttributeName;
use eventpulse_aws::provision::{Provisioned, provision};
use eventpulse_aws::{Aws, Clients, Endpoint};
use eventpulse_contract_rt::{Principal, RequestContext};
use eventpulse_generated::api::{CreateUploadRequest, CreateUploadResponse, EventPulseApi};
use eventpulse_generated::types::{UploadRequest, UploadRequestContentType, UploadState};
use eventpulse_handlers::api::{Api, ApiConfig};
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::keys;
use eventpulse_handlers::ports::{
    Bucket, EventQuery, EventTable, ObjectStore, StoreNotifies, report_key,
};
use eventpulse_processor::{Function, handle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALID: &str = "valid/batch-mixed-types.json";
const INVALID: &str = "invalid/batch-one-bad-event.json";
const BOBS_INVALID: &str = "invalid/data-null.json";

async fn clients() -> Clients {
    let url = std::env::var("EVENTPULSE_MOTO_ENDPOINT")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("EVENTPULSE_MOTO_ENDPOINT is not set: this test runs against moto server; start it with `eval \"$(bash scripts/moto.sh start)\"`");
    Clients::for_endpoint(&Endpoint {
        url,
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    })
    .await
}

fn example(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../examples/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One deployment on moto, and its two functions' halves this test drives.
struct Chain {
    provisioned: Provisioned,
    aws: Aws,
    api: Api,
    function: Function,
    sqs: aws_sdk_sqs::Client,
}

impl Chain {
    async fn new() -> Self {
        let clients = clients().await;
        let prefix = format!("ep-chain-{}", uuid::Uuid::new_v4().simple());
        let provisioned = provision(&clients, &prefix).await.expect("provision");
        // As the API function's main does.
        let aws = Aws::connect(clients, provisioned.settings.clone());
        let api = aws.ports().api(
            aws.presigner.clone(),
            Arc::new(StoreNotifies),
            aws.export_runner().expect("export runner"),
            CursorSigner::new(&aws.cursor_key().await.expect("cursor key")),
            ApiConfig::default(),
        );
        // As the processor function's main does.
        let ports = aws.ports();
        let intake = Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100);
        let function = Function::new(
            ports.processor(Arc::new(intake.expect("intake"))),
            ports.exporter(),
            ports.objects.clone(),
            ports.table.clone(),
            aws.settings.buckets.process.clone(),
        );
        let sqs = aws.sqs.clone();
        Self {
            provisioned,
            aws,
            api,
            function,
            sqs,
        }
    }

    /// A queue subscribed to the notification topic for `user`'s notifications only, with
    /// raw delivery (the body is the notification, the SNS attributes message attributes).
    async fn subscribe(&self, user: &str) -> String {
        let name = format!("{}-{user}", self.aws.settings.table);
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue URL");
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue ARN");
        self.aws
            .clients
            .sns
            .subscribe()
            .topic_arn(&self.aws.settings.notify_topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("FilterPolicy", json!({"userId": [user]}).to_string())
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe");
        url
    }

    /// `POST /v1/uploads` as `user`, then the PUT a client makes through the ticket.
    async fn upload(&self, user: &str, file: &str) -> (String, String) {
        let body = example(file);
        let ctx = RequestContext {
            request_id: uuid::Uuid::new_v4().to_string(),
            operation_id: "create_upload",
            path: "/v1/uploads".into(),
            user: Some(user.into()),
            resources: vec![],
        };
        let principal = Principal {
            user_id: user.into(),
        };
        let req = CreateUploadRequest {
            body: Some(UploadRequest {
                content_length: NonZeroU64::new(body.len() as u64),
                content_type: Some(UploadRequestContentType::ApplicationJson),
            }),
        };
        let CreateUploadResponse::Created(ticket) = self
            .api
            .create_upload(&ctx, &principal, req)
            .await
            .expect("create_upload");
        let method =
            reqwest::Method::from_bytes(ticket.method.to_string().as_bytes()).expect("method");
        let mut put = reqwest::Client::new().request(method, &ticket.url);
        // Every signed header, as sent: content-type, content-length, if-none-match.
        for (k, v) in &ticket.headers {
            put = put.header(k, v);
        }
        let answer = put.body(body).send().await.expect("PUT");
        assert!(answer.status().is_success(), "PUT {file}: {answer:?}");
        (ticket.upload_id.to_string(), ticket.key)
    }

    /// Drains the rule's queue until every key in `keys` was handled: each body to the
    /// handler, the message deleted after it. Returns each key's event and answer.
    async fn deliver(&self, keys: &[&str]) -> HashMap<String, (Value, Value)> {
        let mut handled = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !keys.iter().all(|k| handled.contains_key(*k)) {
            assert!(
                Instant::now() < deadline,
                "undelivered: {keys:?} {handled:?}"
            );
            for (event, answer) in self.receive(1).await {
                let key = event["detail"]["object"]["key"].as_str().expect("key");
                handled.insert(key.to_string(), (event.clone(), answer));
            }
        }
        handled
    }

    async fn receive(&self, wait_seconds: i32) -> Vec<(Value, Value)> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.provisioned.events_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("receive");
        let mut handled = Vec::new();
        for m in out.messages() {
            let event: Value =
                serde_json::from_str(m.body().expect("body")).expect("an EventBridge event");
            let answer = handle(&self.function, event.clone())
                .await
                .unwrap_or_else(|e| panic!("handling {event}: {e}"));
            self.sqs
                .delete_message()
                .queue_url(&self.provisioned.events_queue_url)
                .receipt_handle(m.receipt_handle().expect("receipt handle"))
                .send()
                .await
                .expect("delete");
            handled.push((event, answer));
        }
        handled
    }
}

/// Every message on `queue` within a few seconds: body and string attributes.
async fn notifications(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<(Value, Value)> {
    let mut got = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body = serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body");
            let attributes: serde_json::Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), json!(v.string_value())))
                .collect();
            got.push((body, Value::Object(attributes)));
        }
    }
    got
}

#[tokio::test]
async fn uploads_flow_through_the_real_chain() {
    let chain = Chain::new().await;
    let alices_queue = chain.subscribe("alice").await;
    let table = &chain.aws.table;

    // Bob's failure first: had the filter let it through, it would be in alice's queue
    // before hers.
    let (bob_id, bob_key) = chain.upload("bob", BOBS_INVALID).await;
    let (good_id, good_key) = chain.upload("alice", VALID).await;
    let (bad_id, bad_key) = chain.upload("alice", INVALID).await;
    let handled = chain.deliver(&[&bob_key, &good_key, &bad_key]).await;
    assert!(
        chain.receive(1).await.is_empty(),
        "one Object Created event per upload, nothing else (the rule drops Object Tags Added)"
    );
    for (key, (event, _)) in &handled {
        assert_eq!(event["detail-type"], "Object Created", "{key}");
    }
    assert_eq!(
        handled[&good_key].1["outcome"], "stored",
        "{:?}",
        handled[&good_key]
    );
    assert_eq!(handled[&bad_key].1["outcome"], "quarantined");
    assert_eq!(handled[&bob_key].1["outcome"], "quarantined");

    // Stored: every event listed, the upload final, the process bucket empty.
    let listed = table
        .list_events("alice", &EventQuery::default(), None, 100)
        .await
        .expect("list events");
    let mut ids: Vec<&str> = listed.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    let uploaded: Value = serde_json::from_slice(&example(VALID)).expect("JSON");
    let mut want: Vec<&str> = uploaded
        .as_array()
        .expect("a batch")
        .iter()
        .map(|e| e["eventId"].as_str().expect("eventId"))
        .collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    let good = table
        .get_upload("alice", &good_id)
        .await
        .expect("get")
        .expect("upload");
    assert_eq!(good.status, UploadState::Stored);
    let objects = &chain.aws.objects;
    assert!(
        objects
            .list(Bucket::Process, "", None, 10)
            .await
            .expect("list")
            .is_empty()
    );

    // Quarantined: the object and its report, the upload final.
    let bad = table
        .get_upload("alice", &bad_id)
        .await
        .expect("get")
        .expect("upload");
    assert_eq!(bad.status, UploadState::Quarantined);
    let qkey = keys::quarantine_key("alice", &bad_id);
    let copy = objects
        .get(Bucket::Quarantine, &qkey, 1 << 20)
        .await
        .expect("get")
        .expect("the quarantined object");
    assert_eq!(copy.bytes.as_ref(), example(INVALID).as_slice());
    let report = objects
        .get(Bucket::Quarantine, &report_key(&qkey), 1 << 20)
        .await
        .expect("get")
        .expect("the report");
    let report: Value = serde_json::from_slice(&report.bytes).expect("report JSON");
    assert_eq!(report["reasonCode"], "schema_violation");
    assert_eq!(report["uploadId"], *bad_id);
    let errors = report["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    assert!(
        errors.iter().any(|e| e["pointer"] == "/1/data/currency"),
        "{errors:?}"
    );

    // Alice's subscription: her failure, once, and not bob's.
    let received = notifications(&chain.sqs, &alices_queue).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let (body, attributes) = &received[0];
    assert_eq!(body["kind"], "object_quarantined");
    assert_eq!(body["uploadId"], *bad_id);
    assert_eq!(
        attributes,
        &json!({"userId": "alice", "kind": "object_quarantined", "reasonCode": "schema_violation"})
    );
    assert_ne!(body["uploadId"], *bob_id);

    // At least once: the same Object Created event again changes nothing.
    let quarantine_before = objects
        .list(Bucket::Quarantine, "", None, 100)
        .await
        .expect("list");
    for key in [&good_key, &bad_key] {
        let (event, _) = &handled[key];
        let again = handle(&chain.function, event.clone())
            .await
            .expect("handled");
        assert_eq!(again["outcome"], "skipped", "{again}");
    }
    assert_eq!(
        table.get_upload("alice", &good_id).await.expect("get"),
        Some(good)
    );
    assert_eq!(
        table.get_upload("alice", &bad_id).await.expect("get"),
        Some(bad)
    );
    assert_eq!(
        table
            .list_events("alice", &EventQuery::default(), None, 100)
            .await
            .expect("list")
            .len(),
        want.len()
    );
    assert_eq!(
        objects
            .list(Bucket::Quarantine, "", None, 100)
            .await
            .expect("list"),
        quarantine_before
    );
    assert!(notifications(&chain.sqs, &alices_queue).await.is_empty());

    // "Object Tags Added" for the same object (moto sends one per put): acknowledged,
    // ignored, nothing touched.
    let mut tags = handled[&good_key].0.clone();
    tags["detail-type"] = json!("Object Tags Added");
    let answer = handle(&chain.function, tags).await.expect("acknowledged");
    assert!(answer["ignored"].is_string(), "{answer}");
}
