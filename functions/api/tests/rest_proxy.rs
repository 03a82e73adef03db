//! The API function on a real API Gateway REST proxy event (stage `prod`, Cognito claims),
//! through `lambda_http`'s own event conversion and the generated router, on the embedded
//! adapters.

use eventpulse_api::{CognitoClaims, without_stage};
use eventpulse_embedded::Embedded;
use eventpulse_generated::types::UploadState;
use eventpulse_handlers::api::ApiConfig;
use eventpulse_handlers::commit::store_events;
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::exports::ExportRunner;
use eventpulse_handlers::ports::{
    Bucket, EventRecord, ExportRecord, PortResult, PresignedRequest, Presigner, StoreNotifies,
    UploadRecord,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const EVENT: &str = include_str!("fixtures/apigw-rest-get-events.json");
const ALICE: &str = "7d2f4c1e-8a3b-4c5d-9e6f-0a1b2c3d4e5f";

/// A presigner that signs nothing: these tests never transfer objects.
struct Unsigned;

#[async_trait::async_trait]
impl Presigner for Unsigned {
    async fn presign_upload(
        &self,
        key: &str,
        _: Option<u64>,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> PortResult<PresignedRequest> {
        Ok(PresignedRequest {
            url: format!("https://uploads.invalid/{key}"),
            method: "PUT".into(),
            headers: vec![],
            expires_at,
        })
    }
    async fn presign_download(
        &self,
        _: Bucket,
        key: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> PortResult<String> {
        Ok(format!("https://downloads.invalid/{key}"))
    }
}

struct NoExports;

#[async_trait::async_trait]
impl ExportRunner for NoExports {
    async fn submit(&self, _: &ExportRecord) -> PortResult<()> {
        Ok(())
    }
}

async fn store(backend: &Embedded, owner: &str, ids: &[&str]) {
    let now = chrono::Utc::now();
    let upload = UploadRecord {
        owner: owner.into(),
        upload_id: format!("u-{}", ids[0]),
        key: format!("incoming/{owner}/u-{}.json", ids[0]),
        status: UploadState::Stored,
        created_at: now,
        etag: Some("etag".into()),
        event_count: Some(ids.len() as u64),
        processed_at: Some(now),
        reason_code: None,
    };
    let events: Vec<EventRecord> = ids
        .iter()
        .map(|id| {
            let body = json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
                              "source": "web", "data": {"url": "https://example.com/"}});
            EventRecord {
                owner: owner.into(),
                event_id: (*id).into(),
                event_type: "page.view".into(),
                occurred_at: "2026-11-27T10:00:00Z".parse().expect("time"),
                content_hash: format!("hash-{id}"),
                body: eventpulse_contract_rt::EventJson::from_value(&body).unwrap(),
                received_at: now,
                upload_id: upload.upload_id.clone(),
            }
        })
        .collect();
    let table = backend.ports().table;
    store_events(table.as_ref(), &upload, &events)
        .await
        .expect("store");
}

async fn app() -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend =
        Embedded::open(dir.path(), eventpulse_embedded::Options::default()).expect("backend");
    store(&backend, ALICE, &["a-1", "a-2", "a-3"]).await;
    store(&backend, "mallory", &["m-1"]).await;
    let api = backend.ports().api(
        Arc::new(Unsigned),
        Arc::new(StoreNotifies),
        Arc::new(NoExports),
        CursorSigner::new(b"a cursor key for the tests only!"),
        ApiConfig::default(),
    );
    let router = eventpulse_generated_router::router(Arc::new(api), Arc::new(CognitoClaims));
    (dir, router)
}

async fn call(app: &axum::Router, event: &str) -> (http::StatusCode, String, Value) {
    let req = lambda_http::request::from_str(event).expect("a REST proxy event");
    let resp = app
        .clone()
        .oneshot(without_stage(req))
        .await
        .expect("infallible");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        ctype,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn lambda_http_puts_the_stage_into_the_path() {
    // What this crate corrects: without it the router would see /prod/v1/events.
    let req = lambda_http::request::from_str(EVENT).expect("event");
    assert_eq!(req.uri().path(), "/prod/v1/events");
    let req = without_stage(req);
    assert_eq!(req.uri().path(), "/v1/events");
    assert!(req.uri().query().is_some_and(|q| q.contains("limit=2")));
}

#[tokio::test]
async fn a_rest_proxy_event_on_stage_prod_lists_the_callers_events_only() {
    let (_dir, app) = app().await;
    let (status, _, page) = call(&app, EVENT).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["event"]["eventId"].as_str())
        .collect();
    // The claims say alice; the client's own header naming mallory changes nothing.
    assert_eq!(ids, ["a-1", "a-2"], "{page}");
    assert!(page["nextCursor"].is_string(), "limit=2 of 3: {page}");
}

#[tokio::test]
async fn another_users_event_is_not_found_by_id() {
    let (_dir, app) = app().await;
    let mut event: Value = serde_json::from_str(EVENT).expect("json");
    event["path"] = json!("/v1/events/m-1");
    event["resource"] = json!("/v1/events/{eventId}");
    event["pathParameters"] = json!({"eventId": "m-1"});
    event["requestContext"]["path"] = json!("/prod/v1/events/m-1");
    event["queryStringParameters"] = Value::Null;
    event["multiValueQueryStringParameters"] = Value::Null;
    let (status, ctype, problem) = call(&app, &event.to_string()).await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(ctype, "application/problem+json");
    event["path"] = json!("/v1/events/a-1");
    event["pathParameters"] = json!({"eventId": "a-1"});
    let (status, _, found) = call(&app, &event.to_string()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["event"]["eventId"], "a-1");
}

#[tokio::test]
async fn without_authorizer_claims_the_request_is_refused_with_a_problem() {
    let (_dir, app) = app().await;
    let mut event: Value = serde_json::from_str(EVENT).expect("json");
    event["requestContext"]["authorizer"] = json!({});
    let (status, ctype, problem) = call(&app, &event.to_string()).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(ctype, "application/problem+json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("verified identity"))
    );
}

/// API4: at most `MAX_RUNNING_PER_OWNER` exports of one caller run at once (the runner here
/// never finishes one); the next is a 429 problem with `Retry-After`, and another caller is
/// not held back by it.
#[tokio::test]
async fn exports_past_the_per_user_limit_are_429() {
    let (_dir, app) = app().await;
    let post = |sub: &str| {
        let mut event: Value = serde_json::from_str(EVENT).expect("json");
        event["httpMethod"] = json!("POST");
        event["path"] = json!("/v1/exports");
        event["resource"] = json!("/v1/exports");
        event["requestContext"]["httpMethod"] = json!("POST");
        event["requestContext"]["path"] = json!("/prod/v1/exports");
        event["requestContext"]["resourcePath"] = json!("/v1/exports");
        event["requestContext"]["authorizer"]["claims"]["sub"] = json!(sub);
        event["queryStringParameters"] = Value::Null;
        event["multiValueQueryStringParameters"] = Value::Null;
        event["headers"]["Content-Type"] = json!("application/json");
        event["multiValueHeaders"]["Content-Type"] = json!(["application/json"]);
        event["body"] = json!("{}");
        event.to_string()
    };
    let limit = eventpulse_handlers::exports::MAX_RUNNING_PER_OWNER;
    for i in 0..limit {
        let (status, _, body) = call(&app, &post(ALICE)).await;
        assert_eq!(status, 202, "export {i}: {body}");
    }
    let (status, ctype, problem) = call(&app, &post(ALICE)).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(ctype, "application/problem+json");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("exports running"),
        "{problem}"
    );
    let (status, _, body) = call(&app, &post("mallory")).await;
    assert_eq!(
        status, 202,
        "another caller is not limited by alice's exports: {body}"
    );
}
