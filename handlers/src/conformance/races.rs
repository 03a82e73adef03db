//! Races at the level of the processor and the API (issue 8, "Concurrency"), run on one
//! backend's real [`Ports`]: the same object delivered two and three times at once
//! (EventBridge delivers at least once, and Lambda runs invocations in parallel), reprocess
//! racing a delivery and a second reprocess, delete racing reprocess, two exports of one
//! user at once.
//!
//! The table-level races (`commit_rule_concurrent_same_content`, `reprocess_is_claimed_once`,
//! the DynamoDB adapter's own) hold one port call against another; these hold whole
//! `Processor::process` and `Api` calls against each other, so every interleaving of their
//! steps (head, copy, claim, commit, clean-up) is one the invariants of ARCHITECTURE.md must
//! survive: the object is the unit, one upload id one outcome, reprocess claims, never an
//! entry without its object.
//!
//! Each scenario is one body for every backend. The racing itself is the caller's
//! ([`Racer`]: the adapters' tests start every racer as its own task on a multi-thread
//! runtime, released together behind a barrier), since this crate runs on no runtime. Each
//! round works in a fresh owner, so rounds and scenarios never see each other's data, and
//! each body returns a [`Report`] (rounds, a histogram of what happened, violations) rather
//! than stopping at the first violation: interleavings vary from run to run, and the figures
//! say which ones a run exercised. Some rounds stagger the racers by a few table reads (a
//! delay counted in the backend's own round trips, with no timer), so that one racer enters
//! while another is in a later step.
//!
//! Two probes at the end force or repeat what the scenarios reach rarely: a second object
//! under the key landing inside a reprocess (forced with a hook on the object store), and
//! one export request delivered twice at once. Each broke an invariant once (the reprocess
//! copied back over the owner's key; an export ran twice) and now guards its fix.

use super::{all_events, all_notifications, all_quarantine, owner};
use crate::api::{Api, ApiConfig};
use crate::cursor::CursorSigner;
use crate::exports::{ExportRunner, Exporter};
use crate::intake::Intake;
use crate::keys;
use crate::ports::{
    Bucket, Dispatcher, EventQuery, ExportRecord, Notifier, Object, ObjectInfo, ObjectStore,
    ObjectWriter, PortError, PortResult, PresignedRequest, Presigner, Read, report_key,
};
use crate::processor::{Outcome, ProcessError, Processor};
use crate::wiring::Ports;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventpulse_contract_rt::{ApiError, Principal, RequestContext};
use eventpulse_generated::api::{
    CreateExportRequest, CreateUploadRequest, CreateUploadResponse, DeleteQuarantineRequest,
    EventPulseApi, GetExportRequest, GetExportResponse, ReprocessQuarantineRequest,
};
use eventpulse_generated::types::{
    ExportRequest, ExportState, Notification, NotificationKind, QuarantineReport, ReasonCode,
    UploadId, UploadRequest, UploadRequestContentType, UploadState,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One racer: a future that owns what it needs.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Runs racers truly at once. The adapters' tests implement it with `tokio::spawn` on a
/// multi-thread runtime, every task waiting on one `tokio::sync::Barrier` before it starts.
pub trait Racer: Sync {
    /// Runs every task at once and returns their outputs in the order of `tasks`.
    fn race<T: Send + 'static>(&self, tasks: Vec<Task<T>>) -> impl Future<Output = Vec<T>> + Send;
}

/// What one scenario saw over its rounds.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: String,
    pub rounds: usize,
    /// How the races went (who won, what each racer answered), round by round.
    pub outcomes: BTreeMap<String, usize>,
    /// What a round also showed, without being a violation.
    pub observations: BTreeMap<String, usize>,
    /// Broken invariants, each naming its round. Must be empty.
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    fn new(scenario: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            ..Self::default()
        }
    }

    /// Panics, with the whole report, if any invariant was broken.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert!(self.violations.is_empty(), "races: {self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} rounds in {:.2} s, {} violations",
            self.scenario,
            self.rounds,
            self.elapsed.as_secs_f64(),
            self.violations.len()
        )?;
        for (k, n) in &self.outcomes {
            writeln!(f, "    {n:>3} × {k}")?;
        }
        for (k, n) in &self.observations {
            writeln!(f, "    (observed {n} × {k})")?;
        }
        for v in &self.violations {
            writeln!(f, "    VIOLATION {v}")?;
        }
        Ok(())
    }
}

/// One round's bookkeeping.
struct Round<'a> {
    report: &'a mut Report,
    n: usize,
    tag: String,
}

impl Round<'_> {
    fn check(&mut self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.report
                .violations
                .push(format!("round {} ({}): {}", self.n, self.tag, what()));
        }
    }
    fn outcome(&mut self, label: impl Into<String>) {
        *self.report.outcomes.entry(label.into()).or_default() += 1;
    }
    fn observe(&mut self, label: impl Into<String>) {
        *self.report.observations.entry(label.into()).or_default() += 1;
    }
    /// The value of a port call, or a violation (and `None`).
    fn ok<T>(&mut self, what: &str, r: PortResult<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.check(false, || format!("{what} failed: {e}"));
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rig: the domain on the backend's ports, with doubles for what leaves the system.

/// The notifier of the backend, recording what it delivered.
struct Recording {
    inner: Arc<dyn Notifier>,
    delivered: Mutex<Vec<(String, String, NotificationKind)>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Notifier for Recording {
    async fn deliver(&self, owner: &str, n: &Notification) -> PortResult<()> {
        self.inner.deliver(owner, n).await?;
        locked(&self.delivered).push((owner.into(), n.notification_id.clone(), n.kind));
        Ok(())
    }
}

/// The dispatcher: records each key the API says was created, for the test to deliver (what
/// S3 → EventBridge, or the local queue, would do).
#[derive(Default)]
struct Dispatched(Mutex<Vec<String>>);

#[async_trait]
impl Dispatcher for Dispatched {
    async fn object_created(&self, key: &str) -> PortResult<()> {
        locked(&self.0).push(key.into());
        Ok(())
    }
}

/// The export runner: records what was submitted, for the test to run.
#[derive(Default)]
struct Submitted(Mutex<Vec<ExportRecord>>);

#[async_trait]
impl ExportRunner for Submitted {
    async fn submit(&self, export: &ExportRecord) -> PortResult<()> {
        locked(&self.0).push(export.clone());
        Ok(())
    }
}

/// Presigns nothing: the objects are put through the object store.
struct Unsigned;

#[async_trait]
impl Presigner for Unsigned {
    async fn presign_upload(
        &self,
        key: &str,
        _: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        Ok(PresignedRequest {
            url: format!("https://uploads.invalid/{key}"),
            method: "PUT".into(),
            headers: vec![],
            expires_at,
        })
    }
    async fn presign_download(&self, _: Bucket, key: &str, _: DateTime<Utc>) -> PortResult<String> {
        Ok(format!("https://downloads.invalid/{key}"))
    }
}

struct Rig {
    ports: Ports,
    processor: Arc<Processor>,
    api: Arc<Api>,
    exporter: Arc<Exporter>,
    notifier: Arc<Recording>,
    dispatched: Arc<Dispatched>,
    submitted: Arc<Submitted>,
}

/// What a racer did: a processing, or an API call's status (and the detail of an error).
#[derive(Debug)]
enum Step {
    Processed(Result<Outcome, ProcessError>),
    Status(u16, String),
    Exported(Result<ExportRecord, PortError>),
}

fn status<T>(ok: u16, r: Result<T, ApiError>) -> Step {
    match r {
        Ok(_) => Step::Status(ok, String::new()),
        Err(e) => Step::Status(e.status.as_u16(), e.detail),
    }
}

fn ctx(operation_id: &'static str, user: &str) -> RequestContext {
    RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        operation_id,
        path: format!("/races/{operation_id}"),
        user: Some(user.into()),
        resources: vec![],
    }
}

fn principal(user: &str) -> Principal {
    Principal {
        user_id: user.into(),
    }
}

fn upload_id(id: &str) -> UploadId {
    UploadId::try_from(id.to_string()).unwrap_or_else(|e| panic!("races: upload id {id}: {e}"))
}

impl Rig {
    fn new(ports: &Ports) -> Self {
        let notifier = Arc::new(Recording {
            inner: ports.notifier.clone(),
            delivered: Mutex::default(),
        });
        let ports = Ports {
            notifier: notifier.clone(),
            ..ports.clone()
        };
        let intake = Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100)
            .unwrap_or_else(|e| panic!("races: intake: {e}"));
        let dispatched = Arc::new(Dispatched::default());
        let submitted = Arc::new(Submitted::default());
        let api = ports.api(
            Arc::new(Unsigned),
            dispatched.clone(),
            submitted.clone(),
            CursorSigner::new(b"the races' cursor key, tests only"),
            ApiConfig::default(),
        );
        Self {
            processor: Arc::new(ports.processor(Arc::new(intake))),
            exporter: Arc::new(ports.exporter()),
            api: Arc::new(api),
            ports,
            notifier,
            dispatched,
            submitted,
        }
    }

    /// `POST /v1/uploads` as `user`, then the object put where the presigned URL puts it.
    async fn upload(&self, user: &str, bytes: &Bytes) -> (String, String) {
        let req = CreateUploadRequest {
            body: Some(UploadRequest {
                content_length: NonZeroU64::new(bytes.len() as u64),
                content_type: Some(UploadRequestContentType::ApplicationJson),
            }),
        };
        let ticket = match self
            .api
            .create_upload(&ctx("create_upload", user), &principal(user), req)
            .await
        {
            Ok(CreateUploadResponse::Created(t)) => t,
            Err(e) => panic!("races: create_upload: {} {}", e.status, e.detail),
        };
        super::ok(
            "put (the upload)",
            self.ports
                .objects
                .put(
                    Bucket::Process,
                    &ticket.key,
                    bytes.clone(),
                    "application/json",
                )
                .await,
        );
        (ticket.upload_id.to_string(), ticket.key)
    }

    fn process(&self, key: &str) -> Task<Step> {
        let (p, key) = (self.processor.clone(), key.to_string());
        Box::pin(async move { Step::Processed(p.process(&key).await) })
    }

    /// A delivery of the object a reprocess is about to copy back: it waits (polling, a
    /// bounded number of times) until the object is in the process bucket, then processes
    /// it, so it runs while the other racers are still under way.
    fn process_when_copied(&self, key: &str) -> Task<Step> {
        let (p, objects, key) = (
            self.processor.clone(),
            self.ports.objects.clone(),
            key.to_string(),
        );
        Box::pin(async move {
            let started = Instant::now();
            while started.elapsed() < POLL_FOR {
                if let Ok(Some(_)) = objects.head(Bucket::Process, &key).await {
                    break;
                }
            }
            Step::Processed(p.process(&key).await)
        })
    }

    /// `task`, started after `reads` reads of the table: a delay without a timer, measured
    /// in the backend's own round trips, so that a racer with a short path starts later.
    fn delayed(&self, reads: usize, task: Task<Step>) -> Task<Step> {
        let table = self.ports.table.clone();
        Box::pin(async move {
            for _ in 0..reads {
                let _ = table.get_upload("races-delay", "none").await;
            }
            task.await
        })
    }

    fn reprocess(&self, user: &str, id: &str) -> Task<Step> {
        let (api, user, id) = (self.api.clone(), user.to_string(), upload_id(id));
        Box::pin(async move {
            let req = ReprocessQuarantineRequest { upload_id: id };
            status(
                202,
                api.reprocess_quarantine(
                    &ctx("reprocess_quarantine", &user),
                    &principal(&user),
                    req,
                )
                .await,
            )
        })
    }

    fn delete(&self, user: &str, id: &str) -> Task<Step> {
        let (api, user, id) = (self.api.clone(), user.to_string(), upload_id(id));
        Box::pin(async move {
            let req = DeleteQuarantineRequest { upload_id: id };
            status(
                204,
                api.delete_quarantine(&ctx("delete_quarantine", &user), &principal(&user), req)
                    .await,
            )
        })
    }

    fn create_export(&self, user: &str) -> Task<Step> {
        let (api, user) = (self.api.clone(), user.to_string());
        Box::pin(async move {
            let req = CreateExportRequest {
                body: ExportRequest::default(),
            };
            status(
                202,
                api.create_export(&ctx("create_export", &user), &principal(&user), req)
                    .await,
            )
        })
    }

    fn run_export(&self, export: ExportRecord) -> Task<Step> {
        let exporter = self.exporter.clone();
        Box::pin(async move { Step::Exported(exporter.run(export).await) })
    }

    /// The keys the API dispatched since the last call.
    fn dispatched(&self) -> Vec<String> {
        std::mem::take(&mut *locked(&self.dispatched.0))
    }

    /// Delivers what is still undelivered (the outbox task locally, the sweep on AWS).
    async fn flush(&self, r: &mut Round<'_>) {
        for _ in 0..10 {
            match self.processor.flush_outbox().await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    r.check(false, || format!("flush_outbox failed: {e}"));
                    return;
                }
            }
        }
    }

    /// What was delivered to `user`: notification ids and kinds.
    fn delivered_to(&self, user: &str) -> Vec<(String, NotificationKind)> {
        locked(&self.notifier.delivered)
            .iter()
            .filter(|(o, _, _)| o == user)
            .map(|(_, id, kind)| (id.clone(), *kind))
            .collect()
    }

    /// Processes one object the way a delivery would, and redelivers it while the answer is
    /// a retryable error (Lambda's retries, the local requeue).
    async fn deliver(&self, r: &mut Round<'_>, key: &str) -> Option<Outcome> {
        for _ in 0..5 {
            match self.processor.process(key).await {
                Ok(o) => return Some(o),
                Err(e) if e.retryable() => {
                    r.observe("a delivery answered a retryable error and was redelivered");
                }
                Err(e) => {
                    r.check(false, || format!("processing {key} failed: {e}"));
                    return None;
                }
            }
        }
        r.check(false, || format!("processing {key} kept failing"));
        None
    }

    /// The racers' retryable failures are redelivered (as EventBridge/Lambda would): while
    /// the object is still in the process bucket, deliver it again.
    async fn redeliver_leftover(&self, r: &mut Round<'_>, key: &str, retryable: bool) {
        if !retryable {
            return;
        }
        if let Some(Some(_)) = r.ok(
            "head (leftover)",
            self.ports.objects.head(Bucket::Process, key).await,
        ) {
            self.deliver(r, key).await;
        }
    }
}

/// A label for a processing, and whether it failed retryably; a permanent failure is a
/// violation.
fn processed(
    r: &mut Round<'_>,
    what: &str,
    result: &Result<Outcome, ProcessError>,
) -> (String, bool) {
    match result {
        Ok(Outcome::Stored { .. }) => ("stored".into(), false),
        Ok(Outcome::Quarantined { .. }) => ("quarantined".into(), false),
        Ok(Outcome::Skipped { why, .. }) => (format!("skipped ({why})"), false),
        Err(e) if e.retryable() => ("retryable error".into(), true),
        Err(e) => {
            r.check(false, || format!("{what} failed: {e}"));
            ("error".into(), false)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Objects and the final states they must end in.

/// Events per valid object.
const EVENTS: usize = 5;
/// How long a racing delivery looks for the copy it is to process.
const POLL_FOR: Duration = Duration::from_secs(2);

fn valid_doc(tag: &str, n: usize) -> (Bytes, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let doc: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"eventId": id, "type": "page.view", "occurredAt": format!("2026-11-27T10:00:{i:02}.5+01:00"),
                   "source": "races", "data": {"url": format!("https://example.com/{tag}/{i}")}})
        })
        .collect();
    (
        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
        ids,
    )
}

/// Three events, the second without its required `data.url`: a schema violation.
fn invalid_doc(tag: &str) -> Bytes {
    let doc = json!([
        {"eventId": format!("{tag}-a"), "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z",
         "source": "races", "data": {"url": "https://example.com/a"}},
        {"eventId": format!("{tag}-b"), "type": "page.view", "occurredAt": "2026-11-27T10:00:01Z",
         "source": "races", "data": {}},
        {"eventId": format!("{tag}-c"), "type": "page.view", "occurredAt": "2026-11-27T10:00:02Z",
         "source": "races", "data": {"url": "https://example.com/c"}}
    ]);
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

/// The state one upload must end in.
enum Want<'a> {
    /// Stored with this ETag: these events listed, each once, nothing in quarantine.
    Stored { etag: &'a str, ids: &'a [String] },
    /// Quarantined (schema violation): this object and its report in the quarantine bucket,
    /// listed once, nothing listed.
    Quarantined { bytes: &'a Bytes },
    /// Its quarantine entry deleted: no entry, no objects, nothing listed; the upload stays
    /// quarantined.
    Deleted,
}

/// Checks the final state of `user`'s one upload `id` (at `key`): `want`, the object and any
/// reprocess copy gone from the process bucket, never an entry without its object, `notes` quarantine notifications
/// recorded and each delivered.
async fn check_final(
    rig: &Rig,
    r: &mut Round<'_>,
    user: &str,
    id: &str,
    key: &str,
    want: Want<'_>,
    notes: usize,
) {
    let (objects, table) = (&rig.ports.objects, &rig.ports.table);
    for key in [key.to_string(), keys::reprocess_key(user, id)] {
        let in_process = r.ok("head (process)", objects.head(Bucket::Process, &key).await);
        r.check(in_process == Some(None), || {
            format!("{key} is still in the process bucket ({in_process:?})")
        });
    }
    let qkey = keys::quarantine_key(user, id);
    let upload = r
        .ok("get_upload", table.get_upload(user, id).await)
        .flatten();
    let entry = r
        .ok("get_quarantine", table.get_quarantine(user, id).await)
        .flatten();
    let listed = all_quarantine(table.as_ref(), user, 10).await;
    let qobject = r
        .ok(
            "get (quarantine)",
            objects.get(Bucket::Quarantine, &qkey, 1 << 20).await,
        )
        .flatten();
    let report = r
        .ok(
            "get (report)",
            objects
                .get(Bucket::Quarantine, &report_key(&qkey), 1 << 20)
                .await,
        )
        .flatten();
    let events = all_events(table.as_ref(), user, &EventQuery::default(), 100).await;

    // Never an entry without its object and its report, whatever the outcome.
    if let Some(q) = &entry {
        r.check(q.key == qkey, || {
            format!("the entry names {} instead of {qkey}", q.key)
        });
        r.check(qobject.is_some(), || {
            "a quarantine entry without its object".into()
        });
        r.check(report.is_some(), || {
            "a quarantine entry without its report".into()
        });
    }
    let status = upload.as_ref().map(|u| u.status);
    match want {
        Want::Stored { etag, ids } => {
            let u = upload.as_ref();
            r.check(status == Some(UploadState::Stored), || {
                format!("upload is {status:?}, not stored")
            });
            r.check(u.and_then(|u| u.etag.as_deref()) == Some(etag), || {
                format!(
                    "stored with ETag {:?}, not {etag}",
                    u.and_then(|u| u.etag.clone())
                )
            });
            r.check(
                u.and_then(|u| u.event_count) == Some(ids.len() as u64),
                || {
                    format!(
                        "event count {:?}, not {}",
                        u.and_then(|u| u.event_count),
                        ids.len()
                    )
                },
            );
            let got: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
            let distinct: BTreeSet<&str> = got.iter().copied().collect();
            let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
            r.check(got.len() == ids.len() && distinct == wanted, || {
                format!("listed {got:?}, want each of {wanted:?} once")
            });
            r.check(events.iter().all(|e| e.upload_id == id), || {
                "a listed event names another upload".into()
            });
            for want_id in ids {
                let e = r
                    .ok("get_event", table.get_event(user, want_id).await)
                    .flatten();
                r.check(e.is_some(), || format!("get_event {want_id}: missing"));
            }
            r.check(entry.is_none() && listed.is_empty(), || {
                "stored, but still listed in quarantine".into()
            });
            r.check(qobject.is_none() && report.is_none(), || {
                "stored, but its quarantined copy or report is left in the quarantine bucket".into()
            });
        }
        Want::Quarantined { bytes } => {
            r.check(status == Some(UploadState::Quarantined), || {
                format!("upload is {status:?}, not quarantined")
            });
            r.check(
                upload.as_ref().and_then(|u| u.reason_code) == Some(ReasonCode::SchemaViolation),
                || format!("reason {:?}", upload.as_ref().and_then(|u| u.reason_code)),
            );
            r.check(entry.is_some(), || {
                "quarantined, but no quarantine entry".into()
            });
            r.check(listed.len() == 1, || {
                format!("{} quarantine entries listed, not 1", listed.len())
            });
            r.check(qobject.as_ref().is_some_and(|o| o.bytes == bytes), || {
                "the quarantined object is missing or is not the uploaded one".into()
            });
            match report
                .as_ref()
                .map(|o| serde_json::from_slice::<QuarantineReport>(&o.bytes))
            {
                Some(Ok(rep)) => {
                    r.check(
                        rep.upload_id.as_str() == id
                            && rep.reason_code == ReasonCode::SchemaViolation,
                        || {
                            format!(
                                "the report is about {} ({})",
                                rep.upload_id.as_str(),
                                rep.reason_code
                            )
                        },
                    );
                    if let Some(q) = &entry {
                        if rep.quarantined_at == q.quarantined_at {
                            r.observe("the report is the recorded run's");
                        } else {
                            r.observe("the report is another run's (its quarantinedAt differs from the entry's)");
                        }
                    }
                }
                Some(Err(e)) => r.check(false, || format!("the report does not parse: {e}")),
                None => r.check(false, || "quarantined, but no report".into()),
            }
            r.check(events.is_empty(), || {
                format!("quarantined, but {} events listed", events.len())
            });
        }
        Want::Deleted => {
            r.check(status == Some(UploadState::Quarantined), || {
                format!("upload is {status:?}; a deleted entry leaves it quarantined")
            });
            r.check(entry.is_none() && listed.is_empty(), || {
                "the deleted entry is still listed".into()
            });
            r.check(qobject.is_none() && report.is_none(), || {
                "the deleted entry's object or report is left in the quarantine bucket".into()
            });
            r.check(events.is_empty(), || {
                format!("{} events listed", events.len())
            });
        }
    }

    // Notifications: recorded once per quarantine outcome, each delivered.
    let recorded = all_notifications(table.as_ref(), user, 100).await;
    let quarantined: Vec<&Notification> = recorded
        .iter()
        .filter(|n| n.kind == NotificationKind::ObjectQuarantined)
        .collect();
    r.check(
        quarantined.len() == notes && recorded.len() == notes,
        || {
            format!(
                "{} notifications recorded ({} object_quarantined), want {notes}",
                recorded.len(),
                quarantined.len()
            )
        },
    );
    r.check(
        quarantined
            .iter()
            .all(|n| n.upload_id.as_ref().map(|u| u.as_str()) == Some(id)),
        || "a notification names another upload".into(),
    );
    check_delivered(rig, r, user, &recorded).await;
}

/// Every recorded notification of `user` delivered (at least once), none left in the outbox.
async fn check_delivered(rig: &Rig, r: &mut Round<'_>, user: &str, recorded: &[Notification]) {
    let delivered = rig.delivered_to(user);
    for n in recorded {
        let times = delivered
            .iter()
            .filter(|(id, _)| *id == n.notification_id)
            .count();
        r.check(times >= 1, || {
            format!(
                "notification {} was recorded but never delivered",
                n.notification_id
            )
        });
        if times > 1 {
            r.observe("a notification delivered more than once");
        }
    }
    r.check(
        delivered
            .iter()
            .all(|(id, _)| recorded.iter().any(|n| n.notification_id == *id)),
        || "a notification was delivered that is not recorded".into(),
    );
    let outbox = r
        .ok(
            "undelivered_notifications",
            rig.ports.table.undelivered_notifications(10_000).await,
        )
        .unwrap_or_default();
    r.check(outbox.iter().all(|(o, _)| o != user), || {
        "notifications left undelivered in the outbox".into()
    });
}

// ---------------------------------------------------------------------------------------
// 1. The same object, processed by `copies` deliveries at once.

/// How many table reads racer `i` of round `n` waits before it starts: every fourth round
/// all start at once, the others staggered by 3, 6 or 9 reads per racer, so that a racer
/// enters while another is in a later step (holding, committing, cleaning up).
fn stagger(n: usize, i: usize) -> usize {
    (n % 4) * 3 * i
}

/// The same valid object (several events) processed by `copies` concurrent
/// `Processor::process(key)` calls (released together, some rounds staggered), `rounds`
/// times: exactly one final state (stored), every
/// event listed once, the object gone from the process bucket, no notification.
pub async fn same_valid_object_concurrently(
    ports: &Ports,
    racer: &impl Racer,
    copies: usize,
    rounds: usize,
) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new(format!("same valid object, {copies} deliveries at once"));
    let started = Instant::now();
    for n in 0..rounds {
        let user = owner("race-valid");
        let mut r = Round {
            report: &mut report,
            n,
            tag: user.clone(),
        };
        let (bytes, ids) = valid_doc(&user, EVENTS);
        let (id, key) = rig.upload(&user, &bytes).await;
        let Some(Some(info)) = r.ok("head", rig.ports.objects.head(Bucket::Process, &key).await)
        else {
            r.check(false, || "the uploaded object is not there".into());
            continue;
        };
        let steps = racer
            .race(
                (0..copies)
                    .map(|i| rig.delayed(stagger(n, i), rig.process(&key)))
                    .collect(),
            )
            .await;
        let (mut labels, mut retry, mut inserted, mut stored) = (Vec::new(), false, 0u64, 0);
        for step in &steps {
            let Step::Processed(result) = step else {
                continue;
            };
            let (label, retryable) = processed(&mut r, "a racing delivery", result);
            retry |= retryable;
            match result {
                Ok(Outcome::Stored {
                    inserted: i,
                    events,
                    ..
                }) => {
                    stored += 1;
                    inserted += i;
                    r.check(*events == EVENTS as u64, || {
                        format!("a delivery stored {events} events, not {EVENTS}")
                    });
                }
                Ok(Outcome::Quarantined { .. }) => {
                    r.check(false, || "a valid object was quarantined".into())
                }
                _ => {}
            }
            labels.push(label);
        }
        rig.redeliver_leftover(&mut r, &key, retry).await;
        rig.flush(&mut r).await;
        labels.sort();
        r.outcome(labels.join(" + "));
        r.check(stored >= 1 || retry, || {
            "no delivery stored the object".into()
        });
        r.check(inserted == EVENTS as u64 || retry, || {
            format!(
                "the deliveries inserted {inserted} events between them, not {EVENTS} (each once)"
            )
        });
        check_final(
            &rig,
            &mut r,
            &user,
            &id,
            &key,
            Want::Stored {
                etag: &info.etag,
                ids: &ids,
            },
            0,
        )
        .await;
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

/// The same invalid object processed by `copies` concurrent `Processor::process(key)` calls,
/// `rounds` times: quarantined once, exactly one notification recorded (and delivered), the
/// quarantine entry, object and report present, the object gone from the process bucket.
pub async fn same_invalid_object_concurrently(
    ports: &Ports,
    racer: &impl Racer,
    copies: usize,
    rounds: usize,
) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new(format!("same invalid object, {copies} deliveries at once"));
    let started = Instant::now();
    for n in 0..rounds {
        let user = owner("race-invalid");
        let mut r = Round {
            report: &mut report,
            n,
            tag: user.clone(),
        };
        let bytes = invalid_doc(&user);
        let (id, key) = rig.upload(&user, &bytes).await;
        let steps = racer
            .race(
                (0..copies)
                    .map(|i| rig.delayed(stagger(n, i), rig.process(&key)))
                    .collect(),
            )
            .await;
        let (mut labels, mut retry, mut quarantined) = (Vec::new(), false, 0);
        for step in &steps {
            let Step::Processed(result) = step else {
                continue;
            };
            let (label, retryable) = processed(&mut r, "a racing delivery", result);
            retry |= retryable;
            match result {
                Ok(Outcome::Quarantined { reason, .. }) => {
                    quarantined += 1;
                    r.check(*reason == ReasonCode::SchemaViolation, || {
                        format!("quarantined as {reason}")
                    });
                }
                Ok(Outcome::Stored { .. }) => {
                    r.check(false, || "an invalid object was stored".into())
                }
                _ => {}
            }
            labels.push(label);
        }
        rig.redeliver_leftover(&mut r, &key, retry).await;
        rig.flush(&mut r).await;
        labels.sort();
        r.outcome(labels.join(" + "));
        r.check(quarantined >= 1 || retry, || {
            "no delivery quarantined the object".into()
        });
        check_final(
            &rig,
            &mut r,
            &user,
            &id,
            &key,
            Want::Quarantined { bytes: &bytes },
            1,
        )
        .await;
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

// ---------------------------------------------------------------------------------------
// 2. Reprocess racing a delivery and a second reprocess.

/// A quarantined upload, reprocessed by two requests at once while a third racer runs: a
/// third request (a third of the rounds), a delivery of its key (a late or duplicate event,
/// a third), or the delivery of the reprocess's own copy, which waits for the copy to land
/// and so runs while the requests are still under way (on AWS that event can arrive before
/// the request answers, and twice). Half the rounds the quarantined object was fixed (an
/// operator replaced it with a valid one: reprocess ends stored), half not (it ends
/// quarantined again). Afterwards every dispatched key is delivered, all at once.
///
/// Exactly one reprocess is accepted (202) among requests that overlap, the rest 409; a
/// second one is accepted only after the first one's processing ended quarantined (the
/// racing delivery finished it), and a 404 only after it ended stored. The upload ends in
/// exactly one final state; one quarantine notification per quarantine outcome.
pub async fn reprocess_races_delivery(ports: &Ports, racer: &impl Racer, rounds: usize) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new("reprocess racing a delivery and another reprocess");
    let started = Instant::now();
    for n in 0..rounds {
        let fixed = n % 2 == 0;
        let user = owner("race-reprocess");
        let mut r = Round {
            report: &mut report,
            n,
            tag: format!("{user}, {}", if fixed { "fixed" } else { "unfixed" }),
        };
        let bad = invalid_doc(&user);
        let (good, ids) = valid_doc(&user, EVENTS);
        let (id, key) = rig.upload(&user, &bad).await;
        let first = rig.deliver(&mut r, &key).await;
        r.check(matches!(first, Some(Outcome::Quarantined { .. })), || {
            format!("the first processing: {first:?}")
        });
        rig.flush(&mut r).await;
        let qkey = keys::quarantine_key(&user, &id);
        let mut fixed_etag = String::new();
        if fixed {
            match r.ok(
                "put (the fix)",
                rig.ports
                    .objects
                    .put(Bucket::Quarantine, &qkey, good.clone(), "application/json")
                    .await,
            ) {
                Some(info) => fixed_etag = info.etag,
                None => continue,
            }
        }

        // The racing delivery is one of the copy (EventBridge's, early or on time).
        let copy = keys::reprocess_key(&user, &id);
        let mut tasks = vec![rig.reprocess(&user, &id), rig.reprocess(&user, &id)];
        tasks.push(match n % 3 {
            0 => rig.reprocess(&user, &id),
            1 => rig.process(&copy),
            _ => rig.process_when_copied(&copy),
        });
        if n % 4 >= 2 {
            tasks.reverse();
        }
        let steps = racer.race(tasks).await;
        let (mut accepted, mut conflicts, mut gone) = (0, 0, 0);
        let (mut racing, mut retry) = (None, false);
        let mut labels = Vec::new();
        for step in &steps {
            match step {
                Step::Status(202, _) => accepted += 1,
                Step::Status(409, _) => conflicts += 1,
                Step::Status(404, _) => gone += 1,
                Step::Status(s, detail) => {
                    r.check(false, || format!("a reprocess answered {s}: {detail}"))
                }
                Step::Processed(result) => {
                    let (label, retryable) = processed(&mut r, "the racing delivery", result);
                    retry |= retryable;
                    labels.push(format!("delivery {label}"));
                    racing = result.as_ref().ok().cloned();
                }
                Step::Exported(_) => {}
            }
        }
        labels.insert(
            0,
            format!("reprocess 202×{accepted} 409×{conflicts} 404×{gone}"),
        );
        let racing_quarantined = matches!(racing, Some(Outcome::Quarantined { .. }));
        let racing_stored = matches!(racing, Some(Outcome::Stored { .. }));
        r.check(accepted >= 1, || "no reprocess was accepted".into());
        r.check(
            accepted <= 1 || (accepted == 2 && racing_quarantined && !fixed),
            || {
                format!(
                    "{accepted} reprocesses accepted, while the racing delivery ended {racing:?}"
                )
            },
        );
        r.check(gone == 0 || racing_stored, || {
            format!("{gone} reprocesses answered 404 while the upload was still quarantined (racing delivery: {racing:?})")
        });
        let keys = rig.dispatched();
        r.check(
            keys.len() == accepted && keys.iter().all(|k| *k == copy),
            || format!("{accepted} accepted, but dispatched {keys:?}"),
        );
        // The deliveries of the copies, at once (a delivery may find the object gone).
        let deliveries = racer
            .race(keys.iter().map(|k| rig.process(k)).collect())
            .await;
        for step in &deliveries {
            if let Step::Processed(result) = step {
                let (label, retryable) = processed(&mut r, "a delivery of the copy", result);
                retry |= retryable;
                labels.push(format!("then {label}"));
            }
        }
        rig.redeliver_leftover(&mut r, &copy, retry).await;
        rig.flush(&mut r).await;
        r.outcome(format!(
            "{}: {}",
            if fixed { "fixed" } else { "unfixed" },
            labels.join(", ")
        ));
        if fixed {
            check_final(
                &rig,
                &mut r,
                &user,
                &id,
                &key,
                Want::Stored {
                    etag: &fixed_etag,
                    ids: &ids,
                },
                1,
            )
            .await;
        } else {
            // The first quarantine, then one per accepted reprocess.
            check_final(
                &rig,
                &mut r,
                &user,
                &id,
                &key,
                Want::Quarantined { bytes: &bad },
                1 + accepted,
            )
            .await;
        }
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

// ---------------------------------------------------------------------------------------
// 3. Delete racing reprocess.

/// `delete_quarantine` and `reprocess_quarantine` of one quarantined upload at once (half
/// the rounds with its object fixed; the delete, whose path is the shorter, delayed by 0–3
/// table reads in turn, so that each side wins some rounds): either the delete wins (204; the entry and objects
/// gone, the reprocess 404 or 409, nothing dispatched, nothing left in the process bucket)
/// or the reprocess wins (202; the delete 409, the upload ends final once its copy is
/// delivered); never both, never neither, never an entry without its object, never an
/// object left in the process bucket.
pub async fn delete_races_reprocess(ports: &Ports, racer: &impl Racer, rounds: usize) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new("delete racing reprocess");
    let started = Instant::now();
    for n in 0..rounds {
        let fixed = n % 2 == 0;
        let user = owner("race-delete");
        let mut r = Round {
            report: &mut report,
            n,
            tag: format!("{user}, {}", if fixed { "fixed" } else { "unfixed" }),
        };
        let bad = invalid_doc(&user);
        let (good, ids) = valid_doc(&user, EVENTS);
        let (id, key) = rig.upload(&user, &bad).await;
        let first = rig.deliver(&mut r, &key).await;
        r.check(matches!(first, Some(Outcome::Quarantined { .. })), || {
            format!("the first processing: {first:?}")
        });
        rig.flush(&mut r).await;
        let qkey = keys::quarantine_key(&user, &id);
        let mut fixed_etag = String::new();
        if fixed {
            match r.ok(
                "put (the fix)",
                rig.ports
                    .objects
                    .put(Bucket::Quarantine, &qkey, good.clone(), "application/json")
                    .await,
            ) {
                Some(info) => fixed_etag = info.etag,
                None => continue,
            }
        }
        // The delete's path is the shorter one: delay it by 0–3 reads in turn.
        let mut tasks = vec![
            rig.delayed(n % 4, rig.delete(&user, &id)),
            rig.reprocess(&user, &id),
        ];
        if n % 8 >= 4 {
            tasks.reverse();
        }
        let steps = racer.race(tasks).await;
        // The order of `steps` is the order of `tasks`.
        let (delete, reprocess) = {
            let s: Vec<(u16, String)> = steps
                .iter()
                .map(|s| match s {
                    Step::Status(c, d) => (*c, d.clone()),
                    other => (0, format!("{other:?}")),
                })
                .collect();
            if n % 8 >= 4 {
                (s[1].clone(), s[0].clone())
            } else {
                (s[0].clone(), s[1].clone())
            }
        };
        let keys = rig.dispatched();
        let mut retry = false;
        let mut then = Vec::new();
        for step in racer
            .race(keys.iter().map(|k| rig.process(k)).collect())
            .await
        {
            if let Step::Processed(result) = &step {
                let (label, retryable) = processed(&mut r, "the delivery of the copy", result);
                retry |= retryable;
                then.push(label);
            }
        }
        rig.redeliver_leftover(&mut r, &keys::reprocess_key(&user, &id), retry)
            .await;
        rig.flush(&mut r).await;
        let label = format!(
            "{}: delete {} reprocess {}{}",
            if fixed { "fixed" } else { "unfixed" },
            delete.0,
            reprocess.0,
            if then.is_empty() {
                String::new()
            } else {
                format!(", then {}", then.join(", "))
            }
        );
        r.outcome(label);
        match (delete.0, reprocess.0) {
            (204, 404 | 409) => {
                r.check(keys.is_empty(), || {
                    format!("the delete won, but the reprocess dispatched {keys:?}")
                });
                check_final(&rig, &mut r, &user, &id, &key, Want::Deleted, 1).await;
            }
            (409, 202) => {
                r.check(keys.len() == 1, || {
                    format!("the reprocess won, but dispatched {keys:?}")
                });
                if fixed {
                    check_final(
                        &rig,
                        &mut r,
                        &user,
                        &id,
                        &key,
                        Want::Stored {
                            etag: &fixed_etag,
                            ids: &ids,
                        },
                        1,
                    )
                    .await;
                } else {
                    check_final(
                        &rig,
                        &mut r,
                        &user,
                        &id,
                        &key,
                        Want::Quarantined { bytes: &bad },
                        2,
                    )
                    .await;
                }
            }
            (d, p) => {
                r.check(false, || {
                    format!(
                        "delete answered {d} ({}), reprocess {p} ({})",
                        delete.1, reprocess.1
                    )
                });
            }
        }
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

// ---------------------------------------------------------------------------------------
// 4. Two exports of one user at once.

/// Two `create_export` of one user at once, then both exports run by `Exporter::run` at
/// once: both accepted and done, each with the full count, each result object complete
/// (every stored event once), one `export_done` notification each.
pub async fn two_exports_at_once(ports: &Ports, racer: &impl Racer, rounds: usize) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new("two exports of one user at once");
    let started = Instant::now();
    for n in 0..rounds {
        let user = owner("race-export");
        let mut r = Round {
            report: &mut report,
            n,
            tag: user.clone(),
        };
        let mut want: BTreeSet<String> = BTreeSet::new();
        for part in ["a", "b"] {
            let (bytes, ids) = valid_doc(&format!("{user}-{part}"), 7);
            let (_, key) = rig.upload(&user, &bytes).await;
            let o = rig.deliver(&mut r, &key).await;
            r.check(matches!(o, Some(Outcome::Stored { .. })), || {
                format!("storing the events: {o:?}")
            });
            want.extend(ids);
        }
        let created = racer
            .race(vec![rig.create_export(&user), rig.create_export(&user)])
            .await;
        let codes: Vec<String> = created
            .iter()
            .map(|s| match s {
                Step::Status(c, _) => c.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        r.check(codes.iter().all(|c| c == "202"), || {
            format!("create_export answered {created:?}")
        });
        let exports = std::mem::take(&mut *locked(&rig.submitted.0));
        r.check(
            exports.len() == 2
                && exports
                    .iter()
                    .all(|x| x.owner == user && x.status == ExportState::Running),
            || format!("submitted {exports:?}"),
        );
        let ran = racer
            .race(exports.iter().cloned().map(|x| rig.run_export(x)).collect())
            .await;
        rig.flush(&mut r).await;
        let mut labels = vec![format!("create {}", codes.join("+"))];
        for (x, step) in exports.iter().zip(&ran) {
            let Step::Exported(result) = step else {
                continue;
            };
            let done = match result {
                Ok(done) => done,
                Err(e) => {
                    r.check(false, || format!("export {} failed: {e}", x.export_id));
                    continue;
                }
            };
            labels.push(format!("{:?}", done.status).to_lowercase());
            r.check(
                done.status == ExportState::Done && done.event_count == Some(want.len() as u64),
                || {
                    format!(
                        "export {} ended {:?} with {:?} events, want done with {}",
                        x.export_id,
                        done.status,
                        done.event_count,
                        want.len()
                    )
                },
            );
            let stored = r
                .ok(
                    "get_export",
                    rig.ports.table.get_export(&user, &x.export_id).await,
                )
                .flatten();
            r.check(stored.as_ref() == Some(done), || {
                format!("export {} reads back as {stored:?}", x.export_id)
            });
            match rig
                .api
                .get_export(
                    &ctx("get_export", &user),
                    &principal(&user),
                    GetExportRequest {
                        export_id: eventpulse_generated::types::ExportId::try_from(
                            x.export_id.clone(),
                        )
                        .unwrap_or_else(|e| panic!("races: export id: {e}")),
                    },
                )
                .await
            {
                Ok(GetExportResponse::Ok(s)) => r.check(
                    s.status == ExportState::Done
                        && s.event_count == Some(want.len() as u64)
                        && s.download_url.is_some(),
                    || format!("GET /v1/exports/{}: {s:?}", x.export_id),
                ),
                Err(e) => r.check(false, || {
                    format!("GET /v1/exports/{}: {} {}", x.export_id, e.status, e.detail)
                }),
            }
            let key = keys::export_key(&user, &x.export_id);
            r.check(done.result_key.as_deref() == Some(key.as_str()), || {
                format!("result key {:?}", done.result_key)
            });
            let object = r
                .ok(
                    "get (export result)",
                    rig.ports.objects.get(Bucket::Exports, &key, 1 << 24).await,
                )
                .flatten();
            let Some(object) = object else {
                r.check(false, || {
                    format!("export {}: no result object", x.export_id)
                });
                continue;
            };
            let lines: Vec<Value> = object
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| serde_json::from_slice(l).ok())
                .collect();
            let got: Vec<String> = lines
                .iter()
                .filter_map(|l| l["event"]["eventId"].as_str().map(String::from))
                .collect();
            let distinct: BTreeSet<String> = got.iter().cloned().collect();
            r.check(got.len() == want.len() && distinct == want, || {
                format!("export {}: the result holds {} lines ({} distinct events), want each of {} once", x.export_id, got.len(), distinct.len(), want.len())
            });
        }
        let recorded = all_notifications(rig.ports.table.as_ref(), &user, 100).await;
        let done: BTreeSet<String> = recorded
            .iter()
            .filter(|n| n.kind == NotificationKind::ExportDone)
            .filter_map(|n| n.export_id.clone())
            .collect();
        let ids: BTreeSet<String> = exports.iter().map(|x| x.export_id.clone()).collect();
        r.check(recorded.len() == 2 && done == ids, || {
            format!(
                "notifications {:?}, want one export_done for each of {ids:?}",
                recorded
                    .iter()
                    .map(|n| (n.kind, n.export_id.clone()))
                    .collect::<Vec<_>>()
            )
        });
        check_delivered(&rig, &mut r, &user, &recorded).await;
        r.outcome(labels.join(", "));
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

// ---------------------------------------------------------------------------------------
// Probes: interleavings the scenarios above cannot reach by timing alone, or deliveries the
// system does not promise to make rare.

/// Runs a hook once, just before the first copy from the quarantine bucket back to the
/// process bucket (the reprocess's copy), to force what lands in between.
struct Hooked {
    inner: Arc<dyn ObjectStore>,
    before_copy_back: Mutex<Option<Task<()>>>,
}

#[async_trait]
impl ObjectStore for Hooked {
    async fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        self.inner.put(bucket, key, bytes, content_type).await
    }
    async fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>> {
        self.inner.head(bucket, key).await
    }
    async fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>> {
        self.inner.get(bucket, key, max_bytes).await
    }
    async fn read(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Read>> {
        self.inner.read(bucket, key, max_bytes).await
    }
    async fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>> {
        if from == Bucket::Quarantine && to == Bucket::Process {
            let hook = locked(&self.before_copy_back).take();
            if let Some(hook) = hook {
                hook.await;
            }
        }
        self.inner.copy(from, from_key, to, to_key).await
    }
    async fn writer(
        &self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<Box<dyn ObjectWriter>> {
        self.inner.writer(bucket, key, content_type).await
    }
    async fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()> {
        self.inner.delete(bucket, key).await
    }
    async fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>> {
        self.inner.list(bucket, prefix, start_after, limit).await
    }
}

/// Probe: a second object under the key of a quarantined upload lands while a reprocess of
/// that upload is under way, after the reprocess checked the process bucket and claimed the
/// upload, before its copy back. The upload's presigned URL allows it: it is create-only
/// and valid for `upload_ttl` (15 minutes), and the key is free again once the first object
/// was quarantined. The window is a few milliseconds wide, so a hook on the object store
/// forces it (timing alone almost never hits it). Even rounds: the object only lands (its
/// event is delivered after the reprocess's); odd rounds: it lands and its delivery runs
/// before the copy.
///
/// What the invariants ask ("One upload id, one outcome": a second object under the key of a
/// final upload is quarantined in the operator space, never dropped and never changing the
/// user's upload): the second object ends in the operator quarantine, and the reprocess
/// ends the upload with the quarantined object's content.
pub async fn second_object_during_reprocess(ports: &Ports, rounds: usize) -> Report {
    let hooked = Arc::new(Hooked {
        inner: ports.objects.clone(),
        before_copy_back: Mutex::new(None),
    });
    let rig = Rig::new(&Ports {
        objects: hooked.clone(),
        ..ports.clone()
    });
    let mut report = Report::new("probe: a second object under the key while a reprocess runs");
    let started = Instant::now();
    for n in 0..rounds {
        let delivered_first = n % 2 == 1;
        let user = owner("race-second");
        let mut r = Round {
            report: &mut report,
            n,
            tag: format!(
                "{user}, {}",
                if delivered_first {
                    "lands and is delivered before the copy"
                } else {
                    "lands before the copy"
                }
            ),
        };
        let bad = invalid_doc(&user);
        let (id, key) = rig.upload(&user, &bad).await;
        let first = rig.deliver(&mut r, &key).await;
        r.check(matches!(first, Some(Outcome::Quarantined { .. })), || {
            format!("the first processing: {first:?}")
        });
        rig.flush(&mut r).await;
        let (second, second_ids) = valid_doc(&format!("{user}-second"), EVENTS);
        let second_etag: Arc<Mutex<Option<String>>> = Arc::default();
        let hook: Task<()> = {
            let (objects, processor) = (rig.ports.objects.clone(), rig.processor.clone());
            let (key, second, etag) = (key.clone(), second.clone(), second_etag.clone());
            Box::pin(async move {
                // The create-only PUT: the key is free, so it succeeds.
                if let Ok(None) = objects.head(Bucket::Process, &key).await
                    && let Ok(info) = objects
                        .put(Bucket::Process, &key, second, "application/json")
                        .await
                {
                    *locked(&etag) = Some(info.etag);
                    if delivered_first {
                        let _ = processor.process(&key).await;
                    }
                }
            })
        };
        *locked(&hooked.before_copy_back) = Some(hook);
        let answer = rig.reprocess(&user, &id).await;
        *locked(&hooked.before_copy_back) = None;
        let Some(etag2) = locked(&second_etag).clone() else {
            r.check(false, || "the second object did not land".into());
            continue;
        };
        // The reprocess's delivery, then the second object's own (late or again).
        let mut then = Vec::new();
        for k in rig.dispatched().iter().chain([&key]) {
            if let Some(o) = rig.deliver(&mut r, k).await {
                let (label, _) = processed(&mut r, "a delivery", &Ok(o));
                then.push(label);
            }
        }
        rig.flush(&mut r).await;

        let table = &rig.ports.table;
        let objects = &rig.ports.objects;
        let upload = r
            .ok("get_upload", table.get_upload(&user, &id).await)
            .flatten();
        let listed: BTreeSet<String> =
            all_events(table.as_ref(), &user, &EventQuery::default(), 100)
                .await
                .into_iter()
                .map(|e| e.event_id)
                .collect();
        let second_listed = second_ids.iter().all(|i| listed.contains(i));
        let (okey, _) = keys::operator_quarantine(&format!("{key}#{etag2}"));
        let second_kept = r
            .ok(
                "get (operator quarantine)",
                objects.get(Bucket::Quarantine, &okey, 1 << 20).await,
            )
            .flatten()
            .is_some_and(|o| o.bytes == second);
        let qkey = keys::quarantine_key(&user, &id);
        let first_kept = r
            .ok(
                "get (quarantine)",
                objects.get(Bucket::Quarantine, &qkey, 1 << 20).await,
            )
            .flatten()
            .is_some_and(|o| o.bytes == bad);
        let entry = r
            .ok("get_quarantine", table.get_quarantine(&user, &id).await)
            .flatten();
        let copy_key = keys::reprocess_key(&user, &id);
        let in_process = r
            .ok("head (process)", objects.head(Bucket::Process, &key).await)
            .flatten()
            .or(r
                .ok(
                    "head (process, the copy)",
                    objects.head(Bucket::Process, &copy_key).await,
                )
                .flatten());
        let status = upload.as_ref().map(|u| u.status);
        let answered = match &answer {
            Step::Status(c, _) => c.to_string(),
            other => format!("{other:?}"),
        };
        r.outcome(format!(
            "reprocess {answered}; then {}; upload {status:?}; second object: {}; first object: {}",
            then.join(", "),
            if second_kept {
                "in the operator quarantine"
            } else if second_listed {
                "the upload's content"
            } else {
                "nowhere"
            },
            if first_kept && entry.is_some() {
                "quarantined again"
            } else if first_kept {
                "in the quarantine bucket, unlisted"
            } else {
                "gone"
            },
        ));
        r.check(second_kept || second_listed, || {
            format!("the second object (ETag {etag2}) was dropped: not listed, not in the operator quarantine ({okey})")
        });
        r.check(!second_listed, || {
            "the second object under the key became the upload's content, in place of the reprocessed one".into()
        });
        r.check(first_kept && entry.is_some(), || {
            format!(
                "the reprocessed upload's own object is gone (upload {status:?}, entry {:?})",
                entry.is_some()
            )
        });
        r.check(in_process.is_none(), || {
            "an object is left in the process bucket".into()
        });
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}

/// Probe: one export request delivered twice at once (SQS standard queues deliver at least
/// once), each delivery doing what the processor function's `export_one` does: read the
/// export, run it unless it is no longer running. The result must be complete and the
/// export done; "recorded exactly once" asks for one `export_done` notification.
pub async fn one_export_delivered_twice_at_once(
    ports: &Ports,
    racer: &impl Racer,
    rounds: usize,
) -> Report {
    let rig = Rig::new(ports);
    let mut report = Report::new("probe: one export request delivered twice at once");
    let started = Instant::now();
    for n in 0..rounds {
        let user = owner("race-export-twice");
        let mut r = Round {
            report: &mut report,
            n,
            tag: user.clone(),
        };
        let (bytes, ids) = valid_doc(&user, 9);
        let (_, key) = rig.upload(&user, &bytes).await;
        let o = rig.deliver(&mut r, &key).await;
        r.check(matches!(o, Some(Outcome::Stored { .. })), || {
            format!("storing the events: {o:?}")
        });
        let created = rig.create_export(&user).await;
        r.check(matches!(created, Step::Status(202, _)), || {
            format!("create_export answered {created:?}")
        });
        let Some(x) = locked(&rig.submitted.0).pop() else {
            r.check(false, || "nothing submitted".into());
            continue;
        };
        let delivery = |reads: usize| {
            let (table, exporter, x) = (rig.ports.table.clone(), rig.exporter.clone(), x.clone());
            rig.delayed(
                reads,
                Box::pin(async move {
                    match table.get_export(&x.owner, &x.export_id).await {
                        Ok(Some(now)) if now.status == ExportState::Running => {
                            Step::Exported(exporter.run(now).await)
                        }
                        Ok(now) => Step::Status(0, format!("skipped: {now:?}")),
                        Err(e) => Step::Exported(Err(e)),
                    }
                }),
            )
        };
        let ran = racer.race(vec![delivery(0), delivery(stagger(n, 1))]).await;
        rig.flush(&mut r).await;
        let mut runs = 0;
        for step in &ran {
            match step {
                Step::Exported(Ok(done)) => {
                    runs += 1;
                    r.check(
                        done.status == ExportState::Done
                            && done.event_count == Some(ids.len() as u64),
                        || {
                            format!(
                                "a run ended {:?} with {:?} events",
                                done.status, done.event_count
                            )
                        },
                    );
                }
                Step::Exported(Err(e)) => r.check(false, || format!("a run failed: {e}")),
                _ => {}
            }
        }
        let stored = r
            .ok(
                "get_export",
                rig.ports.table.get_export(&user, &x.export_id).await,
            )
            .flatten();
        r.check(
            stored.as_ref().is_some_and(|s| {
                s.status == ExportState::Done && s.event_count == Some(ids.len() as u64)
            }),
            || format!("the export reads back as {stored:?}"),
        );
        let result = r
            .ok(
                "get (export result)",
                rig.ports
                    .objects
                    .get(
                        Bucket::Exports,
                        &keys::export_key(&user, &x.export_id),
                        1 << 24,
                    )
                    .await,
            )
            .flatten();
        let lines = result
            .map(|o| {
                o.bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
            })
            .unwrap_or(0);
        r.check(lines == ids.len(), || {
            format!("the result holds {lines} lines, want {}", ids.len())
        });
        let recorded = all_notifications(rig.ports.table.as_ref(), &user, 100).await;
        let done = recorded
            .iter()
            .filter(|n| n.kind == NotificationKind::ExportDone)
            .count();
        r.outcome(format!("ran {runs}×, {done} export_done recorded"));
        r.check(done == 1 && recorded.len() == 1, || {
            format!(
                "{done} export_done notifications recorded for one export ({} in all)",
                recorded.len()
            )
        });
        check_delivered(&rig, &mut r, &user, &recorded).await;
    }
    report.rounds = rounds;
    report.elapsed = started.elapsed();
    report
}
