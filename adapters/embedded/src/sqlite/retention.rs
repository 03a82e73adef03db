//! Retention of finished exports on the embedded backend (on AWS: the exports bucket's
//! lifecycle rule and the table's TTL): what `eventpulse local`'s hourly sweep deletes.

use super::{EXPORT_COLUMNS, SqliteTable, db_error, export, limit, query_rows, raw_export, ts};
use chrono::{DateTime, Utc};
use eventpulse_handlers::ports::{ExportRecord, PortResult};
use rusqlite::params;

impl SqliteTable {
    /// Finished (done or failed) exports of every owner that finished before `before`,
    /// oldest first.
    pub async fn finished_exports_before(
        &self,
        before: DateTime<Utc>,
        n: usize,
    ) -> PortResult<Vec<ExportRecord>> {
        let before = ts(&before)?;
        self.read("finished_exports_before", move |c| {
            let sql = format!(
                "SELECT {EXPORT_COLUMNS} FROM exports WHERE status != 'running' AND finished_at < ?1
                 ORDER BY finished_at LIMIT ?2"
            );
            query_rows(c, &sql, params![before, limit(n)], raw_export)?
                .into_iter()
                .map(export)
                .collect()
        })
        .await
    }

    /// Deletes an export record (its result object is the caller's to delete first).
    pub async fn delete_export(&self, owner: &str, export_id: &str) -> PortResult<()> {
        let (owner, id) = (owner.to_string(), export_id.to_string());
        self.with("delete_export", move |c| {
            c.execute(
                "DELETE FROM exports WHERE owner = ?1 AND export_id = ?2",
                params![owner, id],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}

/// A pending upload the sweep may forget: its URL expired long ago and nothing arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalePending {
    pub owner: String,
    pub upload_id: String,
    pub key: String,
}

impl SqliteTable {
    /// Pending uploads created before `before` that nothing ever touched: no event holds,
    /// no events, no quarantine entry, never reopened (a reprocess claim is pending too).
    pub async fn stale_pending_uploads(
        &self,
        before: DateTime<Utc>,
        n: usize,
    ) -> PortResult<Vec<StalePending>> {
        let before = ts(&before)?;
        self.read("stale_pending_uploads", move |c| {
            query_rows(
                c,
                "SELECT u.owner, u.upload_id, u.key FROM uploads u
                 WHERE u.status = 'pending' AND u.created_at < ?1 AND u.reopened_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.owner = u.owner AND q.upload_id = u.upload_id)
                   AND NOT EXISTS (SELECT 1 FROM event_holders h WHERE h.owner = u.owner AND h.upload_id = u.upload_id)
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.owner = u.owner AND e.upload_id = u.upload_id)
                 ORDER BY u.created_at LIMIT ?2",
                params![before, limit(n)],
                |r| {
                    Ok(StalePending {
                        owner: r.get(0)?,
                        upload_id: r.get(1)?,
                        key: r.get(2)?,
                    })
                },
            )
        })
        .await
    }

    /// Forgets a stale pending upload, under the same conditions as
    /// [`Self::stale_pending_uploads`] checked again in the delete; false when it changed
    /// meanwhile (and it is kept).
    pub async fn forget_pending_upload(&self, u: &StalePending) -> PortResult<bool> {
        let (owner, id) = (u.owner.clone(), u.upload_id.clone());
        self.with("forget_pending_upload", move |c| {
            let n = c
                .execute(
                    "DELETE FROM uploads WHERE owner = ?1 AND upload_id = ?2
                       AND status = 'pending' AND reopened_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.owner = ?1 AND q.upload_id = ?2)
                       AND NOT EXISTS (SELECT 1 FROM event_holders h WHERE h.owner = ?1 AND h.upload_id = ?2)
                       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.owner = ?1 AND e.upload_id = ?2)",
                    params![owner, id],
                )
                .map_err(db_error)?;
            Ok(n == 1)
        })
        .await
    }
}
