//! The ports: what the domain needs from the outside world, and nothing more.
//!
//! Two sets of adapters implement them: embedded (files + SQLite, `adapters/embedded`) and
//! AWS (S3 + DynamoDB + SNS). Both must pass the conformance suite in
//! `crate::conformance`. Signatures speak the domain's language (owners, uploads, events),
//! never a storage engine's; an adapter maps them to tables, items or objects.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
pub use eventpulse_contract_rt::EventJson;
use eventpulse_generated::types::{
    EventType, Notification, NotificationKind, QuarantineReport, ReasonCode, SubscriptionProtocol,
    SubscriptionState, UploadState,
};

/// Why a port call failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub retryable: bool,
    pub message: String,
}

impl PortError {
    /// A failure that may pass on a later attempt (throttling, timeouts, lost connections).
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
        }
    }
    /// A failure that will repeat (bad configuration, corrupt data).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// The buckets of the system. Adapters map them to real bucket names or directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Where users upload; objects here are waiting to be processed.
    Process,
    /// Objects that failed, each with a report beside it.
    Quarantine,
    /// Results of exports.
    Exports,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Changes whenever the content changes; the processing ledger records it so that a
    /// replayed notification for the same content is recognised.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub info: ObjectInfo,
    pub bytes: Bytes,
}

/// What [`ObjectStore::read`] found under a key.
#[derive(Debug, Clone)]
pub enum Read {
    /// The whole object, within the bound.
    Whole(Object),
    /// Larger than the bound: what it is, none of its bytes.
    TooLarge(ObjectInfo),
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes the whole object atomically: readers see the old content or the new, never part.
    async fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectInfo>;
    async fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>>;
    /// Reads at most `max_bytes`; a larger object is an error (check `head` first).
    async fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>>;
    /// The object if it has at most `max_bytes`, else only its description: what `head`
    /// then `get` tell, for a store that can tell both in one request (S3's GetObject
    /// answers the size before the body, so a too large body is never read). The processor
    /// reads every upload so, once.
    async fn read(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Read>> {
        let Some(info) = self.head(bucket, key).await? else {
            return Ok(None);
        };
        if info.size > max_bytes {
            return Ok(Some(Read::TooLarge(info)));
        }
        Ok(self.get(bucket, key, max_bytes).await?.map(Read::Whole))
    }
    /// Copies an object (server-side on S3); overwrites the target. `Ok(None)` if the source
    /// is missing.
    async fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>>;
    /// Starts an object written in parts ([`ObjectWriter`]), for what is too large to hold
    /// in memory at once (exports).
    async fn writer(
        &self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<Box<dyn ObjectWriter>>;
    /// Deletes; deleting a missing object is not an error.
    async fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()>;
    /// Keys under `prefix`, in key order, at most `limit`, strictly after `start_after`.
    async fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>>;
}

/// Every part written to an [`ObjectWriter`] but the last is at least this long (S3's
/// multipart rule: 5 MiB).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// An object written in parts. Nothing is visible under its key until `finish`, which
/// writes it whole, atomically, as `put` does (a reader sees the old content or the new).
/// An unfinished writer leaves no object: `abort` says so at once; a crash leaves what the
/// store cleans up itself (a staged file removed at the next open; an incomplete multipart
/// upload, which the exports bucket's lifecycle rule aborts after a day).
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends `part`: at least [`MIN_PART_BYTES`] unless it is the last.
    async fn write(&mut self, part: Bytes) -> PortResult<()>;
    async fn finish(self: Box<Self>) -> PortResult<ObjectInfo>;
    async fn abort(self: Box<Self>) -> PortResult<()>;
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub owner: String,
    pub event_id: String,
    pub event_type: String,
    /// `occurredAt` as an instant, for ordering and range filters.
    pub occurred_at: DateTime<Utc>,
    /// The event as uploaded (compact JSON, keys and number spellings as the uploader wrote
    /// them), passed through as text.
    pub body: EventJson,
    pub content_hash: String,
    pub received_at: DateTime<Utc>,
    pub upload_id: String,
}

/// Position in the `(occurred_at, event_id)` order of an owner's events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventPosition {
    pub occurred_at: DateTime<Utc>,
    pub event_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventQuery {
    pub event_type: Option<EventType>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadRecord {
    pub owner: String,
    pub upload_id: String,
    /// The owner's key in the process bucket (`keys::incoming_key`).
    pub key: String,
    pub status: UploadState,
    pub created_at: DateTime<Utc>,
    /// ETag of the content the final status is about; while a reprocess runs (pending
    /// again), that of the object it was quarantined for.
    pub etag: Option<String>,
    pub event_count: Option<u64>,
    pub processed_at: Option<DateTime<Utc>>,
    pub reason_code: Option<ReasonCode>,
}

/// A quarantined object, as listed by `GET /v1/quarantine`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineRecord {
    pub owner: String,
    pub upload_id: String,
    /// Key of the object in the quarantine bucket.
    pub key: String,
    pub quarantined_at: DateTime<Utc>,
    pub reason_code: ReasonCode,
    pub error_count: u64,
    pub size_bytes: u64,
}

/// Position in the newest-first `(quarantined_at, upload_id)` order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuarantinePosition {
    pub quarantined_at: DateTime<Utc>,
    pub upload_id: String,
}

/// Position in the newest-first `(created_at, notification_id)` order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotificationPosition {
    pub created_at: DateTime<Utc>,
    pub notification_id: String,
}

/// What [`crate::commit::store_events`] did with one object's events.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOutcome {
    /// Every event is now stored and listed: `inserted` were not listed before, `duplicates`
    /// were (or repeat an earlier event of the same object) with the same content.
    /// `already` is true when the upload was already stored with this ETag (a replay), in
    /// which case nothing was written.
    Stored {
        inserted: u64,
        duplicates: u64,
        already: bool,
    },
    /// These eventIds are held by another upload with different content; nothing became
    /// visible, and this upload's holds were released.
    Conflict { event_ids: Vec<String> },
    /// The upload is already final with another outcome for this ETag; nothing became
    /// visible.
    AlreadyFinal(UploadState),
}

/// What holding one event for an upload found ([`EventTable::hold_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The upload now holds the event, which no stored upload lists yet.
    New,
    /// The event is already listed (a stored upload holds it) with the same content; the
    /// upload holds it too.
    Duplicate,
    /// A live holder (a stored upload, or one being committed) has other content under this
    /// eventId; nothing was written for it.
    Conflict,
}

/// What [`EventTable::mark_stored`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkStored {
    /// The upload is stored now, and the events it holds for its ETag are listed.
    Marked,
    /// It already was, for this ETag (a replay); nothing changed.
    AlreadyStored,
    /// It is final with another outcome or other content; nothing changed.
    AlreadyFinal(UploadState),
}

/// What [`EventTable::hold_and_mark_stored`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldAndMark {
    /// These eventIds (of the chunk, in its order) have other content under a live holder:
    /// the upload was not marked. Some of the chunk's other events may be held (the caller
    /// releases what it wrote), none is listed.
    Conflict(Vec<String>),
    /// Every event was held, one result each in order, and the upload is stored now.
    Marked(Vec<Held>),
    /// The upload already was stored with this ETag (a replay); nothing changed.
    AlreadyStored,
    /// It is final with another outcome or other content; it was not marked (the caller
    /// releases what it held).
    AlreadyFinal(UploadState),
}

impl HoldAndMark {
    /// The answer of a hold that found no conflict (`held`), then `mark`.
    pub fn after_mark(mark: MarkStored, held: Vec<Held>) -> Self {
        match mark {
            MarkStored::Marked => Self::Marked(held),
            MarkStored::AlreadyStored => Self::AlreadyStored,
            MarkStored::AlreadyFinal(state) => Self::AlreadyFinal(state),
        }
    }
}

/// The eventIds a hold of `events` answered [`Held::Conflict`] for, in order; an error when
/// `what` did not answer one result per event.
pub fn conflicts_in(what: &str, events: &[EventRecord], held: &[Held]) -> PortResult<Vec<String>> {
    if held.len() != events.len() {
        return Err(PortError::permanent(format!(
            "{what} answered {} results for {} events",
            held.len(),
            events.len()
        )));
    }
    Ok(events
        .iter()
        .zip(held)
        .filter(|(_, h)| **h == Held::Conflict)
        .map(|(e, _)| e.event_id.clone())
        .collect())
}

/// Position in the oldest-first `(created_at, export_id, owner)` order of running exports
/// (of every owner: two owners may use one export id at one instant).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportPosition {
    pub created_at: DateTime<Utc>,
    pub export_id: String,
    pub owner: String,
}

impl ExportPosition {
    pub fn of(x: &ExportRecord) -> Self {
        Self {
            created_at: x.created_at,
            export_id: x.export_id.clone(),
            owner: x.owner.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportRecord {
    pub owner: String,
    pub export_id: String,
    pub status: eventpulse_generated::types::ExportState,
    pub query: EventQuery,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub event_count: Option<u64>,
    /// Key in the exports bucket, when done.
    pub result_key: Option<String>,
}

/// The table: events, the processing ledger, the quarantine index, notifications and
/// exports of every owner. Every method that takes an owner touches only that owner's data.
#[async_trait]
pub trait EventTable: Send + Sync {
    /// Records a new pending upload; false if the id already exists (nothing changed).
    async fn create_upload(&self, upload: &UploadRecord) -> PortResult<bool>;
    async fn get_upload(&self, owner: &str, upload_id: &str) -> PortResult<Option<UploadRecord>>;

    // ---- The commit rule (ARCHITECTURE.md, "The commit rule"; driven by
    // `crate::commit::store_events`). An object's events are written in chunks of at most
    // [`crate::commit::CHUNK`], each event conditionally and tagged with its *holder*, the
    // upload id and ETag of the content that wrote it. An event is listed (`get_event`,
    // `list_events`) only while some holder is stored *with that ETag*; so nothing of an
    // upload is visible until `mark_stored`, and then all of it is. A holder is *live* while
    // its upload is pending or stored with the holder's ETag; the holds of a quarantined
    // upload (or of other content under a stored one) are void, and another upload may take
    // the eventId over.

    /// Read-only pre-check: the eventIds among `events` that a live holder other than
    /// `upload` (its owner, id and ETag) holds with a different content hash.
    async fn find_conflicts(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<String>>;

    /// Holds each event for `upload` (at most [`crate::commit::CHUNK`], distinct eventIds,
    /// all of `upload`'s owner and id), each on its own condition: absent, same content, or
    /// held only by void holders (taken over) → held; otherwise [`Held::Conflict`] and
    /// untouched. One result per event, in order. Holding again is a no-op (replays). The
    /// upload record must exist (pending) before its events are held.
    async fn hold_events(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<Held>>;

    /// The commit point: marks the upload stored with its ETag (creating the record if
    /// missing) and removes its quarantine entry, unless it is already final. From then on
    /// every event it holds for that ETag is listed, and stays listed.
    async fn mark_stored(&self, upload: &UploadRecord) -> PortResult<MarkStored>;

    /// The last step of a commit: holds `events` (the object's last chunk, as
    /// [`Self::hold_events`] does) and then, if none of them conflicts, marks the upload
    /// stored (as [`Self::mark_stored`] does). A backend that can take both in one atomic
    /// step overrides this (SQLite: one transaction, the last chunk's events written listed
    /// at once, never held first); the default takes them one after the other, which the
    /// commit rule makes as safe: a crash between the two is a crash before the mark.
    async fn hold_and_mark_stored(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<HoldAndMark> {
        let held = self.hold_events(upload, events).await?;
        let lost = conflicts_in("hold_events", events, &held)?;
        if !lost.is_empty() {
            return Ok(HoldAndMark::Conflict(lost));
        }
        Ok(HoldAndMark::after_mark(
            self.mark_stored(upload).await?,
            held,
        ))
    }

    /// Drops `upload`'s holds on these events (after a conflict found mid-commit, or when
    /// the upload turned out final): events no one else holds and no one lists are deleted.
    async fn release_events(&self, upload: &UploadRecord, event_ids: &[String]) -> PortResult<()>;

    /// Atomically marks the upload quarantined, indexes it and records `notification`
    /// (to be delivered). Returns false, changing nothing, when the upload is already final
    /// for this ETag: the caller must then not notify again.
    async fn commit_quarantined(
        &self,
        upload: &UploadRecord,
        quarantine: &QuarantineRecord,
        notification: &Notification,
    ) -> PortResult<bool>;

    /// Claims the upload for one reprocess: quarantined → pending, recording `at` as the
    /// claim's time, in one conditional write, so that of any number of concurrent callers
    /// exactly one gets true (the reprocess rule: refused while processing). The quarantine
    /// entry stays listed until processing ends: `mark_stored` removes it,
    /// `commit_quarantined` replaces it. The upload keeps its `etag` (the other final fields
    /// go): the processor tells by it the quarantined object from a second object under the
    /// owner's key. A pending upload whose claim is older than
    /// `stale_before` (a reprocess that failed or crashed between its claim and its copy)
    /// may be claimed again; one claimed with no recorded time counts as stale. False, changing
    /// nothing, when the upload has no quarantine entry, is stored, or is pending under a
    /// fresh claim.
    async fn reopen_upload(
        &self,
        owner: &str,
        upload_id: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> PortResult<bool>;
    async fn get_quarantine(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> PortResult<Option<QuarantineRecord>>;
    /// Removes the quarantine entry (the upload stays, quarantined); false if there is none,
    /// or if the upload is being reprocessed (pending), which it then must not disturb.
    async fn delete_quarantine(&self, owner: &str, upload_id: &str) -> PortResult<bool>;
    async fn list_quarantine(
        &self,
        owner: &str,
        after: Option<&QuarantinePosition>,
        limit: usize,
    ) -> PortResult<Vec<QuarantineRecord>>;

    async fn get_event(&self, owner: &str, event_id: &str) -> PortResult<Option<EventRecord>>;
    /// Events in `(occurred_at, event_id)` order, strictly after `after`.
    async fn list_events(
        &self,
        owner: &str,
        query: &EventQuery,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> PortResult<Vec<EventRecord>>;

    /// Records a notification that is not tied to an upload's state change (exports).
    async fn record_notification(&self, owner: &str, notification: &Notification)
    -> PortResult<()>;
    /// Newest first, strictly after `after`.
    async fn list_notifications(
        &self,
        owner: &str,
        after: Option<&NotificationPosition>,
        limit: usize,
    ) -> PortResult<Vec<Notification>>;
    /// Notifications recorded but not yet delivered, oldest first (the outbox).
    async fn undelivered_notifications(
        &self,
        limit: usize,
    ) -> PortResult<Vec<(String, Notification)>>;
    async fn mark_delivered(&self, owner: &str, notification_id: &str) -> PortResult<()>;

    async fn put_export(&self, export: &ExportRecord) -> PortResult<()>;
    async fn get_export(&self, owner: &str, export_id: &str) -> PortResult<Option<ExportRecord>>;
    /// Exports of every owner still `running`, oldest first by `(created_at, export_id, owner)`,
    /// strictly after `after`: after a crash they are started again (an export is
    /// idempotent: it rewrites its whole result). Paged, so a restart resumes every one.
    async fn running_exports(
        &self,
        after: Option<&ExportPosition>,
        limit: usize,
    ) -> PortResult<Vec<ExportRecord>>;
    /// How many of `owner`'s exports are running and were created at or after `since`
    /// (the per-owner limit: an export older than that and still running is dead, and must
    /// not hold its owner's place forever).
    async fn count_running_exports(&self, owner: &str, since: DateTime<Utc>) -> PortResult<usize>;
}

/// Delivers a notification to its owner (SNS on AWS; log + webhook locally).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn deliver(&self, owner: &str, notification: &Notification) -> PortResult<()>;
}

/// A notification subscription, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub owner: String,
    pub subscription_id: String,
    pub protocol: SubscriptionProtocol,
    /// The URL, address or queue ARN, as validated (`crate::subscriptions::check_endpoint`).
    pub endpoint: String,
    /// The kinds delivered; never empty.
    pub kinds: Vec<NotificationKind>,
    pub status: SubscriptionState,
    pub created_at: DateTime<Utc>,
    /// The HMAC key of the deliveries EventPulse signs itself; `None` where the deliverer
    /// signs by itself (SNS) or nothing is signed (email).
    pub secret: Option<String>,
    /// The deliverer's handle on it (the SNS subscription ARN), once subscribed there.
    pub delivery_ref: Option<String>,
}

/// What [`SubscriptionTable::create_subscription`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionCreated {
    Created,
    /// The owner has `max_per_owner` subscriptions already; nothing was written.
    LimitReached,
    /// The owner has a subscription with this protocol and endpoint; nothing was written.
    EndpointTaken,
}

/// The owners' notification subscriptions. Every method touches only its owner's data.
#[async_trait]
pub trait SubscriptionTable: Send + Sync {
    /// Records a new subscription, in one atomic step with the per-owner cap and the
    /// one-subscription-per-endpoint rule, so concurrent requests cannot exceed either.
    async fn create_subscription(
        &self,
        subscription: &SubscriptionRecord,
        max_per_owner: usize,
    ) -> PortResult<SubscriptionCreated>;
    async fn get_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>>;
    /// In `subscription_id` order (ids are time-ordered), strictly after `after`.
    async fn list_subscriptions(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SubscriptionRecord>>;
    /// Writes `status` and `delivery_ref` of an existing subscription; false (nothing
    /// written) when it is gone.
    async fn update_subscription(&self, subscription: &SubscriptionRecord) -> PortResult<bool>;
    /// Deletes it, freeing its place under the cap and its endpoint; the deleted record, or
    /// `None` when there was none.
    async fn delete_subscription(
        &self,
        owner: &str,
        subscription_id: &str,
    ) -> PortResult<Option<SubscriptionRecord>>;
}

/// What a deliverer said to a new subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Subscribed {
    /// Accepted: its handle there, and whether the endpoint still has to confirm.
    Accepted {
        delivery_ref: Option<String>,
        status: SubscriptionState,
    },
    /// The deliverer refuses this endpoint (a reason for the caller).
    Refused(String),
}

/// Who delivers notifications to subscribed endpoints: SNS on AWS (filter policies on the
/// owner and kind), the local delivery queue on `eventpulse local` (signed POSTs, a mailbox).
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// The protocols it delivers to.
    fn protocols(&self) -> &'static [SubscriptionProtocol];
    /// Whether EventPulse itself signs what is delivered over `protocol` (then each
    /// subscription gets a secret).
    fn signs(&self, protocol: SubscriptionProtocol) -> bool;
    /// Starts deliveries to a recorded subscription: the confirmation request first.
    async fn subscribe(&self, subscription: &SubscriptionRecord) -> PortResult<Subscribed>;
    /// The status now (an endpoint may have confirmed since).
    async fn status(&self, subscription: &SubscriptionRecord) -> PortResult<SubscriptionState>;
    /// Stops deliveries; unsubscribing what is not subscribed is not an error.
    async fn unsubscribe(&self, subscription: &SubscriptionRecord) -> PortResult<()>;
    /// Confirms the subscription a confirmation token was issued for, returning its owner
    /// and id; `None` for a token it never issued (and always where the deliverer runs its
    /// own confirmation, as SNS does).
    async fn confirm(&self, token: &str) -> PortResult<Option<(String, String)>>;
}

/// A request a client can make without our credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct PresignedRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// Presigned URLs for direct transfers to and from object storage. Async: on AWS the SDK
/// presigns with credentials it may have to fetch.
#[async_trait]
pub trait Presigner: Send + Sync {
    /// A PUT of exactly `content_length` bytes (when given, else at most the intake limit)
    /// to `key` in the process bucket, valid until `expires_at`.
    async fn presign_upload(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest>;
    /// A GET of `key` in `bucket`, valid until `expires_at`.
    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        expires_at: DateTime<Utc>,
    ) -> PortResult<String>;
}

/// Tells the processor an object was created in the process bucket. On AWS, S3 does this
/// itself through EventBridge, so the AWS dispatcher does nothing; locally it feeds the
/// in-process queue.
#[async_trait]
pub trait Dispatcher: Send + Sync {
    async fn object_created(&self, key: &str) -> PortResult<()>;
}

/// The dispatcher where the object store notifies the processor by itself (S3 → EventBridge
/// on AWS): nothing to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreNotifies;

#[async_trait]
impl Dispatcher for StoreNotifies {
    async fn object_created(&self, _key: &str) -> PortResult<()> {
        Ok(())
    }
}

/// Time, injectable so tests can be exact.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The quarantine report stored beside a quarantined object.
pub fn report_key(quarantine_key: &str) -> String {
    format!("{quarantine_key}.report.json")
}

/// Serialises a report the way every adapter stores it.
pub fn report_bytes(report: &QuarantineReport) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(report).unwrap_or_default())
}
