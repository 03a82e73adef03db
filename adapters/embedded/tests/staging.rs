//! Streamed uploads (`FsObjectStore::stage`): committed, they are the same object `put`
//! writes; dropped, they leave no file.

use bytes::Bytes;
use eventpulse_embedded::FsObjectStore;
use eventpulse_handlers::ports::{Bucket, ObjectStore};

fn tmp_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("objects/.tmp")).unwrap().count()
}

#[tokio::test]
async fn a_committed_stage_is_the_object_put_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::open(dir.path()).unwrap();
    let mut staged = store.stage().await.unwrap();
    for chunk in [&b"{\"a\":"[..], b"1", b"}"] {
        staged.write(chunk).await.unwrap();
    }
    assert_eq!(staged.len(), 7);
    let info = staged
        .commit(
            Bucket::Process,
            "incoming/alice/u1.json",
            "application/json",
        )
        .await
        .unwrap();
    let put = store
        .put(
            Bucket::Process,
            "incoming/alice/u2.json",
            Bytes::from_static(b"{\"a\":1}"),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!((info.etag.as_str(), info.size), (put.etag.as_str(), 7));
    let got = store
        .get(Bucket::Process, "incoming/alice/u1.json", 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.bytes, "{\"a\":1}");
    assert_eq!(tmp_files(dir.path()), 0, "the staged file is removed");
}

#[tokio::test]
async fn a_dropped_stage_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsObjectStore::open(dir.path()).unwrap();
    let mut staged = store.stage().await.unwrap();
    staged.write(&[b'x'; 100_000]).await.unwrap();
    assert_eq!(tmp_files(dir.path()), 1);
    drop(staged);
    assert_eq!(tmp_files(dir.path()), 0);
    assert!(
        store
            .list(Bucket::Process, "", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
