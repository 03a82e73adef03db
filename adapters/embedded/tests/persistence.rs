//! Everything the embedded adapters write survives dropping and reopening them, and no key
//! can make the object store touch a file outside its directory.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventpulse_embedded::{FsObjectStore, SqliteTable, TABLE_FILE};
use eventpulse_generated::types::{
    ExportState, Notification, NotificationKind, NotificationNotificationVersion, ReasonCode,
    UploadId, UploadState,
};
use eventpulse_handlers::commit::store_events;
use eventpulse_handlers::ports::{
    Bucket, EventQuery, EventRecord, EventTable, ExportRecord, ObjectStore, QuarantineRecord,
    StoreOutcome, UploadRecord,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect(s)
        .with_timezone(&Utc)
}

fn upload(id: &str, status: UploadState, etag: Option<&str>) -> UploadRecord {
    UploadRecord {
        owner: "alice".into(),
        upload_id: id.into(),
        key: format!("incoming/alice/{id}.json"),
        status,
        created_at: t("2026-11-27T10:00:00.000000001Z"),
        etag: etag.map(str::to_string),
        event_count: etag.map(|_| 2),
        processed_at: etag.map(|_| t("2026-11-27T10:00:01.5Z")),
        reason_code: (status == UploadState::Quarantined).then_some(ReasonCode::SchemaViolation),
    }
}

fn event(id: &str, at: &str) -> EventRecord {
    EventRecord {
        owner: "alice".into(),
        event_id: id.into(),
        event_type: "page.view".into(),
        occurred_at: t(at),
        body: eventpulse_contract_rt::EventJson::from_value(&json!({"eventId": id, "type": "page.view", "occurredAt": at, "source": "s", "data": {"url": "https://e.com/"}})).unwrap(),
        content_hash: format!("hash-{id}"),
        received_at: t("2026-11-27T10:00:01.5Z"),
        upload_id: "s-1".into(),
    }
}

fn notification(id: &str, kind: NotificationKind, at: &str) -> Notification {
    Notification {
        notification_version: NotificationNotificationVersion::try_from(1).expect("version"),
        notification_id: id.into(),
        kind,
        created_at: t(at),
        message: format!("notification {id}"),
        upload_id: Some(UploadId::try_from("q-1".to_string()).expect("id")),
        key: None,
        reason_code: None,
        error_count: None,
        export_id: None,
        event_count: None,
    }
}

fn open(dir: &Path) -> (FsObjectStore, SqliteTable) {
    (
        FsObjectStore::open(dir).expect("object store"),
        SqliteTable::open(dir.join(TABLE_FILE)).expect("table"),
    )
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = vec![
        event("e-1", "2026-11-27T10:00:00.000000001+01:00"),
        event("e-2", "1970-01-01T00:00:00Z"),
    ];
    let quarantine = QuarantineRecord {
        owner: "alice".into(),
        upload_id: "q-1".into(),
        key: "alice/q-1.json".into(),
        quarantined_at: t("2026-11-27T10:00:02.25Z"),
        reason_code: ReasonCode::SchemaViolation,
        error_count: 3,
        size_bytes: 99,
    };
    let undelivered = notification(
        "n-1",
        NotificationKind::ObjectQuarantined,
        "2026-11-27T10:00:02.25Z",
    );
    let delivered = notification("n-2", NotificationKind::ExportDone, "2026-11-27T10:00:03Z");
    let export = ExportRecord {
        owner: "alice".into(),
        export_id: "x-1".into(),
        status: ExportState::Done,
        query: EventQuery {
            event_type: None,
            from: Some(t("2026-01-01T00:00:00.5Z")),
            to: None,
        },
        created_at: t("2026-11-27T10:00:03Z"),
        finished_at: Some(t("2026-11-27T10:00:04Z")),
        event_count: Some(2),
        result_key: Some("alice/x-1.ndjson".into()),
    };
    let objects = [
        (Bucket::Process, "incoming/alice/p-1.json", &b"[1]"[..]),
        (Bucket::Quarantine, "alice/q-1.json", &b"{bad"[..]),
        (Bucket::Exports, "alice/x-1.ndjson", &b"{}\n{}\n"[..]),
    ];
    let mut infos = Vec::new();
    {
        let (store, table) = open(dir.path());
        for (bucket, key, bytes) in objects {
            infos.push(
                store
                    .put(bucket, key, Bytes::from_static(bytes), "application/json")
                    .await
                    .expect("put"),
            );
        }
        assert!(
            table
                .create_upload(&upload("p-1", UploadState::Pending, None))
                .await
                .expect("create")
        );
        assert_eq!(
            store_events(
                &table,
                &upload("s-1", UploadState::Stored, Some("etag-s")),
                &events
            )
            .await
            .expect("commit"),
            StoreOutcome::Stored {
                inserted: 2,
                duplicates: 0,
                already: false
            }
        );
        assert!(
            table
                .commit_quarantined(
                    &upload("q-1", UploadState::Quarantined, Some("etag-q")),
                    &quarantine,
                    &undelivered
                )
                .await
                .expect("quarantine")
        );
        table
            .record_notification("alice", &delivered)
            .await
            .expect("record");
        table.mark_delivered("alice", "n-2").await.expect("mark");
        table.put_export(&export).await.expect("export");
    }
    assert!(dir.path().join(TABLE_FILE).is_file());
    assert!(
        dir.path()
            .join("objects/process/incoming/alice/p-1.json")
            .is_file()
    );

    let (store, table) = open(dir.path());
    for ((bucket, key, bytes), info) in objects.iter().zip(&infos) {
        let o = store
            .get(*bucket, key, 100)
            .await
            .expect("get")
            .expect("object survives");
        assert_eq!(o.bytes.as_ref(), *bytes);
        assert_eq!(
            (&o.info.key, o.info.size, &o.info.etag),
            (&info.key, info.size, &info.etag)
        );
        assert_eq!(
            store
                .head(*bucket, key)
                .await
                .expect("head")
                .map(|h| h.last_modified),
            Some(info.last_modified)
        );
    }
    assert_eq!(
        store
            .list(Bucket::Process, "", None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        table.get_upload("alice", "p-1").await.expect("get"),
        Some(upload("p-1", UploadState::Pending, None))
    );
    assert_eq!(
        table.get_upload("alice", "s-1").await.expect("get"),
        Some(upload("s-1", UploadState::Stored, Some("etag-s")))
    );
    assert_eq!(
        table.get_upload("alice", "q-1").await.expect("get"),
        Some(upload("q-1", UploadState::Quarantined, Some("etag-q")))
    );
    let listed = table
        .list_events("alice", &EventQuery::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(listed, vec![events[1].clone(), events[0].clone()]);
    assert_eq!(
        table.get_event("alice", "e-1").await.expect("get"),
        Some(events[0].clone())
    );
    // The ledger still recognises a replay after the restart.
    assert!(matches!(
        store_events(
            &table,
            &upload("s-1", UploadState::Stored, Some("etag-s")),
            &events
        )
        .await
        .expect("replay"),
        StoreOutcome::Stored { already: true, .. }
    ));
    assert_eq!(
        table.get_quarantine("alice", "q-1").await.expect("get"),
        Some(quarantine.clone())
    );
    assert_eq!(
        table
            .list_quarantine("alice", None, 10)
            .await
            .expect("list"),
        vec![quarantine]
    );
    assert_eq!(
        table
            .list_notifications("alice", None, 10)
            .await
            .expect("list"),
        vec![delivered, undelivered.clone()]
    );
    assert_eq!(
        table.undelivered_notifications(10).await.expect("outbox"),
        vec![("alice".to_string(), undelivered)],
        "the delivered flag survives too"
    );
    assert_eq!(
        table.get_export("alice", "x-1").await.expect("get"),
        Some(export)
    );
}

/// Every file and directory under `root`.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path);
        }
    }
    out
}

#[tokio::test]
async fn keys_that_could_escape_are_refused_and_nothing_is_written_outside() {
    let outer = tempfile::tempdir().expect("tempdir");
    let data = outer.path().join("data");
    let store = FsObjectStore::open(&data).expect("open");
    let valid = "incoming/alice/ok.json";
    store
        .put(Bucket::Process, valid, Bytes::from_static(b"ok"), "t")
        .await
        .expect("put");
    let before = tree(outer.path());

    let hostile = [
        "../escape.json",
        "../../escape.json",
        "../../../../../../../../tmp/escape.json",
        "incoming/alice/../../../escape.json",
        "incoming/../../escape.json",
        "/tmp/escape.json",
        "/",
        "..",
        ".",
        "./x",
        "a/./b",
        "a//b",
        "a/",
        "",
        "..\\escape.json",
        "a\\..\\..\\escape.json",
        "a\0b",
        "escape.json\0.txt",
    ];
    let buckets = [Bucket::Process, Bucket::Quarantine, Bucket::Exports];
    for key in hostile {
        for bucket in buckets {
            let refused = |what: &str, r: Result<(), eventpulse_handlers::ports::PortError>| {
                let e = r.expect_err(&format!("{what} {key:?} must be refused"));
                assert!(
                    !e.retryable,
                    "{what} {key:?}: refusal must be permanent: {e}"
                );
            };
            refused(
                "put",
                store
                    .put(bucket, key, Bytes::from_static(b"x"), "t")
                    .await
                    .map(|_| ()),
            );
            refused("head", store.head(bucket, key).await.map(|_| ()));
            refused("get", store.get(bucket, key, 10).await.map(|_| ()));
            refused("delete", store.delete(bucket, key).await);
            refused(
                "copy from",
                store
                    .copy(Bucket::Process, valid, bucket, key)
                    .await
                    .map(|_| ()),
            );
            refused(
                "copy to",
                store
                    .copy(bucket, key, Bucket::Process, "incoming/alice/copy.json")
                    .await
                    .map(|_| ()),
            );
            let listed = store
                .list(bucket, key, None, 10)
                .await
                .expect("list with any prefix");
            assert!(
                listed.iter().all(|o| o.key.starts_with(key)),
                "list({key:?}) returned {listed:?}"
            );
        }
    }
    for prefix in ["../", "../data/objects/process/", "/", "..", "./"] {
        assert!(
            store
                .list(Bucket::Process, prefix, None, 10)
                .await
                .expect("list")
                .is_empty(),
            "{prefix:?}"
        );
    }
    assert_eq!(
        tree(outer.path()),
        before,
        "nothing may be created, changed or removed by refused keys"
    );
    assert!(!outer.path().join("escape.json").exists());
    assert_eq!(
        store
            .get(Bucket::Process, valid, 10)
            .await
            .expect("get")
            .map(|o| o.bytes),
        Some(Bytes::from_static(b"ok"))
    );
}

/// The retention sweep's queries: finished exports before an instant, oldest first, and
/// deleting one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_exports_are_found_for_retention_and_deleted() {
    use eventpulse_generated::types::ExportState;
    use eventpulse_handlers::ports::{EventQuery, EventTable, ExportRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    let table =
        eventpulse_embedded::SqliteTable::open(dir.path().join(eventpulse_embedded::TABLE_FILE))
            .expect("table");
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let x = |id: &str, status: ExportState, finished: Option<&str>| ExportRecord {
        owner: "o".into(),
        export_id: id.into(),
        status,
        query: EventQuery::default(),
        created_at: at("2026-11-01T00:00:00Z"),
        finished_at: finished.map(at),
        event_count: None,
        result_key: None,
    };
    for e in [
        x("old-done", ExportState::Done, Some("2026-11-02T00:00:00Z")),
        x(
            "old-failed",
            ExportState::Failed,
            Some("2026-11-01T12:00:00Z"),
        ),
        x("new-done", ExportState::Done, Some("2026-11-30T00:00:00Z")),
        x("running", ExportState::Running, None),
    ] {
        table.put_export(&e).await.unwrap();
    }
    let found = table
        .finished_exports_before(at("2026-11-20T00:00:00Z"), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|x| x.export_id.as_str()).collect();
    assert_eq!(ids, ["old-failed", "old-done"]);
    table.delete_export("o", "old-done").await.unwrap();
    assert!(table.get_export("o", "old-done").await.unwrap().is_none());
    assert!(table.get_export("o", "running").await.unwrap().is_some());
}

/// Pending uploads whose object never arrived are found once old, and forgotten; one that
/// holds events, is quarantined, was reopened or is recent is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_pending_uploads_are_forgotten_and_nothing_else() {
    use eventpulse_handlers::ports::{EventTable, UploadRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    let table = SqliteTable::open(dir.path().join(TABLE_FILE)).expect("table");
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let pending = |id: &str, created: &str| UploadRecord {
        owner: "o".into(),
        upload_id: id.into(),
        key: format!("incoming/o/{id}.json"),
        status: UploadState::Pending,
        created_at: at(created),
        etag: None,
        event_count: None,
        processed_at: None,
        reason_code: None,
    };
    for u in [
        pending("old", "2026-11-01T00:00:00Z"),
        pending("old-reopened", "2026-11-01T00:00:00Z"),
        pending("recent", "2026-11-30T00:00:00Z"),
    ] {
        assert!(table.create_upload(&u).await.unwrap());
    }
    // A reprocess claim is pending too, and must stay.
    let q = eventpulse_handlers::ports::QuarantineRecord {
        owner: "o".into(),
        upload_id: "old-reopened".into(),
        key: "o/old-reopened.json".into(),
        quarantined_at: at("2026-11-01T00:01:00Z"),
        reason_code: ReasonCode::SchemaViolation,
        error_count: 1,
        size_bytes: 2,
    };
    let quarantined = UploadRecord {
        status: UploadState::Quarantined,
        etag: Some("e".into()),
        ..pending("old-reopened", "2026-11-01T00:00:00Z")
    };
    let n = eventpulse_generated::types::Notification {
        notification_version: 1.try_into().unwrap(),
        notification_id: "n-1".into(),
        kind: eventpulse_generated::types::NotificationKind::ObjectQuarantined,
        created_at: at("2026-11-01T00:01:00Z"),
        message: "m".into(),
        upload_id: None,
        key: None,
        reason_code: None,
        error_count: None,
        export_id: None,
        event_count: None,
    };
    assert!(
        table
            .commit_quarantined(&quarantined, &q, &n)
            .await
            .unwrap()
    );
    assert!(
        table
            .reopen_upload(
                "o",
                "old-reopened",
                at("2026-11-01T00:02:00Z"),
                at("2026-11-01T00:00:00Z")
            )
            .await
            .unwrap()
    );
    let stale = table
        .stale_pending_uploads(at("2026-11-20T00:00:00Z"), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = stale.iter().map(|u| u.upload_id.as_str()).collect();
    assert_eq!(ids, ["old"]);
    assert!(table.forget_pending_upload(&stale[0]).await.unwrap());
    assert!(table.get_upload("o", "old").await.unwrap().is_none());
    assert!(
        !table.forget_pending_upload(&stale[0]).await.unwrap(),
        "gone already"
    );
    for kept in ["old-reopened", "recent"] {
        assert!(
            table.get_upload("o", kept).await.unwrap().is_some(),
            "{kept}"
        );
    }
}
