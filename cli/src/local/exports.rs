//! Exports on `eventpulse local`: run as tasks of the long-running process (on Lambda the
//! AWS runner puts them on a queue instead), shared fairly between users, and deleted once
//! past their retention.

use eventpulse_embedded::{FsObjectStore, SqliteTable};
use eventpulse_handlers::exports::{ExportRunner, Exporter};
use eventpulse_handlers::ports::{Bucket, ExportRecord, ObjectStore, PortResult};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Exports run at once (each holds its result in memory until written).
pub const MAX_CONCURRENT_EXPORTS: usize = 2;

/// Waiting exports, one queue per owner, served round-robin: one user's many exports never
/// hold another's behind them (40 exports of one user made another's 3-event export wait
/// 18 s when they shared one FIFO).
#[derive(Default)]
struct FairQueue {
    /// Owners with waiting exports, in serving order.
    turn: VecDeque<String>,
    waiting: HashMap<String, VecDeque<ExportRecord>>,
}

impl FairQueue {
    fn push(&mut self, x: ExportRecord) {
        let q = self.waiting.entry(x.owner.clone()).or_default();
        if q.is_empty() {
            self.turn.push_back(x.owner.clone());
        }
        q.push_back(x);
    }

    /// The next export: the first waiting one of the owner whose turn it is, who then goes
    /// to the back of the line.
    fn pop(&mut self) -> Option<ExportRecord> {
        let owner = self.turn.pop_front()?;
        let q = self.waiting.get_mut(&owner)?;
        let x = q.pop_front();
        if q.is_empty() {
            self.waiting.remove(&owner);
        } else {
            self.turn.push_back(owner);
        }
        x
    }
}

/// The local [`ExportRunner`]: a fair queue and [`MAX_CONCURRENT_EXPORTS`] workers.
pub struct TaskExports {
    queue: Arc<Mutex<FairQueue>>,
    ready: Arc<Notify>,
}

impl TaskExports {
    /// Starts the workers; `outbox` is woken when an export ends (its notification).
    pub fn start(exporter: Arc<Exporter>, outbox: Arc<Notify>) -> Self {
        let queue = Arc::new(Mutex::new(FairQueue::default()));
        let ready = Arc::new(Notify::new());
        for _ in 0..MAX_CONCURRENT_EXPORTS {
            let (queue, ready, exporter, outbox) = (
                queue.clone(),
                ready.clone(),
                exporter.clone(),
                outbox.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some(export) = next else {
                        ready.notified().await;
                        continue;
                    };
                    let id = export.export_id.clone();
                    if let Err(e) = exporter.run(export).await {
                        tracing::error!(export_id = %id, error = %e, "export could not be recorded");
                    }
                    outbox.notify_one();
                }
            });
        }
        Self { queue, ready }
    }
}

#[async_trait::async_trait]
impl ExportRunner for TaskExports {
    async fn submit(&self, export: &ExportRecord) -> PortResult<()> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(export.clone());
        // A permit is kept when no worker waits, so a push between a worker's empty pop
        // and its wait is not missed.
        self.ready.notify_one();
        Ok(())
    }
}

/// Deletes finished exports (result object, then record) older than `retention`; how many.
pub async fn expire_exports(
    table: &SqliteTable,
    store: &FsObjectStore,
    retention: chrono::Duration,
) -> PortResult<usize> {
    let before = chrono::Utc::now() - retention;
    let mut n = 0;
    loop {
        let batch = table.finished_exports_before(before, 100).await?;
        for x in &batch {
            if let Some(key) = &x.result_key {
                store.delete(Bucket::Exports, key).await?;
            }
            table.delete_export(&x.owner, &x.export_id).await?;
        }
        n += batch.len();
        if batch.len() < 100 {
            return Ok(n);
        }
    }
}

/// Forgets pending uploads created before `before` whose object never arrived (their
/// presigned URLs expired long before): one user created 13,958 in 30 s, and none ever
/// expired. One with an object in the process bucket is being processed, and is kept.
pub async fn forget_stale_uploads(
    table: &SqliteTable,
    store: &FsObjectStore,
    before: chrono::DateTime<chrono::Utc>,
) -> PortResult<usize> {
    let mut n = 0;
    let mut seen = 0;
    loop {
        let batch = table.stale_pending_uploads(before, 500).await?;
        let mut forgot_any = false;
        for u in &batch {
            if store.head(Bucket::Process, &u.key).await?.is_none()
                && table.forget_pending_upload(u).await?
            {
                n += 1;
                forgot_any = true;
            }
        }
        seen += batch.len();
        // A full batch of uploads that all stay (objects arriving) would come back as is.
        if batch.len() < 500 || !forgot_any || seen > 1_000_000 {
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventpulse_generated::types::ExportState;

    fn x(owner: &str, id: &str) -> ExportRecord {
        ExportRecord {
            owner: owner.into(),
            export_id: id.into(),
            status: ExportState::Running,
            query: Default::default(),
            created_at: chrono::Utc::now(),
            finished_at: None,
            event_count: None,
            result_key: None,
        }
    }

    #[test]
    fn owners_take_turns() {
        let mut q = FairQueue::default();
        for i in 0..40 {
            q.push(x("alice", &format!("a{i}")));
        }
        q.push(x("bob", "b0"));
        q.push(x("carol", "c0"));
        q.push(x("bob", "b1"));
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|x| x.export_id)
            .collect();
        assert_eq!(&order[..6], ["a0", "b0", "c0", "a1", "b1", "a2"]);
        assert_eq!(order.len(), 43);
        assert!(q.pop().is_none() && q.waiting.is_empty() && q.turn.is_empty());
    }
}
