//! The data dir holds every tenant's data: what the embedded adapters create in it is the
//! owner's only (directories 0700, files 0600), whatever the umask.

#![cfg(unix)]

use bytes::Bytes;
use eventpulse_embedded::Embedded;
use eventpulse_generated::types::UploadState;
use eventpulse_handlers::ports::{Bucket, UploadRecord};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every entry under `dir` (itself included) whose mode lets anyone but the owner in.
fn shared_entries(dir: &Path, out: &mut Vec<String>) {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    let mode = meta.permissions().mode() & 0o777;
    let want = if meta.is_dir() { 0o700 } else { 0o600 };
    if mode != want {
        out.push(format!("{} is {mode:o}, not {want:o}", dir.display()));
    }
    if meta.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            shared_entries(&e.unwrap().path(), out);
        }
    }
}

#[tokio::test]
async fn what_the_embedded_backend_creates_is_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested/data");
    let backend = Embedded::open(&data, eventpulse_embedded::Options::default()).unwrap();
    let ports = backend.ports();
    ports
        .objects
        .put(
            Bucket::Process,
            "incoming/alice/u1.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap();
    ports
        .objects
        .put(
            Bucket::Exports,
            "alice/x1.ndjson",
            Bytes::from_static(b"{}\n"),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let mut staged = backend.objects.stage().await.unwrap();
    staged.write(b"{}").await.unwrap();
    staged
        .commit(
            Bucket::Quarantine,
            "incoming/alice/u2.json",
            "application/json",
        )
        .await
        .unwrap();
    // A write, so that SQLite's -wal and -shm files exist.
    ports
        .table
        .create_upload(&UploadRecord {
            owner: "alice".into(),
            upload_id: "u1".into(),
            key: "incoming/alice/u1.json".into(),
            status: UploadState::Pending,
            created_at: chrono::Utc::now(),
            etag: None,
            event_count: None,
            processed_at: None,
            reason_code: None,
        })
        .await
        .unwrap();
    let mut shared = Vec::new();
    shared_entries(&tmp.path().join("nested"), &mut shared);
    assert!(shared.is_empty(), "{shared:#?}");
    let names: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("-wal")),
        "the check saw SQLite's WAL: {names:?}"
    );
}
