//! Processing one uploaded object: the heart of the pipeline.
//!
//! Every object ends in exactly one state, exactly once: **stored** (all its events in the
//! table, the object removed from the process bucket) or **quarantined** (copied to the
//! quarantine bucket with a report, indexed, its owner notified once, removed from the
//! process bucket). The steps are ordered so that a crash anywhere leaves the object in the
//! process bucket with the ledger telling what is already done; running the processor again
//! (a retried event, a duplicate delivery, start-up recovery) finishes the job without
//! repeating any visible effect.

use crate::intake::{Intake, Rejected, Verdict};
use crate::keys;
use crate::ports::{
    Bucket, Clock, EventRecord, EventTable, Notifier, ObjectInfo, ObjectStore, PortError,
    QuarantineRecord, Read, StoreOutcome, UploadRecord, report_bytes, report_key,
};
use crate::wiring::{Delivery, deliver_recorded};
use eventpulse_generated::types::{
    EventError, Notification, NotificationKind, NotificationNotificationVersion, QuarantineReport,
    QuarantineReportReportVersion, ReasonCode, UploadId, UploadState,
};
use std::sync::Arc;
use std::time::Instant;

/// What happened to an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Stored {
        owner: String,
        upload_id: String,
        events: u64,
        inserted: u64,
        duplicates: u64,
    },
    Quarantined {
        owner: String,
        upload_id: String,
        reason: ReasonCode,
        errors: u64,
    },
    /// Nothing to do: the object is gone (already finished) or was already processed.
    Skipped { key: String, why: &'static str },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessError {
    #[error("storage failed: {0}")]
    Port(#[from] PortError),
    #[error("{0}")]
    Internal(String),
}

impl ProcessError {
    /// Whether the same event should be delivered again (Lambda retry / local requeue).
    pub fn retryable(&self) -> bool {
        match self {
            ProcessError::Port(e) => e.retryable,
            ProcessError::Internal(_) => false,
        }
    }
}

pub struct Processor {
    pub objects: Arc<dyn ObjectStore>,
    pub table: Arc<dyn EventTable>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    pub intake: Arc<Intake>,
    pub delivery: Delivery,
}

/// What the ledger says about an upload, relative to the content at hand.
enum Ledger {
    /// No final outcome yet: process it.
    Open,
    /// Final for this very content (same ETag): a replay.
    Done(UploadState),
    /// Not the upload's content: a second object under the key of an upload that is final
    /// (`Stored`/`Quarantined`) or being reprocessed (`Pending`), its upload URL used again.
    OtherContent(UploadState),
}

/// A fresh, time-ordered identifier (UUID v7 without dashes: 32 characters).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Processor {
    /// Processes the object at `key` in the process bucket, and logs one audit line.
    pub async fn process(&self, key: &str) -> Result<Outcome, ProcessError> {
        let started = Instant::now();
        let result = self.process_inner(key).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(Outcome::Stored {
                owner,
                upload_id,
                events,
                inserted,
                duplicates,
            }) => tracing::info!(
                target: "eventpulse::audit", kind = "object", key, owner, upload_id, outcome = "stored",
                event_count = events, inserted, duplicates, duration_ms = ms
            ),
            Ok(Outcome::Quarantined {
                owner,
                upload_id,
                reason,
                errors,
            }) => tracing::info!(
                target: "eventpulse::audit", kind = "object", key, owner, upload_id, outcome = "quarantined",
                reason_code = %reason, error_count = errors, duration_ms = ms
            ),
            Ok(Outcome::Skipped { why, .. }) => tracing::info!(
                target: "eventpulse::audit", kind = "object", key, outcome = "skipped", why, duration_ms = ms
            ),
            Err(e) => tracing::warn!(
                target: "eventpulse::audit", kind = "object", key, outcome = "error", error = %e,
                retryable = e.retryable(), duration_ms = ms
            ),
        }
        result
    }

    async fn process_inner(&self, key: &str) -> Result<Outcome, ProcessError> {
        // One request tells both the ETag (for the ledger) and the content: a replay pays for
        // reading a body it will not use, the common first delivery saves a round trip.
        let max_bytes = self.intake.max_bytes() as u64;
        let (info, object) = match self.objects.read(Bucket::Process, key, max_bytes).await? {
            Some(Read::Whole(o)) => (o.info.clone(), Some(o)),
            Some(Read::TooLarge(info)) => (info, None),
            None => {
                // Finished earlier (a duplicate or late delivery), or deleted by its owner.
                return Ok(Outcome::Skipped {
                    key: key.into(),
                    why: "object not in the process bucket",
                });
            }
        };
        let target = match keys::parse_incoming(key) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(target: "eventpulse::audit", key, error = %e, "object outside the key layout");
                let (qkey, id) = keys::operator_quarantine(key);
                if let Ledger::Done(_) = self.ledger(keys::OPERATOR, &id, &info, false).await? {
                    self.objects.delete(Bucket::Process, key).await?;
                    return Ok(Outcome::Skipped {
                        key: key.into(),
                        why: "already processed",
                    });
                }
                let rejected = Rejected {
                    reason: ReasonCode::InvalidKey,
                    message: format!("The object key is outside the layout: {e}."),
                    errors: vec![EventError {
                        event_id: None,
                        index: None,
                        keyword: "key".into(),
                        message: e.to_string(),
                        pointer: String::new(),
                    }],
                    error_count: 1,
                    event_count: None,
                };
                return self
                    .quarantine(keys::OPERATOR, &id, key, &qkey, &info, rejected)
                    .await;
            }
        };
        let (owner, upload_id) = (target.owner.as_str(), target.upload_id.as_str());
        let reprocess = target.reprocess;

        let qkey = keys::quarantine_key(owner, upload_id);
        let (ledger, record) = self.read_ledger(owner, upload_id, &info, reprocess).await?;
        match ledger {
            Ledger::Open => {}
            Ledger::Done(state) => {
                // This content was finished; only the clean-up may be missing.
                if state == UploadState::Stored {
                    self.objects
                        .delete(Bucket::Quarantine, &report_key(&qkey))
                        .await?;
                    self.objects.delete(Bucket::Quarantine, &qkey).await?;
                }
                self.objects.delete(Bucket::Process, key).await?;
                return Ok(Outcome::Skipped {
                    key: key.into(),
                    why: "already processed",
                });
            }
            Ledger::OtherContent(state) => {
                return self.reused_key(key, &info, state).await;
            }
        }
        if let Some(r) = self.intake.check_size(info.size) {
            return self
                .quarantine(owner, upload_id, key, &qkey, &info, r)
                .await;
        }
        let Some(object) = object else {
            return Err(ProcessError::Internal(format!(
                "{key}: the store reported {} bytes as above the limit of {max_bytes}",
                info.size
            )));
        };
        let events = match self.intake.check(&object.bytes) {
            Verdict::Accepted(events) => events,
            Verdict::Rejected(r) => {
                return self
                    .quarantine(owner, upload_id, key, &qkey, &info, r)
                    .await;
            }
        };

        let now = self.clock.now();
        // Each body has been JSON text since intake; it is passed on as text.
        let records: Vec<EventRecord> = events
            .into_iter()
            .map(|e| EventRecord {
                owner: owner.into(),
                occurred_at: e.occurred_at.utc(),
                body: e.body,
                event_id: e.event_id,
                event_type: e.event_type,
                content_hash: e.content_hash,
                received_at: now,
                upload_id: upload_id.into(),
            })
            .collect();
        let upload = UploadRecord {
            owner: owner.into(),
            upload_id: upload_id.into(),
            key: keys::incoming_key(owner, upload_id),
            status: UploadState::Stored,
            created_at: now,
            etag: Some(info.etag.clone()),
            event_count: Some(records.len() as u64),
            processed_at: Some(now),
            reason_code: None,
        };
        let committed =
            crate::commit::store_events_after(self.table.as_ref(), &upload, &records, record);
        match committed.await? {
            StoreOutcome::Stored {
                inserted,
                duplicates,
                ..
            } => {
                // A reprocessed upload may have left a quarantined copy; its entry went with
                // the commit, so remove the objects too (absent objects are no error).
                self.objects
                    .delete(Bucket::Quarantine, &report_key(&qkey))
                    .await?;
                self.objects.delete(Bucket::Quarantine, &qkey).await?;
                self.objects.delete(Bucket::Process, key).await?;
                Ok(Outcome::Stored {
                    owner: owner.into(),
                    upload_id: upload_id.into(),
                    events: records.len() as u64,
                    inserted,
                    duplicates,
                })
            }
            StoreOutcome::Conflict { event_ids } => {
                let r = conflict_report(&records, &event_ids);
                self.quarantine(owner, upload_id, key, &qkey, &info, r)
                    .await
            }
            StoreOutcome::AlreadyFinal(state) => {
                match self.ledger(owner, upload_id, &info, reprocess).await? {
                    // Another run finished this same content first.
                    Ledger::Done(_) | Ledger::Open => {
                        self.objects.delete(Bucket::Process, key).await?;
                        Ok(Outcome::Skipped {
                            key: key.into(),
                            why: "already processed",
                        })
                    }
                    Ledger::OtherContent(_) => self.reused_key(key, &info, state).await,
                }
            }
        }
    }

    /// What the ledger already says about this upload and this content; `reprocess` when
    /// the object is the reprocess copy (`keys::reprocess_key`).
    ///
    /// A pending upload with an ETag is either being committed for that content (the commit
    /// rule creates it so when no upload URL did) or reopened for a reprocess, keeping the
    /// ETag it was quarantined for. Either way, under the owner's key an object with that
    /// ETag is that very content (its commit to finish, or the quarantined object whose
    /// clean-up was missed, whose outcome can only be the copy's), and an object with
    /// another ETag is a second object, which must neither become the upload's content nor
    /// be dropped. The copy under the reprocess key is the upload's content. (With SSE-KMS a
    /// copy gets a new ETag, so the copy is told apart by its key, not by its ETag.)
    async fn ledger(
        &self,
        owner: &str,
        upload_id: &str,
        info: &ObjectInfo,
        reprocess: bool,
    ) -> Result<Ledger, ProcessError> {
        Ok(self.read_ledger(owner, upload_id, info, reprocess).await?.0)
    }

    /// [`Self::ledger`], and the record it was read from (handed on to the commit).
    async fn read_ledger(
        &self,
        owner: &str,
        upload_id: &str,
        info: &ObjectInfo,
        reprocess: bool,
    ) -> Result<(Ledger, Option<UploadRecord>), ProcessError> {
        let Some(upload) = self.table.get_upload(owner, upload_id).await? else {
            return Ok((Ledger::Open, None));
        };
        let same = upload.etag.as_deref() == Some(info.etag.as_str());
        let ledger = match (upload.status, &upload.etag) {
            (UploadState::Pending, None) => Ledger::Open,
            (UploadState::Pending, Some(_)) if reprocess || same => Ledger::Open,
            (state, _) if same => Ledger::Done(state),
            (state, _) => Ledger::OtherContent(state),
        };
        Ok((ledger, Some(upload)))
    }

    /// A second object under the key of a final or reopened upload (a presigned URL used
    /// twice). The upload keeps its one outcome; the new object is kept for the operator,
    /// never dropped.
    async fn reused_key(
        &self,
        key: &str,
        info: &ObjectInfo,
        state: UploadState,
    ) -> Result<Outcome, ProcessError> {
        tracing::warn!(target: "eventpulse::audit", key, etag = %info.etag, ?state, "a second object under the key of a final upload");
        let (qkey, id) = keys::operator_quarantine(&format!("{key}#{}", info.etag));
        if let Ledger::Done(_) = self.ledger(keys::OPERATOR, &id, info, false).await? {
            self.objects.delete(Bucket::Process, key).await?;
            return Ok(Outcome::Skipped {
                key: key.into(),
                why: "already processed",
            });
        }
        let message = if state == UploadState::Pending {
            format!(
                "The upload under key {key} is being reprocessed; a second object under the same key is not processed."
            )
        } else {
            format!(
                "The upload under key {key} is already {state}; a second object under the same key is not processed."
            )
        };
        let rejected = Rejected {
            reason: ReasonCode::InvalidKey,
            message: message.clone(),
            errors: vec![EventError {
                event_id: None,
                index: None,
                keyword: "key".into(),
                message,
                pointer: String::new(),
            }],
            error_count: 1,
            event_count: None,
        };
        self.quarantine(keys::OPERATOR, &id, key, &qkey, info, rejected)
            .await
    }

    /// Copy to quarantine + report, then record the state change and its notification once,
    /// then clean up.
    async fn quarantine(
        &self,
        owner: &str,
        upload_id: &str,
        key: &str,
        qkey: &str,
        info: &ObjectInfo,
        r: Rejected,
    ) -> Result<Outcome, ProcessError> {
        let now = self.clock.now();
        // Reports and records name the owner's key, also when the reprocess copy is read.
        let shown = match keys::parse_incoming(key) {
            Ok(k) => keys::incoming_key(&k.owner, &k.upload_id),
            Err(_) => key.to_string(),
        };
        let upload_id_typed = UploadId::try_from(upload_id.to_string())
            .map_err(|e| ProcessError::Internal(format!("upload id {upload_id}: {e}")))?;
        let report = QuarantineReport {
            report_version: QuarantineReportReportVersion::try_from(1)
                .map_err(|e| ProcessError::Internal(e.to_string()))?,
            upload_id: upload_id_typed.clone(),
            key: shown.clone(),
            reason_code: r.reason,
            message: r.message.clone(),
            quarantined_at: now,
            size_bytes: info.size,
            event_count: r.event_count,
            error_count: r.error_count,
            truncated: (r.errors.len() as u64) < r.error_count,
            errors: r.errors.clone(),
        };
        if self
            .objects
            .copy(Bucket::Process, key, Bucket::Quarantine, qkey)
            .await?
            .is_none()
        {
            return Ok(Outcome::Skipped {
                key: key.into(),
                why: "object vanished while quarantining",
            });
        }
        self.objects
            .put(
                Bucket::Quarantine,
                &report_key(qkey),
                report_bytes(&report),
                "application/json",
            )
            .await?;
        let notification = Notification {
            notification_version: NotificationNotificationVersion::try_from(1)
                .map_err(|e| ProcessError::Internal(e.to_string()))?,
            notification_id: new_id(),
            kind: NotificationKind::ObjectQuarantined,
            created_at: now,
            message: format!(
                "Upload {upload_id} was quarantined ({}): {}",
                r.reason, r.message
            ),
            upload_id: Some(upload_id_typed),
            key: Some(shown.clone()),
            reason_code: Some(r.reason),
            error_count: Some(r.error_count),
            export_id: None,
            event_count: r.event_count,
        };
        let upload = UploadRecord {
            owner: owner.into(),
            upload_id: upload_id.into(),
            key: shown,
            status: UploadState::Quarantined,
            created_at: now,
            etag: Some(info.etag.clone()),
            event_count: r.event_count,
            processed_at: Some(now),
            reason_code: Some(r.reason),
        };
        let record = QuarantineRecord {
            owner: owner.into(),
            upload_id: upload_id.into(),
            key: qkey.into(),
            quarantined_at: now,
            reason_code: r.reason,
            error_count: r.error_count,
            size_bytes: info.size,
        };
        // Recorded exactly once, with the state change; the outbox delivers it (at least
        // once) outside the processing path, so a slow webhook or SNS never holds a worker.
        let recorded = self
            .table
            .commit_quarantined(&upload, &record, &notification)
            .await?;
        if !recorded
            && owner != keys::OPERATOR
            && let Ledger::OtherContent(state) = self
                .ledger(
                    owner,
                    upload_id,
                    info,
                    keys::parse_incoming(key).is_ok_and(|k| k.reprocess),
                )
                .await?
        {
            // Raced with another object under the same key that finished first. (Boxed: it
            // quarantines in turn, into the operator space, which never comes back here.)
            return Box::pin(self.reused_key(key, info, state)).await;
        }
        if recorded && owner != keys::OPERATOR {
            deliver_recorded(
                self.delivery,
                self.table.as_ref(),
                self.notifier.as_ref(),
                owner,
                &notification,
            )
            .await;
        }
        self.objects.delete(Bucket::Process, key).await?;
        Ok(Outcome::Quarantined {
            owner: owner.into(),
            upload_id: upload_id.into(),
            reason: r.reason,
            errors: r.error_count,
        })
    }

    /// Delivers notifications recorded but not delivered (after a crash or a failed
    /// delivery). Returns how many were delivered.
    ///
    /// One notification that cannot be delivered does not hold back the others: it is
    /// logged and retried on the next flush.
    pub async fn flush_outbox(&self) -> Result<usize, ProcessError> {
        let mut delivered = 0;
        for (owner, n) in self.table.undelivered_notifications(100).await? {
            if owner != keys::OPERATOR
                && let Err(e) = self.notifier.deliver(&owner, &n).await
            {
                tracing::warn!(owner, notification_id = %n.notification_id, error = %e, "notification still not delivered");
                continue;
            }
            self.table
                .mark_delivered(&owner, &n.notification_id)
                .await?;
            delivered += 1;
        }
        Ok(delivered)
    }
}

/// The report of an object whose events reuse stored eventIds; `records` are in document
/// order, so a record's position is its index in the upload.
fn conflict_report(records: &[EventRecord], conflicting: &[String]) -> Rejected {
    let single = records.len() == 1;
    let conflicting: std::collections::HashSet<&str> =
        conflicting.iter().map(String::as_str).collect();
    let errors: Vec<EventError> = records
        .iter()
        .enumerate()
        .filter(|(_, e)| conflicting.contains(e.event_id.as_str()))
        .map(|(index, e)| EventError {
            event_id: Some(e.event_id.clone()),
            index: Some(index as u64),
            keyword: "eventIdConflict".into(),
            message: format!(
                "eventId \"{}\" is already stored with different content; use a new eventId or re-send identical content",
                e.event_id
            ),
            pointer: if single { "/eventId".into() } else { format!("/{index}/eventId") },
        })
        .collect();
    Rejected {
        reason: ReasonCode::EventIdConflict,
        message: format!(
            "{} event{} reuse{} an eventId already stored with different content; nothing from this object was stored.",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            if errors.len() == 1 { "s" } else { "" }
        ),
        error_count: errors.len() as u64,
        event_count: Some(records.len() as u64),
        errors,
    }
}
