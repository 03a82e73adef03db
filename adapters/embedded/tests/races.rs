//! The processor and the API racing themselves on the embedded adapters (files + SQLite):
//! the scenarios of `eventpulse_handlers::conformance::races`, each racer a task of its own
//! on a multi-thread runtime, all released together behind a barrier, many rounds with fresh
//! keys. Every test prints its report (rounds, what happened, violations); run with
//! `--nocapture` to see them.

use eventpulse_embedded::{Embedded, Options};
use eventpulse_handlers::conformance::races::{self, Racer, Report, Task};
use eventpulse_handlers::wiring::Ports;
use std::sync::Arc;
use tokio::sync::Barrier;

const ROUNDS: usize = 20;

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

/// A fresh data dir and the backend's ports on it.
fn backend() -> (tempfile::TempDir, Ports) {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = Embedded::open(dir.path(), Options::default()).expect("open the backend");
    (dir, embedded.ports())
}

fn print(report: &Report) {
    println!("races [embedded] {report}");
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_valid_object_delivered_twice_at_once() {
    let (_dir, ports) = backend();
    print(&races::same_valid_object_concurrently(&ports, &Spawned, 2, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_valid_object_delivered_three_times_at_once() {
    let (_dir, ports) = backend();
    print(&races::same_valid_object_concurrently(&ports, &Spawned, 3, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_invalid_object_delivered_twice_at_once() {
    let (_dir, ports) = backend();
    print(&races::same_invalid_object_concurrently(&ports, &Spawned, 2, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_invalid_object_delivered_three_times_at_once() {
    let (_dir, ports) = backend();
    print(&races::same_invalid_object_concurrently(&ports, &Spawned, 3, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reprocess_races_a_delivery_and_another_reprocess() {
    let (_dir, ports) = backend();
    print(&races::reprocess_races_delivery(&ports, &Spawned, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_races_reprocess() {
    let (_dir, ports) = backend();
    print(&races::delete_races_reprocess(&ports, &Spawned, ROUNDS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_exports_of_one_user_at_once() {
    let (_dir, ports) = backend();
    print(&races::two_exports_at_once(&ports, &Spawned, ROUNDS).await);
}

/// Was a bug: the reprocess copied the quarantined object back under the owner's key, so
/// a second object put there meanwhile (its upload URL used again) was overwritten, or
/// processed as the upload's content. The copy now has a key of its own, and the processor
/// sends the second object to the operator quarantine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_object_under_the_key_while_a_reprocess_runs() {
    let (_dir, ports) = backend();
    print(&races::second_object_during_reprocess(&ports, 4).await);
}

/// Was a bug: two deliveries of one export request both read it running and both ran it,
/// and its owner got two `export_done` notifications. The notification id now comes from
/// the export and is recorded before the export is marked final, so it is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probe_one_export_request_delivered_twice_at_once() {
    let (_dir, ports) = backend();
    print(&races::one_export_delivered_twice_at_once(&ports, &Spawned, ROUNDS).await);
}
