//! Faults at every step (issue 8) on the embedded adapters (files + SQLite): the k-th port
//! call of each workflow fails (transient, permanent, after the write) or never returns, for
//! every k, and redelivery converges (`eventpulse_handlers::conformance::faults`). Both
//! profiles run on the same adapters: `eventpulse local`'s (outbox task, exports restarted at
//! start-up) and the Lambda functions' (delivered at once + the sweep, exports on a queue).
//!
//! `EVENTPULSE_FAULTS_VERBOSE=1` prints every case, not only the matrix
//! (`cargo test -p eventpulse-embedded --test faults -- --nocapture`).

use eventpulse_embedded::{Embedded, Options};
use eventpulse_handlers::conformance::faults::{Plan, Profile, Scenario, known_today, run_matrix};

async fn faults_at_every_step(profile: Profile) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Embedded::open(dir.path(), Options::default()).expect("embedded backend");
    let plans: Vec<Plan> = Scenario::ALL.into_iter().map(Plan::all).collect();
    let m = run_matrix(
        "embedded (files + SQLite)",
        &backend.ports(),
        profile,
        &plans,
    )
    .await;
    m.assert_converged(&|c| known_today(profile, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_every_step_converge_as_eventpulse_local_redelivers() {
    faults_at_every_step(Profile::LOCAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_every_step_converge_as_the_lambda_functions_redeliver() {
    faults_at_every_step(Profile::LAMBDA).await;
}
