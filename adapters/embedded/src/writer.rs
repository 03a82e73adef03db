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

use eventpulse_handlers::ports::{PortError, PortResult};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Changes committed together at most: enough to amortise a commit over every worker and
/// request waiting, small enough that one group's transaction stays short.
pub const MAX_GROUP: usize = 64;

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
}

impl Writer {
    /// Starts the writer thread over `conn`, the table's only read-write connection.
    pub fn start(conn: Connection) -> PortResult<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn Change>>();
        let thread = std::thread::Builder::new()
            .name("eventpulse-sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| PortError::permanent(format!("starting the table's writer: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
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
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn Change>>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(c) => group.push(c),
                Err(_) => break,
            }
        }
        let committed = commit_group(&conn, &mut group);
        for change in group {
            change.answer(&committed);
        }
    }
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
        Writer::start(conn).unwrap()
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
}
