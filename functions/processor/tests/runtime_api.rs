//! The real `eventpulse-processor` binary under a Lambda Runtime API, on moto: what Lambda
//! would see from it (responses, error documents, an init failure), not what the handler
//! returns in-process (`invocations.rs` covers that).

use eventpulse_handlers::keys;
use eventpulse_handlers::ports::{Bucket, EventTable, ObjectStore};
use eventpulse_lambda_sim::moto::{self, Deployment};
use eventpulse_lambda_sim::process::{FunctionProcess, Sandbox};
use eventpulse_lambda_sim::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const FIXTURE: &str =
    include_str!("../../../handlers/tests/fixtures/eventbridge-s3-object-created.json");
const BINARY: &str = env!("CARGO_BIN_EXE_eventpulse-processor");
/// Generous: a debug build on a loaded machine against moto, which serves one request at a
/// time to every test. Only a hung function runs into it.
const TIMEOUT: Duration = Duration::from_secs(60);

struct Fixture {
    deployment: Deployment,
    sandbox: Sandbox,
}

async fn fixture() -> Fixture {
    let endpoint = moto::endpoint().unwrap_or_else(|e| panic!("{e}"));
    let deployment = Deployment::create(&endpoint)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::new(&endpoint).expect("sandbox");
    Fixture {
        deployment,
        sandbox,
    }
}

impl Fixture {
    fn spawn(&self, api: &RuntimeApi, env: &[(&str, String)]) -> FunctionProcess {
        let binary = Path::new(BINARY);
        self.sandbox
            .spawn(api, binary, "eventpulse-processor", env)
            .expect("the processor binary starts")
    }

    /// A new object at `incoming/alice/{uploadId}.json`, and its key.
    async fn upload(&self, body: &Value) -> String {
        let key = keys::incoming_key("alice", &uuid::Uuid::new_v4().simple().to_string());
        let objects = &self.deployment.aws.objects;
        let put = objects.put(
            Bucket::Process,
            &key,
            body.to_string().into_bytes().into(),
            "application/json",
        );
        put.await.expect("put the object");
        key
    }

    /// The EventBridge event S3 sends for `key` in the process bucket.
    fn object_created(&self, key: &str) -> Value {
        let mut e: Value = serde_json::from_str(FIXTURE).expect("fixture");
        let bucket = &self.deployment.aws.settings.buckets.process;
        e["resources"] = json!([format!("arn:aws:s3:::{bucket}")]);
        e["detail"]["bucket"]["name"] = json!(bucket);
        e["detail"]["object"]["key"] = json!(key);
        e
    }

    async fn in_process_bucket(&self, key: &str) -> bool {
        let head = self.deployment.aws.objects.head(Bucket::Process, key);
        head.await.expect("head").is_some()
    }
}

fn view(id: &str) -> Value {
    json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
           "source": "web", "data": {"url": "https://example.com/"}})
}

async fn invoke(api: &RuntimeApi, f: &FunctionProcess, event: Value) -> Answer {
    match api.invoke(event, TIMEOUT).await {
        Ok(answer) => answer,
        Err(e) => panic!("{e}; the function's log:\n{}", f.log()),
    }
}

fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(v) => v,
        Answer::Error(e) => panic!("an error where a response was expected: {e}"),
    }
}

#[tokio::test]
async fn one_process_stores_quarantines_and_acknowledges() {
    let fx = fixture().await;
    let api = RuntimeApi::start().await.expect("runtime api");
    let f = fx.spawn(&api, &fx.deployment.env());

    let event_id = format!("e-{}", uuid::Uuid::new_v4().simple());
    let key = fx.upload(&view(&event_id)).await;
    let out = response(invoke(&api, &f, fx.object_created(&key)).await);
    assert_eq!(out["outcome"], "stored", "{out}");
    assert_eq!(out["events"], 1, "{out}");
    let stored = fx.deployment.aws.table.get_event("alice", &event_id).await;
    let stored = stored
        .expect("get_event")
        .expect("the event is in the table");
    assert_eq!(stored.event_type, "page.view");
    assert!(!fx.in_process_bucket(&key).await, "processed objects leave");

    let bad = fx.upload(&json!({"not": "an event"})).await;
    let out = response(invoke(&api, &f, fx.object_created(&bad)).await);
    assert_eq!(out["outcome"], "quarantined", "{out}");
    assert!(!fx.in_process_bucket(&bad).await);

    // S3 also sends other kinds of events through the same rule: acknowledged, not failed.
    let mut tags = fx.object_created(&fx.upload(&view("t-1")).await);
    tags["detail-type"] = json!("Object Tags Added");
    let out = response(invoke(&api, &f, tags).await);
    assert!(out["ignored"].is_string(), "{out}");
    f.stop().await;
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_and_the_process_lives_on() {
    let fx = fixture().await;
    let api = RuntimeApi::start().await.expect("runtime api");
    let mut env = fx.deployment.env();
    for (k, v) in &mut env {
        if *k == "EVENTPULSE_TABLE" {
            *v = moto::unique("no-such-table");
        }
    }
    let mut f = fx.spawn(&api, &env);
    let key = fx.upload(&view("m-1")).await;
    match invoke(&api, &f, fx.object_created(&key)).await {
        Answer::Error(e) => {
            // Retrying cannot create the table: the event goes to the on-failure destination.
            assert_eq!(e["errorType"], "EventPulse.Permanent", "{e}");
            assert!(
                e["errorMessage"].as_str().is_some_and(|m| m.contains(&key)),
                "{e}"
            );
        }
        Answer::Response(r) => panic!("a response without a table: {r}"),
    }
    assert!(fx.in_process_bucket(&key).await, "nothing was lost");
    assert!(f.is_running(), "an invocation's error ends nothing");
    let mut tags = fx.object_created(&key);
    tags["detail-type"] = json!("Object Tags Added");
    let out = response(invoke(&api, &f, tags).await);
    assert!(out["ignored"].is_string(), "{out}");
    f.stop().await;
}

#[tokio::test]
async fn without_its_table_variable_the_function_fails_its_init_naming_it() {
    let fx = fixture().await;
    let api = RuntimeApi::start().await.expect("runtime api");
    let env: Vec<_> = fx
        .deployment
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "EVENTPULSE_TABLE")
        .collect();
    let mut f = fx.spawn(&api, &env);
    // lambda_runtime 1.5 posts to /init/error only for SnapStart hooks; an error returned
    // from `main` before `run` ends the process, non-zero, with the error on stderr, which
    // Lambda reports as Runtime.ExitError with that log. Either report names the variable.
    let status = f.exited(TIMEOUT).await.expect("the process exits");
    let posted = api.init_error().await.map(|e| e.to_string());
    let reported = posted.unwrap_or_default() + &f.log();
    assert!(!status.success(), "{status}; log:\n{}", f.log());
    assert!(reported.contains("EVENTPULSE_TABLE"), "{reported}");
    assert!(api.first_next().await.is_none(), "it never asked for work");
}
