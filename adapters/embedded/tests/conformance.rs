//! The embedded adapters against the conformance suite every adapter set must pass.

use eventpulse_embedded::{FsObjectStore, SqliteTable, TABLE_FILE};
use eventpulse_handlers::conformance;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_adapters_pass_the_whole_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsObjectStore::open(dir.path()).expect("object store"));
    let table = Arc::new(SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table"));
    // Spawned: the suite's futures must be Send, as an AWS test harness may need.
    let run = {
        let (store, table) = (store.clone(), table.clone());
        tokio::spawn(async move { conformance::run_all(&*store, &*table).await })
    };
    run.await.expect("conformance suite");
    // The suite is written to run against a store that already holds data: twice works.
    conformance::run_all(&*store, &*table).await;
}

#[tokio::test]
async fn the_table_suite_passes_on_a_reopened_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(TABLE_FILE);
    drop(SqliteTable::open(&path).expect("table"));
    let table = SqliteTable::open(&path).expect("reopen");
    conformance::event_table(&table).await;
}
