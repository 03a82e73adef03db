//! Faults at every step (issue 8) on the AWS adapters (S3, DynamoDB, SNS) on moto server: the
//! k-th port call of each workflow fails (transient, permanent, after the write) or never
//! returns, and redelivery converges as the Lambda functions redeliver (delivered at once +
//! the sweep, EventBridge's retries, exports on a queue): see
//! `eventpulse_handlers::conformance::faults`.
//!
//! Every k of every scenario runs by default. moto serves one request at a time, so
//! `EVENTPULSE_FAULTS_SPREAD=n` runs at most n values of k per scenario and fault (spread
//! over 1..=N, the first and the last included) where a run must be shorter;
//! `EVENTPULSE_FAULTS_VERBOSE=1` prints every case, not only the matrix.
//!
//! Reads `EVENTPULSE_MOTO_ENDPOINT` (`eval "$(bash scripts/moto.sh start)"`) and fails when
//! it is unset. The buckets and topic are its own, named after a fresh suffix, and so is
//! each case's table.

mod common;

use eventpulse_aws::dynamo::provision;
use eventpulse_aws::{Aws, Clients, S3Buckets, Settings};
use eventpulse_handlers::conformance::faults::{
    Ks, Plan, Profile, Scenario, known_today, run_matrix_fresh,
};
use eventpulse_handlers::wiring::Ports;

/// The buckets and the topic every case shares, and the clients to make a table per case.
struct Shared {
    clients: Clients,
    buckets: S3Buckets,
    topic: String,
}

async fn shared() -> Shared {
    let clients = common::clients().await;
    let buckets = common::buckets(&clients).await;
    let topic = clients
        .sns
        .create_topic()
        .name(common::unique("faults"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    Shared {
        clients,
        buckets,
        topic,
    }
}

/// The adapters on a new table: moto copies a whole table on every transaction and reads
/// all of it on every query, so one table for the whole matrix would make it quadratic.
async fn fresh(s: &Shared) -> Ports {
    let table = common::unique("faults");
    provision(&s.clients.dynamodb(), &table)
        .await
        .unwrap_or_else(|e| panic!("provision table {table}: {e}"));
    Aws::connect(
        s.clients.clone(),
        Settings {
            buckets: s.buckets.clone(),
            table,
            notify_topic_arn: s.topic.clone(),
            exports_queue_url: None,
            cursor_key_parameter: None,
        },
    )
    .ports()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_every_step_converge_on_s3_dynamodb_and_sns() {
    let shared = shared().await;
    let ks = match std::env::var("EVENTPULSE_FAULTS_SPREAD") {
        Ok(n) => Ks::Spread(n.parse().expect("EVENTPULSE_FAULTS_SPREAD is a number")),
        Err(_) => Ks::All,
    };
    let plans: Vec<Plan> = Scenario::ALL
        .into_iter()
        .map(|scenario| Plan {
            ks,
            ..Plan::all(scenario)
        })
        .collect();
    let profile = Profile::LAMBDA;
    let m = run_matrix_fresh(
        "AWS adapters on moto (S3 + DynamoDB + SNS)",
        async || fresh(&shared).await,
        profile,
        &plans,
    )
    .await;
    m.assert_converged(&|c| known_today(profile, c));
}
