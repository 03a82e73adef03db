//! The embedded adapters: EventPulse on one machine, with no AWS and no Docker.
//!
//! Everything lives under one data directory (the CLI passes `./.eventpulse`) and survives a
//! restart:
//!
//! | port          | adapter             | where                                           |
//! |---------------|---------------------|-------------------------------------------------|
//! | `ObjectStore` | [`FsObjectStore`]   | `{data}/objects/{process,quarantine,exports}/…`  |
//! | `EventTable`  | [`SqliteTable`]     | a SQLite file, e.g. `{data}/eventpulse.sqlite3`  |
//! | `Notifier`    | [`LocalNotifier`]   | the log (`eventpulse::notify`) and a webhook     |
//!
//! [`Embedded`] is the composition root that opens them all over one data directory.
//!
//! All of them pass `eventpulse_handlers::conformance`, the suite the AWS adapters are held
//! to as well. Blocking disk work runs on tokio's blocking pool, never on a worker thread.

mod compose;
mod fs;
mod notify;
mod sqlite;

pub use compose::Embedded;
pub use fs::{FsObjectStore, Staged};
pub use notify::{LocalNotifier, RetryPolicy};
pub use sqlite::SqliteTable;

use eventpulse_handlers::ports::{PortError, PortResult};

/// The SQLite file inside a data directory.
pub const TABLE_FILE: &str = "eventpulse.sqlite3";

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T, F>(what: &'static str, f: F) -> PortResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> PortResult<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Err(PortError::transient(format!("{what}: cancelled"))),
        Err(e) => Err(PortError::permanent(format!("{what}: panicked: {e}"))),
    }
}
