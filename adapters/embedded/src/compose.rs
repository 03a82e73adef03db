//! The embedded backend's composition root: every adapter over one data directory, built
//! once. `eventpulse local` and the tests start from [`Embedded::open`].

use crate::{FsObjectStore, LocalNotifier, SqliteTable, TABLE_FILE};
use eventpulse_handlers::ports::{PortResult, SystemClock};
use eventpulse_handlers::wiring::{Delivery, Ports};
use std::path::Path;
use std::sync::Arc;

/// The embedded adapters, typed (for what only they offer, such as the table's path) and as
/// [`Ports`] for the domain.
pub struct Embedded {
    pub objects: Arc<FsObjectStore>,
    pub table: Arc<SqliteTable>,
    pub notifier: Arc<LocalNotifier>,
}

impl Embedded {
    /// Opens (creating if needed) the buckets and the table under `data_dir`; notifications
    /// go to the log and, when given, to `webhook`. Blocking: call it at start-up.
    pub fn open(data_dir: &Path, webhook: Option<String>) -> PortResult<Self> {
        Ok(Self {
            objects: Arc::new(FsObjectStore::open(data_dir)?),
            table: Arc::new(SqliteTable::open(data_dir.join(TABLE_FILE))?),
            notifier: Arc::new(LocalNotifier::new(webhook)),
        })
    }

    /// The ports, with notifications delivered by a long-running outbox task.
    pub fn ports(&self) -> Ports {
        Ports {
            objects: self.objects.clone(),
            table: self.table.clone(),
            notifier: self.notifier.clone(),
            clock: Arc::new(SystemClock),
            delivery: Delivery::Outbox,
        }
    }
}
