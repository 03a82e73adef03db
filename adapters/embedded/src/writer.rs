//! The table's one writer: a thread that runs every state change and commits them in groups.
//!
//! SQLite runs one write transaction at a time, and with `synchronous = FULL` every commit
//! ends with an fsync of the WAL and a write of every page the transaction dirtied. Under
//! load, the changes of the processing workers and of the API queue up behind the commit in
//! progress; the writer takes every change that is waiting (up to [`MAX_GROUP`]) and runs
//! them in one `BEGIN IMMEDIATE` transaction, each inside its own `SAVEPOINT`, then commits
//! once: **group commit**. One fsync serves the group, and a page several changes touch (an
//! index's inner pages, the uploads table) is written once.
//!
//! What callers can rely on is unchanged:
//! - **Atomic per change.** A change that fails rolls back to its savepoint: none of its
//!   writes stay, and the other changes of the group are unaffected.
//! - **Durable when answered.** A change is answered only after its group's `COMMIT`
//!   returned, so an acknowledged change is on disk (and survives `kill -9` and power loss)
//!   exactly as with one transaction per change. If the commit fails, every change of the
//!   group gets the error and none of them happened.
//! - **Serial.** Changes run one after another in arrival order, and each sees the writes of
//!   the ones before it: the outcome is that of running them one by one. The write lock is
//!   taken before anything is read (`IMMEDIATE`), so checks and writes see the same state.
//!
//! Readers (the table's read-only connections) see a change once it is answered.
//!
//! **Checkpoints** (copying the WAL back into the database file, with an fsync of it) are
//! not the writer's job: left to SQLite, the commit that crosses 1,000 WAL pages runs one
//! inline, and every change waiting behind it waits for it too (a tenth of the writer's time
//! under load). A second connection on its own thread runs `PASSIVE` checkpoints after
//! commits instead (at most every [`CHECKPOINT_EVERY`]), which never block the writer; the
//! writer keeps SQLite's automatic checkpoint only as a backstop, at [`BACKSTOP_PAGES`].

use eventpulse_handlers::ports::{PortError, PortResult};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Changes committed together at most: enough to amortise a commit over every worker and
/// request waiting, small enough that one group's transaction stays short.
pub const MAX_GROUP: usize = 64;

/// How often the checkpointer runs at most while commits keep coming.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL pages at which the writer checkpoints by itself (SQLite's default is 1,000): only if
/// the checkpointer falls far behind, e.g. while a long read holds old pages.
pub const BACKSTOP_PAGES: i64 = 20_000;

/// One state change, as the writer thread sees it.
trait Change: Send {
    /// Runs the change on the group's transaction; false when it failed (and must be rolled
    /// back to its savepoint).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's fate is known.
    fn answer(self: Box<Self>, committed: &PortResult<()>);
}

struct Pending<T, F> {
    what: &'static str,
    f: Option<F>,
    result: Option<PortResult<T>>,
    reply: tokio::sync::oneshot::Sender<PortResult<T>>,
}

impl<T, F> Change for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> PortResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(PortError::permanent(format!("{}: panicked", self.what))));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: &PortResult<()>) {
        let result = match (committed, self.result) {
            // The change's own error wins: it is why nothing of it was written.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(PortError {
                retryable: e.retryable,
                message: format!("{}: {}", self.what, e.message),
            }),
            (Ok(()), None) => Err(PortError::permanent(format!("{}: never ran", self.what))),
        };
        // The caller may have gone (a cancelled request): the change stands regardless.
        let _ = self.reply.send(result);
    }
}

/// Handle to the writer thread; dropping the last one lets the thread finish what is queued
/// and close the connection.
pub struct Writer {
    tx: Option<mpsc::Sender<Box<dyn Change>>>,
    thread: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `conn`, the table's only writing connection, and the
    /// checkpointer over `checkpoints` (another connection to the same file).
    pub fn start(conn: Connection, checkpoints: Connection) -> PortResult<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)
            .map_err(crate::sqlite::db_error)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Change>>();
        let (committed, wake) = mpsc::sync_channel::<()>(1);
        let failed =
            |e: std::io::Error| PortError::permanent(format!("starting the table's writer: {e}"));
        let checkpointer = std::thread::Builder::new()
            .name("eventpulse-sqlite-checkpoint".into())
            .spawn(move || checkpoint_after_commits(checkpoints, wake))
            .map_err(failed)?;
        let thread = std::thread::Builder::new()
            .name("eventpulse-sqlite-writer".into())
            .spawn(move || run(conn, rx, committed))
            .map_err(failed)?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            checkpointer: Some(checkpointer),
        })
    }

    /// Runs `f` as one atomic change and answers once it is durably committed.
    pub async fn change<T, F>(&self, what: &'static str, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> PortResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let change = Box::new(Pending {
            what,
            f: Some(f),
            result: None,
            reply,
        });
        let stopped = || PortError::permanent(format!("{what}: the table's writer has stopped"));
        self.tx
            .as_ref()
            .ok_or_else(stopped)?
            .send(change)
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once every queued change is committed.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The writer's end of the wake-up channel is gone with it: the checkpointer runs a
        // last checkpoint and stops.
        if let Some(t) = self.checkpointer.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn Change>>, committed: mpsc::SyncSender<()>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => group.push(c),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&conn, &mut group);
        for change in group {
            change.answer(&outcome);
        }
        // One wake-up pending is enough: the checkpointer takes every commit so far.
        let _ = committed.try_send(());
    }
}

fn checkpoint_after_commits(conn: Connection, wake: mpsc::Receiver<()>) {
    let checkpoint = || {
        // (busy, WAL pages, pages checkpointed); a failure only delays the next one.
        let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        if let Err(e) = r {
            tracing::warn!(target: "eventpulse::table", error = %e, "checkpoint failed; retried after the next commit");
        }
    };
    while wake.recv().is_ok() {
        checkpoint();
        std::thread::sleep(CHECKPOINT_EVERY);
    }
    checkpoint();
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn Change>]) -> PortResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(crate::sqlite::db_error)?;
    let outcome = (|| {
        for change in group.iter_mut() {
            conn.execute_batch("SAVEPOINT change")?;
            if change.run(conn) {
                conn.execute_batch("RELEASE change")?;
            } else {
                conn.execute_batch("ROLLBACK TO change; RELEASE change")?;
            }
        }
        conn.execute_batch("COMMIT")
    })();
    outcome.map_err(|e| {
        // Whatever failed (a savepoint, the commit itself), nothing of the group stays. An
        // error SQLite already rolled back for leaves no transaction to roll back.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        crate::sqlite::db_error(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &std::path::Path) -> Writer {
        let conn = Connection::open(dir.join("w.sqlite3")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
        )
        .unwrap();
        let checkpoints = Connection::open(dir.join("w.sqlite3")).unwrap();
        Writer::start(conn, checkpoints).unwrap()
    }

    fn count(dir: &std::path::Path, k: &str) -> i64 {
        let c = Connection::open(dir.join("w.sqlite3")).unwrap();
        c.query_row("SELECT count(*) FROM t WHERE k = ?1", [k], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_change_rolls_back_alone_in_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let w = std::sync::Arc::new(writer(dir.path()));
        // Many changes at once, so that groups form; every third one writes, then fails.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..300 {
            let w = w.clone();
            tasks.spawn(async move {
                let k = format!("k{i}");
                let r = w
                    .change("test", move |c| {
                        c.execute("INSERT INTO t (k, v) VALUES (?1, 1)", [&k])
                            .map_err(crate::sqlite::db_error)?;
                        if i % 3 == 0 {
                            return Err(PortError::permanent("refused"));
                        }
                        Ok(i)
                    })
                    .await;
                (i, r)
            });
        }
        let mut answered = 0;
        while let Some(r) = tasks.join_next().await {
            let (i, r) = r.unwrap();
            answered += 1;
            if i % 3 == 0 {
                assert_eq!(r, Err(PortError::permanent("refused")));
                assert_eq!(
                    count(dir.path(), &format!("k{i}")),
                    0,
                    "k{i} was rolled back"
                );
            } else {
                assert_eq!(r, Ok(i));
                // Answered means committed: another connection sees it at once.
                assert_eq!(count(dir.path(), &format!("k{i}")), 1, "k{i} is committed");
            }
        }
        assert_eq!(answered, 300);
    }

    #[tokio::test]
    async fn changes_see_the_ones_before_them_and_a_panic_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        w.change("put", |c| {
            c.execute("INSERT INTO t (k, v) VALUES ('a', 1)", [])
                .map_err(crate::sqlite::db_error)
        })
        .await
        .unwrap();
        // A constraint violation is the change's error, and the row stays as it was.
        let dup = w
            .change("dup", |c| {
                c.execute("INSERT INTO t (k, v) VALUES ('a', 2)", [])
                    .map_err(crate::sqlite::db_error)
            })
            .await;
        assert!(dup.is_err());
        let panicked = w
            .change::<(), _>("boom", |c| {
                c.execute("UPDATE t SET v = 9", []).unwrap();
                panic!("boom")
            })
            .await;
        assert_eq!(panicked, Err(PortError::permanent("boom: panicked")));
        let v: i64 = w
            .change("read", |c| {
                c.query_row("SELECT v FROM t WHERE k = 'a'", [], |r| r.get(0))
                    .map_err(crate::sqlite::db_error)
            })
            .await
            .unwrap();
        assert_eq!(
            v, 1,
            "neither the duplicate nor the panicking update stayed"
        );
    }

    #[tokio::test]
    async fn commits_are_checkpointed_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(dir.path());
        let db = dir.path().join("w.sqlite3");
        let size = || std::fs::metadata(&db).unwrap().len();
        let before = size();
        // ~2 MB in 200 changes: far below the writer's own backstop (20,000 pages), so only
        // the checkpointer can have copied it into the database file.
        for i in 0..200 {
            w.change("put", move |c| {
                c.execute(
                    "INSERT INTO t (k, v) VALUES (?1 || hex(randomblob(5000)), ?2)",
                    rusqlite::params![format!("k{i}-"), i],
                )
                .map_err(crate::sqlite::db_error)
            })
            .await
            .unwrap();
        }
        // The checkpointer runs within CHECKPOINT_EVERY of a commit; allow a slow machine.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while size() < before + 1_000_000 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            size() >= before + 1_000_000,
            "the database file did not grow ({before} → {} bytes): nothing was checkpointed",
            size()
        );
    }
}
