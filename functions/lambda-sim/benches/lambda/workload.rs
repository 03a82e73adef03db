//! What each function is measured on, and the check that every answer is the real thing
//! (a benchmark of errors would measure nothing).

use eventpulse_handlers::ports::{Bucket, ObjectStore};
use eventpulse_lambda_sim::Answer;
use eventpulse_lambda_sim::moto::Deployment;
use serde_json::{Value, json};

const OBJECT_CREATED: &str =
    include_str!("../../../../handlers/tests/fixtures/eventbridge-s3-object-created.json");
const GET_EVENTS: &str = include_str!("../../../api/tests/fixtures/apigw-rest-get-events.json");
/// The `sub` of the REST fixture's claims: the processor stores for this user what the API
/// then lists.
pub const OWNER: &str = "7d2f4c1e-8a3b-4c5d-9e6f-0a1b2c3d4e5f";
/// Events per `GET /v1/events` page.
pub const PAGE: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// A single-event object under a fresh key each time, so every invocation stores.
    Processor,
    /// `GET /v1/events?limit=50`, on stage `prod`, with Cognito claims.
    Api,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Processor => "eventpulse-processor",
            Function::Api => "eventpulse-api",
        }
    }

    /// The next invocation's event; for the processor, its object is uploaded first.
    pub async fn event(self, d: &Deployment) -> Result<Value, String> {
        match self {
            Function::Processor => object_created(d).await,
            Function::Api => Ok(get_events()),
        }
    }

    /// Whether a function's answer is what the workload should produce.
    pub fn check(self, answer: &Answer) -> Result<(), String> {
        let Answer::Response(r) = answer else {
            return Err(format!("{} failed: {answer:?}", self.name()));
        };
        match self {
            Function::Processor => check_stored(r),
            Function::Api => {
                let status = r["statusCode"].as_u64().unwrap_or_default();
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or_default())
                    .map_err(|e| format!("api body: {e}: {r}"))?;
                check_page(status, &body)
            }
        }
    }
}

pub fn check_stored(out: &Value) -> Result<(), String> {
    match out["outcome"].as_str() {
        Some("stored") if out["inserted"] == 1 => Ok(()),
        _ => Err(format!("the processor did not store the event: {out}")),
    }
}

/// A full page, or the last one (a run with few processor invocations stored fewer).
pub fn check_page(status: u64, body: &Value) -> Result<(), String> {
    let items = body["items"].as_array().map_or(0, Vec::len);
    let last = body.get("nextCursor").is_none_or(Value::is_null);
    if status == 200 && items > 0 && (items == PAGE || last) {
        Ok(())
    } else {
        Err(format!("GET /v1/events: {status}, {items} items: {body}"))
    }
}

async fn object_created(d: &Deployment) -> Result<Value, String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = format!("incoming/{OWNER}/{id}.json");
    let body = json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
                      "source": "web", "data": {"url": "https://example.com/"}});
    d.aws
        .objects
        .put(
            Bucket::Process,
            &key,
            body.to_string().into_bytes().into(),
            "application/json",
        )
        .await
        .map_err(|e| format!("uploading {key}: {e}"))?;
    let bucket = &d.aws.settings.buckets.process;
    let mut e: Value = serde_json::from_str(OBJECT_CREATED).map_err(|e| e.to_string())?;
    e["resources"] = json!([format!("arn:aws:s3:::{bucket}")]);
    e["detail"]["bucket"]["name"] = json!(bucket);
    e["detail"]["object"]["key"] = json!(key);
    Ok(e)
}

fn get_events() -> Value {
    let mut e: Value = serde_json::from_str(GET_EVENTS).unwrap_or_default();
    let limit = PAGE.to_string();
    e["queryStringParameters"] = json!({"limit": limit});
    e["multiValueQueryStringParameters"] = json!({"limit": [limit]});
    e
}
