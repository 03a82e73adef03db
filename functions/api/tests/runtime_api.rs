//! The real `eventpulse-api` binary under a Lambda Runtime API, on moto: API Gateway REST
//! proxy events in, proxy responses out, the cursor key read from SSM at init.

use eventpulse_generated::types::UploadState;
use eventpulse_handlers::commit::store_events;
use eventpulse_handlers::ports::{EventRecord, UploadRecord};
use eventpulse_lambda_sim::moto::{self, Deployment};
use eventpulse_lambda_sim::process::{FunctionProcess, Sandbox};
use eventpulse_lambda_sim::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const EVENT: &str = include_str!("fixtures/apigw-rest-get-events.json");
/// The `sub` of the fixture's Cognito claims.
const ALICE: &str = "7d2f4c1e-8a3b-4c5d-9e6f-0a1b2c3d4e5f";
const BINARY: &str = env!("CARGO_BIN_EXE_eventpulse-api");
/// Only a hung function runs into it (a debug build, moto serving every test in turn).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A deployment with `events` of alice's stored, and the API function running on it.
async fn running(events: &[&str]) -> (Deployment, Sandbox, RuntimeApi, FunctionProcess) {
    let endpoint = moto::endpoint().unwrap_or_else(|e| panic!("{e}"));
    let deployment = async {
        Deployment::create(&endpoint)
            .await?
            .with_api_resources()
            .await
    };
    let deployment = deployment.await.unwrap_or_else(|e| panic!("{e}"));
    if !events.is_empty() {
        seed(&deployment, events).await;
    }
    let sandbox = Sandbox::new(&endpoint).expect("sandbox");
    let api = RuntimeApi::start().await.expect("runtime api");
    let f = sandbox
        .spawn(&api, Path::new(BINARY), "eventpulse-api", &deployment.env())
        .expect("the api binary starts");
    (deployment, sandbox, api, f)
}

/// Stores `ids` as one upload of alice's, as the processor would have.
async fn seed(deployment: &Deployment, ids: &[&str]) {
    let now = chrono::Utc::now();
    let upload = UploadRecord {
        owner: ALICE.into(),
        upload_id: format!("u-{}", ids[0]),
        key: format!("incoming/{ALICE}/u-{}.json", ids[0]),
        status: UploadState::Stored,
        created_at: now,
        etag: Some("etag".into()),
        event_count: Some(ids.len() as u64),
        processed_at: Some(now),
        reason_code: None,
    };
    let events: Vec<EventRecord> = ids
        .iter()
        .map(|id| EventRecord {
            owner: ALICE.into(),
            event_id: (*id).into(),
            event_type: "page.view".into(),
            occurred_at: "2026-11-27T10:00:00Z".parse().expect("time"),
            content_hash: format!("hash-{id}"),
            body: eventpulse_contract_rt::EventJson::from_value(
                &json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
                         "source": "web", "data": {"url": "https://example.com/"}}),
            )
            .unwrap(),
            received_at: now,
            upload_id: upload.upload_id.clone(),
        })
        .collect();
    let table = deployment.aws.table.as_ref();
    store_events(table, &upload, &events).await.expect("store");
}

/// The proxy response to `event`: status, content type, body as JSON.
async fn call(api: &RuntimeApi, f: &FunctionProcess, event: Value) -> (u64, String, Value) {
    let answer = match api.invoke(event, TIMEOUT).await {
        Ok(a) => a,
        Err(e) => panic!("{e}; the function's log:\n{}", f.log()),
    };
    let r = match answer {
        Answer::Response(r) => r,
        Answer::Error(e) => panic!("the function failed: {e}; log:\n{}", f.log()),
    };
    let status = r["statusCode"].as_u64().unwrap_or_else(|| panic!("{r}"));
    // lambda_http answers a REST (v1) event with every header in `multiValueHeaders` and
    // an empty `headers` object; API Gateway takes either.
    assert!(r["headers"].is_object(), "{r}");
    let ctype = r["headers"]["content-type"]
        .as_str()
        .or_else(|| r["multiValueHeaders"]["content-type"][0].as_str())
        .unwrap_or_default()
        .to_string();
    assert_eq!(r["isBase64Encoded"], false, "JSON bodies go as text: {r}");
    let body = r["body"].as_str().unwrap_or_else(|| panic!("a body: {r}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, ctype, body)
}

fn create_upload_event() -> Value {
    let mut e: Value = serde_json::from_str(EVENT).expect("fixture");
    e["httpMethod"] = json!("POST");
    e["resource"] = json!("/v1/uploads");
    e["path"] = json!("/v1/uploads");
    e["requestContext"]["httpMethod"] = json!("POST");
    e["requestContext"]["resourcePath"] = json!("/v1/uploads");
    e["requestContext"]["path"] = json!("/prod/v1/uploads");
    e["queryStringParameters"] = Value::Null;
    e["multiValueQueryStringParameters"] = Value::Null;
    e["headers"]["Content-Type"] = json!("application/json");
    e["multiValueHeaders"]["Content-Type"] = json!(["application/json"]);
    e["body"] = json!(r#"{"contentType": "application/json"}"#);
    e
}

#[tokio::test]
async fn the_function_lists_events_and_presigns_uploads_for_the_verified_caller() {
    let (_deployment, _sandbox, api, f) = running(&["a-1", "a-2", "a-3"]).await;
    let event: Value = serde_json::from_str(EVENT).expect("fixture");
    let (status, ctype, page) = call(&api, &f, event).await;
    assert_eq!(status, 200, "{page}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items: {page}"))
        .iter()
        .filter_map(|e| e["event"]["eventId"].as_str())
        .collect();
    assert_eq!(ids, ["a-1", "a-2"], "limit=2: {page}");
    assert!(
        page["nextCursor"].is_string(),
        "signed with the SSM key: {page}"
    );

    let (status, _, ticket) = call(&api, &f, create_upload_event()).await;
    assert_eq!(status, 201, "{ticket}");
    let prefix = format!("incoming/{ALICE}/");
    let key = ticket["key"].as_str().unwrap_or_default();
    assert!(key.starts_with(&prefix), "{ticket}");
    let url = ticket["url"].as_str().unwrap_or_default();
    assert!(
        url.contains(&prefix) && url.contains("X-Amz-Signature="),
        "{ticket}"
    );
    assert_eq!(ticket["method"], "PUT");
    f.stop().await;
}

#[tokio::test]
async fn a_request_without_authorizer_claims_gets_a_401_problem() {
    let (_deployment, _sandbox, api, f) = running(&[]).await;
    let mut event: Value = serde_json::from_str(EVENT).expect("fixture");
    event["requestContext"]["authorizer"] = json!({});
    let (status, ctype, problem) = call(&api, &f, event).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(problem["status"], 401, "{problem}");
    f.stop().await;
}
