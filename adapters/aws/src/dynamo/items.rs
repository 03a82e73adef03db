//! Items ↔ records: the keys of the single-table design, instants as ordered text, and the
//! conversion of each kind of item, with a malformed item reported by its key.

use super::error::malformed;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Utc};
use eventpulse_generated::types::{Notification, UploadState};
use eventpulse_handlers::ports::{
    EventRecord, ExportRecord, PortError, PortResult, QuarantineRecord, UploadRecord,
};
use std::collections::HashMap;
use std::str::FromStr;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How long a notification is kept (DynamoDB's TTL deletes it afterwards).
const NOTIFICATION_DAYS: i64 = 90;
/// How long a pending upload is kept: its URL expires within minutes, so one still pending
/// after a week never received an object (or its object waits in the DLQ, and processing
/// it creates the record again). Final uploads are the ledger and never expire.
const PENDING_UPLOAD_DAYS: i64 = 7;
/// How long a finished export's record is kept: at least as long as its result, which the
/// exports bucket's lifecycle deletes after `ExportsRetentionDays` (at most this many).
pub const EXPORT_RECORD_DAYS: i64 = 30;

/// The TTL attribute: epoch seconds, `days` after `from`.
fn expires(from: &DateTime<Utc>, days: i64) -> AttributeValue {
    n((*from + chrono::Duration::days(days)).timestamp())
}

/// Partition of every item of an owner. An owner id never holds `#` in practice, but the
/// keys stay unambiguous even if one did: every index key ends in a fixed suffix or in an
/// event type (which has no `#`), and each is compared whole.
pub(crate) fn owner_pk(owner: &str) -> String {
    format!("O#{owner}")
}
pub(crate) fn upload_sk(upload_id: &str) -> String {
    format!("U#{upload_id}")
}
pub(crate) fn event_sk(event_id: &str) -> String {
    format!("E#{event_id}")
}
pub(crate) fn quarantine_sk(upload_id: &str) -> String {
    format!("Q#{upload_id}")
}
pub(crate) fn notification_sk(id: &str) -> String {
    format!("N#{id}")
}
pub(crate) fn export_sk(id: &str) -> String {
    format!("X#{id}")
}
/// gsi1: an owner's events in `(occurred_at, event_id)` order.
pub(crate) fn events_pk(owner: &str) -> String {
    format!("O#{owner}#E")
}
/// gsi2: an owner's events of one type, in the same order.
pub(crate) fn events_of_type_pk(owner: &str, event_type: &str) -> String {
    format!("O#{owner}#E#{event_type}")
}
/// gsi1: an owner's quarantine entries.
pub(crate) fn quarantine_pk(owner: &str) -> String {
    format!("O#{owner}#Q")
}
/// gsi1: an owner's notifications.
pub(crate) fn notifications_pk(owner: &str) -> String {
    format!("O#{owner}#N")
}
/// gsi3: undelivered notifications of every owner.
pub(crate) const OUTBOX: &str = "OUTBOX";
/// gsi3: running exports of every owner.
pub(crate) const EXPORTS_RUNNING: &str = "EXPORTS_RUNNING";

/// An index sort key: the instant (fixed width, so the text order is the time order) then
/// the id. Equal instants compare by id bytes, as the port's order wants.
pub(crate) fn ordered(at: &str, id: &str) -> String {
    format!("{at}#{id}")
}

/// A running export's gsi3 sort key: `{createdAt}#{exportId}#{owner}`, unique across owners,
/// so `running_exports` pages resume exactly ('#' sorts below every id and owner character,
/// so text order is `(created_at, export_id, owner)` order).
pub(crate) fn running_export_sk(at: &str, id: &str, owner: &str) -> String {
    format!("{at}#{id}#{owner}")
}

/// Fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (as in the SQLite table); years
/// outside 0000–9999 would break the order, so they are refused.
pub(crate) fn ts(t: &DateTime<Utc>) -> PortResult<String> {
    if !(0..=9999).contains(&t.year()) {
        return Err(PortError::permanent(format!(
            "instant {t} is outside the years 0000–9999 the table can order"
        )));
    }
    Ok(t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

/// An instant as a query bound; bounds outside the storable years are clamped (nothing is
/// stored there), so they narrow nothing or match nothing as they should.
pub(crate) fn bound(t: &DateTime<Utc>) -> String {
    if t.year() < 0 {
        "0".into() // before every stored instant ("0000-…")
    } else if t.year() > 9999 {
        "A".into() // after every stored instant ("9999-…")
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::permanent(format!("serialising: {e}")))
}

/// The primary key of an item.
pub(crate) fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Reads the attributes of one item; every error names the item's key.
pub(crate) struct Reader<'a> {
    table: &'a str,
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(table: &'a str, item: &'a Item) -> Self {
        Self { table, item }
    }

    fn key_attr(&self, name: &str) -> &'a str {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) => v,
            _ => "?",
        }
    }

    pub(crate) fn bad(&self, what: impl std::fmt::Display) -> PortError {
        malformed(self.table, self.key_attr("pk"), self.key_attr("sk"), what)
    }

    pub(crate) fn opt_s(&self, name: &str) -> PortResult<Option<&'a str>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(_) => Err(self.bad(format!("{name} is not a string"))),
        }
    }

    pub(crate) fn s(&self, name: &str) -> PortResult<&'a str> {
        self.opt_s(name)?
            .ok_or_else(|| self.bad(format!("{name} is missing")))
    }

    pub(crate) fn opt_u64(&self, name: &str) -> PortResult<Option<u64>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.bad(format!("{name} = {v} is not a count"))),
            Some(_) => Err(self.bad(format!("{name} is not a number"))),
        }
    }

    pub(crate) fn u64(&self, name: &str) -> PortResult<u64> {
        self.opt_u64(name)?
            .ok_or_else(|| self.bad(format!("{name} is missing")))
    }

    /// A string set; absent means empty (DynamoDB drops a set whose last member goes).
    pub(crate) fn set(&self, name: &str) -> PortResult<&'a [String]> {
        match self.item.get(name) {
            None => Ok(&[]),
            Some(AttributeValue::Ss(v)) => Ok(v),
            Some(_) => Err(self.bad(format!("{name} is not a string set"))),
        }
    }

    pub(crate) fn ts(&self, name: &str) -> PortResult<DateTime<Utc>> {
        self.parse_ts(name, self.s(name)?)
    }

    pub(crate) fn opt_ts(&self, name: &str) -> PortResult<Option<DateTime<Utc>>> {
        self.opt_s(name)?
            .map(|v| self.parse_ts(name, v))
            .transpose()
    }

    fn parse_ts(&self, name: &str, v: &str) -> PortResult<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.bad(format!("{name} = {v:?}: {e}")))
    }

    pub(crate) fn parse<T: FromStr>(&self, name: &str) -> PortResult<T> {
        let v = self.s(name)?;
        v.parse()
            .map_err(|_| self.bad(format!("{name} = {v:?} is not a known value")))
    }

    pub(crate) fn opt_parse<T: FromStr>(&self, name: &str) -> PortResult<Option<T>> {
        self.opt_s(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| self.bad(format!("{name} = {v:?} is not a known value")))
            })
            .transpose()
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> PortResult<T> {
        serde_json::from_str(self.s(name)?).map_err(|e| self.bad(format!("{name}: {e}")))
    }

    /// The owner, from the partition key.
    pub(crate) fn owner(&self) -> PortResult<&'a str> {
        self.s("pk")?
            .strip_prefix("O#")
            .ok_or_else(|| self.bad("pk does not start with O#"))
    }

    /// The id after the kind prefix of the sort key (`U#`, `E#`, …).
    pub(crate) fn id(&self, prefix: &str) -> PortResult<&'a str> {
        self.s("sk")?
            .strip_prefix(prefix)
            .ok_or_else(|| self.bad(format!("sk does not start with {prefix}")))
    }
}

// ---- Uploads

pub(crate) fn upload_item(u: &UploadRecord) -> PortResult<Item> {
    let mut item = key(owner_pk(&u.owner), upload_sk(&u.upload_id));
    item.insert("status".into(), s(u.status.to_string()));
    item.insert("key".into(), s(&u.key));
    item.insert("createdAt".into(), s(ts(&u.created_at)?));
    if let Some(e) = &u.etag {
        item.insert("etag".into(), s(e));
    }
    if let Some(c) = u.event_count {
        item.insert("eventCount".into(), n(c));
    }
    if let Some(p) = &u.processed_at {
        item.insert("processedAt".into(), s(ts(p)?));
    }
    if let Some(r) = &u.reason_code {
        item.insert("reasonCode".into(), s(r.to_string()));
    }
    if u.status == UploadState::Pending {
        item.insert(
            "expiresAt".into(),
            expires(&u.created_at, PENDING_UPLOAD_DAYS),
        );
    }
    Ok(item)
}

pub(crate) fn upload(r: &Reader) -> PortResult<UploadRecord> {
    Ok(UploadRecord {
        owner: r.owner()?.into(),
        upload_id: r.id("U#")?.into(),
        key: r.s("key")?.into(),
        status: r.parse::<UploadState>("status")?,
        created_at: r.ts("createdAt")?,
        etag: r.opt_s("etag")?.map(Into::into),
        event_count: r.opt_u64("eventCount")?,
        processed_at: r.opt_ts("processedAt")?,
        reason_code: r.opt_parse("reasonCode")?,
    })
}

// ---- Events

/// The attributes of an event that never change while its content stays (everything but
/// the key, `holders` and `v`).
pub(crate) fn event_attributes(e: &EventRecord) -> PortResult<Vec<(&'static str, AttributeValue)>> {
    let at = ts(&e.occurred_at)?;
    let sort = ordered(&at, &e.event_id);
    Ok(vec![
        ("eventType", s(&e.event_type)),
        ("occurredAt", s(&at)),
        ("body", s(to_json(&e.body)?)),
        ("contentHash", s(&e.content_hash)),
        ("receivedAt", s(ts(&e.received_at)?)),
        ("uploadId", s(&e.upload_id)),
        ("gsi1pk", s(events_pk(&e.owner))),
        ("gsi1sk", s(&sort)),
        ("gsi2pk", s(events_of_type_pk(&e.owner, &e.event_type))),
        ("gsi2sk", s(sort)),
    ])
}

/// An event as listed: `listed_by` is the upload that first listed it (see `holders.rs`).
pub(crate) fn event(r: &Reader, listed_by: &str) -> PortResult<EventRecord> {
    Ok(EventRecord {
        owner: r.owner()?.into(),
        event_id: r.id("E#")?.into(),
        event_type: r.s("eventType")?.into(),
        occurred_at: r.ts("occurredAt")?,
        body: r.json("body")?,
        content_hash: r.s("contentHash")?.into(),
        received_at: r.ts("receivedAt")?,
        upload_id: listed_by.into(),
    })
}

// ---- Quarantine entries

pub(crate) fn quarantine_item(q: &QuarantineRecord) -> PortResult<Item> {
    let at = ts(&q.quarantined_at)?;
    let mut item = key(owner_pk(&q.owner), quarantine_sk(&q.upload_id));
    item.insert("key".into(), s(&q.key));
    item.insert("quarantinedAt".into(), s(&at));
    item.insert("reasonCode".into(), s(q.reason_code.to_string()));
    item.insert("errorCount".into(), n(q.error_count));
    item.insert("sizeBytes".into(), n(q.size_bytes));
    item.insert("gsi1pk".into(), s(quarantine_pk(&q.owner)));
    item.insert("gsi1sk".into(), s(ordered(&at, &q.upload_id)));
    Ok(item)
}

pub(crate) fn quarantine(r: &Reader) -> PortResult<QuarantineRecord> {
    Ok(QuarantineRecord {
        owner: r.owner()?.into(),
        upload_id: r.id("Q#")?.into(),
        key: r.s("key")?.into(),
        quarantined_at: r.ts("quarantinedAt")?,
        reason_code: r.parse("reasonCode")?,
        error_count: r.u64("errorCount")?,
        size_bytes: r.u64("sizeBytes")?,
    })
}

// ---- Notifications

/// A notification, undelivered: in the outbox (gsi3) until `mark_delivered`.
pub(crate) fn notification_item(owner: &str, no: &Notification) -> PortResult<Item> {
    let at = ts(&no.created_at)?;
    let mut item = key(owner_pk(owner), notification_sk(&no.notification_id));
    item.insert("body".into(), s(to_json(no)?));
    item.insert("createdAt".into(), s(&at));
    item.insert(
        "expiresAt".into(),
        expires(&no.created_at, NOTIFICATION_DAYS),
    );
    item.insert("gsi1pk".into(), s(notifications_pk(owner)));
    item.insert("gsi1sk".into(), s(ordered(&at, &no.notification_id)));
    item.insert("gsi3pk".into(), s(OUTBOX));
    item.insert("gsi3sk".into(), s(ordered(&at, &no.notification_id)));
    Ok(item)
}

pub(crate) fn notification(r: &Reader) -> PortResult<Notification> {
    r.json("body")
}

// ---- Exports

/// An export; while running it is indexed in gsi3 for `running_exports`.
pub(crate) fn export_item(x: &ExportRecord) -> PortResult<Item> {
    let at = ts(&x.created_at)?;
    let mut item = key(owner_pk(&x.owner), export_sk(&x.export_id));
    item.insert("status".into(), s(x.status.to_string()));
    item.insert("query".into(), s(to_json(&x.query)?));
    item.insert("createdAt".into(), s(&at));
    if let Some(f) = &x.finished_at {
        item.insert("finishedAt".into(), s(ts(f)?));
        item.insert("expiresAt".into(), expires(f, EXPORT_RECORD_DAYS));
    }
    if let Some(c) = x.event_count {
        item.insert("eventCount".into(), n(c));
    }
    if let Some(k) = &x.result_key {
        item.insert("resultKey".into(), s(k));
    }
    if x.status == eventpulse_generated::types::ExportState::Running {
        item.insert("gsi3pk".into(), s(EXPORTS_RUNNING));
        item.insert(
            "gsi3sk".into(),
            s(running_export_sk(&at, &x.export_id, &x.owner)),
        );
    }
    Ok(item)
}

pub(crate) fn export(r: &Reader) -> PortResult<ExportRecord> {
    Ok(ExportRecord {
        owner: r.owner()?.into(),
        export_id: r.id("X#")?.into(),
        status: r.parse("status")?,
        query: r.json("query")?,
        created_at: r.ts("createdAt")?,
        finished_at: r.opt_ts("finishedAt")?,
        event_count: r.opt_u64("eventCount")?,
        result_key: r.opt_s("resultKey")?.map(Into::into),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    /// The index sort keys order as `(instant, id)` does, at nanosecond precision and for
    /// ids that are prefixes of each other.
    #[test]
    fn sort_keys_follow_the_port_order() {
        let cases = [
            ("0000-01-01T00:00:00Z", "a"),
            ("1969-12-31T23:59:59.999999999Z", "a"),
            ("2026-06-01T12:00:00.5Z", "B"),
            ("2026-06-01T12:00:00.5Z", "a"),
            ("2026-06-01T12:00:00.5Z", "a-1"),
            ("2026-06-01T12:00:00.5Z", "a.1"),
            ("2026-06-01T12:00:00.5Z", "a0"),
            ("2026-06-01T12:00:00.5Z", "a:1"),
            ("2026-06-01T12:00:00.500000001Z", "0"),
            ("9999-12-31T23:59:59.999999999Z", "z"),
        ];
        let keys: Vec<String> = cases
            .iter()
            .map(|(t, id)| ordered(&ts(&at(t)).expect("ts"), id))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        // An instant bound sorts before every key at that instant, after every earlier one.
        let b = bound(&at("2026-06-01T12:00:00.5Z"));
        assert!(keys[1] < b && b < keys[2]);
        assert!(ts(&at("0000-01-01T00:00:00+01:00")).is_err());
    }

    /// What DynamoDB's TTL may delete: pending uploads, finished exports and notifications;
    /// never a final upload (the ledger) or a running export.
    #[test]
    fn only_what_may_go_carries_a_ttl() {
        let created = at("2026-12-01T10:00:00Z");
        let mut u = UploadRecord {
            owner: "alice".into(),
            upload_id: "u1".into(),
            key: "incoming/alice/u1.json".into(),
            status: UploadState::Pending,
            created_at: created,
            etag: None,
            event_count: None,
            processed_at: None,
            reason_code: None,
        };
        let ttl = |item: &Item| item.get("expiresAt").map(|v| v.as_n().expect("n").clone());
        let week = (created + chrono::Duration::days(PENDING_UPLOAD_DAYS)).timestamp();
        assert_eq!(ttl(&upload_item(&u).expect("item")), Some(week.to_string()));
        for state in [UploadState::Stored, UploadState::Quarantined] {
            u.status = state;
            assert_eq!(ttl(&upload_item(&u).expect("item")), None, "{state}");
        }
        let mut x = ExportRecord {
            owner: "alice".into(),
            export_id: "x1".into(),
            status: eventpulse_generated::types::ExportState::Running,
            query: Default::default(),
            created_at: created,
            finished_at: None,
            event_count: None,
            result_key: None,
        };
        assert_eq!(ttl(&export_item(&x).expect("item")), None);
        x.status = eventpulse_generated::types::ExportState::Done;
        x.finished_at = Some(created);
        let month = (created + chrono::Duration::days(EXPORT_RECORD_DAYS)).timestamp();
        assert_eq!(
            ttl(&export_item(&x).expect("item")),
            Some(month.to_string())
        );
    }
}
