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
