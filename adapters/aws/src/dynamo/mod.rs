//! [`DynamoTable`]: the [`EventTable`] and the [`SubscriptionTable`] on one DynamoDB table
//! (single-table design).
//!
//! [`SubscriptionTable`]: eventpulse_handlers::ports::SubscriptionTable
//!
//! # Items
//!
//! Every item of an owner has `pk = O#{owner}`; `sk` names the kind and id. Instants are
//! fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`), so text order is time order,
//! and index sort keys are `{instant}#{id}`, so they order as `(instant, id)` does.
//!
//! | item | `sk` | attributes | index keys |
//! |---|---|---|---|
//! | upload | `U#{uploadId}` | status, key, createdAt, etag, eventCount, processedAt, reasonCode, committedAt | – |
//! | event | `E#{eventId}` | eventType, occurredAt, body (JSON text), contentHash, receivedAt, uploadId (the content's writer), holders (SS of `{uploadId}/{etag}`), v | gsi1 `O#{owner}#E` / `{occurredAt}#{eventId}`; gsi2 `O#{owner}#E#{eventType}` / same |
//! | quarantine entry | `Q#{uploadId}` | key, quarantinedAt, reasonCode, errorCount, sizeBytes | gsi1 `O#{owner}#Q` / `{quarantinedAt}#{uploadId}` |
//! | notification | `N#{notificationId}` | body (JSON), createdAt, expiresAt (TTL, +90 days) | gsi1 `O#{owner}#N` / `{createdAt}#{notificationId}`; while undelivered gsi3 `OUTBOX` / `{createdAt}#{notificationId}` |
//! | export | `X#{exportId}` | status, query (JSON), createdAt, finishedAt, eventCount, resultKey | while running gsi3 `EXPORTS_RUNNING` / `{createdAt}#{exportId}#{owner}` |
//! | subscription | `S#{subscriptionId}` | protocol, endpoint, kinds (list), status, createdAt, secret, deliveryRef | – |
//! | subscription counter | `SUBS` | `n` (the owner's subscriptions) | – |
//! | subscribed endpoint | `SE#{protocol}#{hex SHA-256 of endpoint}` | subscriptionId | – |
//!
//! # Access patterns (no Scan anywhere)
//!
//! | port method | access pattern | key / index |
//! |---|---|---|
//! | `create_upload` | PutItem, `attribute_not_exists(pk)` | `O#{o}`, `U#{u}` |
//! | `get_upload`, `get_quarantine`, `get_export` | GetItem, consistent | `O#{o}`, `U#`/`Q#`/`X#{id}` |
//! | `find_conflicts` | BatchGetItem of the events, consistent; BatchGetItem of their holders' uploads, consistent | `O#{o}`, `E#{e}`; `U#{u}` |
//! | `hold_events` | per event UpdateItem, `attribute_not_exists(pk) OR contentHash = :h`, `ADD holders, v`, ALL_OLD (16 in flight); holders' uploads by BatchGetItem; on other content GetItem + PutItem takeover on `v = :read` | `O#{o}`, `E#{e}`; `U#{u}` |
//! | `mark_stored` | TransactWriteItems [Update upload unless final, Delete quarantine entry]; on refusal GetItem, consistent | `U#{u}`, `Q#{u}` |
//! | `release_events` | GetItem of the upload; per event UpdateItem `DELETE holders`, then DeleteItem `attribute_not_exists(holders)` | `U#{u}`; `E#{e}` |
//! | `commit_quarantined` | TransactWriteItems [Update upload unless final, Put quarantine entry, Put notification `attribute_not_exists(pk)`] | `U#{u}`, `Q#{u}`, `N#{n}` |
//! | `reopen_upload` | TransactWriteItems [ConditionCheck entry exists, Update upload quarantined (or pending under a stale `reopenedAt`) → pending, `reopenedAt`] | `Q#{u}`, `U#{u}` |
//! | `delete_quarantine` | TransactWriteItems [Delete entry if it exists, ConditionCheck upload not pending] | `Q#{u}`, `U#{u}` |
//! | `list_quarantine` | Query gsi1 descending, `gsi1sk < after` | gsi1 `O#{o}#Q` |
//! | `get_event` | GetItem, consistent; holders' uploads by BatchGetItem, consistent | `O#{o}`, `E#{e}` |
//! | `list_events` | Query gsi1 (gsi2 with a type) ascending, `gsi1sk` range from `from`/`after`/`to`; holders' uploads by BatchGetItem, consistent; unlisted items dropped, pages followed until `limit` | gsi1 `O#{o}#E`, gsi2 `O#{o}#E#{type}` |
//! | `record_notification` | PutItem, `attribute_not_exists(pk)` (idempotent on the id) | `O#{o}`, `N#{n}` |
//! | `list_notifications` | Query gsi1 descending, `gsi1sk < after` | gsi1 `O#{o}#N` |
//! | `undelivered_notifications` | Query gsi3 ascending | gsi3 `OUTBOX` |
//! | `mark_delivered` | UpdateItem `REMOVE gsi3pk, gsi3sk`, `attribute_exists(pk)` | `O#{o}`, `N#{n}` |
//! | `put_export` | PutItem (whole record; gsi3 keys only while running) | `O#{o}`, `X#{x}` |
//! | `running_exports` | Query gsi3 ascending, after a position (exclusive) | gsi3 `EXPORTS_RUNNING` |
//! | `count_running_exports` | Query the owner's `X#` items (base table), counted here | `O#{o}` |
//! | `create_subscription` | TransactWriteItems \[Update counter `ADD n 1` if `attribute_not_exists(n) OR n < :cap`, Put endpoint `attribute_not_exists(pk)`, Put subscription `attribute_not_exists(pk)`\]; the cancellation reasons tell LimitReached from EndpointTaken | `SUBS`, `SE#…`, `S#{s}` |
//! | `get_subscription` | GetItem, consistent | `O#{o}`, `S#{s}` |
//! | `list_subscriptions` | Query the table ascending, consistent: `begins_with(sk, S#)`, past a cursor `sk BETWEEN S#{after} AND S$` | `O#{o}` |
//! | `update_subscription` | UpdateItem `SET status, deliveryRef`, `attribute_exists(pk)` | `O#{o}`, `S#{s}` |
//! | `delete_subscription` | GetItem, consistent; TransactWriteItems [Delete subscription `attribute_exists(pk)`, Delete endpoint, Update counter `ADD n -1`] | `S#{s}`, `SE#…`, `SUBS` |
//!
//! # The commit rule
//!
//! As in `ports.rs`: an event is listed while a holder `{U}/{E}` in its `holders` has
//! upload `U` stored with ETag `E` (see `holders.rs`). Holding writes each event on its own
//! condition (`commit.rs`); `mark_stored` flips only the upload, in one transaction, and
//! with it every event held for that ETag becomes listed at once — reads check holders'
//! uploads with strongly consistent reads, so no event item has to change at the commit
//! point. An event several uploads list names the one stored first (`committedAt`, this
//! adapter's clock: across hosts, clock skew may credit either of two uploads that stored
//! the same content within that skew).
//!
//! # Consistency
//!
//! Every decision (conditions, holders' states, the ledger) is taken on the base table
//! with strongly consistent reads or conditional writes. The GSIs are eventually
//! consistent: right after a write a list may lag — a just-stored upload's events may take
//! a moment to appear in `list_events` (but `get_event` shows them at once), and a
//! delivered notification may still come back once from `undelivered_notifications`
//! (delivery is at least once anyway). Items read from an index are re-checked for
//! listing against the uploads (consistent), so a list never shows an unlisted event.

mod commit;
mod error;
mod expr;
mod holders;
mod items;
mod provision;
mod queries;
mod reads;
mod records;
mod subscriptions;
mod uploads;

pub use items::EXPORT_RECORD_DAYS;
pub use provision::{IndexDefinition, KeyDefinition, TableDefinition, provision, table_definition};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::{
    EventPosition, EventQuery, EventRecord, EventTable, ExportPosition, ExportRecord, Held,
    MarkStored, NotificationPosition, PortResult, QuarantinePosition, QuarantineRecord,
    UploadRecord,
};
use std::sync::Arc;

/// The table on DynamoDB; cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: Arc<str>,
}

impl DynamoTable {
    /// The table `table_name` (see [`provision`]) through `client`, built once by the
    /// caller.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table: Arc::from(table_name.into()),
        }
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl EventTable for DynamoTable {
    async fn create_upload(&self, upload: &UploadRecord) -> PortResult<bool> {
        DynamoTable::create_upload(self, upload).await
    }
    async fn get_upload(&self, owner: &str, upload_id: &str) -> PortResult<Option<UploadRecord>> {
        DynamoTable::get_upload(self, owner, upload_id).await
    }
    async fn find_conflicts(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<String>> {
        DynamoTable::find_conflicts(self, upload, events).await
    }
    async fn hold_events(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<Held>> {
        DynamoTable::hold_events(self, upload, events).await
    }
    async fn mark_stored(&self, upload: &UploadRecord) -> PortResult<MarkStored> {
        DynamoTable::mark_stored(self, upload).await
    }
    async fn release_events(&self, upload: &UploadRecord, event_ids: &[String]) -> PortResult<()> {
        DynamoTable::release_events(self, upload, event_ids).await
    }
    async fn commit_quarantined(
        &self,
        upload: &UploadRecord,
        quarantine: &QuarantineRecord,
        notification: &Notification,
    ) -> PortResult<bool> {
        DynamoTable::commit_quarantined(self, upload, quarantine, notification).await
    }
    async fn reopen_upload(
        &self,
        owner: &str,
        upload_id: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> PortResult<bool> {
        DynamoTable::reopen_upload(self, owner, upload_id, at, stale_before).await
    }
    async fn get_quarantine(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> PortResult<Option<QuarantineRecord>> {
        DynamoTable::get_quarantine(self, owner, upload_id).await
    }
    async fn delete_quarantine(&self, owner: &str, upload_id: &str) -> PortResult<bool> {
        DynamoTable::delete_quarantine(self, owner, upload_id).await
    }
    async fn list_quarantine(
        &self,
        owner: &str,
        after: Option<&QuarantinePosition>,
        limit: usize,
    ) -> PortResult<Vec<QuarantineRecord>> {
        DynamoTable::list_quarantine(self, owner, after, limit).await
    }
    async fn get_event(&self, owner: &str, event_id: &str) -> PortResult<Option<EventRecord>> {
        DynamoTable::get_event(self, owner, event_id).await
    }
    async fn list_events(
        &self,
        owner: &str,
        query: &EventQuery,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> PortResult<Vec<EventRecord>> {
        DynamoTable::list_events(self, owner, query, after, limit).await
    }
    async fn record_notification(
        &self,
        owner: &str,
        notification: &Notification,
    ) -> PortResult<()> {
        DynamoTable::record_notification(self, owner, notification).await
    }
    async fn list_notifications(
        &self,
        owner: &str,
        after: Option<&NotificationPosition>,
        limit: usize,
    ) -> PortResult<Vec<Notification>> {
        DynamoTable::list_notifications(self, owner, after, limit).await
    }
    async fn undelivered_notifications(
        &self,
        limit: usize,
    ) -> PortResult<Vec<(String, Notification)>> {
        DynamoTable::undelivered_notifications(self, limit).await
    }
    async fn mark_delivered(&self, owner: &str, notification_id: &str) -> PortResult<()> {
        DynamoTable::mark_delivered(self, owner, notification_id).await
    }
    async fn put_export(&self, export: &ExportRecord) -> PortResult<()> {
        DynamoTable::put_export(self, export).await
    }
    async fn get_export(&self, owner: &str, export_id: &str) -> PortResult<Option<ExportRecord>> {
        DynamoTable::get_export(self, owner, export_id).await
    }
    async fn count_running_exports(&self, owner: &str, since: DateTime<Utc>) -> PortResult<usize> {
        DynamoTable::count_running_exports(self, owner, since).await
    }

    async fn running_exports(
        &self,
        after: Option<&ExportPosition>,
        limit: usize,
    ) -> PortResult<Vec<ExportRecord>> {
        DynamoTable::running_exports(self, after, limit).await
    }
}
