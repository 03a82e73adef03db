//! Exports: an asynchronous query whose result is written as NDJSON to object storage, and
//! whose owner is notified when it is ready (the mission's "query results via SNS").

use crate::keys;
use crate::ports::{
    Bucket, Clock, EventTable, ExportRecord, MIN_PART_BYTES, Notifier, ObjectStore, ObjectWriter,
    PortError,
};
use crate::processor::new_id;
use crate::wiring::{Delivery, deliver_recorded};
use eventpulse_generated::types::{
    ExportState, Notification, NotificationKind, NotificationNotificationVersion, StoredEvent,
    UploadId,
};
use std::sync::Arc;

/// Events read per table query while exporting.
const PAGE: usize = 500;
/// Largest export. Beyond it the export fails with a clear message (narrow the filters)
/// rather than writing an unbounded object.
pub const MAX_EXPORT_BYTES: usize = 256 * 1024 * 1024;
/// What an export gathers before writing it as one part: over the store's minimum part, so
/// an export holds about this much (and one page of events) in memory, whatever its size.
const PART_BYTES: usize = 2 * MIN_PART_BYTES;
/// Exports one owner may have running at once; past it `create_export` is a 429.
pub const MAX_RUNNING_PER_OWNER: usize = 2;
/// An export still `running` this long after it was created is dead (its runner crashed
/// past every retry): it no longer holds its owner's place under the limit.
pub const RUNNING_LEASE: chrono::Duration = chrono::Duration::hours(1);

pub struct Exporter {
    pub table: Arc<dyn EventTable>,
    pub objects: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub notifier: Arc<dyn Notifier>,
    pub delivery: Delivery,
}

/// What the AWS export runner puts on the exports queue for the processor function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    pub owner: String,
    pub export_id: String,
}

/// Hands an export (already recorded `running`) to whatever runs it: a task locally, a
/// queue message for the processor function on AWS. Awaited and fallible, because a Lambda
/// function is frozen the moment it answers: nothing may be left running in the background.
#[async_trait::async_trait]
pub trait ExportRunner: Send + Sync {
    async fn submit(&self, export: &ExportRecord) -> Result<(), PortError>;
}

impl Exporter {
    /// Runs one export to completion, recording `done` or `failed` and notifying the owner.
    pub async fn run(&self, mut export: ExportRecord) -> Result<ExportRecord, PortError> {
        let result = self.write(&export).await;
        let now = self.clock.now();
        export.finished_at = Some(now);
        let (kind, message) = match &result {
            Ok((count, key)) => {
                export.status = ExportState::Done;
                export.event_count = Some(*count);
                export.result_key = Some(key.clone());
                (
                    NotificationKind::ExportDone,
                    format!("Export {} is ready: {count} events.", export.export_id),
                )
            }
            Err(e) => {
                export.status = ExportState::Failed;
                (NotificationKind::ExportFailed, {
                    // The cause goes to the log; the owner gets what they can act on.
                    tracing::error!(export_id = %export.export_id, error = %e, "export failed");
                    if e.retryable {
                        format!(
                            "Export {} failed on a temporary storage error; start it again.",
                            export.export_id
                        )
                    } else if e.message.starts_with("the result exceeds") {
                        format!("Export {} failed: {}.", export.export_id, e.message)
                    } else {
                        format!(
                            "Export {} failed; the export id identifies it in the service logs.",
                            export.export_id
                        )
                    }
                })
            }
        };
        // The notification's id is the export's and its outcome's, and it is recorded before
        // the export is marked final: two runs of one export (a queue's duplicate delivery)
        // record one notification, and a crash between the two writes leaves the export
        // running, so its redelivery runs it again and records nothing twice.
        let notification = Notification {
            notification_version: NotificationNotificationVersion::try_from(1)
                .map_err(|e| PortError::permanent(e.to_string()))?,
            notification_id: format!("{}-{kind}", export.export_id),
            kind,
            created_at: now,
            message,
            upload_id: None,
            key: None,
            reason_code: None,
            error_count: None,
            export_id: Some(export.export_id.clone()),
            event_count: export.event_count,
        };
        self.table
            .record_notification(&export.owner, &notification)
            .await?;
        self.table.put_export(&export).await?;
        deliver_recorded(
            self.delivery,
            self.table.as_ref(),
            self.notifier.as_ref(),
            &export.owner,
            &notification,
        )
        .await;
        tracing::info!(
            target: "eventpulse::audit", kind = "export", owner = %export.owner, export_id = %export.export_id,
            status = ?export.status, event_count = export.event_count
        );
        Ok(export)
    }

    /// Writes the result in parts as it is read, so memory stays at about one part.
    async fn write(&self, export: &ExportRecord) -> Result<(u64, String), PortError> {
        let key = keys::export_key(&export.owner, &export.export_id);
        let mut writer = self
            .objects
            .writer(Bucket::Exports, &key, "application/x-ndjson")
            .await?;
        match self.fill(export, writer.as_mut()).await {
            Ok(count) => {
                writer.finish().await?;
                Ok((count, key))
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(export_id = %export.export_id, error = %abort, "abandoning a partial export");
                }
                Err(e)
            }
        }
    }

    /// Every matching event, one `StoredEvent` a line, into `writer`; how many.
    async fn fill(
        &self,
        export: &ExportRecord,
        writer: &mut dyn ObjectWriter,
    ) -> Result<u64, PortError> {
        let mut out = Vec::with_capacity(PART_BYTES);
        let (mut count, mut written) = (0u64, 0usize);
        let mut after = None;
        loop {
            let page = self
                .table
                .list_events(&export.owner, &export.query, after.as_ref(), PAGE)
                .await?;
            let full = page.len() == PAGE;
            let next = page.last().map(|last| crate::ports::EventPosition {
                occurred_at: last.occurred_at,
                event_id: last.event_id.clone(),
            });
            for e in page {
                // One `StoredEvent` per line, its event the stored text as it is.
                let upload_id = e.upload_id.parse::<UploadId>().map_err(|err| {
                    PortError::permanent(format!("stored upload id {}: {err}", e.upload_id))
                })?;
                let line = StoredEvent {
                    event: e.body,
                    received_at: e.received_at,
                    upload_id,
                };
                eventpulse_contract_rt::json_out::write(&mut out, &line)
                    .map_err(|e| PortError::permanent(e.to_string()))?;
                out.push(b'\n');
                count += 1;
            }
            if written + out.len() > MAX_EXPORT_BYTES {
                return Err(PortError::permanent(format!(
                    "the result exceeds {} MiB; narrow the filters (type, from, to)",
                    MAX_EXPORT_BYTES / (1024 * 1024)
                )));
            }
            if out.len() >= PART_BYTES {
                written += out.len();
                let part = std::mem::replace(&mut out, Vec::with_capacity(PART_BYTES));
                writer.write(part.into()).await?;
            }
            match next {
                Some(position) if full => after = Some(position),
                _ => break,
            }
        }
        if !out.is_empty() {
            writer.write(out.into()).await?;
        }
        Ok(count)
    }
}

/// A new export record, running.
pub fn new_export(owner: &str, query: crate::ports::EventQuery, clock: &dyn Clock) -> ExportRecord {
    ExportRecord {
        owner: owner.to_string(),
        export_id: new_id(),
        status: ExportState::Running,
        query,
        created_at: clock.now(),
        finished_at: None,
        event_count: None,
        result_key: None,
    }
}
