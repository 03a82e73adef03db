//! The conformance suite: what every adapter set must do to implement the ports.
//!
//! Enabled by the `conformance` feature. Each function exercises one port against a live
//! adapter and panics, naming the rule that was broken, on the first violation. The embedded
//! adapters (files + SQLite) run it in their tests; the AWS adapters (S3 + DynamoDB on moto)
//! are held to it too, so every rule here is one the domain relies on, written in the ports'
//! terms and never in a storage engine's.
//!
//! Every check works in its own fresh owners and key prefixes (made unique per run), so the
//! suite can run against a store that already holds data, several times, and its checks can
//! run in any order. Timestamps carry nanoseconds and sit at the edges (1 ns apart, before
//! 1970, in year 9999) to catch precision and ordering bugs.

use crate::commit::store_events;
use crate::intake::canonical_json;
use crate::keys;
use crate::ports::{
    Bucket, EventPosition, EventQuery, EventRecord, EventTable, ExportRecord, Held, MarkStored,
    NotificationPosition, ObjectInfo, ObjectStore, PortResult, QuarantinePosition,
    QuarantineRecord, StoreOutcome, UploadRecord,
};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use eventpulse_generated::types::{
    EventType, ExportState, Notification, NotificationKind, NotificationNotificationVersion,
    ReasonCode, UploadId, UploadState,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt::Display;

/// Runs every check against one object store and one table.
pub async fn run_all(store: &dyn ObjectStore, table: &dyn EventTable) {
    object_store(store).await;
    event_table(table).await;
}

/// Every [`ObjectStore`] check.
pub async fn object_store(store: &dyn ObjectStore) {
    objects_round_trip(store).await;
    objects_etags(store).await;
    objects_size_limit(store).await;
    objects_missing_and_delete(store).await;
    objects_copy(store).await;
    objects_list(store).await;
    objects_buckets_are_independent(store).await;
}

/// Every [`EventTable`] check.
pub async fn event_table(table: &dyn EventTable) {
    uploads(table).await;
    commit_stored(table).await;
    commit_stored_conflicts(table).await;
    commit_quarantined(table).await;
    reopen_and_delete_quarantine(table).await;
    list_events(table).await;
    list_quarantine(table).await;
    notifications(table).await;
    exports(table).await;
    tenancy(table).await;
    commit_rule_hidden_until_stored(table).await;
    commit_rule_crash_between_chunks(table).await;
    commit_rule_live_and_void_holders(table).await;
    commit_rule_concurrent_same_content(table).await;
    commit_rule_holds_are_per_content(table).await;
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Unwraps a port result, or panics naming the call.
#[track_caller]
fn ok<T>(what: impl Display, r: PortResult<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!(
            "conformance: {what} failed: {} ({})",
            e.message,
            if e.retryable {
                "transient"
            } else {
                "permanent"
            }
        ),
    }
}

/// A fresh suffix, so that runs and checks never see each other's data.
fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh owner id (valid per [`keys::is_valid_owner`]).
fn owner(tag: &str) -> String {
    let o = format!("ct-{tag}-{}", unique());
    debug_assert!(keys::is_valid_owner(&o));
    o
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("conformance: bad test timestamp {s}: {e}"))
        .with_timezone(&Utc)
}

fn ns(n: i64) -> Duration {
    Duration::nanoseconds(n)
}

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// An event as the processor would record it. `occurred_at` is written in the body with an
/// offset (as uploaders do), while the record holds the UTC instant. `variant` changes the
/// content, and so the content hash.
fn event(
    owner: &str,
    event_id: &str,
    event_type: &str,
    occurred_at: &str,
    upload_id: &str,
    variant: &str,
) -> EventRecord {
    // Keys deliberately not in sorted order: the body must come back exactly as uploaded.
    let body = json!({
        "type": event_type,
        "eventId": event_id,
        "source": "conformance",
        "occurredAt": occurred_at,
        "data": {"zeta": variant, "alpha": [1, 2.5, -3], "ünïcødé": "ñ ✓ \u{1F600}", "null": null}
    });
    EventRecord {
        owner: owner.into(),
        event_id: event_id.into(),
        event_type: event_type.into(),
        occurred_at: t(occurred_at),
        content_hash: sha(&canonical_json(&body)),
        body,
        received_at: t("2026-11-27T09:30:00.123456789Z"),
        upload_id: upload_id.into(),
    }
}

fn pending(owner: &str, upload_id: &str, created_at: DateTime<Utc>) -> UploadRecord {
    UploadRecord {
        owner: owner.into(),
        upload_id: upload_id.into(),
        key: keys::incoming_key(owner, upload_id),
        status: UploadState::Pending,
        created_at,
        etag: None,
        event_count: None,
        processed_at: None,
        reason_code: None,
    }
}

fn stored(owner: &str, upload_id: &str, etag: &str, events: usize) -> UploadRecord {
    UploadRecord {
        status: UploadState::Stored,
        etag: Some(etag.into()),
        event_count: Some(events as u64),
        processed_at: Some(t("2026-11-27T10:00:00.000000001Z")),
        ..pending(owner, upload_id, t("2026-11-27T09:59:59.999999999Z"))
    }
}

fn quarantined_upload(owner: &str, upload_id: &str, etag: &str) -> UploadRecord {
    UploadRecord {
        status: UploadState::Quarantined,
        etag: Some(etag.into()),
        event_count: Some(2),
        processed_at: Some(t("2026-11-27T10:00:00.5Z")),
        reason_code: Some(ReasonCode::SchemaViolation),
        ..pending(owner, upload_id, t("2026-11-27T09:59:00.25Z"))
    }
}

fn quarantine_record(owner: &str, upload_id: &str, at: DateTime<Utc>) -> QuarantineRecord {
    QuarantineRecord {
        owner: owner.into(),
        upload_id: upload_id.into(),
        key: keys::quarantine_key(owner, upload_id),
        quarantined_at: at,
        reason_code: ReasonCode::SchemaViolation,
        error_count: 3,
        size_bytes: 1234,
    }
}

fn notification(
    id: &str,
    kind: NotificationKind,
    at: DateTime<Utc>,
    upload: Option<&str>,
) -> Notification {
    Notification {
        notification_version: NotificationNotificationVersion::try_from(1)
            .unwrap_or_else(|e| panic!("conformance: notification version: {e}")),
        notification_id: id.into(),
        kind,
        created_at: at,
        message: format!("conformance notification {id} ✓"),
        upload_id: upload.map(|u| {
            UploadId::try_from(u.to_string())
                .unwrap_or_else(|e| panic!("conformance: upload id {u}: {e}"))
        }),
        key: upload.map(|u| format!("incoming/x/{u}.json")),
        reason_code: upload.map(|_| ReasonCode::SchemaViolation),
        error_count: upload.map(|_| 2),
        export_id: None,
        event_count: Some(7),
    }
}

fn quarantine_notification(id: &str, upload_id: &str, at: DateTime<Utc>) -> Notification {
    notification(id, NotificationKind::ObjectQuarantined, at, Some(upload_id))
}

/// Asserts a stored event equals what was written, including the body's key order.
#[track_caller]
fn assert_event(got: Option<EventRecord>, want: &EventRecord, what: &str) {
    let got =
        got.unwrap_or_else(|| panic!("conformance: {what}: event {} is missing", want.event_id));
    assert_eq!(
        &got, want,
        "conformance: {what}: event {} differs from what was stored",
        want.event_id
    );
    assert_eq!(
        got.body.to_string(),
        want.body.to_string(),
        "conformance: {what}: the body of event {} must come back exactly as uploaded (key order kept)",
        want.event_id
    );
}

fn ids(events: &[EventRecord]) -> Vec<String> {
    events.iter().map(|e| e.event_id.clone()).collect()
}

/// Every event of `owner` matching `query`, read page by page with `limit`.
async fn all_events(
    table: &dyn EventTable,
    owner: &str,
    query: &EventQuery,
    limit: usize,
) -> Vec<EventRecord> {
    let mut out: Vec<EventRecord> = Vec::new();
    let mut after: Option<EventPosition> = None;
    for _ in 0..100_000 {
        let page = ok(
            format!("list_events({owner}, {query:?}, after {after:?}, limit {limit})"),
            table.list_events(owner, query, after.as_ref(), limit).await,
        );
        assert!(
            page.len() <= limit,
            "conformance: list_events returned {} events for limit {limit}",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = Some(EventPosition {
            occurred_at: last.occurred_at,
            event_id: last.event_id.clone(),
        });
        let short = page.len() < limit;
        out.extend(page);
        if short {
            break;
        }
    }
    out
}

/// All of an owner's undelivered notifications, oldest first as the outbox returns them.
async fn outbox_of(table: &dyn EventTable, owner: &str) -> Vec<Notification> {
    let all = ok(
        "undelivered_notifications",
        table.undelivered_notifications(100_000).await,
    );
    let mine: Vec<Notification> = all
        .iter()
        .filter(|(o, _)| o == owner)
        .map(|(_, n)| n.clone())
        .collect();
    let order: Vec<(DateTime<Utc>, String)> = all
        .iter()
        .map(|(_, n)| (n.created_at, n.notification_id.clone()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(
        order, sorted,
        "conformance: undelivered_notifications must be oldest first by (created_at, notification_id)"
    );
    mine
}

async fn all_notifications(table: &dyn EventTable, owner: &str, limit: usize) -> Vec<Notification> {
    let mut out: Vec<Notification> = Vec::new();
    let mut after: Option<NotificationPosition> = None;
    for _ in 0..100_000 {
        let page = ok(
            format!("list_notifications({owner}, after {after:?}, limit {limit})"),
            table.list_notifications(owner, after.as_ref(), limit).await,
        );
        assert!(
            page.len() <= limit,
            "conformance: list_notifications exceeded its limit"
        );
        let Some(last) = page.last() else { break };
        after = Some(NotificationPosition {
            created_at: last.created_at,
            notification_id: last.notification_id.clone(),
        });
        let short = page.len() < limit;
        out.extend(page);
        if short {
            break;
        }
    }
    out
}

async fn all_quarantine(
    table: &dyn EventTable,
    owner: &str,
    limit: usize,
) -> Vec<QuarantineRecord> {
    let mut out: Vec<QuarantineRecord> = Vec::new();
    let mut after: Option<QuarantinePosition> = None;
    for _ in 0..100_000 {
        let page = ok(
            format!("list_quarantine({owner}, after {after:?}, limit {limit})"),
            table.list_quarantine(owner, after.as_ref(), limit).await,
        );
        assert!(
            page.len() <= limit,
            "conformance: list_quarantine exceeded its limit"
        );
        let Some(last) = page.last() else { break };
        after = Some(QuarantinePosition {
            quarantined_at: last.quarantined_at,
            upload_id: last.upload_id.clone(),
        });
        let short = page.len() < limit;
        out.extend(page);
        if short {
            break;
        }
    }
    out
}

async fn mark_all_delivered(table: &dyn EventTable, owner: &str) {
    for n in outbox_of(table, owner).await {
        ok(
            "mark_delivered",
            table.mark_delivered(owner, &n.notification_id).await,
        );
    }
}

// ---------------------------------------------------------------------------------------
// ObjectStore

fn prefix(tag: &str) -> String {
    format!("conformance/{tag}-{}/", unique())
}

#[track_caller]
fn assert_same_object(got: &ObjectInfo, want: &ObjectInfo, what: &str) {
    assert_eq!(
        (&got.key, got.size, &got.etag),
        (&want.key, want.size, &want.etag),
        "conformance: {what}: key, size and ETag must match"
    );
}

async fn head(store: &dyn ObjectStore, bucket: Bucket, key: &str) -> Option<ObjectInfo> {
    ok(
        format!("head({bucket:?}, {key})"),
        store.head(bucket, key).await,
    )
}

async fn get_bytes(store: &dyn ObjectStore, bucket: Bucket, key: &str) -> Option<Bytes> {
    ok(
        format!("get({bucket:?}, {key})"),
        store.get(bucket, key, u64::MAX).await,
    )
    .map(|o| o.bytes)
}

async fn put(store: &dyn ObjectStore, bucket: Bucket, key: &str, bytes: &[u8]) -> ObjectInfo {
    let info = ok(
        format!("put({bucket:?}, {key})"),
        store
            .put(
                bucket,
                key,
                Bytes::copy_from_slice(bytes),
                "application/json",
            )
            .await,
    );
    assert_eq!(
        info.key, key,
        "conformance: put must return the object's key"
    );
    assert_eq!(
        info.size,
        bytes.len() as u64,
        "conformance: put must return the object's size"
    );
    assert!(
        !info.etag.is_empty(),
        "conformance: put must return an ETag"
    );
    info
}

async fn cleanup(store: &dyn ObjectStore, bucket: Bucket, prefix: &str) {
    loop {
        let page = ok(
            "list (clean-up)",
            store.list(bucket, prefix, None, 500).await,
        );
        if page.is_empty() {
            break;
        }
        for o in page {
            ok("delete (clean-up)", store.delete(bucket, &o.key).await);
        }
    }
}

/// put → head → get return the same key, size and ETag and the exact bytes, for nested
/// keys, binary and empty content and an object of several MiB.
pub async fn objects_round_trip(store: &dyn ObjectStore) {
    let p = prefix("round-trip");
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{p}a/b/c/d/e.json"),
            br#"[{"eventId":"a"}]"#.to_vec(),
        ),
        (format!("{p}top.json"), b"{}".to_vec()),
        (
            format!("{p}binary.bin"),
            (0..=255u8).chain([0xff, 0xfe, 0, 0xc3]).collect(),
        ),
        (format!("{p}empty.json"), Vec::new()),
        (
            format!("{p}unicode é ü/sp ace+%3D=:~.json"),
            "{\"x\":\"ñ ✓\"}".as_bytes().to_vec(),
        ),
        (
            format!("{p}large/5mib.json"),
            (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect(),
        ),
    ];
    let now = Utc::now();
    for (key, bytes) in &cases {
        let info = put(store, Bucket::Process, key, bytes).await;
        let h = head(store, Bucket::Process, key)
            .await
            .unwrap_or_else(|| panic!("conformance: head after put of {key} found nothing"));
        assert_same_object(&h, &info, &format!("head after put of {key}"));
        assert!(
            (h.last_modified - now).num_hours().abs() < 24,
            "conformance: head of {key}: last_modified {} is not the time of the put",
            h.last_modified
        );
        let o = ok(
            format!("get {key} with max_bytes = its size"),
            store.get(Bucket::Process, key, bytes.len() as u64).await,
        )
        .unwrap_or_else(|| panic!("conformance: get after put of {key} found nothing"));
        assert_same_object(&o.info, &info, &format!("get after put of {key}"));
        assert!(
            o.bytes.as_ref() == bytes.as_slice(),
            "conformance: get of {key} returned other bytes ({} instead of {})",
            o.bytes.len(),
            bytes.len()
        );
    }
    cleanup(store, Bucket::Process, &p).await;
}

/// The ETag changes whenever the content changes, even for content of the same size
/// written within the same second.
pub async fn objects_etags(store: &dyn ObjectStore) {
    let p = prefix("etags");
    let key = format!("{p}incoming/owner/u.json");
    let a = put(store, Bucket::Process, &key, b"content number 1").await;
    let b = put(store, Bucket::Process, &key, b"content number 2").await;
    assert_ne!(
        a.etag, b.etag,
        "conformance: the ETag must change when the content changes (same size, same second)"
    );
    let h = head(store, Bucket::Process, &key).await;
    assert_eq!(
        h.as_ref().map(|h| (h.size, h.etag.clone())),
        Some((b.size, b.etag.clone())),
        "conformance: head after an overwrite must describe the new content"
    );
    assert_eq!(
        get_bytes(store, Bucket::Process, &key).await.as_deref(),
        Some(&b"content number 2"[..]),
        "conformance: get after an overwrite must return the new content"
    );
    let c = put(
        store,
        Bucket::Process,
        &key,
        b"a longer content than before",
    )
    .await;
    assert!(
        c.etag != b.etag && c.etag != a.etag,
        "conformance: a third content must have a third ETag"
    );
    // Same content again: the ETag may or may not repeat, but must differ from the last one.
    let d = put(store, Bucket::Process, &key, b"content number 1").await;
    assert_ne!(
        d.etag, c.etag,
        "conformance: the ETag must change back with the content"
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// `get` with `max_bytes` below the size is a permanent error, never a truncated read.
pub async fn objects_size_limit(store: &dyn ObjectStore) {
    let p = prefix("size-limit");
    let key = format!("{p}big.json");
    let bytes = vec![b'x'; 1000];
    put(store, Bucket::Process, &key, &bytes).await;
    for max in [0u64, 1, 999] {
        match store.get(Bucket::Process, &key, max).await {
            Ok(Some(o)) => panic!(
                "conformance: get with max_bytes {max} of a 1000-byte object must fail, got {} bytes",
                o.bytes.len()
            ),
            Ok(None) => panic!(
                "conformance: get with max_bytes {max} must fail, not report a missing object"
            ),
            Err(e) => assert!(
                !e.retryable,
                "conformance: an object larger than max_bytes is a permanent error (retrying cannot help): {e}"
            ),
        }
    }
    let o = ok(
        "get with max_bytes = size",
        store.get(Bucket::Process, &key, 1000).await,
    );
    assert_eq!(
        o.map(|o| o.bytes.len()),
        Some(1000),
        "conformance: max_bytes is inclusive"
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// Missing objects are `None` everywhere; delete is idempotent.
pub async fn objects_missing_and_delete(store: &dyn ObjectStore) {
    let p = prefix("missing");
    let key = format!("{p}gone/x.json");
    assert!(
        head(store, Bucket::Process, &key).await.is_none(),
        "conformance: head of a missing object must be None"
    );
    assert!(
        ok("get missing", store.get(Bucket::Process, &key, 10).await).is_none(),
        "conformance: get of a missing object must be None"
    );
    ok(
        "delete of a missing object",
        store.delete(Bucket::Process, &key).await,
    );

    put(store, Bucket::Process, &key, b"soon gone").await;
    let sibling = format!("{p}gone/y.json");
    put(store, Bucket::Process, &sibling, b"stays").await;
    ok("delete", store.delete(Bucket::Process, &key).await);
    assert!(
        head(store, Bucket::Process, &key).await.is_none(),
        "conformance: head after delete must be None"
    );
    assert!(
        get_bytes(store, Bucket::Process, &key).await.is_none(),
        "conformance: get after delete must be None"
    );
    ok("second delete", store.delete(Bucket::Process, &key).await);
    assert_eq!(
        get_bytes(store, Bucket::Process, &sibling).await.as_deref(),
        Some(&b"stays"[..]),
        "conformance: delete must not touch other keys"
    );
    let listed = ok(
        "list after delete",
        store.list(Bucket::Process, &p, None, 100).await,
    );
    assert_eq!(
        listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        vec![sibling.as_str()],
        "conformance: a deleted object must not be listed"
    );
    // Deleting the last object under a "directory" and writing there again works.
    ok("delete", store.delete(Bucket::Process, &sibling).await);
    put(store, Bucket::Process, &key, b"back").await;
    assert_eq!(
        get_bytes(store, Bucket::Process, &key).await.as_deref(),
        Some(&b"back"[..])
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// Copy between buckets and within one, overwriting; a missing source is `None` and leaves
/// the target as it was.
pub async fn objects_copy(store: &dyn ObjectStore) {
    let p = prefix("copy");
    let src = format!("{p}incoming/alice/u1.json");
    let src_info = put(store, Bucket::Process, &src, b"[1,2,3]").await;

    let dst = format!("{p}alice/u1.json");
    let copied = ok(
        "copy process → quarantine",
        store
            .copy(Bucket::Process, &src, Bucket::Quarantine, &dst)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy of an existing object returned None"));
    assert_eq!(
        (copied.key.as_str(), copied.size),
        (dst.as_str(), 7),
        "conformance: copy must describe the target"
    );
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );
    let h = head(store, Bucket::Quarantine, &dst).await;
    assert_eq!(
        h.map(|h| h.etag),
        Some(copied.etag.clone()),
        "conformance: head of a copy must match what copy returned"
    );
    assert_same_object(
        &head(store, Bucket::Process, &src)
            .await
            .unwrap_or_else(|| panic!("conformance: copy must keep the source")),
        &src_info,
        "source after copy",
    );

    // Overwrite an existing, longer target.
    let dst2 = format!("{p}deep/er/target.json");
    put(
        store,
        Bucket::Quarantine,
        &dst2,
        b"an older and much longer content",
    )
    .await;
    let over = ok(
        "copy over an existing target",
        store
            .copy(Bucket::Process, &src, Bucket::Quarantine, &dst2)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy over an existing target returned None"));
    assert_eq!(over.size, 7, "conformance: copy must overwrite the target");
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst2).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );

    // Within one bucket.
    let same = format!("{p}incoming/alice/u2.json");
    ok(
        "copy within a bucket",
        store
            .copy(Bucket::Process, &src, Bucket::Process, &same)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy within a bucket returned None"));
    assert_eq!(
        get_bytes(store, Bucket::Process, &same).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );

    // Missing source: None, and the target is untouched.
    let missing = format!("{p}incoming/alice/missing.json");
    assert!(
        ok(
            "copy of a missing source",
            store
                .copy(Bucket::Process, &missing, Bucket::Quarantine, &dst)
                .await
        )
        .is_none(),
        "conformance: copy of a missing source must be None"
    );
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst).await.as_deref(),
        Some(&b"[1,2,3]"[..]),
        "conformance: a failed copy must leave the target as it was"
    );
    let fresh = format!("{p}never/created.json");
    assert!(
        ok(
            "copy of a missing source",
            store
                .copy(Bucket::Process, &missing, Bucket::Quarantine, &fresh)
                .await
        )
        .is_none()
    );
    assert!(
        head(store, Bucket::Quarantine, &fresh).await.is_none(),
        "conformance: a failed copy must not create the target"
    );

    cleanup(store, Bucket::Process, &p).await;
    cleanup(store, Bucket::Quarantine, &p).await;
}

/// list: string prefixes (not only at `/`), key order (bytes, not directory walk order),
/// `start_after`, `limit`, and the size and ETag of each object.
pub async fn objects_list(store: &dyn ObjectStore) {
    let root = prefix("list");
    let p = format!("{root}l/");
    // In key (byte) order. A directory walk sorted per directory would put `a/…` before
    // `a-c` and `a.d`; the order is that of the whole key.
    let names = ["B", "a-c", "a.d", "a/b", "a/c/d/e", "a0", "ab", "b0/x", "é"];
    let mut infos = Vec::new();
    // Written out of order.
    for name in names.iter().rev() {
        let key = format!("{p}{name}");
        infos.push(
            put(
                store,
                Bucket::Exports,
                &key,
                format!("content of {name}").as_bytes(),
            )
            .await,
        );
    }
    infos.reverse();
    // Keys that share the prefix's characters but not the prefix.
    let outside = [
        format!("{root}l2/x"),
        format!("{root}k"),
        format!("{root}l.txt"),
    ];
    for key in &outside {
        put(store, Bucket::Exports, key, b"outside").await;
    }
    let keys_of = |v: &[ObjectInfo]| v.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
    let all: Vec<String> = names.iter().map(|n| format!("{p}{n}")).collect();
    let list = |prefix: String, start_after: Option<String>, limit: usize| async move {
        ok(
            format!("list(exports, {prefix:?}, {start_after:?}, {limit})"),
            store
                .list(Bucket::Exports, &prefix, start_after.as_deref(), limit)
                .await,
        )
    };

    let got = list(p.clone(), None, 1000).await;
    assert_eq!(
        keys_of(&got),
        all,
        "conformance: list must return every key under the prefix, in key order"
    );
    for (g, want) in got.iter().zip(&infos) {
        assert_same_object(g, want, "list entry");
    }
    let sub = |names: &[&str]| names.iter().map(|n| format!("{p}{n}")).collect::<Vec<_>>();
    assert_eq!(
        keys_of(&list(format!("{p}a"), None, 1000).await),
        sub(&["a-c", "a.d", "a/b", "a/c/d/e", "a0", "ab"]),
        "conformance: a prefix is a string prefix, not a directory"
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/"), None, 1000).await),
        sub(&["a/b", "a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/c"), None, 1000).await),
        sub(&["a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/c/d/e"), None, 1000).await),
        sub(&["a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}b"), None, 1000).await),
        sub(&["b0/x"]),
        "conformance: prefixes are case-sensitive"
    );
    assert!(
        list(format!("{p}zz"), None, 1000).await.is_empty(),
        "conformance: no match → empty"
    );
    assert!(list(format!("{p}a/c/d/e/"), None, 1000).await.is_empty());
    let mut with_outside = all.clone();
    with_outside.insert(0, format!("{root}l.txt"));
    with_outside.push(format!("{root}l2/x"));
    assert_eq!(
        keys_of(&list(format!("{root}l"), None, 1000).await),
        with_outside,
        "conformance: list must include keys continuing the prefix without `/`"
    );

    // start_after: strictly after, whether or not it names a key.
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a.d")), 1000).await),
        all[3..].to_vec(),
        "conformance: start_after is exclusive"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a/bz")), 1000).await),
        all[4..].to_vec(),
        "conformance: start_after need not be a key"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(root.clone()), 1000).await),
        all,
        "conformance: start_after before the prefix"
    );
    assert!(
        list(p.clone(), Some(format!("{p}é")), 1000)
            .await
            .is_empty(),
        "conformance: start_after the last key → empty"
    );
    assert!(
        list(p.clone(), Some(format!("{p}\u{10FFFF}")), 1000)
            .await
            .is_empty()
    );

    // limit, and paging with start_after.
    assert_eq!(
        keys_of(&list(p.clone(), None, 3).await),
        all[..3].to_vec(),
        "conformance: limit keeps the first keys"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a/b")), 2).await),
        all[4..6].to_vec()
    );
    for limit in [1, 2, 4] {
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = list(p.clone(), after.clone(), limit).await;
            assert!(
                page.len() <= limit,
                "conformance: list returned more than limit"
            );
            if page.is_empty() {
                break;
            }
            after = page.last().map(|o| o.key.clone());
            paged.extend(keys_of(&page));
        }
        assert_eq!(
            paged, all,
            "conformance: paging with limit {limit} must give every key once, in order"
        );
    }

    // Other buckets hold none of these.
    assert!(
        ok(
            "list in another bucket",
            store.list(Bucket::Process, &root, None, 1000).await
        )
        .is_empty(),
        "conformance: list must only return keys of its bucket"
    );
    cleanup(store, Bucket::Exports, &root).await;
    assert!(
        ok(
            "list after clean-up",
            store.list(Bucket::Exports, &root, None, 10).await
        )
        .is_empty()
    );
}

/// The same key in the three buckets holds three objects.
pub async fn objects_buckets_are_independent(store: &dyn ObjectStore) {
    let p = prefix("buckets");
    let key = format!("{p}same/key.json");
    let buckets = [Bucket::Process, Bucket::Quarantine, Bucket::Exports];
    for b in buckets {
        put(store, b, &key, format!("in {b:?}").as_bytes()).await;
    }
    for b in buckets {
        assert_eq!(
            get_bytes(store, b, &key).await,
            Some(Bytes::from(format!("in {b:?}"))),
            "conformance: buckets must be independent"
        );
    }
    ok(
        "delete in quarantine",
        store.delete(Bucket::Quarantine, &key).await,
    );
    assert!(head(store, Bucket::Quarantine, &key).await.is_none());
    for b in [Bucket::Process, Bucket::Exports] {
        assert!(
            head(store, b, &key).await.is_some(),
            "conformance: a delete in one bucket must not touch the others"
        );
        let listed = ok("list", store.list(b, &p, None, 10).await);
        assert_eq!(
            listed.len(),
            1,
            "conformance: each bucket lists its own objects"
        );
    }
    assert!(ok("list", store.list(Bucket::Quarantine, &p, None, 10).await).is_empty());
    for b in buckets {
        cleanup(store, b, &p).await;
    }
}

// ---------------------------------------------------------------------------------------
// EventTable

/// create_upload is insert-if-absent, per owner; get_upload is owner-scoped.
pub async fn uploads(table: &dyn EventTable) {
    let a = owner("uploads");
    // b has a as a prefix: catches "begins with" lookups.
    let b = format!("{a}x");
    let created = t("2026-11-27T08:00:00.000000007Z");
    let up = pending(&a, "up-1", created);

    assert!(ok("get_upload (none yet)", table.get_upload(&a, "up-1").await).is_none());
    assert!(
        ok("create_upload", table.create_upload(&up).await),
        "conformance: create_upload of a new id must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up.clone()),
        "conformance: get_upload must return the upload as created (nanoseconds included)"
    );
    let again = UploadRecord {
        key: "incoming/other/key.json".into(),
        created_at: created + Duration::hours(1),
        ..up.clone()
    };
    assert!(
        !ok("create_upload (again)", table.create_upload(&again).await),
        "conformance: create_upload of an existing id must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up.clone()),
        "conformance: a refused create_upload must change nothing"
    );

    // Another owner never sees it, and may use the same id for an upload of its own.
    assert!(
        ok(
            "get_upload (other owner)",
            table.get_upload(&b, "up-1").await
        )
        .is_none(),
        "conformance: another owner must not see an upload"
    );
    assert!(
        ok(
            "get_upload (prefix owner)",
            table.get_upload(&a[..a.len() - 1], "up-1").await
        )
        .is_none()
    );
    let theirs = pending(&b, "up-1", t("1970-01-01T00:00:00Z"));
    assert!(
        ok(
            "create_upload (other owner, same id)",
            table.create_upload(&theirs).await
        ),
        "conformance: upload ids are per owner"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&b, "up-1").await),
        Some(theirs)
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up)
    );
    assert!(
        ok(
            "get_upload (missing id)",
            table.get_upload(&a, "up-2").await
        )
        .is_none()
    );
}

/// commit_stored stores every event and marks the upload stored; replays write nothing;
/// identical events in other uploads are duplicates.
pub async fn commit_stored(table: &dyn EventTable) {
    let o = owner("stored");
    let e1 = event(
        &o,
        "e-1",
        "page.view",
        "2026-11-27T10:30:00.123456789+01:00",
        "s-1",
        "one",
    );
    let e2 = event(
        &o,
        "e-2",
        "order.placed",
        "2026-11-27T09:30:00.123456790Z",
        "s-1",
        "two",
    );
    let e3 = event(
        &o,
        "e-3",
        "sensor.reading",
        "1970-01-01T00:00:00Z",
        "s-1",
        "three",
    );
    let batch = vec![e1.clone(), e2.clone(), e3.clone()];

    // An upload created by the API first: commit_stored updates it, keeping created_at.
    let created = t("2026-11-27T09:00:00.000000001Z");
    assert!(ok(
        "create_upload",
        table.create_upload(&pending(&o, "s-1", created)).await
    ));
    let up = stored(&o, "s-1", "etag-1", 3);
    assert_eq!(
        ok("commit_stored", store_events(table, &up, &batch).await),
        StoreOutcome::Stored {
            inserted: 3,
            duplicates: 0,
            already: false
        },
        "conformance: a first commit_stored inserts every event"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await),
        Some(UploadRecord {
            created_at: created,
            ..up.clone()
        }),
        "conformance: commit_stored must mark the upload stored with its ETag, count and time, keeping created_at"
    );
    for e in &batch {
        assert_event(
            ok("get_event", table.get_event(&o, &e.event_id).await),
            e,
            "after commit_stored",
        );
    }

    // Replay (same upload, same ETag): already, nothing written — even if the events differ.
    let e4 = event(
        &o,
        "e-4",
        "page.view",
        "2026-11-27T10:00:00Z",
        "s-1",
        "four",
    );
    let replay = vec![e1.clone(), e2.clone(), e3.clone(), e4.clone()];
    match ok(
        "commit_stored (replay)",
        store_events(table, &up, &replay).await,
    ) {
        StoreOutcome::Stored {
            inserted: 0,
            already: true,
            ..
        } => {}
        other => panic!(
            "conformance: replaying a stored upload with the same ETag must be Stored {{ already: true, inserted: 0 }}, got {other:?}"
        ),
    }
    assert!(
        ok("get_event", table.get_event(&o, "e-4").await).is_none(),
        "conformance: a replay must write nothing"
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 100)
            .await
            .len(),
        3,
        "conformance: a replay must not duplicate events"
    );

    // The same events in another upload: duplicates, not conflicts; the stored copy is kept.
    let mut again = e1.clone();
    again.upload_id = "s-2".into();
    again.received_at = t("2030-01-01T00:00:00Z");
    let mut e5 = event(
        &o,
        "e-5",
        "page.view",
        "2026-11-27T11:00:00Z",
        "s-2",
        "five",
    );
    e5.received_at = again.received_at;
    let up2 = stored(&o, "s-2", "etag-2", 2);
    assert_eq!(
        ok(
            "commit_stored (with a duplicate)",
            store_events(table, &up2, &[again, e5.clone()]).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 1,
            already: false
        },
        "conformance: an event already stored with the same content is a duplicate"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "e-1").await),
        &e1,
        "a duplicate must not overwrite the stored event",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "e-5").await),
        &e5,
        "after commit_stored",
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-2").await),
        Some(up2),
        "conformance: commit_stored must create a missing upload record"
    );

    // The same key with new content (a new ETag) does not change a final upload: one upload
    // id ends in one state. Only reopen_upload (reprocess) makes it processable again.
    let up1b = stored(&o, "s-1", "etag-1b", 1);
    assert_eq!(
        ok(
            "commit_stored (new ETag)",
            store_events(table, &up1b, std::slice::from_ref(&e1)).await
        ),
        StoreOutcome::AlreadyFinal(UploadState::Stored),
        "conformance: a stored upload must not be finalised again with another ETag"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await).and_then(|u| u.etag),
        Some("etag-1".into()),
        "conformance: AlreadyFinal must leave the upload as it was"
    );
    let at = t("2026-11-27T10:00:00Z");
    assert!(
        !ok(
            "commit_quarantined (stored upload, new ETag)",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "s-1", "etag-1c"),
                    &quarantine_record(&o, "s-1", at),
                    &quarantine_notification(&format!("n-s1-{}", unique()), "s-1", at),
                )
                .await
        ),
        "conformance: a stored upload must not be quarantined by other content"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await).map(|u| u.status),
        Some(UploadState::Stored)
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "s-1").await).is_none());

    // The same event twice in one batch: one insert, one duplicate.
    let e6 = event(&o, "e-6", "page.view", "2026-11-27T12:00:00Z", "s-3", "six");
    assert_eq!(
        ok(
            "commit_stored (event twice in a batch)",
            store_events(
                table,
                &stored(&o, "s-3", "etag-3", 2),
                &[e6.clone(), e6.clone()]
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 1,
            already: false
        },
        "conformance: an event repeated identically within one batch is stored once"
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 100)
            .await
            .len(),
        5
    );

    // A large batch is one unit too.
    let big: Vec<EventRecord> = (0..1000)
        .map(|i| {
            event(
                &o,
                &format!("big-{i:04}"),
                "page.view",
                "2026-11-28T00:00:00Z",
                "s-big",
                "big",
            )
        })
        .collect();
    assert_eq!(
        ok(
            "commit_stored (1000 events)",
            store_events(table, &stored(&o, "s-big", "etag-big", 1000), &big).await
        ),
        StoreOutcome::Stored {
            inserted: 1000,
            duplicates: 0,
            already: false
        }
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 1000)
            .await
            .len(),
        1005
    );
}

/// A reused eventId with other content is a conflict, and nothing of the batch is written.
pub async fn commit_stored_conflicts(table: &dyn EventTable) {
    let o = owner("conflict");
    let x1 = event(
        &o,
        "x-1",
        "page.view",
        "2026-11-27T10:00:00Z",
        "c-1",
        "original",
    );
    let x2 = event(
        &o,
        "x-2",
        "page.view",
        "2026-11-27T10:00:01Z",
        "c-1",
        "original",
    );
    assert_eq!(
        ok(
            "commit_stored",
            store_events(
                table,
                &stored(&o, "c-1", "etag-c1", 2),
                &[x1.clone(), x2.clone()]
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 2,
            duplicates: 0,
            already: false
        }
    );

    // 300 events: new ones around two conflicting ones (one in the middle, one last) and
    // one identical duplicate.
    assert!(ok(
        "create_upload",
        table
            .create_upload(&pending(&o, "c-2", t("2026-11-27T10:00:00Z")))
            .await
    ));
    let mut batch: Vec<EventRecord> = (0..297)
        .map(|i| {
            event(
                &o,
                &format!("n-{i:03}"),
                "order.placed",
                "2026-11-27T11:00:00.5Z",
                "c-2",
                "new",
            )
        })
        .collect();
    batch.insert(
        150,
        event(
            &o,
            "x-1",
            "page.view",
            "2026-11-27T10:00:00Z",
            "c-2",
            "changed",
        ),
    );
    batch.insert(
        10,
        event(
            &o,
            "x-2",
            "page.view",
            "2026-11-27T10:00:01Z",
            "c-2",
            "original",
        ),
    );
    batch.push(event(
        &o,
        "x-2",
        "page.view",
        "2026-11-27T10:00:01Z",
        "c-2",
        "changed too",
    ));
    match ok(
        "commit_stored (conflict)",
        store_events(table, &stored(&o, "c-2", "etag-c2", batch.len()), &batch).await,
    ) {
        StoreOutcome::Conflict { event_ids } => assert_eq!(
            event_ids.iter().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from(["x-1".to_string(), "x-2".to_string()]),
            "conformance: Conflict must name exactly the conflicting eventIds"
        ),
        other => panic!(
            "conformance: reusing an eventId with other content must be a Conflict, got {other:?}"
        ),
    }
    for id in ["n-000", "n-149", "n-150", "n-296"] {
        assert!(
            ok("get_event", table.get_event(&o, id).await).is_none(),
            "conformance: after a Conflict nothing of the batch may be written, but {id} was"
        );
    }
    assert_event(
        ok("get_event", table.get_event(&o, "x-1").await),
        &x1,
        "a Conflict must keep the stored event",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x-2").await),
        &x2,
        "a Conflict must keep the stored event",
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 1000)
            .await
            .len(),
        2,
        "conformance: a Conflict writes nothing"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "c-2").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: after a Conflict the upload must not be marked stored"
    );
    assert!(
        ok("get_upload", table.get_upload(&o, "c-3").await).is_none(),
        "precondition: c-3 does not exist"
    );

    // Within one batch, the same eventId with two contents is a conflict too.
    let y_a = event(&o, "y-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "a");
    let y_b = event(&o, "y-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "b");
    let z = event(&o, "z-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "z");
    match ok(
        "commit_stored (conflict within the batch)",
        store_events(table, &stored(&o, "c-3", "etag-c3", 3), &[z, y_a, y_b]).await,
    ) {
        StoreOutcome::Conflict { event_ids } => assert_eq!(
            event_ids.iter().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from(["y-1".to_string()])
        ),
        other => panic!(
            "conformance: one eventId with two contents in one batch must be a Conflict, got {other:?}"
        ),
    }
    assert!(ok("get_event", table.get_event(&o, "y-1").await).is_none());
    assert!(
        ok("get_event", table.get_event(&o, "z-1").await).is_none(),
        "conformance: a Conflict writes nothing"
    );
    assert!(
        ok("get_upload", table.get_upload(&o, "c-3").await)
            .is_none_or(|u| u.status != UploadState::Stored),
        "conformance: after a Conflict the upload must not be marked stored"
    );

    // Two owners use the same eventId independently.
    let p = format!("{o}x");
    let theirs = event(
        &p,
        "x-1",
        "page.view",
        "2026-11-27T10:00:00Z",
        "c-1",
        "someone else's",
    );
    assert_eq!(
        ok(
            "commit_stored (other owner, same eventId)",
            store_events(
                table,
                &stored(&p, "c-1", "etag-c1", 1),
                std::slice::from_ref(&theirs)
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: eventIds are per owner: another owner's x-1 is neither a duplicate nor a conflict"
    );
    assert_event(
        ok("get_event", table.get_event(&p, "x-1").await),
        &theirs,
        "other owner",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x-1").await),
        &x1,
        "first owner",
    );
}

/// commit_quarantined records the upload, the quarantine entry and one notification, once.
pub async fn commit_quarantined(table: &dyn EventTable) {
    let o = owner("quarantined");
    let at = t("2026-11-27T10:00:00.000000001Z");
    assert!(ok(
        "create_upload",
        table
            .create_upload(&pending(&o, "q-1", t("2026-11-27T09:00:00Z")))
            .await
    ));
    let up = quarantined_upload(&o, "q-1", "etag-q");
    let rec = quarantine_record(&o, "q-1", at);
    let n1 = quarantine_notification(&format!("n1-{}", unique()), "q-1", at);

    assert!(
        ok(
            "commit_quarantined",
            table.commit_quarantined(&up, &rec, &n1).await
        ),
        "conformance: a first commit_quarantined must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-1").await),
        Some(UploadRecord {
            created_at: t("2026-11-27T09:00:00Z"),
            ..up.clone()
        }),
        "conformance: commit_quarantined must mark the upload quarantined with its ETag, reason, counts and time, keeping created_at"
    );
    assert_eq!(
        ok("get_quarantine", table.get_quarantine(&o, "q-1").await),
        Some(rec.clone())
    );
    assert_eq!(
        ok("list_quarantine", table.list_quarantine(&o, None, 10).await),
        vec![rec.clone()]
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()]
    );
    assert_eq!(
        outbox_of(table, &o).await,
        vec![n1.clone()],
        "conformance: the notification must wait in the outbox"
    );

    // Replay with the same ETag: false, nothing changes, no second notification.
    let n2 = quarantine_notification(
        &format!("n2-{}", unique()),
        "q-1",
        at + Duration::seconds(5),
    );
    let later = QuarantineRecord {
        quarantined_at: at + Duration::seconds(5),
        error_count: 9,
        ..rec.clone()
    };
    assert!(
        !ok(
            "commit_quarantined (replay)",
            table.commit_quarantined(&up, &later, &n2).await
        ),
        "conformance: commit_quarantined for an upload already quarantined with this ETag must return false"
    );
    assert_eq!(
        ok("get_quarantine", table.get_quarantine(&o, "q-1").await),
        Some(rec.clone()),
        "conformance: a replay changes nothing"
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()],
        "conformance: a replay must not record a second notification"
    );
    assert_eq!(outbox_of(table, &o).await, vec![n1.clone()]);

    // A stored commit for the same ETag is refused.
    let ev = event(&o, "q-ev", "page.view", "2026-11-27T10:00:00Z", "q-1", "x");
    assert_eq!(
        ok(
            "commit_stored on a quarantined upload",
            store_events(
                table,
                &stored(&o, "q-1", "etag-q", 1),
                std::slice::from_ref(&ev)
            )
            .await
        ),
        StoreOutcome::AlreadyFinal(UploadState::Quarantined),
        "conformance: commit_stored for an upload quarantined with this ETag must be AlreadyFinal"
    );
    assert!(
        ok("get_event", table.get_event(&o, "q-ev").await).is_none(),
        "conformance: AlreadyFinal writes nothing"
    );

    // And a stored upload is not quarantined for the same ETag.
    let ev2 = event(&o, "s-ev", "page.view", "2026-11-27T10:00:00Z", "q-2", "x");
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "q-2", "etag-s", 1),
            std::slice::from_ref(&ev2),
        )
        .await,
    );
    let n3 = quarantine_notification(&format!("n3-{}", unique()), "q-2", at);
    assert!(
        !ok(
            "commit_quarantined on a stored upload",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "q-2", "etag-s"),
                    &quarantine_record(&o, "q-2", at),
                    &n3
                )
                .await
        ),
        "conformance: commit_quarantined for an upload stored with this ETag must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-2").await).map(|u| u.status),
        Some(UploadState::Stored)
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "q-2").await).is_none());
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()]
    );

    // A quarantine without a prior upload record creates it (keys outside the layout).
    let n4 = quarantine_notification(&format!("n4-{}", unique()), "q-3", at + ns(1));
    let rec3 = quarantine_record(&o, "q-3", at + ns(1));
    assert!(ok(
        "commit_quarantined (new upload)",
        table
            .commit_quarantined(&quarantined_upload(&o, "q-3", "etag-3"), &rec3, &n4)
            .await
    ));
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-3").await),
        Some(quarantined_upload(&o, "q-3", "etag-3"))
    );

    // Delivery.
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &n1.notification_id).await,
    );
    assert_eq!(
        outbox_of(table, &o).await,
        vec![n4.clone()],
        "conformance: mark_delivered removes a notification from the outbox"
    );
    ok(
        "mark_delivered (again)",
        table.mark_delivered(&o, &n1.notification_id).await,
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n4.clone(), n1.clone()],
        "conformance: delivered notifications stay listed"
    );
    mark_all_delivered(table, &o).await;
    assert!(outbox_of(table, &o).await.is_empty());
}

/// reopen_upload: quarantined → pending, still listed until processing ends (idempotent);
/// commit_stored removes the entry; delete_quarantine removes the entry only.
pub async fn reopen_and_delete_quarantine(table: &dyn EventTable) {
    let o = owner("reopen");
    let at = t("2026-11-27T10:00:00Z");
    for id in ["r-1", "r-2"] {
        let n = quarantine_notification(&format!("{id}-{}", unique()), id, at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, id, "etag-r"),
                    &quarantine_record(&o, id, at),
                    &n
                )
                .await
        ));
    }

    assert!(
        ok("reopen_upload", table.reopen_upload(&o, "r-1").await),
        "conformance: reopen_upload of a quarantined upload must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-1").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: reopen_upload must make the upload pending"
    );
    assert!(
        ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_some(),
        "conformance: reopen_upload must keep the quarantine entry until processing ends"
    );
    assert_eq!(
        ok("list_quarantine", table.list_quarantine(&o, None, 10).await).len(),
        2,
        "conformance: a reopened upload stays listed"
    );
    assert!(
        ok(
            "reopen_upload (again)",
            table.reopen_upload(&o, "r-1").await
        ),
        "conformance: reopen_upload must be idempotent (a retried reprocess)"
    );
    let fresh = UploadRecord {
        owner: o.clone(),
        upload_id: "r-fresh".into(),
        key: format!("incoming/{o}/r-fresh.json"),
        status: UploadState::Pending,
        created_at: at,
        etag: None,
        event_count: None,
        processed_at: None,
        reason_code: None,
    };
    assert!(ok("create_upload", table.create_upload(&fresh).await));
    assert!(
        !ok(
            "reopen_upload (pending, never quarantined)",
            table.reopen_upload(&o, "r-fresh").await
        ),
        "conformance: reopen_upload of an upload without a quarantine entry must return false"
    );
    assert!(!ok(
        "reopen_upload (missing)",
        table.reopen_upload(&o, "r-9").await
    ));

    // Reprocessing the same content quarantines it again, with a new notification.
    let again = quarantine_notification(
        &format!("again-{}", unique()),
        "r-1",
        at + Duration::minutes(1),
    );
    assert!(
        ok(
            "commit_quarantined after reopen",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "r-1", "etag-r"),
                    &quarantine_record(&o, "r-1", at + Duration::minutes(1)),
                    &again
                )
                .await
        ),
        "conformance: after reopen_upload the same ETag may be quarantined again"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_some());
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        )
        .len(),
        3
    );

    // Or stored: reopen, then commit_stored succeeds.
    assert!(ok("reopen_upload", table.reopen_upload(&o, "r-1").await));
    let ev = event(&o, "r-ev", "page.view", "2026-11-27T10:00:00Z", "r-1", "x");
    assert_eq!(
        ok(
            "commit_stored after reopen",
            store_events(
                table,
                &stored(&o, "r-1", "etag-r", 1),
                std::slice::from_ref(&ev)
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: after reopen_upload the same ETag may be stored"
    );
    assert!(
        ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_none(),
        "conformance: commit_stored must remove the upload's quarantine entry"
    );
    assert!(
        !ok(
            "reopen_upload (stored)",
            table.reopen_upload(&o, "r-1").await
        ),
        "conformance: reopen_upload of a stored upload must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-1").await).map(|u| u.status),
        Some(UploadState::Stored)
    );

    // delete_quarantine refuses while the upload is being reprocessed.
    assert!(ok("reopen_upload", table.reopen_upload(&o, "r-2").await));
    assert!(
        !ok(
            "delete_quarantine (pending)",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine must refuse while the upload is being reprocessed"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-2").await).is_some());
    let again = quarantine_notification(
        &format!("again2-{}", unique()),
        "r-2",
        at + Duration::minutes(2),
    );
    assert!(ok(
        "commit_quarantined (reprocessed r-2)",
        table
            .commit_quarantined(
                &quarantined_upload(&o, "r-2", "etag-r"),
                &quarantine_record(&o, "r-2", at + Duration::minutes(2)),
                &again
            )
            .await
    ));

    // delete_quarantine: the entry goes, the upload stays quarantined.
    assert!(
        ok(
            "delete_quarantine",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine of an entry must return true"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-2").await).is_none());
    assert!(ok("list_quarantine", table.list_quarantine(&o, None, 10).await).is_empty());
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-2").await).map(|u| u.status),
        Some(UploadState::Quarantined),
        "conformance: delete_quarantine must leave the upload quarantined"
    );
    assert!(
        !ok(
            "delete_quarantine (again)",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine without an entry must return false"
    );
    mark_all_delivered(table, &o).await;
}

/// list_events: `(occurred_at, event_id)` order at nanosecond precision over the whole
/// range of years, filters, and pagination that yields every event exactly once.
pub async fn list_events(table: &dyn EventTable) {
    let o = owner("list");
    let types = ["page.view", "order.placed", "sensor.reading"];
    let mut events = Vec::new();
    // Edges: far past and future, before the epoch, 1 ns apart, equal instants ordered by
    // eventId bytes (`B` < `a` < `a-1` < `a.1` < `a0` < `a:1`), offsets that reorder the
    // local times.
    let edges = [
        ("edge-9999", "9999-12-31T23:59:59.999999999Z"),
        ("edge-0000", "0000-01-01T00:00:00Z"),
        ("edge-1970", "1970-01-01T00:00:00Z"),
        ("edge-1969", "1969-12-31T23:59:59.999999999Z"),
        ("edge-ns-1", "2026-11-27T10:00:00.000000001Z"),
        ("edge-ns-0", "2026-11-27T10:00:00Z"),
        ("edge-ns-2", "2026-11-27T11:00:00.000000002+01:00"),
        ("a:1", "2026-06-01T12:00:00.5Z"),
        ("a0", "2026-06-01T12:00:00.5Z"),
        ("a.1", "2026-06-01T12:00:00.500Z"),
        ("a-1", "2026-06-01T14:00:00.5+02:00"),
        ("a", "2026-06-01T11:00:00.5-01:00"),
        ("B", "2026-06-01T12:00:00.5Z"),
        ("offset-early", "2026-11-27T23:30:00+14:00"),
        ("offset-late", "2026-11-27T00:30:00-12:00"),
    ];
    for (i, (id, at)) in edges.iter().enumerate() {
        events.push(event(&o, id, types[i % 3], at, "l-1", "edge"));
    }
    // Bulk: 250 events spread over years, microseconds and nanoseconds, not in order.
    let base = t("2001-02-03T04:05:06.789012345Z");
    for i in 0..250i64 {
        let at =
            base + Duration::days((i * 7919) % 9000) + Duration::microseconds(i * 13) + ns(i % 7);
        let at_text = if i % 2 == 0 {
            at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        } else {
            at.with_timezone(
                &chrono::FixedOffset::east_opt(-(5 * 3600 + 30 * 60))
                    .unwrap_or_else(|| unreachable!()),
            )
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
        };
        events.push(event(
            &o,
            &format!("bulk-{:03}", (i * 37) % 250),
            types[(i % 3) as usize],
            &at_text,
            "l-2",
            "bulk",
        ));
    }
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "l-1", "etag-l1", edges.len()),
            &events[..edges.len()],
        )
        .await,
    );
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "l-2", "etag-l2", 250),
            &events[edges.len()..],
        )
        .await,
    );

    let mut expected = events.clone();
    expected.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    let expected_ids = ids(&expected);
    assert_eq!(
        &expected_ids[..2],
        ["edge-0000", "edge-1969"],
        "precondition: test data order"
    );

    let whole = ok(
        "list_events",
        table
            .list_events(&o, &EventQuery::default(), None, 10_000)
            .await,
    );
    assert_eq!(
        ids(&whole),
        expected_ids,
        "conformance: list_events must be in (occurred_at, event_id) order"
    );
    for (g, w) in whole.iter().zip(&expected) {
        assert_event(Some(g.clone()), w, "list_events");
    }
    for limit in [1, 7, 100, 265, 1000] {
        assert_eq!(
            ids(&all_events(table, &o, &EventQuery::default(), limit).await),
            expected_ids,
            "conformance: paging list_events with limit {limit} must give every event exactly once, in order"
        );
    }

    // `after` need not be an event's position.
    let between = EventPosition {
        occurred_at: t("2026-06-01T12:00:00.5Z"),
        event_id: "a/".into(),
    };
    let got = ok(
        "list_events after a position between events",
        table
            .list_events(&o, &EventQuery::default(), Some(&between), 3)
            .await,
    );
    let want: Vec<String> = expected
        .iter()
        .filter(|e| {
            (e.occurred_at, e.event_id.as_str()) > (between.occurred_at, between.event_id.as_str())
        })
        .take(3)
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(&want[..2], ["a0", "a:1"], "precondition: test data order");
    assert_eq!(
        ids(&got),
        want,
        "conformance: `after` is exclusive and compares (occurred_at, event_id)"
    );

    // Filters: type; from inclusive; to exclusive; 1 ns matters.
    let owner_ref: &str = &o;
    let check = |query: EventQuery, filter: Box<dyn Fn(&EventRecord) -> bool + Send + Sync>| {
        let want: Vec<String> = expected
            .iter()
            .filter(|e| filter(e))
            .map(|e| e.event_id.clone())
            .collect();
        async move {
            for limit in [3, 1000] {
                assert_eq!(
                    ids(&all_events(table, owner_ref, &query, limit).await),
                    want,
                    "conformance: list_events with {query:?} (limit {limit})"
                );
            }
        }
    };
    for ty in [
        EventType::PageView,
        EventType::OrderPlaced,
        EventType::SensorReading,
    ] {
        let name = ty.to_string();
        check(
            EventQuery {
                event_type: Some(ty),
                ..Default::default()
            },
            Box::new(move |e| e.event_type == name),
        )
        .await;
    }
    let t0 = t("2026-11-27T10:00:00Z");
    let t1 = t0 + ns(1);
    check(
        EventQuery {
            from: Some(t1),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at >= t1),
    )
    .await;
    check(
        EventQuery {
            to: Some(t1),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at < t1),
    )
    .await;
    let got = all_events(
        table,
        &o,
        &EventQuery {
            from: Some(t0),
            to: Some(t1 + ns(1)),
            ..Default::default()
        },
        10,
    )
    .await;
    assert_eq!(
        ids(&got),
        ["edge-ns-0", "edge-ns-1"],
        "conformance: from is inclusive and to exclusive, to the nanosecond"
    );
    let got = all_events(
        table,
        &o,
        &EventQuery {
            from: Some(t1),
            to: Some(t1 + ns(1)),
            ..Default::default()
        },
        10,
    )
    .await;
    assert_eq!(ids(&got), ["edge-ns-1"]);
    let epoch = t("1970-01-01T00:00:00Z");
    check(
        EventQuery {
            to: Some(epoch),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at < epoch),
    )
    .await;
    let far = t("9999-12-31T23:59:59.999999999Z");
    check(
        EventQuery {
            from: Some(far),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at >= far),
    )
    .await;
    let (from, to) = (
        t("2005-01-01T00:00:00Z"),
        t("2020-01-01T00:00:00.000000001Z"),
    );
    check(
        EventQuery {
            event_type: Some(EventType::OrderPlaced),
            from: Some(from),
            to: Some(to),
        },
        Box::new(move |e| {
            e.event_type == "order.placed" && e.occurred_at >= from && e.occurred_at < to
        }),
    )
    .await;
    check(
        EventQuery {
            from: Some(to),
            to: Some(from),
            ..Default::default()
        },
        Box::new(|_| false),
    )
    .await;
    // Paging combined with filters, starting after a position.
    let q = EventQuery {
        event_type: Some(EventType::PageView),
        from: Some(from),
        to: None,
    };
    let want: Vec<String> = expected
        .iter()
        .filter(|e| e.event_type == "page.view" && e.occurred_at >= from)
        .map(|e| e.event_id.clone())
        .collect();
    let first = ok("list_events", table.list_events(&o, &q, None, 2).await);
    let after = first.last().map(|e| EventPosition {
        occurred_at: e.occurred_at,
        event_id: e.event_id.clone(),
    });
    let rest = ok(
        "list_events",
        table.list_events(&o, &q, after.as_ref(), 10_000).await,
    );
    assert_eq!(
        [ids(&first), ids(&rest)].concat(),
        want,
        "conformance: filters and `after` combine"
    );
}

/// list_quarantine: newest first by `(quarantined_at, upload_id)`, with positions.
pub async fn list_quarantine(table: &dyn EventTable) {
    let o = owner("qlist");
    let base = t("2026-11-27T10:00:00.123456789Z");
    let entries = [
        ("qa", base),
        ("qb", base), // same instant: upload_id breaks the tie
        ("qc", base + ns(1)),
        ("qd", base - ns(1)),
        ("qe", t("1970-01-01T00:00:00Z")),
        ("qf", t("9999-12-31T23:59:59.999999999Z")),
        ("qg", t("1969-07-20T20:17:40.5Z")),
        ("QZ", base),
    ];
    for (id, at) in entries {
        let n = quarantine_notification(&format!("{id}-{}", unique()), id, at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, id, "etag"),
                    &quarantine_record(&o, id, at),
                    &n
                )
                .await
        ));
    }
    let mut want: Vec<(DateTime<Utc>, String)> = entries
        .iter()
        .map(|(id, at)| (*at, id.to_string()))
        .collect();
    want.sort();
    want.reverse();
    let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        &want[..4],
        ["qf", "qc", "qb", "qa"],
        "precondition: test data order"
    );
    for limit in [1, 2, 3, 100] {
        let got = all_quarantine(table, &o, limit).await;
        assert_eq!(
            got.iter().map(|q| q.upload_id.clone()).collect::<Vec<_>>(),
            want,
            "conformance: list_quarantine must be newest first by (quarantined_at, upload_id), every entry once (limit {limit})"
        );
        for q in &got {
            assert_eq!(q, &quarantine_record(&o, &q.upload_id, q.quarantined_at));
        }
    }
    let between = QuarantinePosition {
        quarantined_at: base,
        upload_id: "qaa".into(),
    };
    let got = ok(
        "list_quarantine after a position",
        table.list_quarantine(&o, Some(&between), 2).await,
    );
    assert_eq!(
        got.iter().map(|q| q.upload_id.as_str()).collect::<Vec<_>>(),
        ["qa", "QZ"],
        "conformance: `after` is exclusive in the newest-first order"
    );
    mark_all_delivered(table, &o).await;
}

/// Notifications: newest first with positions, the outbox oldest first, delivery marks,
/// idempotent recording.
pub async fn notifications(table: &dyn EventTable) {
    let o = owner("notify");
    let base = t("2026-11-27T10:00:00.999999999Z");
    let u = unique();
    let entries = [
        (format!("b-{u}"), base),
        (format!("a-{u}"), base), // same instant: the id breaks the tie
        (format!("c-{u}"), base + ns(1)),
        (format!("d-{u}"), base - ns(1)),
        (format!("e-{u}"), t("1970-01-01T00:00:00Z")),
        (format!("f-{u}"), t("9999-12-31T23:59:59.999999999Z")),
    ];
    let mut all = Vec::new();
    for (i, (id, at)) in entries.iter().enumerate() {
        let kind = if i % 2 == 0 {
            NotificationKind::ExportDone
        } else {
            NotificationKind::ExportFailed
        };
        let mut n = notification(id, kind, *at, None);
        n.export_id = Some(format!("x-{i}"));
        ok(
            "record_notification",
            table.record_notification(&o, &n).await,
        );
        all.push(n);
    }
    // Recording the same notification again changes nothing.
    ok(
        "record_notification (again)",
        table.record_notification(&o, &all[0]).await,
    );

    let mut newest = all.clone();
    newest.sort_by(|a, b| {
        (b.created_at, &b.notification_id).cmp(&(a.created_at, &a.notification_id))
    });
    for limit in [1, 2, 4, 100] {
        assert_eq!(
            all_notifications(table, &o, limit).await,
            newest,
            "conformance: list_notifications must be newest first by (created_at, notification_id), each once (limit {limit})"
        );
    }
    let between = NotificationPosition {
        created_at: base,
        notification_id: format!("b-{u}-"),
    };
    let got = ok(
        "list_notifications after a position",
        table.list_notifications(&o, Some(&between), 2).await,
    );
    assert_eq!(
        got.iter()
            .map(|n| n.notification_id.clone())
            .collect::<Vec<_>>(),
        [format!("b-{u}"), format!("a-{u}")],
        "conformance: `after` is exclusive in the newest-first order"
    );

    let mut oldest = newest.clone();
    oldest.reverse();
    assert_eq!(
        outbox_of(table, &o).await,
        oldest,
        "conformance: the outbox must hold every undelivered notification, oldest first"
    );
    let outbox = ok(
        "undelivered_notifications",
        table.undelivered_notifications(100_000).await,
    );
    assert!(
        outbox
            .iter()
            .filter(|(_, n)| n.notification_id.ends_with(&u))
            .all(|(owner, _)| owner == &o),
        "conformance: undelivered_notifications must return each notification's owner"
    );
    let limited = ok(
        "undelivered_notifications(1)",
        table.undelivered_notifications(1).await,
    );
    assert!(
        limited.len() <= 1,
        "conformance: undelivered_notifications must respect its limit"
    );

    // Scoped by owner: another owner cannot mark it delivered.
    ok(
        "mark_delivered (another owner)",
        table
            .mark_delivered(&owner("intruder"), &format!("c-{u}"))
            .await,
    );
    assert!(
        ok(
            "undelivered_notifications",
            table.undelivered_notifications(10_000).await
        )
        .iter()
        .any(|(_, n)| n.notification_id == format!("c-{u}")),
        "conformance: mark_delivered by another owner must not mark a notification delivered"
    );
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &format!("c-{u}")).await,
    );
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &format!("e-{u}")).await,
    );
    let remaining: Vec<Notification> = oldest
        .iter()
        .filter(|n| n.notification_id != format!("c-{u}") && n.notification_id != format!("e-{u}"))
        .cloned()
        .collect();
    assert_eq!(
        outbox_of(table, &o).await,
        remaining,
        "conformance: mark_delivered removes exactly that notification from the outbox"
    );
    assert_eq!(
        all_notifications(table, &o, 100).await,
        newest,
        "conformance: delivered notifications stay listed"
    );
    mark_all_delivered(table, &o).await;
    assert!(outbox_of(table, &o).await.is_empty());
}

/// Exports: put is an upsert, get is owner-scoped.
pub async fn exports(table: &dyn EventTable) {
    let o = owner("exports");
    let running = ExportRecord {
        owner: o.clone(),
        export_id: "x-1".into(),
        status: ExportState::Running,
        query: EventQuery {
            event_type: Some(EventType::SensorReading),
            from: Some(t("1969-12-31T23:59:59.999999999Z")),
            to: Some(t("9999-12-31T23:59:59.999999999Z")),
        },
        created_at: t("2026-11-27T10:00:00.000000001Z"),
        finished_at: None,
        event_count: None,
        result_key: None,
    };
    assert!(ok("get_export (none yet)", table.get_export(&o, "x-1").await).is_none());
    ok("put_export", table.put_export(&running).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(running.clone()),
        "conformance: get_export must return what was put"
    );
    let mine =
        |all: Vec<ExportRecord>| all.into_iter().filter(|e| e.owner == o).collect::<Vec<_>>();
    assert_eq!(
        mine(ok("running_exports", table.running_exports(10_000).await)),
        vec![running.clone()],
        "conformance: running_exports must list a running export"
    );
    let done = ExportRecord {
        status: ExportState::Done,
        finished_at: Some(t("2026-11-27T10:00:01.999999999Z")),
        event_count: Some(u64::from(u32::MAX) + 7),
        result_key: Some(keys::export_key(&o, "x-1")),
        ..running.clone()
    };
    ok("put_export (update)", table.put_export(&done).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(done.clone()),
        "conformance: put_export must replace the record"
    );
    assert!(
        mine(ok("running_exports", table.running_exports(10_000).await)).is_empty(),
        "conformance: a finished export is not running"
    );
    let plain = ExportRecord {
        export_id: "x-2".into(),
        query: EventQuery::default(),
        status: ExportState::Failed,
        ..running.clone()
    };
    ok("put_export", table.put_export(&plain).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-2").await),
        Some(plain)
    );
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(done)
    );
    assert!(
        ok(
            "get_export (other owner)",
            table.get_export(&format!("{o}x"), "x-1").await
        )
        .is_none(),
        "conformance: exports are owner-scoped"
    );
}

/// Tenancy: for every read (and owner-scoped write), one owner never sees or touches
/// another's data, including owners whose ids are prefixes of each other.
pub async fn tenancy(table: &dyn EventTable) {
    let a = owner("tenant");
    let b = format!("{a}.b@c-d"); // a is a prefix of b
    let c = owner("tenant"); // unrelated
    let at = t("2026-11-27T10:00:00.5Z");
    let mut seeded = Vec::new();
    for (who, tag) in [(&a, "A"), (&b, "B")] {
        let ev = event(
            who,
            "shared-id",
            "page.view",
            "2026-11-27T10:00:00Z",
            "up",
            tag,
        );
        let mine = event(
            who,
            &format!("only-{tag}"),
            "order.placed",
            "2026-11-27T10:00:00.000000001Z",
            "up",
            tag,
        );
        ok(
            "commit_stored",
            store_events(
                table,
                &stored(who, "up", "etag", 2),
                &[ev.clone(), mine.clone()],
            )
            .await,
        );
        let n = quarantine_notification(&format!("{tag}-{}", unique()), "bad", at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(who, "bad", "etag-bad"),
                    &quarantine_record(who, "bad", at),
                    &n
                )
                .await
        ));
        let x = notification(
            &format!("{tag}x-{}", unique()),
            NotificationKind::ExportDone,
            at,
            None,
        );
        ok(
            "record_notification",
            table.record_notification(who, &x).await,
        );
        ok(
            "put_export",
            table
                .put_export(&ExportRecord {
                    owner: who.clone(),
                    export_id: "exp".into(),
                    status: ExportState::Running,
                    query: EventQuery::default(),
                    created_at: at,
                    finished_at: None,
                    event_count: None,
                    result_key: None,
                })
                .await,
        );
        seeded.push((who.clone(), tag, ev, mine, n, x));
    }

    for (who, tag, ev, mine, n, x) in &seeded {
        let other = if *tag == "A" { "B" } else { "A" };
        assert_event(
            ok("get_event", table.get_event(who, "shared-id").await),
            ev,
            "tenancy",
        );
        assert!(
            ok(
                "get_event",
                table.get_event(who, &format!("only-{other}")).await
            )
            .is_none(),
            "conformance: get_event must not return another owner's event"
        );
        assert_eq!(
            ids(&all_events(table, who, &EventQuery::default(), 10).await),
            ["shared-id".to_string(), mine.event_id.clone()],
            "conformance: list_events must return only the owner's events"
        );
        let ty = EventQuery {
            event_type: Some(EventType::OrderPlaced),
            ..Default::default()
        };
        assert_eq!(
            ids(&all_events(table, who, &ty, 10).await),
            vec![mine.event_id.clone()]
        );
        assert_eq!(
            ok("get_upload", table.get_upload(who, "up").await).map(|u| u.owner),
            Some(who.clone())
        );
        assert_eq!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).map(|q| q.owner),
            Some(who.clone())
        );
        assert_eq!(
            ok(
                "list_quarantine",
                table.list_quarantine(who, None, 10).await
            )
            .into_iter()
            .map(|q| q.owner)
            .collect::<Vec<_>>(),
            vec![who.clone()],
            "conformance: list_quarantine must return only the owner's entries"
        );
        let mut want = vec![n.clone(), x.clone()];
        want.sort_by(|p, q| {
            (q.created_at, &q.notification_id).cmp(&(p.created_at, &p.notification_id))
        });
        assert_eq!(
            ok(
                "list_notifications",
                table.list_notifications(who, None, 10).await
            ),
            want,
            "conformance: list_notifications must return only the owner's notifications"
        );
        assert_eq!(
            ok("get_export", table.get_export(who, "exp").await).map(|e| e.owner),
            Some(who.clone())
        );
    }

    // An owner without data sees nothing at all.
    for who in [c.as_str(), &a[..a.len() - 1], "ct-tenant"] {
        assert!(
            ok("get_event", table.get_event(who, "shared-id").await).is_none(),
            "conformance: get_event leaks across owners"
        );
        assert!(
            ok(
                "list_events",
                table
                    .list_events(who, &EventQuery::default(), None, 10)
                    .await
            )
            .is_empty(),
            "conformance: list_events leaks across owners"
        );
        assert!(
            ok("get_upload", table.get_upload(who, "up").await).is_none(),
            "conformance: get_upload leaks across owners"
        );
        assert!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).is_none(),
            "conformance: get_quarantine leaks across owners"
        );
        assert!(
            ok(
                "list_quarantine",
                table.list_quarantine(who, None, 10).await
            )
            .is_empty(),
            "conformance: list_quarantine leaks across owners"
        );
        assert!(
            ok(
                "list_notifications",
                table.list_notifications(who, None, 10).await
            )
            .is_empty(),
            "conformance: list_notifications leaks across owners"
        );
        assert!(
            ok("get_export", table.get_export(who, "exp").await).is_none(),
            "conformance: get_export leaks across owners"
        );
        assert!(
            !ok("reopen_upload", table.reopen_upload(who, "bad").await),
            "conformance: reopen_upload must not touch another owner's upload"
        );
        assert!(
            !ok(
                "delete_quarantine",
                table.delete_quarantine(who, "bad").await
            ),
            "conformance: delete_quarantine must not touch another owner's entry"
        );
    }
    for (who, ..) in &seeded {
        assert!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).is_some(),
            "conformance: another owner's reopen/delete changed this owner's quarantine"
        );
        assert_eq!(
            ok("get_upload", table.get_upload(who, "bad").await).map(|u| u.status),
            Some(UploadState::Quarantined)
        );
    }

    // Owner-scoped writes of one owner leave the other's data as it was.
    assert!(ok("reopen_upload", table.reopen_upload(&a, "bad").await));
    assert!(
        ok("get_quarantine", table.get_quarantine(&b, "bad").await).is_some(),
        "conformance: reopen_upload touched another owner"
    );
    assert!(ok(
        "delete_quarantine",
        table.delete_quarantine(&b, "bad").await
    ));
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "bad").await).map(|u| u.status),
        Some(UploadState::Pending)
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&b, "bad").await).map(|u| u.status),
        Some(UploadState::Quarantined)
    );
    for who in [&a, &b] {
        mark_all_delivered(table, who).await;
    }
}

// ---------------------------------------------------------------------------------------
// The commit rule (ARCHITECTURE.md): holds in chunks, listed only once stored.

/// A pending upload with the ETag of its content, as the processor commits it.
fn committing(owner: &str, upload_id: &str, etag: &str, events: usize) -> UploadRecord {
    stored(owner, upload_id, etag, events)
}

async fn create_pending(table: &dyn EventTable, owner: &str, upload_id: &str) {
    ok(
        "create_upload",
        table
            .create_upload(&pending(owner, upload_id, t("2026-11-27T09:00:00Z")))
            .await,
    );
}

async fn listed_ids(table: &dyn EventTable, owner: &str) -> Vec<String> {
    ids(&all_events(table, owner, &EventQuery::default(), 7).await)
}

/// Held events are invisible (`get_event`, `list_events`) until `mark_stored`, then all of
/// them are listed at once, under the upload.
pub async fn commit_rule_hidden_until_stored(table: &dyn EventTable) {
    let o = owner("hidden");
    let evs: Vec<EventRecord> = (0..3)
        .map(|i| {
            event(
                &o,
                &format!("h-{i}"),
                "page.view",
                "2026-11-27T10:00:00Z",
                "u-1",
                "a",
            )
        })
        .collect();
    create_pending(table, &o, "u-1").await;
    let up = committing(&o, "u-1", "etag-1", 3);
    assert_eq!(
        ok("hold_events", table.hold_events(&up, &evs[..2]).await),
        vec![Held::New, Held::New],
        "conformance: hold_events answers one result per event, in order"
    );
    assert!(
        listed_ids(table, &o).await.is_empty()
            && ok("get_event", table.get_event(&o, "h-0").await).is_none(),
        "conformance: held events must not be listed or readable before mark_stored"
    );
    assert_eq!(
        ok("hold_events", table.hold_events(&up, &evs[2..]).await),
        vec![Held::New]
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "u-1").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: holding events must not change the upload's state"
    );
    assert!(listed_ids(table, &o).await.is_empty());
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up).await),
        MarkStored::Marked
    );
    assert_eq!(listed_ids(table, &o).await, vec!["h-0", "h-1", "h-2"]);
    for e in &evs {
        assert_event(
            ok("get_event", table.get_event(&o, &e.event_id).await),
            e,
            "after mark_stored",
        );
    }
    assert_eq!(
        ok("mark_stored (again)", table.mark_stored(&up).await),
        MarkStored::AlreadyStored,
        "conformance: mark_stored again with the same ETag is a replay"
    );
    let other = committing(&o, "u-1", "etag-other", 3);
    assert_eq!(
        ok("mark_stored (other ETag)", table.mark_stored(&other).await),
        MarkStored::AlreadyFinal(UploadState::Stored),
        "conformance: a stored upload is never stored again with other content"
    );
}

/// A crash between chunks (some events held, the upload pending) lists nothing, and the
/// replay of the whole commit lists every event exactly once.
pub async fn commit_rule_crash_between_chunks(table: &dyn EventTable) {
    let o = owner("crash");
    let n = crate::commit::CHUNK + 30;
    let evs: Vec<EventRecord> = (0..n)
        .map(|i| {
            event(
                &o,
                &format!("c-{i:04}"),
                "order.placed",
                "2026-11-27T10:00:00Z",
                "u-1",
                "a",
            )
        })
        .collect();
    create_pending(table, &o, "u-1").await;
    let up = committing(&o, "u-1", "etag-1", n);
    ok(
        "hold_events (first chunk)",
        table.hold_events(&up, &evs[..crate::commit::CHUNK]).await,
    );
    assert!(
        listed_ids(table, &o).await.is_empty(),
        "conformance: after a crash between chunks nothing of the upload may be listed"
    );
    assert_eq!(
        ok(
            "store_events (replay)",
            store_events(table, &up, &evs).await
        ),
        StoreOutcome::Stored {
            inserted: n as u64,
            duplicates: 0,
            already: false
        },
        "conformance: the replay after a crash between chunks must store every event"
    );
    let listed = listed_ids(table, &o).await;
    let want: Vec<String> = evs.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(
        listed, want,
        "conformance: every event listed exactly once after the replay"
    );
    assert_eq!(
        ok(
            "store_events (second replay)",
            store_events(table, &up, &evs).await
        ),
        StoreOutcome::Stored {
            inserted: 0,
            duplicates: 0,
            already: true
        }
    );
}

/// A live holder with other content (an upload still being committed) is a conflict; the
/// holds of a quarantined upload are void and are taken over.
pub async fn commit_rule_live_and_void_holders(table: &dyn EventTable) {
    let o = owner("holders");
    let a = event(&o, "x", "page.view", "2026-11-27T10:00:00Z", "u-a", "a");
    create_pending(table, &o, "u-a").await;
    let up_a = committing(&o, "u-a", "etag-a", 1);
    ok(
        "hold_events",
        table.hold_events(&up_a, std::slice::from_ref(&a)).await,
    );

    // u-b sends other content under the same eventId while u-a is pending.
    let b = event(&o, "x", "page.view", "2026-11-27T11:00:00Z", "u-b", "b");
    create_pending(table, &o, "u-b").await;
    let up_b = committing(&o, "u-b", "etag-b", 1);
    assert_eq!(
        ok(
            "find_conflicts",
            table.find_conflicts(&up_b, std::slice::from_ref(&b)).await
        ),
        vec!["x".to_string()],
        "conformance: a pending holder with other content is a conflict (pre-check)"
    );
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_b, std::slice::from_ref(&b)).await
        ),
        vec![Held::Conflict],
        "conformance: a pending holder with other content is a conflict (hold)"
    );
    assert_eq!(
        ok(
            "find_conflicts (own holds)",
            table.find_conflicts(&up_a, std::slice::from_ref(&a)).await
        ),
        Vec::<String>::new(),
        "conformance: an upload's own holds are never its conflicts"
    );

    // u-a ends quarantined: its hold is void, and u-b may take the eventId over.
    let rec = quarantine_record(&o, "u-a", t("2026-11-27T10:00:01Z"));
    let n = quarantine_notification(&format!("n-{}", unique()), "u-a", t("2026-11-27T10:00:01Z"));
    ok(
        "commit_quarantined",
        table
            .commit_quarantined(&quarantined_upload(&o, "u-a", "etag-a"), &rec, &n)
            .await,
    );
    assert_eq!(
        ok(
            "store_events",
            store_events(table, &up_b, std::slice::from_ref(&b)).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: the holds of a quarantined upload are void and may be taken over"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x").await),
        &b,
        "after a takeover",
    );

    // Now x is listed: other content is a conflict, the same content a duplicate.
    let c = event(&o, "x", "page.view", "2026-11-27T12:00:00Z", "u-c", "c");
    create_pending(table, &o, "u-c").await;
    let up_c = committing(&o, "u-c", "etag-c", 1);
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_c, std::slice::from_ref(&c)).await
        ),
        vec![Held::Conflict],
        "conformance: a listed event with other content is a conflict"
    );
    let same = EventRecord {
        upload_id: "u-c".into(),
        ..b.clone()
    };
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_c, std::slice::from_ref(&same)).await
        ),
        vec![Held::Duplicate],
        "conformance: a listed event with the same content is a duplicate"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x").await),
        &b,
        "a listed event never changes",
    );
}

/// Two uploads holding the same content at once (a client's retried upload) both store;
/// the event is listed once.
pub async fn commit_rule_concurrent_same_content(table: &dyn EventTable) {
    let o = owner("same");
    let a = event(
        &o,
        "s",
        "sensor.reading",
        "2026-11-27T10:00:00Z",
        "u-a",
        "a",
    );
    let b = EventRecord {
        upload_id: "u-b".into(),
        ..a.clone()
    };
    create_pending(table, &o, "u-a").await;
    create_pending(table, &o, "u-b").await;
    let (up_a, up_b) = (
        committing(&o, "u-a", "ea", 1),
        committing(&o, "u-b", "eb", 1),
    );
    assert_eq!(
        ok(
            "hold",
            table.hold_events(&up_a, std::slice::from_ref(&a)).await
        ),
        vec![Held::New]
    );
    assert_eq!(
        ok(
            "hold",
            table.hold_events(&up_b, std::slice::from_ref(&b)).await
        ),
        vec![Held::New],
        "conformance: the same content held by two pending uploads is no conflict"
    );
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up_b).await),
        MarkStored::Marked
    );
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up_a).await),
        MarkStored::Marked
    );
    assert_eq!(listed_ids(table, &o).await, vec!["s"]);
    assert_eq!(
        ok("get_event", table.get_event(&o, "s").await).map(|e| e.upload_id),
        Some("u-b".to_string()),
        "conformance: a listed event names the upload that first listed it"
    );
}

/// Holds are per content: events held for one ETag are never listed when the upload is
/// stored with another (a second object under a used key), and `release_events` drops them.
pub async fn commit_rule_holds_are_per_content(table: &dyn EventTable) {
    let o = owner("etag");
    create_pending(table, &o, "u-1").await;
    let first = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-1", "a");
    let second = event(&o, "two", "page.view", "2026-11-27T10:00:00Z", "u-1", "b");
    let (up_x, up_y) = (
        committing(&o, "u-1", "etag-x", 1),
        committing(&o, "u-1", "etag-y", 1),
    );
    ok(
        "hold (etag-x)",
        table.hold_events(&up_x, std::slice::from_ref(&first)).await,
    );
    assert_eq!(
        ok(
            "store_events (etag-y)",
            store_events(table, &up_y, std::slice::from_ref(&second)).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        }
    );
    assert_eq!(
        listed_ids(table, &o).await,
        vec!["two"],
        "conformance: events held for another ETag must never be listed"
    );
    // The etag-x hold is void: other content takes "one" over.
    create_pending(table, &o, "u-2").await;
    let other = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-2", "c");
    assert_eq!(
        ok(
            "find_conflicts",
            table
                .find_conflicts(
                    &committing(&o, "u-2", "e2", 1),
                    std::slice::from_ref(&other)
                )
                .await
        ),
        Vec::<String>::new(),
        "conformance: holds for content other than the stored one are void"
    );
    // Release: drops the hold and the never-listed event with it.
    ok(
        "release_events",
        table.release_events(&up_x, &["one".to_string()]).await,
    );
    ok(
        "release_events (again)",
        table.release_events(&up_x, &["one".to_string()]).await,
    );
    create_pending(table, &o, "u-3").await;
    let up_3 = committing(&o, "u-3", "e3", 1);
    let third = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-3", "d");
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_3, std::slice::from_ref(&third)).await
        ),
        vec![Held::New]
    );
    ok(
        "release_events",
        table.release_events(&up_3, &["one".to_string()]).await,
    );
    assert_eq!(
        ok(
            "find_conflicts",
            table
                .find_conflicts(
                    &committing(&o, "u-4", "e4", 1),
                    std::slice::from_ref(&first)
                )
                .await
        ),
        Vec::<String>::new(),
        "conformance: a released hold no longer blocks other content"
    );
    assert_eq!(listed_ids(table, &o).await, vec!["two"]);
}
