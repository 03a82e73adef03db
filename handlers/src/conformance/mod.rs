//! The conformance suite: what every adapter set must do to implement the ports.
//!
//! Enabled by the `conformance` feature. Each check is one function that exercises one port
//! against a live adapter and panics, naming the rule that was broken, on the first
//! violation. An adapter's test crate gets one `#[tokio::test]` per check from
//! [`object_store_conformance!`](crate::object_store_conformance) and
//! [`event_table_conformance!`](crate::event_table_conformance), so a failure names its check
//! and never hides the others. The embedded
//! adapters (files + SQLite) run it in their tests; the AWS adapters (S3 + DynamoDB on moto)
//! are held to it too, so every rule here is one the domain relies on, written in the ports'
//! terms and never in a storage engine's.
//!
//! Every check works in its own fresh owners and key prefixes (made unique per run), so the
//! suite can run against a store that already holds data, several times, and its checks can
//! run in any order. Timestamps carry nanoseconds and sit at the edges (1 ns apart, before
//! 1970, in year 9999) to catch precision and ordering bugs.

use crate::commit::store_events;
use crate::intake::hashed_form;
use crate::keys;
use crate::ports::{
    Bucket, EventPosition, EventQuery, EventRecord, EventTable, ExportRecord, Held, HoldAndMark,
    MIN_PART_BYTES, MarkStored, NotificationPosition, ObjectInfo, ObjectStore, PortResult,
    QuarantinePosition, QuarantineRecord, Read, StoreOutcome, UploadRecord,
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

mod commit;
mod events;
mod exports;
pub mod faults;
mod notifications;
mod objects;
mod quarantine;
pub mod races;
mod subscriptions;
mod tenancy;
mod uploads;

pub use commit::*;
pub use events::*;
pub use exports::*;
pub use notifications::*;
pub use objects::*;
pub use quarantine::*;
pub use subscriptions::*;
pub use tenancy::*;
pub use uploads::*;

/// Calls `$then!` with `$args` followed by the name of every [`ObjectStore`] check: the one
/// list of them.
#[doc(hidden)]
#[macro_export]
macro_rules! __object_store_checks {
    ($then:ident!($($args:tt)*)) => {
        $crate::$then!($($args)*
            objects_round_trip,
            objects_etags,
            objects_size_limit,
            objects_read_within_a_bound,
            objects_missing_and_delete,
            objects_copy,
            objects_written_in_parts,
            objects_list,
            objects_buckets_are_independent,
        );
    };
}

/// Calls `$then!` with `$args` followed by the name of every [`EventTable`] check: the one
/// list of them.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_table_checks {
    ($then:ident!($($args:tt)*)) => {
        $crate::$then!($($args)*
            uploads,
            commit_stored,
            commit_stored_conflicts,
            commit_rule_hidden_until_stored,
            commit_rule_crash_between_chunks,
            commit_rule_live_and_void_holders,
            commit_rule_concurrent_same_content,
            commit_rule_holds_are_per_content,
            commit_rule_hold_and_mark_stored,
            commit_quarantined,
            reopen_and_delete_quarantine,
            reprocess_is_claimed_once,
            list_quarantine,
            list_events,
            notifications,
            exports,
            running_exports_pages,
            count_running_exports,
            tenancy,
        );
    };
}

/// Calls `$then!` with `$args` followed by the name of every [`SubscriptionTable`] check.
///
/// [`SubscriptionTable`]: crate::ports::SubscriptionTable
#[doc(hidden)]
#[macro_export]
macro_rules! __subscription_table_checks {
    ($then:ident!($($args:tt)*)) => {
        $crate::$then!($($args)*
            subscriptions_round_trip,
            subscriptions_cap_and_endpoints,
            subscriptions_cap_under_concurrency,
            subscriptions_pages,
            subscriptions_tenancy,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($fixture:path; $($check:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            // The guard keeps whatever the port lives on (a temp dir, a table) until the end.
            let (_guard, port) = $fixture().await;
            $crate::conformance::$check(&*port).await;
        }
    )+};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __run_checks {
    ($port:ident; $($check:ident),+ $(,)?) => {
        $( $crate::conformance::$check($port).await; )+
    };
}

/// One `#[tokio::test]` per [`ObjectStore`] check, named after it. `$fixture` is an async
/// function returning `(guard, port)`, where `port` derefs to a `dyn ObjectStore` (an `Arc`
/// or a `Box`) and `guard` is dropped at the end of the test.
#[macro_export]
macro_rules! object_store_conformance {
    ($fixture:path) => {
        $crate::__object_store_checks!(__conformance_tests!($fixture;));
    };
}

/// One `#[tokio::test]` per [`EventTable`] check, named after it; see
/// [`object_store_conformance!`](crate::object_store_conformance).
#[macro_export]
macro_rules! event_table_conformance {
    ($fixture:path) => {
        $crate::__event_table_checks!(__conformance_tests!($fixture;));
    };
}

/// One `#[tokio::test]` per [`SubscriptionTable`](crate::ports::SubscriptionTable) check;
/// see [`object_store_conformance!`](crate::object_store_conformance).
#[macro_export]
macro_rules! subscription_table_conformance {
    ($fixture:path) => {
        $crate::__subscription_table_checks!(__conformance_tests!($fixture;));
    };
}

/// Runs every check against one object store and one table, in one task.
pub async fn run_all(store: &dyn ObjectStore, table: &dyn EventTable) {
    object_store(store).await;
    event_table(table).await;
}

/// Every [`ObjectStore`] check, one after the other.
pub async fn object_store(store: &dyn ObjectStore) {
    crate::__object_store_checks!(__run_checks!(store;));
}

/// Every [`EventTable`] check, one after the other.
pub async fn event_table(table: &dyn EventTable) {
    crate::__event_table_checks!(__run_checks!(table;));
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
/// Runs `futures` concurrently on the calling task (their port calls overlap: blocking-pool
/// work or requests in flight) and returns their outputs in order.
async fn join_all<T: Unpin>(
    futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + '_>>>,
) -> Vec<T> {
    struct JoinAll<'a, T> {
        pending: Vec<Option<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>>>,
        done: Vec<Option<T>>,
    }
    impl<T: Unpin> std::future::Future for JoinAll<'_, T> {
        type Output = Vec<T>;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Vec<T>> {
            let this = &mut *self;
            for (slot, out) in this.pending.iter_mut().zip(this.done.iter_mut()) {
                if let Some(f) = slot
                    && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
                {
                    *out = Some(v);
                    *slot = None;
                }
            }
            if this.pending.iter().all(Option::is_none) {
                std::task::Poll::Ready(this.done.iter_mut().filter_map(Option::take).collect())
            } else {
                std::task::Poll::Pending
            }
        }
    }
    let done = futures.iter().map(|_| None).collect();
    JoinAll {
        pending: futures.into_iter().map(Some).collect(),
        done,
    }
    .await
}

/// `reopen_upload` now, with a claim lease of 15 minutes (what the API uses).
async fn reopen(table: &dyn EventTable, owner: &str, upload_id: &str) -> PortResult<bool> {
    let now = Utc::now();
    table
        .reopen_upload(owner, upload_id, now, now - crate::api::REOPEN_LEASE)
        .await
}

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
        content_hash: sha(&hashed_form(&body)),
        body: eventpulse_contract_rt::EventJson::from_value(&body).expect("a JSON value"),
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
