//! [`SqliteTable`]: the table in one SQLite file.
//!
//! - One read-write connection, owned by the writer thread ([`crate::writer`]), which runs
//!   every state change and commits waiting changes together (group commit); WAL journal,
//!   `synchronous = FULL` (a commit reported is on disk: the processor deletes the uploaded
//!   object right after it), foreign keys on, a busy timeout for other processes sharing the
//!   file.
//! - The schema is versioned with `PRAGMA user_version`; [`MIGRATIONS`] are applied in order,
//!   each in its own transaction, and a file from a newer version is refused.
//! - Instants are stored as fixed-width UTC text, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, so that
//!   text order is time order (for years 0000–9999) and nanoseconds survive.
//! - Every state change (`hold_events`, `mark_stored`, `commit_quarantined`, …) is atomic on
//!   its own (a savepoint inside its group's `BEGIN IMMEDIATE` transaction): the write lock is
//!   taken before anything is read, so the checks and the writes see the same state, and a
//!   change is answered only once its group is committed.
//! - The commit rule's visibility ("listed once a holder is stored with its ETag") is kept
//!   as a `visible` column, flipped in `mark_stored`'s transaction, so queries need no join.
//! - Each list query is served by an index on the owner and its order columns, read in
//!   order with a `LIMIT` (no sort step): see the `query_plans` test.

use crate::blocking;
use crate::writer::Writer;
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use eventpulse_contract_rt::EventJson;
use eventpulse_generated::types::{ExportState, Notification, ReasonCode, UploadState};
use eventpulse_handlers::ports::{
    EventPosition, EventQuery, EventRecord, EventTable, ExportPosition, ExportRecord, Held,
    HoldAndMark, MarkStored, NotificationPosition, PortError, PortResult, QuarantinePosition,
    QuarantineRecord, UploadRecord,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod retention;
mod subscriptions;
pub use retention::StalePending;
pub use subscriptions::{CONFIRMATION, Delivery};

/// Schema migrations; `MIGRATIONS[i]` takes `user_version` from `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE uploads (
    owner        TEXT NOT NULL,
    upload_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'stored', 'quarantined')),
    created_at   TEXT NOT NULL,
    etag         TEXT,
    event_count  INTEGER,
    processed_at TEXT,
    reason_code  TEXT,
    PRIMARY KEY (owner, upload_id)
);

CREATE TABLE events (
    owner        TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    body         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    upload_id    TEXT NOT NULL,
    PRIMARY KEY (owner, event_id),
    FOREIGN KEY (owner, upload_id) REFERENCES uploads (owner, upload_id)
);
-- GET /v1/events: one owner's events in (occurred_at, event_id) order, with or without a type.
CREATE INDEX events_by_time ON events (owner, occurred_at, event_id);
CREATE INDEX events_by_type_time ON events (owner, event_type, occurred_at, event_id);

CREATE TABLE quarantine (
    owner          TEXT NOT NULL,
    upload_id      TEXT NOT NULL,
    key            TEXT NOT NULL,
    quarantined_at TEXT NOT NULL,
    reason_code    TEXT NOT NULL,
    error_count    INTEGER NOT NULL,
    size_bytes     INTEGER NOT NULL,
    PRIMARY KEY (owner, upload_id),
    FOREIGN KEY (owner, upload_id) REFERENCES uploads (owner, upload_id)
);
-- GET /v1/quarantine: newest first (read backwards).
CREATE INDEX quarantine_by_time ON quarantine (owner, quarantined_at, upload_id);

-- The notifications of every owner, and the outbox: delivered = 0 until a delivery succeeded.
CREATE TABLE notifications (
    notification_id TEXT NOT NULL PRIMARY KEY,
    owner           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    body            TEXT NOT NULL,
    delivered       INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
);
-- GET /v1/notifications: newest first (read backwards).
CREATE INDEX notifications_by_time ON notifications (owner, created_at, notification_id);
-- The outbox, oldest first; only undelivered rows are indexed.
CREATE INDEX notifications_outbox ON notifications (created_at, notification_id) WHERE delivered = 0;

CREATE TABLE exports (
    owner       TEXT NOT NULL,
    export_id   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    query       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    event_count INTEGER,
    result_key  TEXT,
    PRIMARY KEY (owner, export_id)
);
"#,
    r#"
-- The commit rule (ARCHITECTURE.md): events are held by (upload, ETag) in chunks and listed
-- only once a holder is stored with that ETag. `visible` caches "a holder is stored", set
-- in `mark_stored`'s transaction, so that list queries need no join. Events written before
-- this version were committed atomically: all visible.
ALTER TABLE events ADD COLUMN visible INTEGER NOT NULL DEFAULT 1 CHECK (visible IN (0, 1));
CREATE TABLE event_holders (
    owner     TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    etag      TEXT NOT NULL,
    PRIMARY KEY (owner, event_id, upload_id, etag),
    FOREIGN KEY (owner, event_id) REFERENCES events (owner, event_id) ON DELETE CASCADE
);
-- mark_stored: the events one upload holds for one ETag.
CREATE INDEX event_holders_by_upload ON event_holders (owner, upload_id, etag);
-- Only listed events are indexed for GET /v1/events.
DROP INDEX events_by_time;
DROP INDEX events_by_type_time;
CREATE INDEX events_by_time ON events (owner, occurred_at, event_id) WHERE visible = 1;
CREATE INDEX events_by_type_time ON events (owner, event_type, occurred_at, event_id) WHERE visible = 1;
"#,
    r#"
-- reopen_upload's claim: when a reprocess took the upload (quarantined -> pending), so that
-- concurrent reprocess requests get one claim, and a claim whose request died can be taken
-- over once stale.
ALTER TABLE uploads ADD COLUMN reopened_at TEXT;
"#,
    r#"
-- Notification subscriptions. `kinds` is ",kind,kind," so one kind is found with instr().
-- `confirm_token` is the SHA-256 of the token in the confirmation URL (the token itself is
-- only ever sent to the endpoint).
CREATE TABLE subscriptions (
    owner           TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    protocol        TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    kinds           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'confirmed')),
    created_at      TEXT NOT NULL,
    secret          TEXT,
    delivery_ref    TEXT,
    confirm_token   TEXT UNIQUE,
    PRIMARY KEY (owner, subscription_id),
    UNIQUE (owner, protocol, endpoint)
);
-- Messages on their way to subscribed endpoints (what SNS keeps on AWS): one row per
-- message and subscription, deleted once delivered or given up.
CREATE TABLE deliveries (
    owner           TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    give_up_at      TEXT NOT NULL,
    last_error      TEXT,
    PRIMARY KEY (owner, subscription_id, message_id),
    FOREIGN KEY (owner, subscription_id) REFERENCES subscriptions (owner, subscription_id) ON DELETE CASCADE
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at);
-- running_exports, paged oldest first: only running exports are indexed.
CREATE INDEX exports_running ON exports (created_at, export_id, owner) WHERE status = 'running';
-- The retention sweep: finished exports by when they finished.
CREATE INDEX exports_finished ON exports (finished_at) WHERE status != 'running';
-- The pending-upload sweep: pending uploads by age.
CREATE INDEX uploads_pending ON uploads (created_at) WHERE status = 'pending';
"#,
];

/// The table in SQLite; cheap to clone.
#[derive(Clone)]
pub struct SqliteTable {
    /// The one writer: every state change runs on its thread, committed in groups
    /// ([`crate::writer`]).
    writer: Arc<Writer>,
    /// Read-only connections for queries. In WAL mode they read the last committed state
    /// while the writer commits, so API reads do not queue behind processing.
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    path: PathBuf,
}

/// Read-only connections per table (the machine has 2 cores).
const READERS: usize = 2;

impl std::fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTable")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn db_error(e: rusqlite::Error) -> PortError {
    let message = format!("sqlite: {e}");
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => PortError::transient(message),
        _ => PortError::permanent(message),
    }
}

fn corrupt(what: impl std::fmt::Display) -> PortError {
    PortError::permanent(format!("sqlite: stored data is invalid: {what}"))
}

/// Fixed-width UTC text; years outside 0000–9999 would break the text order, so they are
/// refused.
fn ts(t: &DateTime<Utc>) -> PortResult<String> {
    if !(0..=9999).contains(&t.year()) {
        return Err(PortError::permanent(format!(
            "instant {t} is outside the years 0000–9999 the table can order"
        )));
    }
    Ok(t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

fn parse_ts(s: &str) -> PortResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("instant {s:?}: {e}")))
}

fn opt_ts(t: Option<&DateTime<Utc>>) -> PortResult<Option<String>> {
    t.map(ts).transpose()
}

fn parse_opt_ts(s: Option<String>) -> PortResult<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

fn int(n: u64) -> PortResult<i64> {
    i64::try_from(n).map_err(|_| PortError::permanent(format!("{n} is too large for the table")))
}

fn uint(n: i64) -> PortResult<u64> {
    u64::try_from(n).map_err(|_| corrupt(format!("negative count {n}")))
}

fn parse_enum<T: FromStr>(what: &str, s: &str) -> PortResult<T> {
    s.parse().map_err(|_| corrupt(format!("{what} {s:?}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::permanent(format!("serialising: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> PortResult<T> {
    serde_json::from_str(s).map_err(corrupt)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Columns of an upload row, in `UPLOAD_COLUMNS` order.
const UPLOAD_COLUMNS: &str =
    "owner, upload_id, key, status, created_at, etag, event_count, processed_at, reason_code";
const EVENT_COLUMNS: &str =
    "owner, event_id, event_type, occurred_at, body, content_hash, received_at, upload_id";
const QUARANTINE_COLUMNS: &str =
    "owner, upload_id, key, quarantined_at, reason_code, error_count, size_bytes";
const EXPORT_COLUMNS: &str =
    "owner, export_id, status, query, created_at, finished_at, event_count, result_key";

/// Raw values of a row, converted outside rusqlite's closure so that conversion errors are
/// ours.
type RawUpload = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn raw_upload(r: &Row) -> rusqlite::Result<RawUpload> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn upload(raw: RawUpload) -> PortResult<UploadRecord> {
    let (owner, upload_id, key, status, created_at, etag, event_count, processed_at, reason_code) =
        raw;
    Ok(UploadRecord {
        owner,
        upload_id,
        key,
        status: parse_enum("upload status", &status)?,
        created_at: parse_ts(&created_at)?,
        etag,
        event_count: event_count.map(uint).transpose()?,
        processed_at: parse_opt_ts(processed_at)?,
        reason_code: reason_code
            .as_deref()
            .map(|r| parse_enum::<ReasonCode>("reason code", r))
            .transpose()?,
    })
}

type RawEvent = (
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    String,
    DateTime<Utc>,
    String,
);

fn raw_event(r: &Row) -> rusqlite::Result<RawEvent> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        instant_column(r, 3)?,
        r.get(4)?,
        r.get(5)?,
        instant_column(r, 6)?,
        r.get(7)?,
    ))
}

/// An instant column parsed where SQLite holds it (no `String` per row: a page reads 50).
fn instant_column(r: &Row, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let text = r.get_ref(i)?.as_str().map_err(|e| failed(Box::new(e)))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| failed(format!("stored instant {text:?}: {e}").into()))
}

fn event(raw: RawEvent) -> PortResult<EventRecord> {
    let (owner, event_id, event_type, occurred_at, body, content_hash, received_at, upload_id) =
        raw;
    // Taken as stored (intake checked it); a truncated value still fails here.
    let body = EventJson::from_stored(body)
        .ok_or_else(|| corrupt(format!("the body of event {event_id} is not a JSON object")))?;
    Ok(EventRecord {
        owner,
        event_id,
        event_type,
        occurred_at,
        body,
        content_hash,
        received_at,
        upload_id,
    })
}

type RawQuarantine = (String, String, String, String, String, i64, i64);

fn raw_quarantine(r: &Row) -> rusqlite::Result<RawQuarantine> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn quarantine(raw: RawQuarantine) -> PortResult<QuarantineRecord> {
    let (owner, upload_id, key, quarantined_at, reason_code, error_count, size_bytes) = raw;
    Ok(QuarantineRecord {
        owner,
        upload_id,
        key,
        quarantined_at: parse_ts(&quarantined_at)?,
        reason_code: parse_enum("reason code", &reason_code)?,
        error_count: uint(error_count)?,
        size_bytes: uint(size_bytes)?,
    })
}

type RawExport = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn raw_export(r: &Row) -> rusqlite::Result<RawExport> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn export(raw: RawExport) -> PortResult<ExportRecord> {
    let (owner, export_id, status, query, created_at, finished_at, event_count, result_key) = raw;
    Ok(ExportRecord {
        owner,
        export_id,
        status: parse_enum::<ExportState>("export status", &status)?,
        query: from_json(&query)?,
        created_at: parse_ts(&created_at)?,
        finished_at: parse_opt_ts(finished_at)?,
        event_count: event_count.map(uint).transpose()?,
        result_key,
    })
}

fn collect<R, T>(rows: Vec<R>, convert: impl Fn(R) -> PortResult<T>) -> PortResult<Vec<T>> {
    rows.into_iter().map(convert).collect()
}

/// Runs a query and returns its raw rows.
fn query_rows<R>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row) -> rusqlite::Result<R>,
) -> PortResult<Vec<R>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    let rows = stmt.query_map(params, map).map_err(db_error)?;
    rows.collect::<Result<Vec<R>, _>>().map_err(db_error)
}

/// The upload's final state, if it has one, and whether it is final for this same ETag (a
/// replay). A final upload is never finalised again with other content: only reopening
/// (reprocess) makes it pending, and so processable, again.
fn final_state(
    conn: &Connection,
    upload: &UploadRecord,
) -> PortResult<Option<(UploadState, bool)>> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT status, etag FROM uploads WHERE owner = ?1 AND upload_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![upload.owner, upload.upload_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(db_error)?;
    let Some((status, stored_etag)) = row else {
        return Ok(None);
    };
    let status: UploadState = parse_enum("upload status", &status)?;
    let is_final = matches!(status, UploadState::Stored | UploadState::Quarantined);
    let same = stored_etag.is_some() && stored_etag == upload.etag;
    Ok(is_final.then_some((status, same)))
}

/// Inserts or updates the upload with its final state; `created_at` of an existing record
/// is kept.
fn upsert_final(conn: &Connection, upload: &UploadRecord, status: UploadState) -> PortResult<()> {
    let created_at = ts(&upload.created_at)?;
    let event_count = upload.event_count.map(int).transpose()?;
    let processed_at = opt_ts(upload.processed_at.as_ref())?;
    conn.prepare_cached(
        "INSERT INTO uploads (owner, upload_id, key, status, created_at, etag, event_count, processed_at, reason_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (owner, upload_id) DO UPDATE SET
             key = excluded.key, status = excluded.status, etag = excluded.etag,
             event_count = excluded.event_count, processed_at = excluded.processed_at,
             reason_code = excluded.reason_code",
    )
    .and_then(|mut s| {
        s.execute(params![
            upload.owner,
            upload.upload_id,
            upload.key,
            status.to_string(),
            created_at,
            upload.etag,
            event_count,
            processed_at,
            upload.reason_code.map(|r| r.to_string()),
        ])
    })
    .map_err(db_error)?;
    Ok(())
}

/// Records a notification, undelivered; recording the same id again changes nothing.
fn insert_notification(conn: &Connection, owner: &str, n: &Notification) -> PortResult<()> {
    let (created_at, body) = (ts(&n.created_at)?, to_json(n)?);
    conn.prepare_cached(
        "INSERT INTO notifications (notification_id, owner, created_at, body, delivered)
         VALUES (?1, ?2, ?3, ?4, 0)
         ON CONFLICT (notification_id) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![n.notification_id, owner, created_at, body]))
    .map_err(db_error)?;
    Ok(())
}

/// Who holds an event: one upload, for one content (its ETag).
#[derive(Debug, Clone)]
struct Holder {
    owner: String,
    upload_id: String,
    etag: String,
}

impl Holder {
    fn of(u: &UploadRecord) -> PortResult<Self> {
        let etag = u.etag.clone().ok_or_else(|| {
            PortError::permanent(format!(
                "upload {}/{} is committed without the ETag of its content",
                u.owner, u.upload_id
            ))
        })?;
        Ok(Self {
            owner: u.owner.clone(),
            upload_id: u.upload_id.clone(),
            etag,
        })
    }
}

/// One event, converted to its column values before the write lock is taken.
struct EventRow {
    event_id: String,
    event_type: String,
    occurred_at: String,
    body: String,
    content_hash: String,
    received_at: String,
}

fn event_rows(h: &Holder, events: &[EventRecord]) -> PortResult<Vec<EventRow>> {
    events
        .iter()
        .map(|e| {
            if e.owner != h.owner || e.upload_id != h.upload_id {
                return Err(PortError::permanent(format!(
                    "event {} belongs to {}/{}, not to upload {}/{}",
                    e.event_id, e.owner, e.upload_id, h.owner, h.upload_id
                )));
            }
            Ok(EventRow {
                event_id: e.event_id.clone(),
                event_type: e.event_type.clone(),
                occurred_at: ts(&e.occurred_at)?,
                body: e.body.as_str().to_string(),
                content_hash: e.content_hash.clone(),
                received_at: ts(&e.received_at)?,
            })
        })
        .collect()
}

/// What holding an eventId with a content hash would find.
enum Probe {
    Absent,
    /// Stored with the same content; `listed` when a stored holder lists it.
    Same {
        listed: bool,
    },
    /// Stored with other content, but only by void holders: it may be taken over.
    Void,
    Conflict,
}

fn probe(c: &Connection, h: &Holder, event_id: &str, hash: &str) -> PortResult<Probe> {
    let row: Option<(String, bool)> = c
        .prepare_cached(
            "SELECT content_hash, visible FROM events WHERE owner = ?1 AND event_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![h.owner, event_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_error)?;
    Ok(match row {
        None => Probe::Absent,
        Some((stored, listed)) if stored == hash => Probe::Same { listed },
        // Listed means a stored holder: listed events never change.
        Some((_, true)) => Probe::Conflict,
        Some((_, false)) => {
            // Live: pending, or stored with the holder's ETag. Holds of quarantined uploads
            // and of other content under a stored upload are void.
            let live: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM event_holders eh
                         JOIN uploads u ON u.owner = eh.owner AND u.upload_id = eh.upload_id
                         WHERE eh.owner = ?1 AND eh.event_id = ?2
                           AND NOT (eh.upload_id = ?3 AND eh.etag = ?4)
                           AND (u.status = 'pending' OR (u.status = 'stored' AND u.etag = eh.etag)))",
                )
                .and_then(|mut s| {
                    s.query_row(params![h.owner, event_id, h.upload_id, h.etag], |r| r.get(0))
                })
                .map_err(db_error)?;
            if live { Probe::Conflict } else { Probe::Void }
        }
    })
}

/// Writes one event as its probe allows: held (invisible, for `hold_events`) or, when
/// `listed`, visible at once (for `hold_and_mark_stored`, whose transaction marks the upload
/// stored too). A conflict writes nothing.
fn write_event(
    tx: &Connection,
    h: &Holder,
    r: &EventRow,
    probe: &Probe,
    listed: bool,
) -> PortResult<Held> {
    Ok(match probe {
        Probe::Conflict => Held::Conflict,
        // Listed events are immutable and listed for good: nothing to hold.
        Probe::Same { listed: true } => Held::Duplicate,
        Probe::Same { listed: false } => {
            if listed {
                // Held already (by this upload in an earlier run, or by another pending one
                // with the same content): this upload lists it.
                tx.prepare_cached(
                    "UPDATE events SET visible = 1, upload_id = ?3
                     WHERE owner = ?1 AND event_id = ?2 AND visible = 0",
                )
                .and_then(|mut s| s.execute(params![h.owner, r.event_id, h.upload_id]))
                .map_err(db_error)?;
            }
            Held::New
        }
        Probe::Absent => {
            tx.prepare_cached(
                "INSERT INTO events (owner, event_id, event_type, occurred_at, body, content_hash, received_at, upload_id, visible)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    h.owner, r.event_id, r.event_type, r.occurred_at, r.body, r.content_hash,
                    r.received_at, h.upload_id, listed
                ])
            })
            .map_err(db_error)?;
            Held::New
        }
        Probe::Void => {
            // Taken over: the void holds go, the content becomes this upload's.
            tx.prepare_cached("DELETE FROM event_holders WHERE owner = ?1 AND event_id = ?2")
                .and_then(|mut s| s.execute(params![h.owner, r.event_id]))
                .map_err(db_error)?;
            tx.prepare_cached(
                "UPDATE events SET event_type = ?3, occurred_at = ?4, body = ?5, content_hash = ?6,
                     received_at = ?7, upload_id = ?8, visible = ?9
                 WHERE owner = ?1 AND event_id = ?2 AND visible = 0",
            )
            .and_then(|mut s| {
                s.execute(params![
                    h.owner,
                    r.event_id,
                    r.event_type,
                    r.occurred_at,
                    r.body,
                    r.content_hash,
                    r.received_at,
                    h.upload_id,
                    listed
                ])
            })
            .map_err(db_error)?;
            Held::New
        }
    })
}

fn hold_events_tx(tx: &Connection, h: &Holder, rows: &[EventRow]) -> PortResult<Vec<Held>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let held = write_event(
            tx,
            h,
            r,
            &probe(tx, h, &r.event_id, &r.content_hash)?,
            false,
        )?;
        if held == Held::New {
            tx.prepare_cached(
                "INSERT INTO event_holders (owner, event_id, upload_id, etag) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![h.owner, r.event_id, h.upload_id, h.etag]))
            .map_err(db_error)?;
        }
        out.push(held);
    }
    Ok(out)
}

fn mark_stored_tx(tx: &Connection, upload: &UploadRecord) -> PortResult<MarkStored> {
    if let Some(already) = already_final(tx, upload)? {
        return Ok(already);
    }
    upsert_final(tx, upload, UploadState::Stored)?;
    list_held_tx(tx, upload)?;
    Ok(MarkStored::Marked)
}

/// `mark_stored`'s answer for an upload that is final already, or `None`.
fn already_final(tx: &Connection, upload: &UploadRecord) -> PortResult<Option<MarkStored>> {
    Ok(match final_state(tx, upload)? {
        Some((UploadState::Stored, true)) => Some(MarkStored::AlreadyStored),
        Some((state, _)) => Some(MarkStored::AlreadyFinal(state)),
        None => None,
    })
}

/// The rest of the commit point, once the upload is marked stored: its quarantine entry
/// goes, and the events it holds for its ETag are listed.
fn list_held_tx(tx: &Connection, upload: &UploadRecord) -> PortResult<()> {
    let h = Holder::of(upload)?;
    // A reprocessed upload that is now stored is no longer quarantined.
    tx.prepare_cached("DELETE FROM quarantine WHERE owner = ?1 AND upload_id = ?2")
        .and_then(|mut s| s.execute(params![h.owner, h.upload_id]))
        .map_err(db_error)?;
    // The events it holds for this content are listed from now on, under this upload.
    tx.prepare_cached(
        "UPDATE events SET visible = 1, upload_id = ?2
         WHERE owner = ?1 AND visible = 0 AND event_id IN
             (SELECT event_id FROM event_holders WHERE owner = ?1 AND upload_id = ?2 AND etag = ?3)",
    )
    .and_then(|mut s| s.execute(params![h.owner, h.upload_id, h.etag]))
    .map_err(db_error)?;
    // Listed events never change again, so their holds are no longer needed.
    tx.prepare_cached(
        "DELETE FROM event_holders WHERE owner = ?1 AND upload_id = ?2 AND etag = ?3",
    )
    .and_then(|mut s| s.execute(params![h.owner, h.upload_id, h.etag]))
    .map_err(db_error)?;
    Ok(())
}

/// `hold_and_mark_stored` in one transaction. Nothing is written unless the upload is
/// pending and no event conflicts; then the chunk's events are written listed straight away
/// (no hold to write and delete again, no row written twice), the upload is marked stored,
/// and what earlier chunks held is listed with them. The outcome is the two steps' outcome:
/// the probes are those `hold_events` makes, and the transaction leaves no moment between.
fn hold_and_mark_tx(
    tx: &Connection,
    upload: &UploadRecord,
    h: &Holder,
    rows: &[EventRow],
) -> PortResult<HoldAndMark> {
    match already_final(tx, upload)? {
        Some(MarkStored::AlreadyStored) => return Ok(HoldAndMark::AlreadyStored),
        Some(MarkStored::AlreadyFinal(state)) => return Ok(HoldAndMark::AlreadyFinal(state)),
        Some(MarkStored::Marked) | None => {}
    }
    // The chunk's eventIds are distinct, so no write below changes another row's probe.
    let probes = rows
        .iter()
        .map(|r| probe(tx, h, &r.event_id, &r.content_hash))
        .collect::<PortResult<Vec<_>>>()?;
    let lost: Vec<String> = rows
        .iter()
        .zip(&probes)
        .filter(|(_, p)| matches!(p, Probe::Conflict))
        .map(|(r, _)| r.event_id.clone())
        .collect();
    if !lost.is_empty() {
        return Ok(HoldAndMark::Conflict(lost));
    }
    // The record first: the events' foreign key names it.
    upsert_final(tx, upload, UploadState::Stored)?;
    let held = rows
        .iter()
        .zip(&probes)
        .map(|(r, p)| write_event(tx, h, r, p, true))
        .collect::<PortResult<Vec<_>>>()?;
    list_held_tx(tx, upload)?;
    Ok(HoldAndMark::Marked(held))
}

fn release_tx(tx: &Connection, h: &Holder, event_ids: &[String]) -> PortResult<()> {
    for id in event_ids {
        tx.prepare_cached(
            "DELETE FROM event_holders WHERE owner = ?1 AND event_id = ?2 AND upload_id = ?3 AND etag = ?4",
        )
        .and_then(|mut s| s.execute(params![h.owner, id, h.upload_id, h.etag]))
        .map_err(db_error)?;
        tx.prepare_cached(
            "DELETE FROM events WHERE owner = ?1 AND event_id = ?2 AND visible = 0
               AND NOT EXISTS (SELECT 1 FROM event_holders WHERE owner = ?1 AND event_id = ?2)",
        )
        .and_then(|mut s| s.execute(params![h.owner, id]))
        .map_err(db_error)?;
    }
    Ok(())
}

fn commit_quarantined_tx(
    tx: &Connection,
    upload: &UploadRecord,
    q: &QuarantineRecord,
    n: &Notification,
) -> PortResult<bool> {
    if q.owner != upload.owner || q.upload_id != upload.upload_id {
        return Err(PortError::permanent(format!(
            "quarantine entry {}/{} does not belong to upload {}/{}",
            q.owner, q.upload_id, upload.owner, upload.upload_id
        )));
    }
    let quarantined_at = ts(&q.quarantined_at)?;
    let (error_count, size_bytes) = (int(q.error_count)?, int(q.size_bytes)?);
    if final_state(tx, upload)?.is_some() {
        return Ok(false);
    }
    upsert_final(tx, upload, UploadState::Quarantined)?;
    tx.prepare_cached(
        "INSERT INTO quarantine (owner, upload_id, key, quarantined_at, reason_code, error_count, size_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (owner, upload_id) DO UPDATE SET
             key = excluded.key, quarantined_at = excluded.quarantined_at,
             reason_code = excluded.reason_code, error_count = excluded.error_count,
             size_bytes = excluded.size_bytes",
    )
    .and_then(|mut s| {
        s.execute(params![q.owner, q.upload_id, q.key, quarantined_at, q.reason_code.to_string(), error_count, size_bytes])
    })
    .map_err(db_error)?;
    insert_notification(tx, &upload.owner, n)?;
    Ok(true)
}

fn list_events_sql(query: &EventQuery, after: Option<&EventPosition>) -> String {
    let mut sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE owner = :owner AND visible = 1");
    if query.event_type.is_some() {
        sql.push_str(" AND event_type = :type");
    }
    if query.from.is_some() {
        sql.push_str(" AND occurred_at >= :from");
    }
    if query.to.is_some() {
        sql.push_str(" AND occurred_at < :to");
    }
    if after.is_some() {
        sql.push_str(" AND (occurred_at, event_id) > (:after_at, :after_id)");
    }
    sql.push_str(" ORDER BY occurred_at, event_id LIMIT :limit");
    sql
}

/// A query bound as text; bounds outside the storable years are clamped (nothing is stored
/// there), so they narrow nothing or match nothing as they should.
fn bound(t: &DateTime<Utc>) -> String {
    if t.year() < 0 {
        "0".into() // before every stored instant ("0000-…")
    } else if t.year() > 9999 {
        "A".into() // after every stored instant ("9999-…")
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
    }
}

fn list_events_tx(
    conn: &Connection,
    owner: &str,
    query: &EventQuery,
    after: Option<&EventPosition>,
    n: usize,
) -> PortResult<Vec<EventRecord>> {
    let sql = list_events_sql(query, after);
    let mut named: Vec<(&str, SqlValue)> = vec![(":owner", SqlValue::Text(owner.into()))];
    if let Some(t) = &query.event_type {
        named.push((":type", SqlValue::Text(t.to_string())));
    }
    if let Some(f) = &query.from {
        named.push((":from", SqlValue::Text(bound(f))));
    }
    if let Some(t) = &query.to {
        named.push((":to", SqlValue::Text(bound(t))));
    }
    if let Some(a) = after {
        named.push((":after_at", SqlValue::Text(bound(&a.occurred_at))));
        named.push((":after_id", SqlValue::Text(a.event_id.clone())));
    }
    named.push((":limit", SqlValue::Integer(limit(n))));
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = named
        .iter()
        .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
        .collect();
    // One pass into a vector of the page's size (bounded: `n` comes from callers): a page is
    // the API's hot path, and growing two vectors (raw rows, then records) cost a
    // reallocation and a copy per doubling.
    let mut stmt = conn.prepare_cached(&sql).map_err(db_error)?;
    let mut rows = stmt.query(params.as_slice()).map_err(db_error)?;
    let mut page = Vec::with_capacity(n.min(1024));
    while let Some(row) = rows.next().map_err(db_error)? {
        page.push(event(raw_event(row).map_err(db_error)?)?);
    }
    Ok(page)
}

impl SqliteTable {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// Blocking: call it at start-up.
    pub fn open(path: impl AsRef<Path>) -> PortResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::create_private_dir_all(dir)
                .map_err(|e| PortError::permanent(format!("creating {}: {e}", dir.display())))?;
        }
        // Created owner-only before SQLite sees it (SQLite would use 0644); its -wal and -shm
        // files take the database file's mode. An existing file is left as it is.
        crate::private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| PortError::permanent(format!("creating {}: {e}", path.display())))?;
        let mut conn = Connection::open(&path).map_err(db_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_error)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(db_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite could not use WAL on this filesystem");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(db_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(db_error)?;
        // Savepoints (one per change of a group) journal to memory, not to a temp file.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(db_error)?;
        // 16 MiB of page cache (the default is 2 MB): the indexes of a busy owner stay hot.
        conn.pragma_update(None, "cache_size", -16384)
            .map_err(db_error)?;
        migrate(&mut conn)?;
        // The checkpointer's connection: it must fsync what it copies, like the writer.
        let checkpoints = Connection::open(&path).map_err(db_error)?;
        checkpoints
            .busy_timeout(Duration::from_secs(5))
            .map_err(db_error)?;
        checkpoints
            .pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        let readers = (0..READERS)
            .map(|_| {
                let mut r = Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db_error)?;
                r.busy_handler(Some(reader_busy)).map_err(db_error)?;
                // Plans must not depend on bound values: SQLite (built with STAT4) would
                // otherwise re-prepare every list query on each new binding (an eighth of a
                // page's cost). Every query has its index regardless (`query_plans`).
                r.set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                    true,
                )
                .map_err(db_error)?;
                Ok(Arc::new(Mutex::new(r)))
            })
            .collect::<PortResult<Vec<_>>>()?;
        Ok(Self {
            writer: Arc::new(Writer::start(conn, checkpoints)?),
            readers,
            next_reader: Arc::default(),
            path,
        })
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` as one atomic state change on the writer; answers once it is committed.
    async fn with<T, F>(&self, what: &'static str, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        self.writer.change(what, f).await
    }

    /// Runs a short read-only query (one page at most: up to 100 rows read by an index)
    /// on this thread when a reader connection is idle, else as [`Self::read`] does.
    /// Handing a page to a blocking thread and back cost two thread wake-ups and context
    /// switches, more than the query: server CPU per page −25% (the `local` bench's
    /// queries, 2026-12-07). It never waits inside SQLite here: a reader that would wait
    /// for a lock (rare in WAL mode) gives up at once ([`reader_busy`]) and the query runs
    /// again on a blocking thread, where it may wait.
    async fn read_short<T, F>(&self, what: &'static str, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> PortResult<T> + Send + Sync + 'static,
    {
        for conn in self.readers.iter() {
            if let Ok(mut conn) = conn.try_lock() {
                let _inline = Inline::enter();
                match f(&mut conn) {
                    Err(e) if e.retryable => break, // busy: again, where waiting is fine
                    done => return done,
                }
            }
        }
        self.read(what, f).await
    }

    /// Runs a read-only query on one of the reader connections.
    async fn read<T, F>(&self, what: &'static str, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> PortResult<T> + Send + 'static,
    {
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.readers.len();
        let conn = self.readers[i].clone();
        blocking(what, move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
    }
}

thread_local! {
    /// Set while a reader runs a query on an async worker thread ([`SqliteTable::read_short`]).
    static INLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running a reader inline until dropped.
struct Inline(bool);

impl Inline {
    fn enter() -> Self {
        Self(INLINE.with(|i| i.replace(true)))
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        INLINE.with(|i| i.set(self.0));
    }
}

/// The readers' busy handler: on a blocking thread it waits as `busy_timeout(5 s)` would
/// (1, 2, 4 … 50 ms between tries, about 5 s in all); on an async worker it never waits,
/// so that the query fails busy and runs again on a blocking thread.
fn reader_busy(tries: i32) -> bool {
    if INLINE.with(std::cell::Cell::get) || tries >= 100 {
        return false;
    }
    std::thread::sleep(
        Duration::from_millis(1u64 << tries.clamp(0, 6)).min(Duration::from_millis(50)),
    );
    true
}

/// The schema version this code writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

fn migrate(conn: &mut Connection) -> PortResult<()> {
    let latest = schema_version();
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_error)?;
        if version > latest {
            return Err(PortError::permanent(format!(
                "the database has schema version {version}, newer than this EventPulse ({latest}); upgrade EventPulse"
            )));
        }
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        tx.execute_batch(sql).map_err(db_error)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        tracing::info!(target: "eventpulse::table", version = version + 1, "schema migrated");
    }
}

#[async_trait]
impl EventTable for SqliteTable {
    async fn create_upload(&self, upload: &UploadRecord) -> PortResult<bool> {
        let u = upload.clone();
        let created_at = ts(&u.created_at)?;
        let processed_at = opt_ts(u.processed_at.as_ref())?;
        let event_count = u.event_count.map(int).transpose()?;
        self.with("create_upload", move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO uploads (owner, upload_id, key, status, created_at, etag, event_count, processed_at, reason_code)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (owner, upload_id) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        u.owner,
                        u.upload_id,
                        u.key,
                        u.status.to_string(),
                        created_at,
                        u.etag,
                        event_count,
                        processed_at,
                        u.reason_code.map(|r| r.to_string()),
                    ])
                })
                .map_err(db_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_upload(&self, owner: &str, upload_id: &str) -> PortResult<Option<UploadRecord>> {
        let (owner, upload_id) = (owner.to_string(), upload_id.to_string());
        self.read_short("get_upload", move |c| {
            let sql =
                format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner = ?1 AND upload_id = ?2");
            query_rows(c, &sql, params![owner, upload_id], raw_upload)?
                .pop()
                .map(upload)
                .transpose()
        })
        .await
    }

    async fn find_conflicts(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<String>> {
        let holder = Holder::of(upload)?;
        let probes: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.event_id.clone(), e.content_hash.clone()))
            .collect();
        self.read("find_conflicts", move |c| {
            let mut out = Vec::new();
            for (id, hash) in &probes {
                if let Probe::Conflict = probe(c, &holder, id, hash)? {
                    out.push(id.clone());
                }
            }
            Ok(out)
        })
        .await
    }

    async fn hold_events(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<Held>> {
        let holder = Holder::of(upload)?;
        let rows = event_rows(&holder, events)?;
        self.with("hold_events", move |c| hold_events_tx(c, &holder, &rows))
            .await
    }

    async fn mark_stored(&self, upload: &UploadRecord) -> PortResult<MarkStored> {
        let u = upload.clone();
        self.with("mark_stored", move |c| mark_stored_tx(c, &u))
            .await
    }

    async fn hold_and_mark_stored(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<HoldAndMark> {
        let holder = Holder::of(upload)?;
        let rows = event_rows(&holder, events)?;
        let u = upload.clone();
        self.with("hold_and_mark_stored", move |c| {
            hold_and_mark_tx(c, &u, &holder, &rows)
        })
        .await
    }

    async fn release_events(&self, upload: &UploadRecord, event_ids: &[String]) -> PortResult<()> {
        let holder = Holder::of(upload)?;
        let ids = event_ids.to_vec();
        self.with("release_events", move |c| release_tx(c, &holder, &ids))
            .await
    }

    async fn commit_quarantined(
        &self,
        upload: &UploadRecord,
        quarantine: &QuarantineRecord,
        notification: &Notification,
    ) -> PortResult<bool> {
        let (u, q, n) = (upload.clone(), quarantine.clone(), notification.clone());
        self.with("commit_quarantined", move |c| {
            commit_quarantined_tx(c, &u, &q, &n)
        })
        .await
    }

    async fn reopen_upload(
        &self,
        owner: &str,
        upload_id: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> PortResult<bool> {
        let (owner, upload_id) = (owner.to_string(), upload_id.to_string());
        let (at, stale_before) = (ts(&at)?, ts(&stale_before)?);
        self.with("reopen_upload", move |tx| {
            // Only what is listed in quarantine can be reopened; the entry stays listed
            // until processing ends (stored removes it, quarantined replaces it).
            let listed: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM quarantine WHERE owner = ?1 AND upload_id = ?2",
                    params![owner, upload_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_error)?;
            if listed.is_none() {
                return Ok(false);
            }
            // Pending again: the final-state fields describe nothing until it is final again,
            // except the ETag, which tells the quarantined object from a second one under the
            // owner's key (the port's rule). The condition is the claim: quarantined, or
            // pending under a stale claim.
            let n = tx
                .execute(
                    "UPDATE uploads SET status = 'pending', event_count = NULL,
                         processed_at = NULL, reason_code = NULL, reopened_at = ?3
                     WHERE owner = ?1 AND upload_id = ?2
                       AND (status = 'quarantined'
                            OR (status = 'pending'
                                AND (reopened_at IS NULL OR reopened_at < ?4)))",
                    params![owner, upload_id, at, stale_before],
                )
                .map_err(db_error)?;
            Ok(n > 0)
        })
        .await
    }

    async fn get_quarantine(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> PortResult<Option<QuarantineRecord>> {
        let (owner, upload_id) = (owner.to_string(), upload_id.to_string());
        self.read("get_quarantine", move |c| {
            let sql = format!(
                "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE owner = ?1 AND upload_id = ?2"
            );
            query_rows(c, &sql, params![owner, upload_id], raw_quarantine)?
                .pop()
                .map(quarantine)
                .transpose()
        })
        .await
    }

    async fn delete_quarantine(&self, owner: &str, upload_id: &str) -> PortResult<bool> {
        let (owner, upload_id) = (owner.to_string(), upload_id.to_string());
        self.with("delete_quarantine", move |c| {
            // Not while it is being reprocessed (pending): the processing under way would
            // bring the entry back or store what the user just deleted.
            let n = c
                .execute(
                    "DELETE FROM quarantine WHERE owner = ?1 AND upload_id = ?2
                       AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.owner = ?1
                                       AND u.upload_id = ?2 AND u.status = 'pending')",
                    params![owner, upload_id],
                )
                .map_err(db_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_quarantine(
        &self,
        owner: &str,
        after: Option<&QuarantinePosition>,
        n: usize,
    ) -> PortResult<Vec<QuarantineRecord>> {
        let owner = owner.to_string();
        let after = after.map(|a| (bound(&a.quarantined_at), a.upload_id.clone()));
        self.read("list_quarantine", move |c| {
            let rows = match after {
                None => query_rows(
                    c,
                    &format!(
                        "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE owner = ?1
                         ORDER BY quarantined_at DESC, upload_id DESC LIMIT ?2"
                    ),
                    params![owner, limit(n)],
                    raw_quarantine,
                )?,
                Some((at, id)) => query_rows(
                    c,
                    &format!(
                        "SELECT {QUARANTINE_COLUMNS} FROM quarantine
                         WHERE owner = ?1 AND (quarantined_at, upload_id) < (?2, ?3)
                         ORDER BY quarantined_at DESC, upload_id DESC LIMIT ?4"
                    ),
                    params![owner, at, id, limit(n)],
                    raw_quarantine,
                )?,
            };
            collect(rows, quarantine)
        })
        .await
    }

    async fn get_event(&self, owner: &str, event_id: &str) -> PortResult<Option<EventRecord>> {
        let (owner, event_id) = (owner.to_string(), event_id.to_string());
        self.read_short("get_event", move |c| {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE owner = ?1 AND event_id = ?2 AND visible = 1");
            query_rows(c, &sql, params![owner, event_id], raw_event)?
                .pop()
                .map(event)
                .transpose()
        })
        .await
    }

    async fn list_events(
        &self,
        owner: &str,
        query: &EventQuery,
        after: Option<&EventPosition>,
        n: usize,
    ) -> PortResult<Vec<EventRecord>> {
        let (owner, query, after) = (owner.to_string(), query.clone(), after.cloned());
        let read = move |c: &mut Connection| list_events_tx(c, &owner, &query, after.as_ref(), n);
        if n <= 100 {
            self.read_short("list_events", read).await
        } else {
            self.read("list_events", read).await
        }
    }

    async fn record_notification(
        &self,
        owner: &str,
        notification: &Notification,
    ) -> PortResult<()> {
        let (owner, n) = (owner.to_string(), notification.clone());
        self.with("record_notification", move |c| {
            insert_notification(c, &owner, &n)
        })
        .await
    }

    async fn list_notifications(
        &self,
        owner: &str,
        after: Option<&NotificationPosition>,
        n: usize,
    ) -> PortResult<Vec<Notification>> {
        let owner = owner.to_string();
        let after = after.map(|a| (bound(&a.created_at), a.notification_id.clone()));
        self.read("list_notifications", move |c| {
            let bodies: Vec<String> = match after {
                None => query_rows(
                    c,
                    "SELECT body FROM notifications WHERE owner = ?1
                     ORDER BY created_at DESC, notification_id DESC LIMIT ?2",
                    params![owner, limit(n)],
                    |r| r.get(0),
                )?,
                Some((at, id)) => query_rows(
                    c,
                    "SELECT body FROM notifications
                     WHERE owner = ?1 AND (created_at, notification_id) < (?2, ?3)
                     ORDER BY created_at DESC, notification_id DESC LIMIT ?4",
                    params![owner, at, id, limit(n)],
                    |r| r.get(0),
                )?,
            };
            bodies.iter().map(|b| from_json(b)).collect()
        })
        .await
    }

    async fn undelivered_notifications(&self, n: usize) -> PortResult<Vec<(String, Notification)>> {
        self.with("undelivered_notifications", move |c| {
            let rows: Vec<(String, String)> = query_rows(
                c,
                "SELECT owner, body FROM notifications WHERE delivered = 0
                 ORDER BY created_at, notification_id LIMIT ?1",
                params![limit(n)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.into_iter()
                .map(|(owner, body)| Ok((owner, from_json(&body)?)))
                .collect()
        })
        .await
    }

    async fn mark_delivered(&self, owner: &str, notification_id: &str) -> PortResult<()> {
        let (owner, id) = (owner.to_string(), notification_id.to_string());
        self.with("mark_delivered", move |c| {
            c.execute(
                "UPDATE notifications SET delivered = 1
                 WHERE notification_id = ?1 AND owner = ?2 AND delivered = 0",
                params![id, owner],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn put_export(&self, e: &ExportRecord) -> PortResult<()> {
        let e = e.clone();
        let query = to_json(&e.query)?;
        let created_at = ts(&e.created_at)?;
        let finished_at = opt_ts(e.finished_at.as_ref())?;
        let event_count = e.event_count.map(int).transpose()?;
        self.with("put_export", move |c| {
            c.prepare_cached(
                "INSERT INTO exports (owner, export_id, status, query, created_at, finished_at, event_count, result_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (owner, export_id) DO UPDATE SET
                     status = excluded.status, query = excluded.query, created_at = excluded.created_at,
                     finished_at = excluded.finished_at, event_count = excluded.event_count,
                     result_key = excluded.result_key",
            )
            .and_then(|mut s| {
                s.execute(params![
                    e.owner,
                    e.export_id,
                    e.status.to_string(),
                    query,
                    created_at,
                    finished_at,
                    event_count,
                    e.result_key,
                ])
            })
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn get_export(&self, owner: &str, export_id: &str) -> PortResult<Option<ExportRecord>> {
        let (owner, export_id) = (owner.to_string(), export_id.to_string());
        self.read("get_export", move |c| {
            let sql =
                format!("SELECT {EXPORT_COLUMNS} FROM exports WHERE owner = ?1 AND export_id = ?2");
            query_rows(c, &sql, params![owner, export_id], raw_export)?
                .pop()
                .map(export)
                .transpose()
        })
        .await
    }

    async fn count_running_exports(&self, owner: &str, since: DateTime<Utc>) -> PortResult<usize> {
        let (owner, since) = (owner.to_string(), ts(&since)?);
        self.read("count_running_exports", move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM exports WHERE owner = ?1 AND status = 'running' AND created_at >= ?2",
                )
                .and_then(|mut q| q.query_row(params![owner, since], |r| r.get(0)))
                .map_err(db_error)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn running_exports(
        &self,
        after: Option<&ExportPosition>,
        limit: usize,
    ) -> PortResult<Vec<ExportRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Before every instant the table can hold: the first page.
        let (at, id, owner) = match after {
            Some(a) => (ts(&a.created_at)?, a.export_id.clone(), a.owner.clone()),
            None => (String::new(), String::new(), String::new()),
        };
        self.read("running_exports", move |c| {
            let sql = format!(
                "SELECT {EXPORT_COLUMNS} FROM exports WHERE status = 'running'
                 AND (created_at, export_id, owner) > (?2, ?3, ?4)
                 ORDER BY created_at, export_id, owner LIMIT ?1"
            );
            query_rows(c, &sql, params![limit, at, id, owner], raw_export)?
                .into_iter()
                .map(export)
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows.join(" | ")
    }

    /// A read that fails busy inline (SQLite's lock, which the busy handler does not wait
    /// for there) runs again on a blocking thread; other failures are final.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_inline_read_runs_again_where_it_may_wait() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let table = SqliteTable::open(dir.path().join("t.sqlite3")).expect("open");
        let tries = Arc::new(AtomicUsize::new(0));
        let counted = tries.clone();
        let read = table
            .read_short("probe", move |_| {
                let inline = INLINE.with(std::cell::Cell::get);
                counted.fetch_add(1, Ordering::SeqCst);
                if inline {
                    Err(db_error(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        None,
                    )))
                } else {
                    Ok("read on a blocking thread")
                }
            })
            .await;
        assert_eq!(read.expect("the second try"), "read on a blocking thread");
        assert_eq!(tries.load(Ordering::SeqCst), 2);

        let tries = Arc::new(AtomicUsize::new(0));
        let counted = tries.clone();
        let read: PortResult<()> = table
            .read_short("probe", move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                Err(PortError::permanent("corrupt"))
            })
            .await;
        assert!(read.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1, "not tried again");
    }

    #[test]
    fn readers_wait_for_a_lock_only_off_the_async_workers() {
        assert!(reader_busy(0), "a blocking thread waits and tries again");
        assert!(!reader_busy(100), "for about 5 s at most");
        let _inline = Inline::enter();
        assert!(!reader_busy(0), "an async worker never waits");
    }

    /// Every list query reads an index in order: no table scan, no sort step.
    #[test]
    fn query_plans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = SqliteTable::open(dir.path().join("t.sqlite3")).expect("open");
        let conn = table.readers[0].lock().expect("lock");
        let mut queries: Vec<(String, &str)> = Vec::new();
        let full = EventQuery {
            event_type: Some(eventpulse_generated::types::EventType::PageView),
            from: Some(Utc::now()),
            to: Some(Utc::now()),
        };
        let after = EventPosition {
            occurred_at: Utc::now(),
            event_id: "x".into(),
        };
        for (q, a) in [
            (EventQuery::default(), None),
            (EventQuery::default(), Some(&after)),
            (full.clone(), Some(&after)),
            (
                EventQuery {
                    event_type: None,
                    ..full.clone()
                },
                None,
            ),
            (
                EventQuery {
                    from: None,
                    to: None,
                    ..full.clone()
                },
                Some(&after),
            ),
        ] {
            let sql = list_events_sql(&q, a)
                .replace(":owner", "'o'")
                .replace(":type", "'page.view'")
                .replace(":from", "'2026'")
                .replace(":to", "'2027'")
                .replace(":after_at", "'2026'")
                .replace(":after_id", "'x'")
                .replace(":limit", "10");
            queries.push((sql, "events_by"));
        }
        queries.push((
            "SELECT * FROM quarantine WHERE owner = 'o' AND (quarantined_at, upload_id) < ('2026', 'u') ORDER BY quarantined_at DESC, upload_id DESC LIMIT 3".into(),
            "quarantine_by_time",
        ));
        queries.push((
            "SELECT body FROM notifications WHERE owner = 'o' AND (created_at, notification_id) < ('2026', 'n') ORDER BY created_at DESC, notification_id DESC LIMIT 3".into(),
            "notifications_by_time",
        ));
        queries.push((
            "SELECT owner, body FROM notifications WHERE delivered = 0 ORDER BY created_at, notification_id LIMIT 3".into(),
            "notifications_outbox",
        ));
        queries.push((
            "SELECT * FROM exports WHERE status = 'running' AND (created_at, export_id, owner) > ('2026', 'x', 'o') ORDER BY created_at, export_id, owner LIMIT 3".into(),
            "exports_running",
        ));
        queries.push((
            "SELECT owner FROM uploads u WHERE u.status = 'pending' AND u.created_at < '2026' AND u.reopened_at IS NULL ORDER BY u.created_at LIMIT 3".into(),
            "uploads_pending",
        ));
        queries.push((
            "SELECT * FROM exports WHERE status != 'running' AND finished_at < '2026' ORDER BY finished_at LIMIT 3".into(),
            "exports_finished",
        ));
        queries.push((
            "SELECT * FROM subscriptions WHERE owner = 'o' AND subscription_id > 's' ORDER BY subscription_id LIMIT 3".into(),
            "sqlite_autoindex_subscriptions_2 (owner=? AND subscription_id>?)",
        ));
        queries.push((
            "SELECT d.body FROM deliveries d JOIN subscriptions s USING (owner, subscription_id) WHERE d.next_attempt_at <= '2026' ORDER BY d.next_attempt_at LIMIT 3".into(),
            "deliveries_due",
        ));
        for (sql, index) in queries {
            let p = plan(&conn, &sql);
            assert!(p.contains(index), "{sql}\n→ {p}");
            assert!(!p.contains("TEMP B-TREE"), "{sql} sorts:\n→ {p}");
        }
    }

    #[test]
    fn instants_are_fixed_width_and_ordered() {
        let cases = [
            "0000-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "1970-01-01T00:00:00Z",
            "2026-11-27T10:00:00.000000001Z",
            "2026-11-27T10:00:00.1Z",
            "9999-12-31T23:59:59.999999999Z",
        ];
        let texts: Vec<String> = cases
            .iter()
            .map(|c| {
                ts(&DateTime::parse_from_rfc3339(c)
                    .expect(c)
                    .with_timezone(&Utc))
                .expect(c)
            })
            .collect();
        assert!(texts.iter().all(|t| t.len() == 30), "{texts:?}");
        assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
        assert_eq!(texts[3], "2026-11-27T10:00:00.000000001Z");
        for (t, c) in texts.iter().zip(cases) {
            assert_eq!(
                parse_ts(t).expect(t),
                DateTime::parse_from_rfc3339(c).expect(c)
            );
        }
        // Years the text order cannot hold are refused, not mis-ordered.
        let early = DateTime::parse_from_rfc3339("0000-01-01T00:00:00+01:00").expect("parse");
        assert!(ts(&early.with_timezone(&Utc)).is_err_and(|e| !e.retryable));
        assert!(bound(&early.with_timezone(&Utc)).as_str() < texts[0].as_str());
        let late = DateTime::parse_from_rfc3339("9999-12-31T23:00:00-01:00").expect("parse");
        assert!(bound(&late.with_timezone(&Utc)).as_str() > texts[5].as_str());
    }

    /// A database written before the chunked commit keeps every event listed, and the
    /// holds table starts empty (nothing was half-committed then).
    #[test]
    fn events_of_version_1_stay_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.sqlite3");
        {
            let c = Connection::open(&path).expect("open raw");
            c.execute_batch(MIGRATIONS[0]).expect("v1");
            c.execute_batch(
                "INSERT INTO uploads (owner, upload_id, key, status, created_at, etag)
                     VALUES ('o', 'u', 'incoming/o/u.json', 'stored', '2026-11-27T10:00:00.000000000Z', 'e');
                 INSERT INTO events VALUES ('o', 'x', 'page.view', '2026-11-27T10:00:00.000000000Z',
                     '{}', 'h', '2026-11-27T10:00:00.000000000Z', 'u');
                 PRAGMA user_version = 1;",
            )
            .expect("v1 rows");
        }
        let table = SqliteTable::open(&path).expect("migrate");
        let conn = table.readers[0].lock().expect("lock");
        let listed: i64 = conn
            .query_row(
                "SELECT count(*) FROM events WHERE owner = 'o' AND visible = 1",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(listed, 1);
        let plan = plan(
            &conn,
            &list_events_sql(&EventQuery::default(), None)
                .replace(":owner", "'o'")
                .replace(":limit", "5"),
        );
        assert!(plan.contains("events_by_time"), "{plan}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.sqlite3");
        drop(SqliteTable::open(&path).expect("open"));
        {
            let c = Connection::open(&path).expect("open raw");
            let v: i64 = c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .expect("version");
            assert_eq!(v, schema_version());
            c.pragma_update(None, "user_version", schema_version() + 1)
                .expect("bump");
        }
        let e = SqliteTable::open(&path).expect_err("newer schema");
        assert!(e.message.contains("newer"), "{e}");
    }

    #[test]
    fn busy_is_transient() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(db_error(e).retryable);
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        assert!(!db_error(e).retryable);
    }
}
