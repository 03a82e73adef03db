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
pub mod deliver;
mod fs;
mod notify;
mod sqlite;
mod writer;

pub use compose::{Embedded, Options};
pub use fs::{FsObjectStore, Staged};
pub use notify::{LocalNotifier, RetryPolicy};
pub use sqlite::{SqliteTable, StalePending};

use eventpulse_handlers::ports::{PortError, PortResult};

/// Creates `dir` and any missing parents, owner-only (0700 on Unix): a data dir holds every
/// tenant's data, so no other local user may list or read it. Directories that exist keep
/// their mode.
pub fn create_private_dir_all(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` for writing as a new file, owner-only (0600 on Unix) from the moment it
/// exists.
pub(crate) fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

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
