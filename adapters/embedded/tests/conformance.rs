//! The embedded adapters against the conformance suite every adapter set must pass: one
//! test per check, each on its own data dir.

use eventpulse_embedded::{FsObjectStore, SqliteTable, TABLE_FILE};
use eventpulse_handlers::conformance;
use eventpulse_handlers::ports::{EventTable, ObjectStore, SubscriptionTable};
use std::sync::Arc;
use tempfile::TempDir;

async fn object_store() -> (TempDir, Arc<dyn ObjectStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsObjectStore::open(dir.path()).expect("object store");
    (dir, Arc::new(store))
}

async fn event_table() -> (TempDir, Arc<dyn EventTable>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table");
    (dir, Arc::new(table))
}

mod object_store {
    eventpulse_handlers::object_store_conformance!(super::object_store);
}

mod event_table {
    eventpulse_handlers::event_table_conformance!(super::event_table);
}

async fn subscription_table() -> (TempDir, Arc<dyn SubscriptionTable>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table");
    (dir, Arc::new(table))
}

mod subscription_table {
    eventpulse_handlers::subscription_table_conformance!(super::subscription_table);
}

/// The suite is written to run against a store that already holds data, from a spawned
/// task (its futures must be `Send`, as an AWS harness may need): all of it twice, in one
/// data dir, works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_twice_on_one_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(FsObjectStore::open(dir.path()).expect("object store"));
    let table = Arc::new(SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table"));
    for _ in 0..2 {
        let (store, table) = (store.clone(), table.clone());
        tokio::spawn(async move { conformance::run_all(&*store, &*table).await })
            .await
            .expect("conformance suite");
    }
}

#[tokio::test]
async fn the_table_suite_passes_on_a_reopened_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(TABLE_FILE);
    drop(SqliteTable::open(&path).expect("table"));
    let table = SqliteTable::open(&path).expect("reopen");
    conformance::event_table(&table).await;
}
