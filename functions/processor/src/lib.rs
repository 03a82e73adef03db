//! The processor function: everything that reaches it, routed to the domain.
//!
//! One function, three triggers (all asynchronous, all at least once):
//! - **S3 "Object Created" via EventBridge** (the rule matches the process bucket's
//!   `incoming/` prefix) → [`Processor::process`]. Events for other buckets, or of other
//!   kinds (moto and S3 also emit "Object Tags Added", …), are acknowledged and ignored.
//! - **The exports queue** (SQS, `ReportBatchItemFailures`) → [`Exporter::run`]: the API
//!   puts an [`ExportRequest`] there instead of running the export after it answered.
//! - **The sweep schedule** (EventBridge Scheduler, every few minutes) → delivers
//!   notifications still undelivered and processes objects left in the process bucket
//!   (a retry budget ran out, a delivery was lost): the outbox's AWS counterpart.
//!
//! Errors: an object's problems are its quarantine, not errors. What remains is the
//! storage failing: [`FunctionError::retryable`] says whether Lambda should retry.

pub mod emf;

use chrono::Duration;
use eventpulse_handlers::entry::{self, EntryError, ObjectCreatedEvent};
use eventpulse_handlers::exports::{ExportRequest, Exporter};
use eventpulse_handlers::ports::{Bucket, EventTable, ObjectStore, PortError};
use eventpulse_handlers::processor::{Outcome, Processor};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What the function needs, built once per execution environment.
pub struct Function {
    pub processor: Processor,
    pub exporter: Exporter,
    pub objects: Arc<dyn ObjectStore>,
    pub table: Arc<dyn EventTable>,
    /// The bucket this deployment processes (`EVENTPULSE_PROCESS_BUCKET`).
    pub process_bucket: String,
    /// Objects younger than this are left to their own event by the sweep.
    pub sweep_after: Duration,
    cold: AtomicBool,
}

impl Function {
    pub fn new(
        processor: Processor,
        exporter: Exporter,
        objects: Arc<dyn ObjectStore>,
        table: Arc<dyn EventTable>,
        process_bucket: impl Into<String>,
    ) -> Self {
        Self {
            processor,
            exporter,
            objects,
            table,
            process_bucket: process_bucket.into(),
            sweep_after: Duration::minutes(5),
            cold: AtomicBool::new(true),
        }
    }
}

/// A failure the invocation reports to Lambda.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub retryable: bool,
    pub message: String,
}

impl From<PortError> for FunctionError {
    fn from(e: PortError) -> Self {
        Self {
            retryable: e.retryable,
            message: e.message,
        }
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(e: FunctionError) -> Self {
        lambda_runtime::Diagnostic {
            // Names the DLQ / on-failure destination readers filter on.
            error_type: if e.retryable {
                "EventPulse.Retryable".into()
            } else {
                "EventPulse.Permanent".into()
            },
            error_message: e.message,
        }
    }
}

/// What an invocation is about.
#[derive(Debug)]
pub enum Invocation {
    ObjectCreated(Box<ObjectCreatedEvent>),
    Exports(Vec<QueueMessage>),
    Sweep,
    /// Not for us; acknowledged so that it is not retried. The text says what it was.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub message_id: String,
    pub body: String,
}

/// Tells the triggers apart by their documented shapes.
pub fn classify(event: &Value) -> Invocation {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let messages: Option<Vec<QueueMessage>> = records
            .iter()
            .map(|r| {
                if r.get("eventSource")?.as_str()? != "aws:sqs" {
                    return None;
                }
                Some(QueueMessage {
                    message_id: r.get("messageId")?.as_str()?.to_string(),
                    body: r.get("body")?.as_str()?.to_string(),
                })
            })
            .collect();
        return match messages {
            Some(m) => Invocation::Exports(m),
            None => Invocation::Ignored("records that are not SQS messages".into()),
        };
    }
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
    match (field("source"), field("detail-type")) {
        (entry::SOURCE, entry::DETAIL_TYPE) => {
            match serde_json::from_value::<ObjectCreatedEvent>(event.clone()) {
                Ok(e) => Invocation::ObjectCreated(Box::new(e)),
                Err(e) => {
                    Invocation::Ignored(format!("an Object Created event we cannot read: {e}"))
                }
            }
        }
        ("aws.events" | "aws.scheduler", "Scheduled Event") => Invocation::Sweep,
        (source, kind) => Invocation::Ignored(format!("{source} / {kind}")),
    }
}

/// Handles one invocation; the answer is logged by the runtime and, for the queue, tells
/// which messages failed.
pub async fn handle(f: &Function, event: Value) -> Result<Value, FunctionError> {
    let cold = f.cold.swap(false, Ordering::Relaxed);
    if cold {
        emf::cold_start();
    }
    match classify(&event) {
        Invocation::ObjectCreated(e) => object_created(f, &e).await,
        Invocation::Exports(messages) => Ok(exports(f, messages).await),
        Invocation::Sweep => sweep(f).await,
        Invocation::Ignored(what) => {
            tracing::info!(what, "ignored an event that is not for this function");
            Ok(json!({"ignored": what}))
        }
    }
}

async fn object_created(f: &Function, e: &ObjectCreatedEvent) -> Result<Value, FunctionError> {
    let started = Instant::now();
    match entry::handle(&f.processor, &f.process_bucket, e).await {
        Ok(outcome) => {
            emf::outcome(&outcome, started.elapsed());
            Ok(outcome_json(&outcome))
        }
        Err(EntryError::NotForUs(why)) => {
            tracing::info!(why, "ignored an Object Created event");
            Ok(json!({"ignored": why}))
        }
        Err(EntryError::Process(p)) => Err(FunctionError {
            retryable: p.retryable(),
            message: format!("processing {}: {p}", e.key()),
        }),
    }
}

fn outcome_json(o: &Outcome) -> Value {
    match o {
        Outcome::Stored {
            upload_id,
            events,
            inserted,
            duplicates,
            ..
        } => json!({"outcome": "stored", "uploadId": upload_id, "events": events,
                    "inserted": inserted, "duplicates": duplicates}),
        Outcome::Quarantined {
            upload_id,
            reason,
            errors,
            ..
        } => json!({"outcome": "quarantined", "uploadId": upload_id,
                    "reasonCode": reason.to_string(), "errors": errors}),
        Outcome::Skipped { key, why } => json!({"outcome": "skipped", "key": key, "why": why}),
    }
}

/// Runs each requested export; every one that failed, transiently or not, is reported as a
/// failed message, so that SQS delivers it again and, past its limit, to the DLQ (whose
/// alarm an operator sees): a permanent failure dropped here would leave its export
/// `running` forever, never notified (the fault matrix found it). Only a message that names
/// no export is dropped, logged: nothing could ever run it.
async fn exports(f: &Function, messages: Vec<QueueMessage>) -> Value {
    let mut failures = Vec::new();
    for m in messages {
        if let Err(e) = export_one(f, &m).await {
            tracing::error!(message_id = %m.message_id, error = %e, retryable = e.retryable,
                "export request failed; SQS delivers it again");
            failures.push(json!({"itemIdentifier": m.message_id}));
        }
    }
    json!({"batchItemFailures": failures})
}

async fn export_one(f: &Function, m: &QueueMessage) -> Result<(), FunctionError> {
    let req: ExportRequest = match serde_json::from_str(&m.body) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(message_id = %m.message_id, error = %e, "not an export request; dropped");
            return Ok(());
        }
    };
    let Some(export) = f.table.get_export(&req.owner, &req.export_id).await? else {
        // Deleted past its retention, or never recorded: nothing to run.
        tracing::warn!(owner = %req.owner, export_id = %req.export_id, "no such export; request dropped");
        return Ok(());
    };
    if export.status != eventpulse_generated::types::ExportState::Running {
        // Delivered again after it finished: nothing to do.
        return Ok(());
    }
    f.exporter.run(export).await?;
    Ok(())
}

/// At most this many old objects are processed per sweep, so a sweep ends well inside the
/// function's timeout; the next sweep takes the rest.
const SWEEP_OBJECTS: usize = 100;

async fn sweep(f: &Function) -> Result<Value, FunctionError> {
    let delivered = f
        .processor
        .flush_outbox()
        .await
        .map_err(|e| FunctionError {
            retryable: e.retryable(),
            message: e.to_string(),
        })?;
    let cutoff = f.processor.clock.now() - f.sweep_after;
    let old: Vec<String> = f
        .objects
        .list(Bucket::Process, "", None, 1000)
        .await?
        .into_iter()
        .filter(|o| o.last_modified <= cutoff)
        .take(SWEEP_OBJECTS)
        .map(|o| o.key)
        .collect();
    let mut processed = 0;
    for key in &old {
        match f.processor.process(key).await {
            Ok(outcome) => {
                processed += 1;
                emf::outcome(&outcome, std::time::Duration::ZERO);
            }
            Err(e) => tracing::warn!(key, error = %e, "sweep: still failing; next sweep retries"),
        }
    }
    Ok(json!({"delivered": delivered, "objectsProcessed": processed, "objectsSeen": old.len()}))
}
