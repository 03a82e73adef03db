//! Faults at every step (issue 8): the domain's workflows, run over real adapters wrapped so
//! that the k-th port call fails, for every k, and then redelivered, as the deployments
//! redeliver; every case must converge to the state the fault-free run reaches.
//!
//! [`Gate`] and the `Faulty*` wrappers ([`FaultyPorts::wrap`]) sit between the domain and a
//! backend's [`ObjectStore`], [`EventTable`], [`Notifier`] and [`Dispatcher`], and share one
//! call counter. A plan `(k, fault)` makes call number `k` (counted over the four ports):
//!
//! - [`Fault::Transient`] / [`Fault::Permanent`]: fail before the inner call, with
//!   [`PortError::transient`] / [`PortError::permanent`];
//! - [`Fault::After`]: make the inner call, then answer a transient error: the write
//!   happened, the caller never learnt it;
//! - [`Fault::Abort`] / [`Fault::AbortAfter`]: never return to the domain, before / after the
//!   inner call (a crash, a timeout, a killed Lambda): [`abortable`] drops the whole workflow at
//!   that point, so nothing of it runs after the call.
//!
//! [`run_matrix`] runs each [`Scenario`] fault-free first (counting its `N` port calls), then
//! once for every `k` in `1..=N` (or a spread of them, [`Ks`]) and every [`Fault`], each case
//! in a fresh owner, followed by the redelivery of its [`Profile`] and the sweep, and checks
//! the result through the inner adapters: exactly one final state per upload, every event of
//! a stored upload listed once, none of a quarantined one, each notification recorded once
//! and delivered at least once, nothing left in the process bucket, a quarantine entry only
//! with its objects, an export done (or failed, notified, and done when started again).
//!
//! A case never panics: what did not converge is a [`CaseResult`] with its problems, so one
//! run reports the whole matrix ([`Matrix::table`]).

use super::unique;
use crate::api::{Api, ApiConfig, REOPEN_LEASE};
use crate::cursor::CursorSigner;
use crate::exports::{ExportRunner, Exporter, new_export};
use crate::intake::Intake;
use crate::keys;
use crate::ports::{
    Bucket, Clock, Dispatcher, EventPosition, EventQuery, EventRecord, EventTable, ExportPosition,
    ExportRecord, Held, MarkStored, NotificationPosition, Notifier, Object, ObjectInfo,
    ObjectStore, ObjectWriter, PortError, PortResult, PresignedRequest, Presigner,
    QuarantinePosition, QuarantineRecord, Read, UploadRecord, report_key,
};
use crate::processor::{Outcome, ProcessError, Processor};
use crate::wiring::{Delivery, Ports};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventpulse_contract_rt::{ApiError, Principal, RequestContext};
use eventpulse_generated::api::{
    DeleteQuarantineRequest, EventPulseApi, ReprocessQuarantineRequest,
};
use eventpulse_generated::types::{
    ExportState, Notification, NotificationKind, ReasonCode, UploadId, UploadState,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// The wrapper

/// What call number `k` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Fails before the inner call, retryable.
    Transient,
    /// Fails before the inner call, not retryable.
    Permanent,
    /// Makes the inner call, then fails (retryable): done, but the caller never learns it.
    After,
    /// Never returns, and the inner call never starts (the task dies here).
    Abort,
    /// Makes the inner call, then never returns (the task dies after the write).
    AbortAfter,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Transient,
        Fault::Permanent,
        Fault::After,
        Fault::Abort,
        Fault::AbortAfter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Transient => "transient",
            Fault::Permanent => "permanent",
            Fault::After => "after",
            Fault::Abort => "abort",
            Fault::AbortAfter => "abort-after",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct GateState {
    counting: bool,
    calls: Vec<String>,
    plan: Option<(usize, Fault)>,
}

/// The call counter the wrappers share, the fault plan, and the deliveries the inner notifier
/// completed (per notification id).
#[derive(Default)]
pub struct Gate {
    state: Mutex<GateState>,
    aborted: AtomicBool,
    delivered: Mutex<HashMap<String, usize>>,
}

impl Gate {
    /// Starts counting calls from 1, with `plan` (`None`: count only).
    pub fn arm(&self, plan: Option<(usize, Fault)>) {
        let mut s = lock(&self.state);
        s.counting = true;
        s.calls.clear();
        s.plan = plan;
        self.aborted.store(false, Ordering::SeqCst);
    }

    /// Stops counting and faulting; the names of the calls counted since [`Gate::arm`].
    pub fn disarm(&self) -> Vec<String> {
        let mut s = lock(&self.state);
        s.counting = false;
        s.plan = None;
        std::mem::take(&mut s.calls)
    }

    /// Whether a call aborted since [`Gate::arm`] (it never returns).
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// How many times the inner notifier delivered this notification (successfully).
    pub fn deliveries(&self, notification_id: &str) -> usize {
        lock(&self.delivered)
            .get(notification_id)
            .copied()
            .unwrap_or(0)
    }

    fn next(&self, name: String) -> Option<Fault> {
        let mut s = lock(&self.state);
        if !s.counting {
            return None;
        }
        s.calls.push(name);
        let n = s.calls.len();
        match s.plan {
            Some((k, fault)) if k == n => Some(fault),
            _ => None,
        }
    }

    async fn call<T, F>(&self, name: String, inner: impl FnOnce() -> F) -> PortResult<T>
    where
        F: Future<Output = PortResult<T>>,
    {
        let Some(fault) = self.next(name.clone()) else {
            return inner().await;
        };
        let injected = |what: &str| format!("injected {what} fault at {name}");
        match fault {
            Fault::Transient => Err(PortError::transient(injected("transient"))),
            Fault::Permanent => Err(PortError::permanent(injected("permanent"))),
            Fault::After => {
                inner().await?;
                Err(PortError::transient(injected("after-the-call")))
            }
            Fault::Abort => {
                self.aborted.store(true, Ordering::SeqCst);
                std::future::pending().await
            }
            Fault::AbortAfter => {
                let _ = inner().await;
                self.aborted.store(true, Ordering::SeqCst);
                std::future::pending().await
            }
        }
    }
}

/// Runs `fut` until it ends, or until a call of `gate` aborted: then `fut` is dropped where it
/// stands (nothing of it runs again) and the answer is `None`.
pub async fn abortable<T>(gate: &Gate, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending if gate.aborted() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await
}

/// Real adapters behind one [`Gate`].
#[derive(Clone)]
pub struct FaultyPorts {
    pub objects: Arc<dyn ObjectStore>,
    pub table: Arc<dyn EventTable>,
    pub notifier: Arc<dyn Notifier>,
    pub dispatcher: Arc<dyn Dispatcher>,
    pub gate: Arc<Gate>,
}

impl FaultyPorts {
    pub fn wrap(
        objects: Arc<dyn ObjectStore>,
        table: Arc<dyn EventTable>,
        notifier: Arc<dyn Notifier>,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Self {
        let gate = Arc::new(Gate::default());
        Self {
            objects: Arc::new(FaultyObjects {
                inner: objects,
                gate: gate.clone(),
            }),
            table: Arc::new(FaultyTable {
                inner: table,
                gate: gate.clone(),
            }),
            notifier: Arc::new(FaultyNotifier {
                inner: notifier,
                gate: gate.clone(),
            }),
            dispatcher: Arc::new(FaultyDispatcher {
                inner: dispatcher,
                gate: gate.clone(),
            }),
            gate,
        }
    }
}

fn bucket_name(b: Bucket) -> &'static str {
    match b {
        Bucket::Process => "process",
        Bucket::Quarantine => "quarantine",
        Bucket::Exports => "exports",
    }
}

pub struct FaultyObjects {
    inner: Arc<dyn ObjectStore>,
    gate: Arc<Gate>,
}

#[async_trait]
impl ObjectStore for FaultyObjects {
    async fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        let name = format!("objects.put({})", bucket_name(bucket));
        let inner = &self.inner;
        self.gate
            .call(name, || inner.put(bucket, key, bytes, content_type))
            .await
    }
    async fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>> {
        let name = format!("objects.head({})", bucket_name(bucket));
        self.gate.call(name, || self.inner.head(bucket, key)).await
    }
    async fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>> {
        let name = format!("objects.get({})", bucket_name(bucket));
        self.gate
            .call(name, || self.inner.get(bucket, key, max_bytes))
            .await
    }
    async fn read(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Read>> {
        let name = format!("objects.read({})", bucket_name(bucket));
        self.gate
            .call(name, || self.inner.read(bucket, key, max_bytes))
            .await
    }
    async fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>> {
        let name = format!("objects.copy({}→{})", bucket_name(from), bucket_name(to));
        self.gate
            .call(name, || self.inner.copy(from, from_key, to, to_key))
            .await
    }
    async fn writer(
        &self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<Box<dyn ObjectWriter>> {
        let name = format!("objects.writer({})", bucket_name(bucket));
        let inner = self
            .gate
            .call(name, || self.inner.writer(bucket, key, content_type))
            .await?;
        Ok(Box::new(FaultyWriter {
            inner,
            bucket,
            gate: self.gate.clone(),
        }))
    }
    async fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()> {
        let what = if key.ends_with(".report.json") {
            " report"
        } else {
            ""
        };
        let name = format!("objects.delete({}{what})", bucket_name(bucket));
        self.gate
            .call(name, || self.inner.delete(bucket, key))
            .await
    }
    async fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>> {
        let name = format!("objects.list({})", bucket_name(bucket));
        self.gate
            .call(name, || self.inner.list(bucket, prefix, start_after, limit))
            .await
    }
}

/// Each call of a writer is a port call of its own, faulted like the others.
struct FaultyWriter {
    inner: Box<dyn ObjectWriter>,
    bucket: Bucket,
    gate: Arc<Gate>,
}

#[async_trait]
impl ObjectWriter for FaultyWriter {
    async fn write(&mut self, part: Bytes) -> PortResult<()> {
        let name = format!("writer.write({})", bucket_name(self.bucket));
        let inner = &mut self.inner;
        self.gate.call(name, || inner.write(part)).await
    }
    async fn finish(self: Box<Self>) -> PortResult<ObjectInfo> {
        let name = format!("writer.finish({})", bucket_name(self.bucket));
        let Self { inner, gate, .. } = *self;
        gate.call(name, || inner.finish()).await
    }
    async fn abort(self: Box<Self>) -> PortResult<()> {
        let name = format!("writer.abort({})", bucket_name(self.bucket));
        let Self { inner, gate, .. } = *self;
        gate.call(name, || inner.abort()).await
    }
}

pub struct FaultyTable {
    inner: Arc<dyn EventTable>,
    gate: Arc<Gate>,
}

#[async_trait]
impl EventTable for FaultyTable {
    async fn create_upload(&self, upload: &UploadRecord) -> PortResult<bool> {
        self.gate
            .call("table.create_upload".into(), || {
                self.inner.create_upload(upload)
            })
            .await
    }
    async fn get_upload(&self, owner: &str, upload_id: &str) -> PortResult<Option<UploadRecord>> {
        self.gate
            .call("table.get_upload".into(), || {
                self.inner.get_upload(owner, upload_id)
            })
            .await
    }
    async fn find_conflicts(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<String>> {
        self.gate
            .call("table.find_conflicts".into(), || {
                self.inner.find_conflicts(upload, events)
            })
            .await
    }
    async fn hold_events(
        &self,
        upload: &UploadRecord,
        events: &[EventRecord],
    ) -> PortResult<Vec<Held>> {
        self.gate
            .call("table.hold_events".into(), || {
                self.inner.hold_events(upload, events)
            })
            .await
    }
    async fn mark_stored(&self, upload: &UploadRecord) -> PortResult<MarkStored> {
        self.gate
            .call("table.mark_stored".into(), || {
                self.inner.mark_stored(upload)
            })
            .await
    }
    async fn release_events(&self, upload: &UploadRecord, event_ids: &[String]) -> PortResult<()> {
        self.gate
            .call("table.release_events".into(), || {
                self.inner.release_events(upload, event_ids)
            })
            .await
    }
    async fn commit_quarantined(
        &self,
        upload: &UploadRecord,
        quarantine: &QuarantineRecord,
        notification: &Notification,
    ) -> PortResult<bool> {
        self.gate
            .call("table.commit_quarantined".into(), || {
                self.inner
                    .commit_quarantined(upload, quarantine, notification)
            })
            .await
    }
    async fn reopen_upload(
        &self,
        owner: &str,
        upload_id: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> PortResult<bool> {
        self.gate
            .call("table.reopen_upload".into(), || {
                self.inner.reopen_upload(owner, upload_id, at, stale_before)
            })
            .await
    }
    async fn get_quarantine(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> PortResult<Option<QuarantineRecord>> {
        self.gate
            .call("table.get_quarantine".into(), || {
                self.inner.get_quarantine(owner, upload_id)
            })
            .await
    }
    async fn delete_quarantine(&self, owner: &str, upload_id: &str) -> PortResult<bool> {
        self.gate
            .call("table.delete_quarantine".into(), || {
                self.inner.delete_quarantine(owner, upload_id)
            })
            .await
    }
    async fn list_quarantine(
        &self,
        owner: &str,
        after: Option<&QuarantinePosition>,
        limit: usize,
    ) -> PortResult<Vec<QuarantineRecord>> {
        self.gate
            .call("table.list_quarantine".into(), || {
                self.inner.list_quarantine(owner, after, limit)
            })
            .await
    }
    async fn get_event(&self, owner: &str, event_id: &str) -> PortResult<Option<EventRecord>> {
        self.gate
            .call("table.get_event".into(), || {
                self.inner.get_event(owner, event_id)
            })
            .await
    }
    async fn list_events(
        &self,
        owner: &str,
        query: &EventQuery,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> PortResult<Vec<EventRecord>> {
        self.gate
            .call("table.list_events".into(), || {
                self.inner.list_events(owner, query, after, limit)
            })
            .await
    }
    async fn record_notification(
        &self,
        owner: &str,
        notification: &Notification,
    ) -> PortResult<()> {
        self.gate
            .call("table.record_notification".into(), || {
                self.inner.record_notification(owner, notification)
            })
            .await
    }
    async fn list_notifications(
        &self,
        owner: &str,
        after: Option<&NotificationPosition>,
        limit: usize,
    ) -> PortResult<Vec<Notification>> {
        self.gate
            .call("table.list_notifications".into(), || {
                self.inner.list_notifications(owner, after, limit)
            })
            .await
    }
    async fn undelivered_notifications(
        &self,
        limit: usize,
    ) -> PortResult<Vec<(String, Notification)>> {
        self.gate
            .call("table.undelivered_notifications".into(), || {
                self.inner.undelivered_notifications(limit)
            })
            .await
    }
    async fn mark_delivered(&self, owner: &str, notification_id: &str) -> PortResult<()> {
        self.gate
            .call("table.mark_delivered".into(), || {
                self.inner.mark_delivered(owner, notification_id)
            })
            .await
    }
    async fn put_export(&self, export: &ExportRecord) -> PortResult<()> {
        let name = format!("table.put_export({})", export.status);
        self.gate.call(name, || self.inner.put_export(export)).await
    }
    async fn get_export(&self, owner: &str, export_id: &str) -> PortResult<Option<ExportRecord>> {
        self.gate
            .call("table.get_export".into(), || {
                self.inner.get_export(owner, export_id)
            })
            .await
    }
    async fn running_exports(
        &self,
        after: Option<&ExportPosition>,
        limit: usize,
    ) -> PortResult<Vec<ExportRecord>> {
        self.gate
            .call("table.running_exports".into(), || {
                self.inner.running_exports(after, limit)
            })
            .await
    }
    async fn count_running_exports(&self, owner: &str, since: DateTime<Utc>) -> PortResult<usize> {
        self.gate
            .call("table.count_running_exports".into(), || {
                self.inner.count_running_exports(owner, since)
            })
            .await
    }
}

pub struct FaultyNotifier {
    inner: Arc<dyn Notifier>,
    gate: Arc<Gate>,
}

#[async_trait]
impl Notifier for FaultyNotifier {
    async fn deliver(&self, owner: &str, notification: &Notification) -> PortResult<()> {
        self.gate
            .call("notifier.deliver".into(), || async {
                let r = self.inner.deliver(owner, notification).await;
                if r.is_ok() {
                    *lock(&self.gate.delivered)
                        .entry(notification.notification_id.clone())
                        .or_default() += 1;
                }
                r
            })
            .await
    }
}

pub struct FaultyDispatcher {
    inner: Arc<dyn Dispatcher>,
    gate: Arc<Gate>,
}

#[async_trait]
impl Dispatcher for FaultyDispatcher {
    async fn object_created(&self, key: &str) -> PortResult<()> {
        self.gate
            .call("dispatcher.object_created".into(), || {
                self.inner.object_created(key)
            })
            .await
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios

/// How a deployment redelivers, besides processing an object again (every deployment does:
/// EventBridge's retries and the sweep on AWS, the queue and start-up recovery locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub delivery: Delivery,
    pub exports: ExportRecovery,
}

/// Who runs an export again after its runner failed or died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRecovery {
    /// `eventpulse local`: the export task runs the submitted record; at start-up every
    /// export still running is submitted again.
    Restart,
    /// The processor function on the exports queue: it reads the export and runs it only
    /// while it is running; SQS delivers the request again after any failure or a crash
    /// (every failure is a batch item failure; past the queue's limit it goes to the DLQ).
    Queue,
}

impl Profile {
    /// `eventpulse local`: the outbox task delivers, exports restart with the process.
    pub const LOCAL: Profile = Profile {
        name: "local (outbox, exports restarted)",
        delivery: Delivery::Outbox,
        exports: ExportRecovery::Restart,
    };
    /// The Lambda functions: delivered at once, the sweep retries; exports on a queue.
    pub const LAMBDA: Profile = Profile {
        name: "lambda (at once + sweep, exports queued)",
        delivery: Delivery::AtOnce,
        exports: ExportRecovery::Queue,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// An object of 4 events (3 distinct eventIds, one repeated with the same content):
    /// stored.
    Valid,
    /// An object with a schema violation: quarantined.
    Invalid,
    /// Reprocess (the API, then processing) of an object quarantined `too_large` under a
    /// smaller limit, valid now: stored.
    ReprocessValid,
    /// Reprocess of an invalid object: quarantined again (a second notification).
    ReprocessInvalid,
    /// Delete (the API) of a quarantine entry: entry, object and report gone.
    Delete,
    /// An export of the owner's 3 events: done, notified.
    Export,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Valid,
        Scenario::Invalid,
        Scenario::ReprocessValid,
        Scenario::ReprocessInvalid,
        Scenario::Delete,
        Scenario::Export,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Valid => "valid",
            Scenario::Invalid => "invalid",
            Scenario::ReprocessValid => "reprocess→stored",
            Scenario::ReprocessInvalid => "reprocess→quarantined",
            Scenario::Delete => "delete",
            Scenario::Export => "export",
        }
    }
}

/// Which `k` a plan runs, out of the `N` calls of the fault-free run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ks {
    All,
    /// At most this many, spread evenly over `1..=N` (the first and the last included).
    Spread(usize),
}

impl Ks {
    fn pick(self, n: usize) -> Vec<usize> {
        match self {
            Ks::All => (1..=n).collect(),
            Ks::Spread(m) if m >= n => (1..=n).collect(),
            Ks::Spread(0) => Vec::new(),
            Ks::Spread(1) => vec![1],
            Ks::Spread(m) => {
                let mut ks: Vec<usize> = (0..m).map(|i| 1 + i * (n - 1) / (m - 1)).collect();
                ks.dedup();
                ks
            }
        }
    }
}

/// One row group of the matrix: a scenario, the faults to inject, and where.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub faults: Vec<Fault>,
    pub ks: Ks,
}

impl Plan {
    pub fn all(scenario: Scenario) -> Self {
        Self {
            scenario,
            faults: Fault::ALL.to_vec(),
            ks: Ks::All,
        }
    }
}

/// What one case did and found.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub scenario: Scenario,
    /// `None` for the fault-free run.
    pub fault: Option<Fault>,
    pub k: usize,
    /// The port call the fault hit (`table.put_export(done)`, …).
    pub call: String,
    /// What the faulted run answered (`aborted`, `Ok(stored)`, `Err(transient: …)`, …).
    pub answer: String,
    /// What redelivery and the sweep did, in order.
    pub redelivery: Vec<String>,
    /// The final state the checks saw.
    pub state: String,
    pub problems: Vec<String>,
    pub elapsed: Duration,
}

impl CaseResult {
    pub fn converged(&self) -> bool {
        self.problems.is_empty()
    }

    /// `scenario/fault@k call`, for messages.
    pub fn id(&self) -> String {
        match self.fault {
            Some(f) => format!(
                "{}/{}@k={} {}",
                self.scenario.name(),
                f.name(),
                self.k,
                self.call
            ),
            None => format!("{}/fault-free", self.scenario.name()),
        }
    }
}

/// The result of [`run_matrix`].
#[derive(Debug, Clone)]
pub struct Matrix {
    pub backend: String,
    pub profile: Profile,
    /// Each scenario's fault-free run and the port calls it made, in order.
    pub baselines: Vec<(CaseResult, Vec<String>)>,
    pub cases: Vec<CaseResult>,
    pub elapsed: Duration,
}

impl Matrix {
    /// The matrix as text: one line per scenario × fault (k range, cases, converged,
    /// expected failures, failures), each scenario's calls, then every case that did not
    /// converge. `expected` names the known non-convergences (and why).
    pub fn table(&self, expected: &dyn Fn(&CaseResult) -> Option<&'static str>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "faults on {} — profile {} — {} cases in {:.1} s",
            self.backend,
            self.profile.name,
            self.cases.len(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:>9} {:>6} {:>10} {:>6} {:>7}",
            "scenario", "fault", "k", "cases", "converged", "xfail", "FAILED"
        );
        let mut groups: BTreeMap<(Scenario, Fault), Vec<&CaseResult>> = BTreeMap::new();
        for c in &self.cases {
            if let Some(f) = c.fault {
                groups.entry((c.scenario, f)).or_default().push(c);
            }
        }
        for ((s, f), cases) in &groups {
            let n = self
                .baselines
                .iter()
                .find(|(b, _)| b.scenario == *s)
                .map_or(0, |(_, calls)| calls.len());
            let ks = if cases.len() == n {
                format!("1..={n}")
            } else {
                format!("{}/{n}", cases.len())
            };
            let converged = cases.iter().filter(|c| c.converged()).count();
            let xfail = cases
                .iter()
                .filter(|c| !c.converged() && expected(c).is_some())
                .count();
            let failed = cases.len() - converged - xfail;
            let _ = writeln!(
                out,
                "{:<22} {:<12} {:>9} {:>6} {:>10} {:>6} {:>7}",
                s.name(),
                f.name(),
                ks,
                cases.len(),
                converged,
                xfail,
                failed
            );
        }
        let total = self.cases.iter().filter(|c| c.fault.is_some()).count();
        let converged = self
            .cases
            .iter()
            .filter(|c| c.fault.is_some() && c.converged())
            .count();
        let _ = writeln!(
            out,
            "total: {total} cases, {converged} converged, {} did not",
            total - converged
        );
        for (b, calls) in &self.baselines {
            let _ = writeln!(
                out,
                "calls of {} (fault-free: {}, {:.0} ms): {}",
                b.scenario.name(),
                b.state,
                b.elapsed.as_secs_f64() * 1000.0,
                calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{}:{c}", i + 1))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let mut reasons: Vec<&'static str> = Vec::new();
        for c in self.cases.iter().filter(|c| !c.converged()) {
            let tag = match expected(c) {
                Some(why) => {
                    let n = match reasons.iter().position(|r| *r == why) {
                        Some(i) => i + 1,
                        None => {
                            reasons.push(why);
                            reasons.len()
                        }
                    };
                    format!("xfail[{n}]")
                }
                None => "FAILED".to_string(),
            };
            let _ = writeln!(
                out,
                "{tag} {} — answered {}; then [{}]; final state {}; {}",
                c.id(),
                c.answer,
                c.redelivery.join(", "),
                c.state,
                c.problems.join("; ")
            );
        }
        for (i, why) in reasons.iter().enumerate() {
            let _ = writeln!(out, "[{}] {why}", i + 1);
        }
        out
    }
}

impl Matrix {
    /// One line per case (faulted or not): id, answer, final state, time, problems.
    pub fn details(&self) -> String {
        let mut out = String::new();
        for c in self.baselines.iter().map(|(b, _)| b).chain(&self.cases) {
            let _ = writeln!(
                out,
                "{:<60} {:>6.0} ms  answered {}  then [{}]  → {}{}",
                c.id(),
                c.elapsed.as_secs_f64() * 1000.0,
                c.answer,
                c.redelivery.join(", "),
                c.state,
                if c.converged() {
                    String::new()
                } else {
                    format!("  PROBLEMS: {}", c.problems.join("; "))
                }
            );
        }
        out
    }
}

/// Why a case is known not to converge today (`None`: it must converge). Each entry is a bug
/// found by this matrix and reported with it (issue 8); [`Matrix::assert_converged`] fails on
/// a listed case that converges, so an entry goes when its bug is fixed.
/// Today every case converges; a bug found later is listed here until it is fixed.
pub fn known_today(_profile: Profile, _c: &CaseResult) -> Option<&'static str> {
    None
}

impl Matrix {
    /// Prints the matrix (every case too with `EVENTPULSE_FAULTS_VERBOSE` set), then panics
    /// naming every case that did not converge and is not `known`, every `known` one that
    /// converged, and any fault-free run that did not converge.
    pub fn assert_converged(&self, known: &dyn Fn(&CaseResult) -> Option<&'static str>) {
        eprintln!("{}", self.table(known));
        if std::env::var_os("EVENTPULSE_FAULTS_VERBOSE").is_some() {
            eprintln!("{}", self.details());
        }
        let mut wrong = Vec::new();
        for (b, _) in &self.baselines {
            if !b.converged() {
                wrong.push(format!("{}: {}", b.id(), b.problems.join("; ")));
            }
        }
        for c in &self.cases {
            match (c.converged(), known(c)) {
                (false, None) => wrong.push(format!("{}: {}", c.id(), c.problems.join("; "))),
                (true, Some(why)) => wrong.push(format!(
                    "{} converged but is listed as known ({why}): remove it",
                    c.id()
                )),
                _ => {}
            }
        }
        assert!(
            wrong.is_empty(),
            "faults on {}: {} cases did not converge as expected:\n{}",
            self.backend,
            wrong.len(),
            wrong.join("\n")
        );
    }
}

/// Runs every plan on `ports` (a backend's real adapters) as `profile` redelivers, one case
/// after the other, each in a fresh owner. The ports' table must not be shared with a
/// concurrent user of the outbox: the outbox is drained before every case.
pub async fn run_matrix(backend: &str, ports: &Ports, profile: Profile, plans: &[Plan]) -> Matrix {
    run_matrix_fresh(backend, async || ports.clone(), profile, plans).await
}

/// [`run_matrix`] with the ports `fresh` gives before each faulted case (a fault-free run
/// uses the ports before it): for a backend whose cost per call grows with what it holds
/// (moto's DynamoDB copies the whole table on every transaction and reads every item on
/// every query), a new table per case keeps the matrix linear in its cases.
pub async fn run_matrix_fresh(
    backend: &str,
    fresh: impl AsyncFn() -> Ports,
    profile: Profile,
    plans: &[Plan],
) -> Matrix {
    let started = Instant::now();
    let mut driver = Driver::new(fresh().await, profile);
    let mut baselines = Vec::new();
    let mut cases = Vec::new();
    for plan in plans {
        let (base, calls) = driver.run_case(plan.scenario, None).await;
        let n = calls.len();
        for k in plan.ks.pick(n) {
            for &fault in &plan.faults {
                driver.ports = fresh().await;
                let (mut c, calls_seen) = driver.run_case(plan.scenario, Some((k, fault))).await;
                match calls.get(k - 1) {
                    Some(name) => c.call = name.clone(),
                    None => c
                        .problems
                        .push(format!("the fault-free run made no call {k}")),
                }
                if calls_seen.get(k - 1) != calls.get(k - 1) {
                    c.problems.push(format!(
                        "call {k} was {:?}, not {:?} as in the fault-free run",
                        calls_seen.get(k - 1),
                        calls.get(k - 1)
                    ));
                }
                if c.converged() && base.converged() && c.state != base.state {
                    let allowed = plan.scenario == Scenario::Export
                        && c.state == "export failed, notified; started again: done";
                    if !allowed {
                        c.problems.push(format!(
                            "final state {} differs from the fault-free run's {}",
                            c.state, base.state
                        ));
                    }
                }
                cases.push(c);
            }
        }
        baselines.push((base, calls));
    }
    Matrix {
        backend: backend.to_string(),
        profile,
        baselines,
        cases,
        elapsed: started.elapsed(),
    }
}

struct Driver {
    ports: Ports,
    profile: Profile,
    intake: Arc<Intake>,
    /// The intake of an older deployment with a 64-byte limit: what quarantines the object
    /// [`Scenario::ReprocessValid`] reprocesses.
    tiny: Arc<Intake>,
}

const EVENT_IDS: [&str; 3] = ["e-1", "e-2", "e-3"];

fn order(id: &str, currency: &str) -> Value {
    json!({"eventId": id, "type": "order.placed", "occurredAt": "2026-11-27T10:30:00.123456789+01:00",
           "source": "shop", "data": {"orderId": format!("o-{id}"), "currency": currency,
           "amountMinor": 1999, "items": [{"sku": "S-1", "quantity": 2}]}})
}

fn view(id: &str, url: &str) -> Value {
    json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T09:30:00Z", "source": "web",
           "data": {"url": url}})
}

/// 4 events, 3 eventIds: `e-2` comes twice with the same content (a duplicate in the object).
fn valid_doc() -> Bytes {
    let doc = json!([
        order("e-1", "EUR"),
        view("e-2", "https://example.com/a"),
        view("e-3", "https://example.com/b"),
        view("e-2", "https://example.com/a"),
    ]);
    Bytes::from(serde_json::to_vec_pretty(&doc).unwrap_or_default())
}

/// `e-2`'s currency breaks the schema.
fn invalid_doc() -> Bytes {
    let doc = json!([
        view("e-1", "https://example.com/a"),
        order("e-2", "eur"),
        view("e-3", "https://example.com/b"),
    ]);
    Bytes::from(serde_json::to_vec_pretty(&doc).unwrap_or_default())
}

impl Driver {
    fn new(ports: Ports, profile: Profile) -> Self {
        let intake = |max| {
            Arc::new(
                Intake::new(max, 100)
                    .unwrap_or_else(|e| panic!("faults: the upload schema compiles: {e}")),
            )
        };
        Self {
            ports,
            profile,
            intake: intake(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES),
            tiny: intake(64),
        }
    }

    /// Delivers whatever other owners left in the outbox, through the real notifier, so
    /// that a case's outbox holds its own notifications only.
    async fn drain_outbox(&self) {
        let p = self.ports.processor(self.intake.clone());
        for _ in 0..10 {
            match p.flush_outbox().await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    async fn run_case(
        &self,
        scenario: Scenario,
        plan: Option<(usize, Fault)>,
    ) -> (CaseResult, Vec<String>) {
        let started = Instant::now();
        self.drain_outbox().await;
        let mut case = Case::new(self, scenario);
        let mut problems = Vec::new();
        if let Err(e) = case.setup().await {
            problems.push(format!("setup failed: {e}"));
            let r = CaseResult {
                scenario,
                fault: plan.map(|p| p.1),
                k: plan.map_or(0, |p| p.0),
                call: String::new(),
                answer: "not run".into(),
                redelivery: Vec::new(),
                state: "setup failed".into(),
                problems,
                elapsed: started.elapsed(),
            };
            return (r, Vec::new());
        }
        case.f.gate.arm(plan);
        let answer = match abortable(&case.f.gate, case.step()).await {
            Some(a) => a,
            None => "aborted".to_string(),
        };
        let calls = case.f.gate.disarm();
        case.redeliver(&mut problems).await;
        case.sweep(&mut problems).await;
        let state = case.check(&mut problems).await;
        let r = CaseResult {
            scenario,
            fault: plan.map(|p| p.1),
            k: plan.map_or(0, |p| p.0),
            call: String::new(),
            answer,
            redelivery: std::mem::take(&mut *lock(&case.trail)),
            state,
            problems,
            elapsed: started.elapsed(),
        };
        (r, calls)
    }
}

/// A clock that can be moved forward (past the reprocess lease).
#[derive(Default)]
struct ShiftedClock {
    shift: Mutex<chrono::Duration>,
}

impl ShiftedClock {
    fn advance(&self, by: chrono::Duration) {
        *lock(&self.shift) += by;
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *lock(&self.shift)
    }
}

/// No presigned URLs: no scenario transfers through them.
struct NoPresigner;

#[async_trait]
impl Presigner for NoPresigner {
    async fn presign_upload(
        &self,
        key: &str,
        _: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        Ok(PresignedRequest {
            url: format!("https://uploads.invalid/{key}"),
            method: "PUT".into(),
            headers: Vec::new(),
            expires_at,
        })
    }
    async fn presign_download(&self, _: Bucket, key: &str, _: DateTime<Utc>) -> PortResult<String> {
        Ok(format!("https://downloads.invalid/{key}"))
    }
}

/// Exports are run by the scenario itself.
struct NoExportRunner;

#[async_trait]
impl ExportRunner for NoExportRunner {
    async fn submit(&self, _: &ExportRecord) -> PortResult<()> {
        Ok(())
    }
}

/// The dispatcher under the wrapper: the scenario processes what the API copied back.
struct NoDispatch;

#[async_trait]
impl Dispatcher for NoDispatch {
    async fn object_created(&self, _: &str) -> PortResult<()> {
        Ok(())
    }
}

/// What a step answered its caller (the client, the queue, the event source).
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Ok(String),
    Failed { retryable: bool, why: String },
    Conflict(String),
    NotFound(String),
}

impl Answer {
    fn of_api(e: &ApiError) -> Self {
        match e.status.as_u16() {
            409 => Answer::Conflict(e.detail.clone()),
            404 => Answer::NotFound(e.detail.clone()),
            s => Answer::Failed {
                retryable: s >= 500,
                why: format!("{s}: {}", e.detail),
            },
        }
    }

    fn of_process(r: &Result<Outcome, ProcessError>) -> Self {
        match r {
            Ok(Outcome::Stored { .. }) => Answer::Ok("stored".into()),
            Ok(Outcome::Quarantined { reason, .. }) => Answer::Ok(format!("quarantined {reason}")),
            Ok(Outcome::Skipped { why, .. }) => Answer::Ok(format!("skipped: {why}")),
            Err(e) => Answer::Failed {
                retryable: e.retryable(),
                why: e.to_string(),
            },
        }
    }

    fn of_port<T>(r: &PortResult<T>, ok: impl FnOnce(&T) -> String) -> Self {
        match r {
            Ok(v) => Answer::Ok(ok(v)),
            Err(e) => Answer::Failed {
                retryable: e.retryable,
                why: e.message.clone(),
            },
        }
    }

    fn show(&self) -> String {
        match self {
            Answer::Ok(s) => format!("Ok({s})"),
            Answer::Failed { retryable, why } => format!(
                "Err({}: {why})",
                if *retryable {
                    "retryable"
                } else {
                    "not retryable"
                }
            ),
            Answer::Conflict(d) => format!("409 ({d})"),
            Answer::NotFound(d) => format!("404 ({d})"),
        }
    }
}

struct Case<'d> {
    d: &'d Driver,
    scenario: Scenario,
    f: FaultyPorts,
    clock: Arc<ShiftedClock>,
    processor: Processor,
    api: Api,
    exporter: Exporter,
    owner: String,
    upload_id: String,
    key: String,
    /// The key the faulted run processes: the owner's, or the reprocess copy's.
    run_key: String,
    qkey: String,
    bytes: Bytes,
    etag: String,
    export: Option<ExportRecord>,
    /// What the API answered in the step (`None`: it never answered).
    api_answer: Mutex<Option<Answer>>,
    /// What the processing or the export run answered in the step.
    run_answer: Mutex<Option<Answer>>,
    /// What redelivery and the sweep did.
    trail: Mutex<Vec<String>>,
}

impl<'d> Case<'d> {
    fn new(d: &'d Driver, scenario: Scenario) -> Self {
        let f = FaultyPorts::wrap(
            d.ports.objects.clone(),
            d.ports.table.clone(),
            d.ports.notifier.clone(),
            Arc::new(NoDispatch),
        );
        let clock = Arc::new(ShiftedClock::default());
        let owner = format!("fx-{}", unique());
        let upload_id = format!("u{}", unique());
        let processor = Processor {
            objects: f.objects.clone(),
            table: f.table.clone(),
            notifier: f.notifier.clone(),
            clock: clock.clone(),
            intake: d.intake.clone(),
            delivery: d.profile.delivery,
        };
        let api = Api {
            table: f.table.clone(),
            objects: f.objects.clone(),
            presigner: Arc::new(NoPresigner),
            dispatcher: f.dispatcher.clone(),
            exports: Arc::new(NoExportRunner),
            subscriptions: d.ports.subscriptions.clone(),
            subscriber: d.ports.subscriber.clone(),
            clock: clock.clone(),
            cursors: CursorSigner::new(b"faults: a cursor key, 32+ bytes long"),
            config: ApiConfig::default(),
        };
        let exporter = Exporter {
            table: f.table.clone(),
            objects: f.objects.clone(),
            clock: clock.clone(),
            notifier: f.notifier.clone(),
            delivery: d.profile.delivery,
        };
        Self {
            d,
            scenario,
            key: keys::incoming_key(&owner, &upload_id),
            // A reprocess's copy comes back under a key of its own.
            run_key: match scenario {
                Scenario::ReprocessValid | Scenario::ReprocessInvalid => {
                    keys::reprocess_key(&owner, &upload_id)
                }
                _ => keys::incoming_key(&owner, &upload_id),
            },
            qkey: keys::quarantine_key(&owner, &upload_id),
            f,
            clock,
            processor,
            api,
            exporter,
            owner,
            upload_id,
            bytes: Bytes::new(),
            etag: String::new(),
            export: None,
            api_answer: Mutex::new(None),
            run_answer: Mutex::new(None),
            trail: Mutex::new(Vec::new()),
        }
    }

    fn real(&self) -> (&dyn ObjectStore, &dyn EventTable) {
        (self.d.ports.objects.as_ref(), self.d.ports.table.as_ref())
    }

    fn outboxed(&self) -> bool {
        self.d.profile.delivery == Delivery::Outbox
    }

    /// Fault-free, through the wrapper (so that deliveries are counted), not counted.
    async fn setup(&mut self) -> Result<(), String> {
        self.bytes = match self.scenario {
            Scenario::Invalid | Scenario::ReprocessInvalid | Scenario::Delete => invalid_doc(),
            _ => valid_doc(),
        };
        let info = self
            .d
            .ports
            .objects
            .put(
                Bucket::Process,
                &self.key,
                self.bytes.clone(),
                "application/json",
            )
            .await
            .map_err(|e| format!("put the object: {e}"))?;
        self.etag = info.etag;
        let want = match self.scenario {
            Scenario::Valid | Scenario::Invalid => return Ok(()),
            Scenario::ReprocessValid => {
                let old = Processor {
                    intake: self.d.tiny.clone(),
                    ..self.processor_copy()
                };
                let r = old.process(&self.key).await;
                old.flush_outbox()
                    .await
                    .map_err(|e| format!("flush: {e}"))?;
                (r, "quarantined too_large")
            }
            Scenario::ReprocessInvalid | Scenario::Delete => {
                let r = self.processor.process(&self.key).await;
                self.processor
                    .flush_outbox()
                    .await
                    .map_err(|e| format!("flush: {e}"))?;
                (r, "quarantined schema_violation")
            }
            Scenario::Export => {
                let r = self.processor.process(&self.key).await;
                let x = new_export(&self.owner, EventQuery::default(), self.clock.as_ref());
                self.d
                    .ports
                    .table
                    .put_export(&x)
                    .await
                    .map_err(|e| format!("put_export: {e}"))?;
                self.export = Some(x);
                (r, "stored")
            }
        };
        match Answer::of_process(&want.0) {
            Answer::Ok(s) if s == want.1 => Ok(()),
            a => Err(format!("setup processing answered {}", a.show())),
        }
    }

    fn processor_copy(&self) -> Processor {
        Processor {
            objects: self.processor.objects.clone(),
            table: self.processor.table.clone(),
            notifier: self.processor.notifier.clone(),
            clock: self.processor.clock.clone(),
            intake: self.processor.intake.clone(),
            delivery: self.processor.delivery,
        }
    }

    fn principal(&self) -> Principal {
        Principal {
            user_id: self.owner.clone(),
        }
    }

    fn ctx(&self, op: &'static str, path: String) -> RequestContext {
        RequestContext {
            request_id: unique(),
            operation_id: op,
            path,
            user: Some(self.owner.clone()),
            resources: vec![("uploadId".into(), self.upload_id.clone())],
        }
    }

    fn typed_id(&self) -> UploadId {
        UploadId::try_from(self.upload_id.clone())
            .unwrap_or_else(|e| panic!("faults: upload id {}: {e}", self.upload_id))
    }

    async fn reprocess_request(&self) -> Answer {
        let ctx = self.ctx(
            "reprocess_quarantine",
            format!("/v1/quarantine/{}/reprocess", self.upload_id),
        );
        let req = ReprocessQuarantineRequest {
            upload_id: self.typed_id(),
        };
        match self
            .api
            .reprocess_quarantine(&ctx, &self.principal(), req)
            .await
        {
            Ok(_) => Answer::Ok("202".into()),
            Err(e) => Answer::of_api(&e),
        }
    }

    async fn delete_request(&self) -> Answer {
        let ctx = self.ctx(
            "delete_quarantine",
            format!("/v1/quarantine/{}", self.upload_id),
        );
        let req = DeleteQuarantineRequest {
            upload_id: self.typed_id(),
        };
        match self
            .api
            .delete_quarantine(&ctx, &self.principal(), req)
            .await
        {
            Ok(_) => Answer::Ok("204".into()),
            Err(e) => Answer::of_api(&e),
        }
    }

    /// Processing as the deployment runs it: locally the outbox task follows (it runs on its
    /// own, so also after a failure); on Lambda the invocation delivered at once.
    async fn process(&self) -> Answer {
        let r = Answer::of_process(&self.processor.process(&self.run_key).await);
        if self.outboxed() {
            let _ = self.processor.flush_outbox().await;
        }
        r
    }

    /// What the processor function does with an export request from the queue.
    async fn export_request(&self) -> Answer {
        let Some(x) = &self.export else {
            return Answer::Failed {
                retryable: false,
                why: "no export".into(),
            };
        };
        let export = match self.f.table.get_export(&x.owner, &x.export_id).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return Answer::Failed {
                    retryable: false,
                    why: "no such export".into(),
                };
            }
            Err(e) => {
                return Answer::Failed {
                    retryable: e.retryable,
                    why: e.message,
                };
            }
        };
        if export.status != ExportState::Running {
            return Answer::Ok(format!("skipped: {}", export.status));
        }
        let r = self.exporter.run(export).await;
        Answer::of_port(&r, |x| x.status.to_string())
    }

    /// The faulted run.
    async fn step(&self) -> String {
        match self.scenario {
            Scenario::Valid | Scenario::Invalid => {
                let a = self.process().await;
                *lock(&self.run_answer) = Some(a.clone());
                a.show()
            }
            Scenario::ReprocessValid | Scenario::ReprocessInvalid => {
                let a = self.reprocess_request().await;
                *lock(&self.api_answer) = Some(a.clone());
                if a != Answer::Ok("202".into()) {
                    return format!("API {}", a.show());
                }
                let p = self.process().await;
                *lock(&self.run_answer) = Some(p.clone());
                format!("API {}, processing {}", a.show(), p.show())
            }
            Scenario::Delete => {
                let a = self.delete_request().await;
                *lock(&self.api_answer) = Some(a.clone());
                format!("API {}", a.show())
            }
            Scenario::Export => {
                let a = match self.d.profile.exports {
                    ExportRecovery::Queue => self.export_request().await,
                    ExportRecovery::Restart => {
                        let Some(x) = self.export.clone() else {
                            return "no export".into();
                        };
                        let r = self.exporter.run(x).await;
                        let a = Answer::of_port(&r, |x| x.status.to_string());
                        let _ = self.processor.flush_outbox().await;
                        a
                    }
                };
                *lock(&self.run_answer) = Some(a.clone());
                a.show()
            }
        }
    }

    fn note(&self, what: String) {
        lock(&self.trail).push(what);
    }

    /// What the deployment does after the step: the event source delivers again, the client
    /// retries its request, the queue redelivers, the process restarts.
    async fn redeliver(&self, problems: &mut Vec<String>) {
        let run = lock(&self.run_answer).clone();
        let api = lock(&self.api_answer).clone();
        match self.scenario {
            Scenario::Valid | Scenario::Invalid => self.reprocessed(problems).await,
            Scenario::ReprocessValid | Scenario::ReprocessInvalid => match api {
                Some(Answer::Ok(_)) => self.reprocessed(problems).await,
                None | Some(Answer::Failed { .. }) => self.retry_reprocess(problems).await,
                Some(a) => {
                    problems.push(format!("the reprocess request was refused: {}", a.show()))
                }
            },
            Scenario::Delete => match api {
                Some(Answer::Ok(_)) => {}
                None | Some(Answer::Failed { .. }) => {
                    for _ in 0..3 {
                        let a = self.delete_request().await;
                        self.note(format!("client retries DELETE: {}", a.show()));
                        if !matches!(a, Answer::Failed { .. }) {
                            break;
                        }
                    }
                }
                Some(a) => problems.push(format!("the delete request was refused: {}", a.show())),
            },
            Scenario::Export => match self.d.profile.exports {
                ExportRecovery::Queue => {
                    if matches!(run, None | Some(Answer::Failed { .. })) {
                        let a = self.export_request().await;
                        self.note(format!("queue redelivers the request: {}", a.show()));
                        if let Answer::Failed { .. } = a {
                            problems.push(format!("the redelivered export failed: {}", a.show()));
                        }
                    } else {
                        self.note("queue: no redelivery".into());
                    }
                }
                ExportRecovery::Restart => {
                    let running = all_running(self.d.ports.table.as_ref()).await;
                    let mut ran = 0;
                    for x in running.into_iter().filter(|x| x.owner == self.owner) {
                        ran += 1;
                        match self.exporter.run(x).await {
                            Ok(x) => self.note(format!("restart runs the export: {}", x.status)),
                            Err(e) => {
                                problems.push(format!("the export run at restart failed: {e}"))
                            }
                        }
                    }
                    if ran == 0 {
                        self.note("restart: no running export".into());
                    }
                }
            },
        }
    }

    /// The object event delivered again.
    async fn reprocessed(&self, problems: &mut Vec<String>) {
        let a = Answer::of_process(&self.processor.process(&self.run_key).await);
        self.note(format!("object event again: {}", a.show()));
        if let Answer::Failed { why, .. } = a {
            problems.push(format!("processing again failed: {why}"));
        }
    }

    /// The client retries a reprocess request that failed or never answered: a 409 while the
    /// object is in the process bucket means processing is under way (its event comes); a
    /// 409 otherwise is a claim its request never followed up: retried past the lease.
    async fn retry_reprocess(&self, problems: &mut Vec<String>) {
        let mut waited = false;
        for _ in 0..4 {
            let a = self.reprocess_request().await;
            self.note(format!("client retries reprocess: {}", a.show()));
            match a {
                Answer::Ok(_) => return self.reprocessed(problems).await,
                Answer::Failed { .. } => continue,
                Answer::Conflict(detail) => {
                    let (objects, _) = self.real();
                    if matches!(
                        objects.head(Bucket::Process, &self.run_key).await,
                        Ok(Some(_))
                    ) {
                        return self.reprocessed(problems).await;
                    }
                    if waited {
                        problems.push(format!("reprocess still refused past the lease: {detail}"));
                        return;
                    }
                    self.note("the claim's lease passes".into());
                    self.clock
                        .advance(REOPEN_LEASE + chrono::Duration::minutes(1));
                    waited = true;
                }
                Answer::NotFound(detail) => {
                    problems.push(format!("the reprocess retry found no entry: {detail}"));
                    return;
                }
            }
        }
        problems.push("the reprocess retries all failed".into());
    }

    /// The sweep: the outbox, then whatever of this owner is still in the process bucket.
    async fn sweep(&self, problems: &mut Vec<String>) {
        match self.processor.flush_outbox().await {
            Ok(0) => {}
            Ok(n) => self.note(format!("sweep delivers {n}")),
            Err(e) => problems.push(format!("sweep: flush_outbox failed: {e}")),
        }
        let prefix = format!("{}{}/", keys::INCOMING, self.owner);
        let left = match self
            .d
            .ports
            .objects
            .list(Bucket::Process, &prefix, None, 100)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("sweep: list failed: {e}"));
                return;
            }
        };
        for o in &left {
            let a = Answer::of_process(&self.processor.process(&o.key).await);
            self.note(format!("sweep processes {}: {}", o.key, a.show()));
            if let Answer::Failed { why, .. } = a {
                problems.push(format!("sweep: processing {} failed: {why}", o.key));
            }
        }
        if !left.is_empty() {
            match self.processor.flush_outbox().await {
                Ok(0) => {}
                Ok(n) => self.note(format!("sweep delivers {n}")),
                Err(e) => problems.push(format!("sweep: flush_outbox failed: {e}")),
            }
        }
    }

    /// The final state, and what is wrong with it.
    async fn check(&self, problems: &mut Vec<String>) -> String {
        let seen = match Seen::read(self).await {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("reading the final state failed: {e}"));
                return "unreadable".into();
            }
        };
        if !seen.in_process.is_empty() {
            problems.push(format!("left in the process bucket: {:?}", seen.in_process));
        }
        if seen.operator_upload.is_some() {
            problems.push("the object was quarantined in the operator space (reused key)".into());
        }
        let mut p = Vec::new();
        let state = match self.scenario {
            Scenario::Valid => {
                self.expect_stored(&seen, &mut p);
                self.expect_notified(&seen, NotificationKind::ObjectQuarantined, 0, &mut p);
                "stored".to_string()
            }
            Scenario::ReprocessValid => {
                self.expect_stored(&seen, &mut p);
                // The one of the first quarantine, and no other.
                self.expect_notified(&seen, NotificationKind::ObjectQuarantined, 1, &mut p);
                "stored".to_string()
            }
            Scenario::Invalid => {
                self.expect_quarantined(&seen, &mut p);
                self.expect_notified(&seen, NotificationKind::ObjectQuarantined, 1, &mut p);
                "quarantined".to_string()
            }
            Scenario::ReprocessInvalid => {
                self.expect_quarantined(&seen, &mut p);
                self.expect_notified(&seen, NotificationKind::ObjectQuarantined, 2, &mut p);
                "quarantined".to_string()
            }
            Scenario::Delete => self.expect_deleted(&seen, &mut p),
            Scenario::Export => self.expect_exported(&seen, &mut p).await,
        };
        problems.extend(p);
        state
    }

    fn expect_stored(&self, seen: &Seen, p: &mut Vec<String>) {
        match &seen.upload {
            Some(u) if u.status == UploadState::Stored => {
                if u.etag.as_deref() != Some(self.etag.as_str()) {
                    p.push(format!(
                        "stored with ETag {:?}, not the object's {}",
                        u.etag, self.etag
                    ));
                }
                if u.event_count != Some(4) {
                    p.push(format!(
                        "stored with event count {:?}, not 4",
                        u.event_count
                    ));
                }
            }
            Some(u) => p.push(format!("upload is {}, not stored", u.status)),
            None => p.push("no upload record".into()),
        }
        let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &seen.events {
            *listed.entry(e.event_id.as_str()).or_default() += 1;
        }
        let want: BTreeMap<&str, usize> = EVENT_IDS.iter().map(|id| (*id, 1)).collect();
        if listed != want {
            p.push(format!(
                "listed events {listed:?}, not each of {EVENT_IDS:?} once"
            ));
        }
        for (id, e) in &seen.by_id {
            match e {
                Some(e) if e.upload_id == self.upload_id => {}
                Some(e) => p.push(format!("event {id} is listed under upload {}", e.upload_id)),
                None => p.push(format!("get_event({id}) finds nothing")),
            }
        }
        if seen.quarantine.is_some() {
            p.push("a stored upload still has a quarantine entry".into());
        }
        if seen.q_object || seen.q_report {
            p.push(format!(
                "a stored upload left its quarantined copy (object {}, report {})",
                seen.q_object, seen.q_report
            ));
        }
    }

    fn expect_quarantined(&self, seen: &Seen, p: &mut Vec<String>) {
        match &seen.upload {
            Some(u) if u.status == UploadState::Quarantined => {
                if u.reason_code != Some(ReasonCode::SchemaViolation) {
                    p.push(format!(
                        "quarantined for {:?}, not schema_violation",
                        u.reason_code
                    ));
                }
                if u.etag.as_deref() != Some(self.etag.as_str()) {
                    p.push(format!(
                        "quarantined with ETag {:?}, not {}",
                        u.etag, self.etag
                    ));
                }
            }
            Some(u) => p.push(format!("upload is {}, not quarantined", u.status)),
            None => p.push("no upload record".into()),
        }
        if !seen.events.is_empty() {
            p.push(format!(
                "events of a quarantined upload are listed: {:?}",
                seen.events.iter().map(|e| &e.event_id).collect::<Vec<_>>()
            ));
        }
        for (id, e) in &seen.by_id {
            if e.is_some() {
                p.push(format!(
                    "get_event({id}) finds an event of a quarantined upload"
                ));
            }
        }
        match &seen.quarantine {
            Some(q) if q.key == self.qkey => {}
            Some(q) => p.push(format!(
                "quarantine entry points at {}, not {}",
                q.key, self.qkey
            )),
            None => p.push("a quarantined upload has no quarantine entry".into()),
        }
        if !seen.q_object || !seen.q_report {
            p.push(format!(
                "quarantined copy incomplete (object {}, report {})",
                seen.q_object, seen.q_report
            ));
        }
        if seen.q_object && seen.q_bytes.as_ref() != Some(&self.bytes) {
            p.push("the quarantined object is not the uploaded bytes".into());
        }
    }

    /// Exactly `want` notifications of `kind`, each delivered at least once, none left
    /// undelivered; no notification of another kind.
    fn expect_notified(
        &self,
        seen: &Seen,
        kind: NotificationKind,
        want: usize,
        p: &mut Vec<String>,
    ) {
        let of_kind: Vec<&Notification> = seen
            .notifications
            .iter()
            .filter(|n| n.kind == kind)
            .collect();
        if of_kind.len() != want {
            p.push(format!(
                "{} {kind} notifications recorded, want {want}",
                of_kind.len()
            ));
        }
        let others: Vec<String> = seen
            .notifications
            .iter()
            .filter(|n| n.kind != kind)
            .map(|n| n.kind.to_string())
            .collect();
        if !others.is_empty() {
            p.push(format!("unexpected notifications: {others:?}"));
        }
        for n in &of_kind {
            if self.f.gate.deliveries(&n.notification_id) == 0 {
                p.push(format!(
                    "notification {} ({kind}) never delivered",
                    n.notification_id
                ));
            }
        }
        if !seen.undelivered.is_empty() {
            p.push(format!(
                "{} notifications still undelivered in the outbox",
                seen.undelivered.len()
            ));
        }
    }

    fn expect_deleted(&self, seen: &Seen, p: &mut Vec<String>) -> String {
        match &seen.upload {
            Some(u) if u.status == UploadState::Quarantined => {}
            other => p.push(format!(
                "the upload is {:?} after a delete of its entry, not quarantined",
                other.as_ref().map(|u| u.status)
            )),
        }
        if !seen.events.is_empty() {
            p.push("events of a quarantined upload are listed".into());
        }
        self.expect_notified(seen, NotificationKind::ObjectQuarantined, 1, p);
        match (seen.quarantine.is_some(), seen.q_object, seen.q_report) {
            (false, false, false) => "deleted".into(),
            (true, true, true) => {
                p.push("the delete never happened (entry and objects all still there)".into());
                "kept".into()
            }
            (true, _, _) => {
                p.push(format!(
                    "a quarantine entry without its objects (object {}, report {})",
                    seen.q_object, seen.q_report
                ));
                "entry without its objects".into()
            }
            (false, o, r) => {
                p.push(format!(
                    "entry gone but objects left in the quarantine bucket, unlisted and \
                     undeletable through the API (object {o}, report {r})"
                ));
                "half-deleted".into()
            }
        }
    }

    async fn expect_exported(&self, seen: &Seen, p: &mut Vec<String>) -> String {
        let (objects, table) = self.real();
        let Some(x) = &self.export else {
            p.push("no export".into());
            return "no export".into();
        };
        let got = match table.get_export(&x.owner, &x.export_id).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                p.push("the export record is gone".into());
                return "gone".into();
            }
            Err(e) => {
                p.push(format!("get_export failed: {e}"));
                return "unreadable".into();
            }
        };
        let mine: Vec<&Notification> = seen
            .notifications
            .iter()
            .filter(|n| n.export_id.as_deref() == Some(x.export_id.as_str()))
            .collect();
        let check_notified = |kind: NotificationKind, p: &mut Vec<String>| {
            let of_kind = mine.iter().filter(|n| n.kind == kind).count();
            if of_kind != 1 || mine.len() != 1 {
                p.push(format!(
                    "export {}: {} notifications recorded ({:?}), want exactly one {kind}",
                    got.status,
                    mine.len(),
                    mine.iter().map(|n| n.kind.to_string()).collect::<Vec<_>>()
                ));
            }
            for n in &mine {
                if self.f.gate.deliveries(&n.notification_id) == 0 {
                    p.push(format!(
                        "notification {} ({}) never delivered",
                        n.notification_id, n.kind
                    ));
                }
            }
            if !seen.undelivered.is_empty() {
                p.push(format!(
                    "{} notifications still undelivered in the outbox",
                    seen.undelivered.len()
                ));
            }
        };
        match got.status {
            ExportState::Done => {
                check_notified(NotificationKind::ExportDone, p);
                self.expect_result(objects, &got, p).await;
                "export done".into()
            }
            ExportState::Failed => {
                check_notified(NotificationKind::ExportFailed, p);
                // Started again (a new export, as the notification asks), fault-free.
                let again = new_export(&self.owner, EventQuery::default(), self.clock.as_ref());
                if let Err(e) = table.put_export(&again).await {
                    p.push(format!("starting the export again: {e}"));
                    return "export failed".into();
                }
                match self.exporter.run(again).await {
                    Ok(done) if done.status == ExportState::Done => {
                        self.expect_result(objects, &done, p).await;
                        self.expect_retry_notified(&done, p).await;
                        "export failed, notified; started again: done".into()
                    }
                    Ok(other) => {
                        p.push(format!("the export started again ended {}", other.status));
                        "export failed twice".into()
                    }
                    Err(e) => {
                        p.push(format!("the export started again failed: {e}"));
                        "export failed twice".into()
                    }
                }
            }
            ExportState::Running => {
                p.push(format!(
                    "the export is still running after redelivery, with {} notifications",
                    mine.len()
                ));
                if mine.is_empty() {
                    "running, never notified".into()
                } else {
                    "running".into()
                }
            }
        }
    }

    /// The export started again: its one `export_done`, delivered after the sweep.
    async fn expect_retry_notified(&self, x: &ExportRecord, p: &mut Vec<String>) {
        if let Err(e) = self.processor.flush_outbox().await {
            p.push(format!("flush after the export started again: {e}"));
        }
        let (_, table) = self.real();
        let all = match table.list_notifications(&self.owner, None, 1000).await {
            Ok(all) => all,
            Err(e) => {
                p.push(format!("list_notifications: {e}"));
                return;
            }
        };
        let mine: Vec<&Notification> = all
            .iter()
            .filter(|n| n.export_id.as_deref() == Some(x.export_id.as_str()))
            .collect();
        if mine.len() != 1 || mine[0].kind != NotificationKind::ExportDone {
            p.push(format!(
                "the export started again has notifications {:?}, want one export_done",
                mine.iter().map(|n| n.kind.to_string()).collect::<Vec<_>>()
            ));
        }
        for n in mine {
            if self.f.gate.deliveries(&n.notification_id) == 0 {
                p.push(format!(
                    "notification {} of the export started again never delivered",
                    n.notification_id
                ));
            }
        }
    }

    async fn expect_result(
        &self,
        objects: &dyn ObjectStore,
        x: &ExportRecord,
        p: &mut Vec<String>,
    ) {
        if x.event_count != Some(EVENT_IDS.len() as u64) {
            p.push(format!(
                "export done with {:?} events, want 3",
                x.event_count
            ));
        }
        let Some(key) = &x.result_key else {
            p.push("export done without a result key".into());
            return;
        };
        match objects.get(Bucket::Exports, key, 1 << 20).await {
            Ok(Some(o)) => {
                let lines = o
                    .bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                if lines != EVENT_IDS.len() {
                    p.push(format!("the export result has {lines} lines, want 3"));
                }
            }
            Ok(None) => p.push(format!("the export result {key} is missing")),
            Err(e) => p.push(format!("reading the export result: {e}")),
        }
    }
}

/// Everything of a case's owner the checks look at, read through the real adapters.
struct Seen {
    upload: Option<UploadRecord>,
    events: Vec<EventRecord>,
    by_id: Vec<(String, Option<EventRecord>)>,
    quarantine: Option<QuarantineRecord>,
    q_object: bool,
    q_bytes: Option<Bytes>,
    q_report: bool,
    in_process: Vec<String>,
    notifications: Vec<Notification>,
    undelivered: Vec<Notification>,
    operator_upload: Option<UploadRecord>,
}

impl Seen {
    async fn read(c: &Case<'_>) -> PortResult<Self> {
        let (objects, table) = c.real();
        let owner = c.owner.as_str();
        let mut events = Vec::new();
        let mut after: Option<EventPosition> = None;
        loop {
            let page = table
                .list_events(owner, &EventQuery::default(), after.as_ref(), 100)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(EventPosition {
                occurred_at: last.occurred_at,
                event_id: last.event_id.clone(),
            });
            let short = page.len() < 100;
            events.extend(page);
            if short || events.len() > 10_000 {
                break;
            }
        }
        let mut by_id = Vec::new();
        for id in EVENT_IDS {
            by_id.push((id.to_string(), table.get_event(owner, id).await?));
        }
        let q = objects.get(Bucket::Quarantine, &c.qkey, 1 << 20).await?;
        let q_report = objects
            .head(Bucket::Quarantine, &report_key(&c.qkey))
            .await?
            .is_some();
        let prefix = format!("{}{owner}/", keys::INCOMING);
        let in_process = objects
            .list(Bucket::Process, &prefix, None, 100)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let notifications = table.list_notifications(owner, None, 1000).await?;
        let undelivered = table
            .undelivered_notifications(10_000)
            .await?
            .into_iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, n)| n)
            .collect();
        let (_, operator_id) = keys::operator_quarantine(&format!("{}#{}", c.key, c.etag));
        Ok(Self {
            upload: table.get_upload(owner, &c.upload_id).await?,
            events,
            by_id,
            quarantine: table.get_quarantine(owner, &c.upload_id).await?,
            q_object: q.is_some(),
            q_bytes: q.map(|o| o.bytes),
            q_report,
            in_process,
            notifications,
            undelivered,
            operator_upload: table.get_upload(keys::OPERATOR, &operator_id).await?,
        })
    }
}

async fn all_running(table: &dyn EventTable) -> Vec<ExportRecord> {
    let mut out = Vec::new();
    let mut after: Option<ExportPosition> = None;
    for _ in 0..1000 {
        let Ok(page) = table.running_exports(after.as_ref(), 500).await else {
            break;
        };
        let full = page.len() == 500;
        after = page.last().map(ExportPosition::of);
        out.extend(page);
        if !full {
            break;
        }
    }
    out
}
