//! Holding events for an upload, the pre-check, and releasing holds (the commit rule's
//! per-event steps; `mark_stored` is in `uploads.rs`).
//!
//! Each event is its own conditional write, so a chunk of 100 is 100 UpdateItems, run 16 at
//! a time. `v` is bumped by every write to an event (a repeated hold too), which makes a
//! takeover — a full PutItem conditioned on the `v` it read — lose against any hold,
//! release or takeover that came between its read and its write.

use super::DynamoTable;
use super::error;
use super::expr::Expr;
use super::holders::{Holders, tag};
use super::items::{Item, Reader, event_attributes, event_sk, key, n, owner_pk, upload_sk};
use super::reads::backoff;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use eventpulse_generated::types::UploadState;
use eventpulse_handlers::ports::{EventRecord, Held, PortError, PortResult, UploadRecord};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{HashMap, HashSet};

/// Conditional writes in flight at once, per call.
const IN_FLIGHT: usize = 16;
/// Rounds of read-then-take-over before a contended event is reported as transient.
const TAKEOVER_ROUNDS: u32 = 5;

/// What the conditional hold found.
enum Attempt {
    /// The event was absent; it is ours now.
    Created,
    /// It exists with the same content; we were added to `holders` (`had_me`: already).
    Existed { had_me: bool, holders: Vec<String> },
    /// It exists with other content; nothing was written.
    OtherContent,
}

fn belongs(upload: &UploadRecord, e: &EventRecord) -> PortResult<()> {
    if e.owner != upload.owner || e.upload_id != upload.upload_id {
        return Err(PortError::permanent(format!(
            "event {} belongs to {}/{}, not to upload {}/{}",
            e.event_id, e.owner, e.upload_id, upload.owner, upload.upload_id
        )));
    }
    Ok(())
}

fn set_of(v: &str) -> AttributeValue {
    AttributeValue::Ss(vec![v.to_string()])
}

impl DynamoTable {
    pub(crate) async fn hold_events(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<Held>> {
        let me = tag(upload)?;
        for e in events {
            belongs(upload, e)?;
        }
        // Futures collected first: a closure inside the stream would make the future not
        // `Send` for every lifetime (async-trait needs that).
        let holds: Vec<_> = events.iter().map(|e| self.hold_one(&me, e)).collect();
        let attempts: Vec<Attempt> = stream::iter(holds)
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;

        let mut ledger = Holders::new(self, &upload.owner);
        let existing = attempts.iter().flat_map(|a| match a {
            Attempt::Existed { holders, .. } => holders.as_slice(),
            _ => &[],
        });
        ledger.load("hold_events", existing).await?;

        let (ledger, me) = (&ledger, me.as_str());
        let settle: Vec<_> = events
            .iter()
            .zip(&attempts)
            .map(|(e, a)| async move {
                match a {
                    Attempt::Created => Ok(Held::New),
                    Attempt::Existed { had_me, holders } => {
                        self.same_content(me, e, *had_me, holders, ledger).await
                    }
                    Attempt::OtherContent => self.resolve(me, e).await,
                }
            })
            .collect();
        stream::iter(settle).buffered(IN_FLIGHT).try_collect().await
    }

    /// The conditional hold: creates the event, or adds `me` to the holders of the same
    /// content. Fields are set only where absent, so an existing event keeps its own.
    async fn hold_one(&self, me: &str, e: &EventRecord) -> PortResult<Attempt> {
        let mut x = Expr::new();
        for (attr, v) in event_attributes(e)? {
            x.set_if_absent(attr, v);
        }
        x.add("holders", set_of(me)).add("v", n(1));
        let condition = format!(
            "attribute_not_exists({}) OR {} = :contentHash",
            x.name("pk"),
            x.name("contentHash")
        );
        let out = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(owner_pk(&e.owner), event_sk(&e.event_id))))
            .update_expression(x.update())
            .condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => match out.attributes.filter(|a| !a.is_empty()) {
                None => Ok(Attempt::Created),
                Some(old) => {
                    let holders = Reader::new(&self.table, &old).set("holders")?.to_vec();
                    let had_me = holders.iter().any(|h| h == me);
                    Ok(Attempt::Existed { had_me, holders })
                }
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Attempt::OtherContent)
            }
            Err(err) => Err(error::sdk("hold_events", &self.table, err)),
        }
    }

    /// The same content was there: a duplicate when some holder lists it (then the hold we
    /// just added is dropped again, so listed events never change and their holder sets do
    /// not grow with every re-upload; a hold that was there before stays, as it may be the
    /// listing one), else a new hold.
    async fn same_content(
        &self,
        me: &str,
        e: &EventRecord,
        had_me: bool,
        holders: &[String],
        ledger: &Holders<'_>,
    ) -> PortResult<Held> {
        if !holders.iter().any(|h| ledger.listing(h)) {
            return Ok(Held::New);
        }
        if !had_me {
            self.drop_hold("hold_events", me, &e.owner, &e.event_id)
                .await?;
        }
        Ok(Held::Duplicate)
    }

    /// Other content holds the eventId: a conflict while another live holder has it, else a
    /// takeover. Re-read and retried when a concurrent write moves the item under us.
    async fn resolve(&self, me: &str, e: &EventRecord) -> PortResult<Held> {
        for round in 0..TAKEOVER_ROUNDS {
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let item = self
                .get(
                    "hold_events",
                    key(owner_pk(&e.owner), event_sk(&e.event_id)),
                    Some(&["pk", "sk", "contentHash", "holders", "v"]),
                )
                .await?;
            let Some(item) = item else {
                // Released meanwhile: hold it afresh.
                if let Some(held) = self.hold_again(me, e).await? {
                    return Ok(held);
                }
                continue;
            };
            let r = Reader::new(&self.table, &item);
            if r.s("contentHash")? == e.content_hash {
                if let Some(held) = self.hold_again(me, e).await? {
                    return Ok(held);
                }
                continue;
            }
            let holders = r.set("holders")?;
            let mut ledger = Holders::new(self, &e.owner);
            ledger.load("hold_events", holders).await?;
            if holders.iter().any(|h| h != me && ledger.live(h)) {
                return Ok(Held::Conflict);
            }
            if self.take_over(me, e, r.u64("v")?).await? {
                return Ok(Held::New);
            }
        }
        Err(PortError::transient(format!(
            "dynamodb hold_events on table {}: event {}/{} kept changing during {TAKEOVER_ROUNDS} takeover attempts",
            self.table, e.owner, e.event_id
        )))
    }

    /// The conditional hold once more; `None` if other content got there first again.
    async fn hold_again(&self, me: &str, e: &EventRecord) -> PortResult<Option<Held>> {
        Ok(match self.hold_one(me, e).await? {
            Attempt::Created => Some(Held::New),
            Attempt::Existed { had_me, holders } => {
                let mut ledger = Holders::new(self, &e.owner);
                ledger.load("hold_events", &holders).await?;
                Some(self.same_content(me, e, had_me, &holders, &ledger).await?)
            }
            Attempt::OtherContent => None,
        })
    }

    /// Replaces void holds of other content with ours, unless the item changed since we
    /// read version `v`. True when it was taken over.
    async fn take_over(&self, me: &str, e: &EventRecord, v: u64) -> PortResult<bool> {
        let mut item: Item = key(owner_pk(&e.owner), event_sk(&e.event_id));
        item.extend(
            event_attributes(e)?
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        item.insert("holders".into(), set_of(me));
        item.insert("v".into(), n(v + 1));
        let out = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression("#v = :read")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":read", n(v))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(error::sdk("hold_events", &self.table, err)),
        }
    }

    /// Removes one hold; true when the event is left without holders.
    async fn drop_hold(&self, op: &str, me: &str, owner: &str, event_id: &str) -> PortResult<bool> {
        let mut x = Expr::new();
        x.delete("holders", set_of(me)).add("v", n(1));
        let condition = format!("attribute_exists({})", x.name("pk"));
        let out = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(owner_pk(owner), event_sk(event_id))))
            .update_expression(x.update())
            .condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let after = out.attributes.unwrap_or_default();
                Ok(Reader::new(&self.table, &after).set("holders")?.is_empty())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false) // no such event: nothing held
            }
            Err(err) => Err(error::sdk(op, &self.table, err)),
        }
    }

    pub(crate) async fn find_conflicts(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<String>> {
        let me = tag(upload)?;
        let mut keys: Vec<Item> = Vec::with_capacity(events.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
        // Read-only: the events are looked up in the upload's owner, whoever they name.
        for e in events {
            if seen.insert(&e.event_id) {
                keys.push(key(owner_pk(&upload.owner), event_sk(&e.event_id)));
            }
        }
        let items = self
            .batch_get(
                "find_conflicts",
                keys,
                &["pk", "sk", "contentHash", "holders"],
            )
            .await?;
        let mut found: HashMap<String, (String, Vec<String>)> = HashMap::new();
        for item in &items {
            let r = Reader::new(&self.table, item);
            found.insert(
                r.id("E#")?.to_string(),
                (r.s("contentHash")?.to_string(), r.set("holders")?.to_vec()),
            );
        }
        let mut ledger = Holders::new(self, &upload.owner);
        let differing: Vec<&String> = events
            .iter()
            .filter_map(|e| found.get(&e.event_id).filter(|(h, _)| *h != e.content_hash))
            .flat_map(|(_, holders)| holders)
            .collect();
        ledger.load("find_conflicts", differing).await?;
        Ok(events
            .iter()
            .filter(|e| {
                found.get(&e.event_id).is_some_and(|(hash, holders)| {
                    *hash != e.content_hash && holders.iter().any(|h| *h != me && ledger.live(h))
                })
            })
            .map(|e| e.event_id.clone())
            .collect())
    }

    pub(crate) async fn release_events(
        &self,
        upload: &UploadRecord,
        event_ids: &[String],
    ) -> PortResult<()> {
        let me = tag(upload)?;
        // The holds of an upload stored with this ETag are what lists its events: they are
        // never released (listed events stay listed).
        let ledger = self
            .get(
                "release_events",
                key(owner_pk(&upload.owner), upload_sk(&upload.upload_id)),
                Some(&["pk", "sk", "status", "etag"]),
            )
            .await?;
        if let Some(item) = &ledger {
            let r = Reader::new(&self.table, item);
            if r.parse::<UploadState>("status")? == UploadState::Stored
                && r.opt_s("etag")? == upload.etag.as_deref()
            {
                return Ok(());
            }
        }
        let me = me.as_str();
        let releases: Vec<_> = event_ids
            .iter()
            .map(|id| async move {
                if self
                    .drop_hold("release_events", me, &upload.owner, id)
                    .await?
                {
                    self.delete_unheld(&upload.owner, id).await?;
                }
                Ok::<(), PortError>(())
            })
            .collect();
        stream::iter(releases)
            .buffered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Deletes an event no one holds (so no one lists it), unless a hold came back.
    async fn delete_unheld(&self, owner: &str, event_id: &str) -> PortResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key(owner_pk(owner), event_sk(event_id))))
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#holders)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#holders", "holders")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(error::sdk("release_events", &self.table, err)),
        }
    }
}
