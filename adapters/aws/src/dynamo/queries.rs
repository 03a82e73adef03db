//! The read side of the port: consistent GetItems by key, and the owner's lists as Queries
//! on gsi1/gsi2 over a sort-key range (the index sort keys are `{instant}#{id}`, so a
//! position is a key bound and an instant bound is a prefix).

use super::DynamoTable;
use super::holders::Holders;
use super::items::{
    Item, Reader, bound, event, event_sk, events_of_type_pk, events_pk, export, export_sk, key,
    notification, notifications_pk, ordered, owner_pk, quarantine, quarantine_pk, quarantine_sk,
    upload, upload_sk,
};
use super::reads::{Bound, KeyQuery};
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::{
    EventPosition, EventQuery, EventRecord, ExportRecord, NotificationPosition, PortResult,
    QuarantinePosition, QuarantineRecord, UploadRecord,
};

/// An owner's gsi1 list newest first, strictly before `after` (a `{instant}#{id}` key).
fn newest_first(pk: String, after: Option<String>) -> KeyQuery {
    KeyQuery {
        index: Some("gsi1"),
        pk_attr: "gsi1pk",
        pk,
        sk_attr: "gsi1sk",
        lower: None,
        upper: after.map(|key| Bound {
            key,
            inclusive: false,
        }),
        forward: false,
    }
}

/// The events query: gsi2 for one type, else gsi1; `from` (inclusive, an instant prefix)
/// and `after` (exclusive, a whole key) both bound below, the tighter one wins; `to`
/// (exclusive, an instant prefix) bounds above — no key equals a bare instant, so the
/// BETWEEN it may become includes no event at `to`.
fn events_query(owner: &str, q: &EventQuery, after: Option<&EventPosition>) -> KeyQuery {
    let (index, pk_attr, pk, sk_attr) = match &q.event_type {
        Some(t) => (
            "gsi2",
            "gsi2pk",
            events_of_type_pk(owner, &t.to_string()),
            "gsi2sk",
        ),
        None => ("gsi1", "gsi1pk", events_pk(owner), "gsi1sk"),
    };
    let from = q.from.as_ref().map(|f| Bound {
        key: bound(f),
        inclusive: true,
    });
    let after = after.map(|a| Bound {
        key: ordered(&bound(&a.occurred_at), &a.event_id),
        inclusive: false,
    });
    let lower = match (from, after) {
        (Some(f), Some(a)) => Some(if a.key >= f.key { a } else { f }),
        (f, a) => f.or(a),
    };
    KeyQuery {
        index: Some(index),
        pk_attr,
        pk,
        sk_attr,
        lower,
        upper: q.to.as_ref().map(|t| Bound {
            key: bound(t),
            inclusive: false,
        }),
        forward: true,
    }
}

impl DynamoTable {
    pub(crate) async fn get_upload(
        &self,
        owner: &str,
        id: &str,
    ) -> PortResult<Option<UploadRecord>> {
        let item = self
            .get("get_upload", key(owner_pk(owner), upload_sk(id)), None)
            .await?;
        item.map(|i| upload(&Reader::new(&self.table, &i)))
            .transpose()
    }

    pub(crate) async fn get_quarantine(
        &self,
        owner: &str,
        id: &str,
    ) -> PortResult<Option<QuarantineRecord>> {
        let item = self
            .get(
                "get_quarantine",
                key(owner_pk(owner), quarantine_sk(id)),
                None,
            )
            .await?;
        item.map(|i| quarantine(&Reader::new(&self.table, &i)))
            .transpose()
    }

    pub(crate) async fn get_export(
        &self,
        owner: &str,
        id: &str,
    ) -> PortResult<Option<ExportRecord>> {
        let item = self
            .get("get_export", key(owner_pk(owner), export_sk(id)), None)
            .await?;
        item.map(|i| export(&Reader::new(&self.table, &i)))
            .transpose()
    }

    /// Consistent: the event as listed right now (held-only events are not returned).
    pub(crate) async fn get_event(&self, owner: &str, id: &str) -> PortResult<Option<EventRecord>> {
        let Some(item) = self
            .get("get_event", key(owner_pk(owner), event_sk(id)), None)
            .await?
        else {
            return Ok(None);
        };
        let mut ledger = Holders::new(self, owner);
        self.listed(&mut ledger, "get_event", vec![item])
            .await
            .map(|mut v| v.pop())
    }

    /// The listed events among `items`, in their order.
    async fn listed(
        &self,
        ledger: &mut Holders<'_>,
        op: &str,
        items: Vec<Item>,
    ) -> PortResult<Vec<EventRecord>> {
        let mut holders: Vec<&String> = Vec::new();
        for i in &items {
            holders.extend(Reader::new(&self.table, i).set("holders")?);
        }
        ledger.load(op, holders).await?;
        let mut out = Vec::with_capacity(items.len());
        for i in &items {
            let r = Reader::new(&self.table, i);
            if let Some(by) = ledger.listed_by(r.set("holders")?) {
                out.push(event(&r, by)?);
            }
        }
        Ok(out)
    }

    /// Reads the index page after page, dropping events no holder lists, until `limit`
    /// listed events are found or the index ends.
    pub(crate) async fn list_events(
        &self,
        owner: &str,
        query: &EventQuery,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> PortResult<Vec<EventRecord>> {
        let q = events_query(owner, query, after);
        let mut ledger = Holders::new(self, owner);
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < limit {
            let page = self
                .query_page("list_events", &q, start, limit - out.len())
                .await?;
            out.extend(self.listed(&mut ledger, "list_events", page.items).await?);
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    pub(crate) async fn list_quarantine(
        &self,
        owner: &str,
        after: Option<&QuarantinePosition>,
        limit: usize,
    ) -> PortResult<Vec<QuarantineRecord>> {
        let after = after.map(|a| ordered(&bound(&a.quarantined_at), &a.upload_id));
        let items = self
            .query_up_to(
                "list_quarantine",
                &newest_first(quarantine_pk(owner), after),
                limit,
            )
            .await?;
        items
            .iter()
            .map(|i| quarantine(&Reader::new(&self.table, i)))
            .collect()
    }

    pub(crate) async fn list_notifications(
        &self,
        owner: &str,
        after: Option<&NotificationPosition>,
        limit: usize,
    ) -> PortResult<Vec<Notification>> {
        let after = after.map(|a| ordered(&bound(&a.created_at), &a.notification_id));
        let items = self
            .query_up_to(
                "list_notifications",
                &newest_first(notifications_pk(owner), after),
                limit,
            )
            .await?;
        items
            .iter()
            .map(|i| notification(&Reader::new(&self.table, i)))
            .collect()
    }
}
