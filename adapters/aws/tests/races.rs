//! The processor and the API racing themselves on the AWS adapters against moto server: S3
//! buckets, a DynamoDB table and an SNS topic of this test's own, the scenarios of
//! `eventpulse_handlers::conformance::races` (the same bodies the embedded backend runs),
//! each racer a task of its own on a multi-thread runtime, all released together behind a
//! barrier, many rounds with fresh keys.
//!
//! moto serves the tests one request at a time (`tools/moto_serial.py`: threaded, its
//! conditional writes race, which DynamoDB's never do), so here the racers interleave
//! between requests, never inside one: every conditional write (the claim, the commit
//! transactions, the delete's condition check) is decided by DynamoDB's (moto's) condition
//! evaluation for real, against whatever the other racers wrote before it.
//!
//! Needs moto server (`eval "$(bash scripts/moto.sh start)"`); every test prints its report
//! (`--nocapture` to see them).

use eventpulse_aws::dynamo::provision;
use eventpulse_aws::{Aws, Settings};
use eventpulse_handlers::conformance::races::{self, Racer, Report, Task};
use eventpulse_handlers::wiring::Ports;
use std::sync::Arc;
use tokio::sync::Barrier;

mod common;

/// Fewer rounds than on the embedded backend: every step is a request to one serial moto.
const ROUNDS: usize = 12;

/// Every task spawned on the runtime, each waiting on one barrier before it starts.
struct Spawned;

impl Racer for Spawned {
    async fn race<T: Send + 'static>(&self, tasks: Vec<Task<T>>) -> Vec<T> {
        let barrier = Arc::new(Barrier::new(tasks.len()));
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|task| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    task.await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap_or_else(|e| panic!("a racer panicked: {e}")));
        }
        out
    }
}

/// A deployment of this test's own on moto: three buckets, a table, a topic; the ports as
/// the functions build them (`Aws::connect`, notifications published at once).
async fn backend(tag: &str) -> Ports {
    let clients = common::clients().await;
    let buckets = common::buckets(&clients).await;
    let table = common::unique(tag);
    provision(&clients.dynamodb(), &table)
        .await
        .unwrap_or_else(|e| panic!("provision table {table}: {e}"));
    let notify_topic_arn = clients
        .sns
        .create_topic()
        .name(common::unique(tag))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    let settings = Settings {
        buckets,
        table,
        notify_topic_arn,
        exports_queue_url: None,
        cursor_key_parameter: None,
    };
    Aws::connect(clients, settings).ports()
}

fn print(report: &Report) {
    println!("races [aws on moto] {report}");
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_valid_object_delivered_twice_at_once() {
    let ports = backend("race-valid2").await;
    print(&races::same_valid_object_concurrently(&ports, &Spawned, 2, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_valid_object_delivered_three_times_at_once() {
    let ports = backend("race-valid3").await;
    print(&races::same_valid_object_concurrently(&ports, &Spawned, 3, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_invalid_object_delivered_twice_at_once() {
    let ports = backend("race-invalid2").await;
    print(&races::same_invalid_object_concurrently(&ports, &Spawned, 2, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_invalid_object_delivered_three_times_at_once() {
    let ports = backend("race-invalid3").await;
    print(&races::same_invalid_object_concurrently(&ports, &Spawned, 3, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reprocess_races_a_delivery_and_another_reprocess() {
    let ports = backend("race-reprocess").await;
    print(&races::reprocess_races_delivery(&ports, &Spawned, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_races_reprocess() {
    let ports = backend("race-delete").await;
    print(&races::delete_races_reprocess(&ports, &Spawned, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_exports_of_one_user_at_once() {
    let ports = backend("race-export").await;
    print(&races::two_exports_at_once(&ports, &Spawned, ROUNDS).await);
}

/// Was a bug: the reprocess copied the quarantined object back under the owner's key, so
/// a second object put there meanwhile (its upload URL used again) was overwritten, or
/// processed as the upload's content. The copy now has a key of its own, and the processor
/// sends the second object to the operator quarantine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_object_under_the_key_while_a_reprocess_runs() {
    let ports = backend("race-second").await;
    print(&races::second_object_during_reprocess(&ports, 4).await);
}

/// Was a bug: two deliveries of one export request both read it running and both ran it,
/// and its owner got two `export_done` notifications. The notification id now comes from
/// the export and is recorded before the export is marked final, so it is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probe_one_export_request_delivered_twice_at_once() {
    let ports = backend("race-export-twice").await;
    print(&races::one_export_delivered_twice_at_once(&ports, &Spawned, ROUNDS).await);
}
