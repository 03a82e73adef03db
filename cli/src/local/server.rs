//! The local HTTP surface: the generated API router, plus the two endpoints that stand in
//! for S3 presigned URLs (upload and download).

use super::presign::{
    DOWNLOAD_PATH, LocalPresigner, PresignError, Signed, UPLOAD_PATH, bucket_from_name,
};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use eventpulse_contract_rt::{ApiError, AuditInfo};
use eventpulse_embedded::FsObjectStore;
use eventpulse_generated::types::UploadState;
use eventpulse_handlers::keys;
use eventpulse_handlers::ports::{Bucket, Clock, Dispatcher, EventTable, ObjectStore};
use eventpulse_server_rt::limits::is_body_timeout;
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone)]
pub struct Transfer {
    pub objects: Arc<dyn ObjectStore>,
    /// The same store, typed: uploads are streamed into it ([`FsObjectStore::stage`]), never
    /// held in memory.
    pub store: Arc<FsObjectStore>,
    pub table: Arc<dyn EventTable>,
    pub dispatcher: Arc<dyn Dispatcher>,
    pub presigner: Arc<LocalPresigner>,
    pub clock: Arc<dyn Clock>,
    pub max_object_bytes: u64,
    /// Keys with a PUT in progress. The checks below (still pending, nothing stored yet) and
    /// the write are not atomic together; claiming the key first makes one PUT per URL hold
    /// even when two race. One process writes the local process bucket, so a set suffices
    /// (S3 does this with a conditional `If-None-Match: *` write).
    pub in_flight: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Uploads being received, per user (bounded by `--max-uploads-per-user`).
    pub receiving: Arc<UserSlots>,
}

/// How many uploads each user may have in progress at once. A PUT beyond that waits (its
/// body unread) up to `wait` for one of them to end, then is refused with 429: back-pressure
/// for a client that uploads many objects at once, a bound for one that holds many open.
pub struct UserSlots {
    max: usize,
    wait: std::time::Duration,
    users: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl UserSlots {
    pub fn new(max: usize, wait: std::time::Duration) -> Self {
        Self {
            max,
            wait,
            users: Mutex::default(),
        }
    }

    async fn take(self: &Arc<Self>, owner: &str) -> Option<UserSlot> {
        let slots = self
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(owner.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.max)))
            .clone();
        let permit = tokio::time::timeout(self.wait, slots.clone().acquire_owned());
        let permit = match permit.await {
            Ok(Ok(p)) => Some(p),
            _ => None,
        };
        let slot = UserSlot {
            users: self.clone(),
            owner: owner.to_string(),
            slots,
            permit,
        };
        // Dropped without a permit, it still prunes the map entry.
        slot.permit.is_some().then_some(slot)
    }
}

/// One upload in progress; released when the PUT ends, however it ends.
struct UserSlot {
    users: Arc<UserSlots>,
    owner: String,
    slots: Arc<tokio::sync::Semaphore>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut users = self
            .users
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map and this slot hold it, and nothing is taken: the user is idle.
        if Arc::strong_count(&self.slots) == 2 && self.slots.available_permits() == self.users.max {
            users.remove(&self.owner);
        }
    }
}

/// Releases a claimed key when the PUT ends, however it ends.
struct Claim {
    set: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    key: String,
}

impl Claim {
    fn take(
        set: &Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
        key: &str,
    ) -> Option<Claim> {
        let mut guard = set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.insert(key.to_string()).then(|| Claim {
            set: set.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Problems from these endpoints look like the API's, minus the request context.
fn problem(e: ApiError) -> Response {
    eventpulse_server_rt::problem_response(&e, None)
}

/// A storage failure: logged with its cause; the caller learns nothing internal.
fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "transfer endpoint storage failure");
    problem(ApiError::internal(
        "A storage operation failed; retry shortly.",
    ))
}

const UPLOAD_OP: &str = "presigned_upload";
const DOWNLOAD_OP: &str = "presigned_download";

/// Names the operation, the owner (from a verified URL only) and the key in the request's
/// audit line.
fn audited(
    mut response: Response,
    operation_id: &'static str,
    owner: Option<&str>,
    key: &str,
) -> Response {
    response.extensions_mut().insert(AuditInfo {
        operation_id,
        user: owner.map(str::to_string),
        resources: vec![("key".into(), key.to_string())],
    });
    response
}

/// A presigned URL that does not verify: 403, and an audit line saying why (the signature
/// itself is never logged).
fn denied(operation_id: &'static str, method: &str, target: &str, e: &PresignError) -> Response {
    tracing::warn!(
        target: "eventpulse::audit",
        kind = "presign_denied",
        operation = operation_id,
        method,
        // Not `target`: the log's JSON already has that field (the log target).
        key = target,
        reason = %e,
    );
    audited(
        problem(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            e.to_string(),
        )),
        operation_id,
        None,
        target,
    )
}

/// The upload's body could not be read to its end: it stopped arriving (408, and the
/// connection is closed), or the connection failed.
fn body_failed(e: &axum::Error) -> Response {
    let mut response = if is_body_timeout(e) {
        problem(ApiError::request_timeout(format!(
            "{e}; nothing was stored: PUT the whole object again (the URL stays valid until it expires)"
        )))
    } else {
        problem(ApiError::bad_request(format!(
            "the request body could not be read: {e}"
        )))
    };
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// The presigned URL's query, or a problem saying what is wrong with it.
fn signed(q: Result<Query<Signed>, QueryRejection>) -> Result<Signed, String> {
    q.map(|Query(s)| s)
        .map_err(|e| format!("the presigned URL's query is malformed: {}", e.body_text()))
}

fn wrong_method(allow: &'static str) -> Response {
    problem(ApiError::method_not_allowed(
        format!("a presigned URL accepts only {allow}"),
        allow,
    ))
}

pub fn routes(state: Transfer) -> axum::Router {
    axum::Router::new()
        // Other methods get the API's problem+json 405, not axum's plain-text one.
        .route(
            &format!("{UPLOAD_PATH}{{*key}}"),
            put(upload).fallback(|| async { wrong_method("PUT") }),
        )
        .route(
            &format!("{DOWNLOAD_PATH}{{bucket}}/{{*key}}"),
            get(download).fallback(|| async { wrong_method("GET, HEAD") }),
        )
        .with_state(state)
        // The API's audit line for every request here too (the handlers name the operation,
        // the owner and the key), and the request id on every response.
        .layer(axum::middleware::from_fn(eventpulse_server_rt::request_id))
}

/// `PUT` on a presigned upload URL: what S3 does for a presigned `PutObject`, then the
/// "Object Created" event.
async fn upload(
    State(t): State<Transfer>,
    Path(key): Path<String>,
    q: Result<Query<Signed>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let q = match signed(q) {
        Ok(q) => q,
        Err(detail) => {
            return audited(
                problem(ApiError::bad_request(detail)),
                UPLOAD_OP,
                None,
                &key,
            );
        }
    };
    let allowed_length = match t.presigner.verify("PUT", &key, &q, t.clock.now()) {
        Ok(n) => n,
        Err(e) => return denied(UPLOAD_OP, "PUT", &key, &e),
    };
    let owner = keys::parse_incoming(&key).ok().map(|k| k.owner);
    let response = receive(&t, &key, allowed_length, &headers, body).await;
    audited(response, UPLOAD_OP, owner.as_deref(), &key)
}

/// The upload after its URL verified.
async fn receive(
    t: &Transfer,
    key: &str,
    allowed_length: Option<u64>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let key = key.to_string();
    // The reprocess copy's key is the API's alone (no URL is signed for it; checked again).
    let Some(target) = keys::parse_incoming(&key).ok().filter(|k| !k.reprocess) else {
        return problem(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "this URL does not allow uploads to that key",
        ));
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = allowed_length.unwrap_or(t.max_object_bytes);
    if let (Some(want), Some(got)) = (allowed_length, announced)
        && want != got
    {
        return problem(ApiError::bad_request(format!(
            "this URL accepts exactly {want} bytes, not {got}"
        )));
    }
    if announced.is_some_and(|n| n > limit) {
        return problem(ApiError::payload_too_large(format!(
            "this URL accepts at most {limit} bytes"
        )));
    }
    let Some(_slot) = t.receiving.take(&target.owner).await else {
        return problem(ApiError::too_many_requests(
            format!(
                "{} uploads of this user are being received already and none ended within {} s; send this one when one of them has ended",
                t.receiving.max,
                t.receiving.wait.as_secs()
            ),
            1,
        ));
    };
    // One upload per URL: a second PUT could otherwise replace content that is being, or
    // has been, processed.
    let Some(_claim) = Claim::take(&t.in_flight, &key) else {
        return problem(ApiError::conflict(
            "this upload is already being received; request a new upload URL",
        ));
    };
    match t.table.get_upload(&target.owner, &target.upload_id).await {
        // Pending with an ETag: received, quarantined and now being reprocessed.
        Ok(Some(u)) if u.status == UploadState::Pending && u.etag.is_none() => {}
        Ok(Some(_)) => {
            return problem(ApiError::conflict(
                "this upload was already received; request a new upload URL",
            ));
        }
        Ok(None) => {
            return problem(ApiError::not_found(
                "no such upload; request an upload URL first",
            ));
        }
        Err(e) => return internal(e),
    }
    match t.objects.head(Bucket::Process, &key).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return problem(ApiError::conflict(
                "this upload was already received; request a new upload URL",
            ));
        }
        Err(e) => return internal(e),
    }
    // Streamed to a staged file as it arrives (memory stays flat however many uploads are
    // in progress); the staged file is removed whatever ends the request early.
    let mut staged = match t.store.stage().await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return body_failed(&e),
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if staged.len().saturating_add(data.len() as u64) > limit {
            return problem(ApiError::payload_too_large(format!(
                "this URL accepts at most {limit} bytes"
            )));
        }
        if let Err(e) = staged.write(&data).await {
            return internal(e);
        }
    }
    if let Some(want) = allowed_length
        && staged.len() != want
    {
        return problem(ApiError::bad_request(format!(
            "this URL accepts exactly {want} bytes, not {}",
            staged.len()
        )));
    }
    let info = match staged
        .commit(Bucket::Process, &key, "application/json")
        .await
    {
        Ok(i) => i,
        Err(e) => return internal(e),
    };
    if let Err(e) = t.dispatcher.object_created(&key).await {
        // The object is stored; it will be processed at the latest on the next start.
        tracing::warn!(key, error = %e, "upload stored but not queued");
    }
    tracing::info!(target: "eventpulse::audit", kind = "upload", key, owner = %target.owner, upload_id = %target.upload_id, size = info.size);
    (
        StatusCode::OK,
        [(header::ETAG, format!("\"{}\"", info.etag))],
    )
        .into_response()
}

/// `GET` on a presigned download URL.
async fn download(
    State(t): State<Transfer>,
    Path((bucket, key)): Path<(String, String)>,
    q: Result<Query<Signed>, QueryRejection>,
) -> Response {
    let target = format!("{bucket}/{key}");
    let q = match signed(q) {
        Ok(q) => q,
        Err(detail) => {
            return audited(
                problem(ApiError::bad_request(detail)),
                DOWNLOAD_OP,
                None,
                &target,
            );
        }
    };
    if let Err(e) = t.presigner.verify("GET", &target, &q, t.clock.now()) {
        return denied(DOWNLOAD_OP, "GET", &target, &e);
    }
    // Exports and quarantined objects are filed under their owner: `{owner}/...`.
    let owner = key.split('/').next().filter(|o| keys::is_valid_owner(o));
    let response = match bucket_from_name(&bucket) {
        None => problem(ApiError::not_found("no such bucket")),
        // Streamed from the file: a 50 MB export costs a 64 KiB buffer per download, not its
        // size (20 concurrent downloads of one took 1.2 GB when read whole).
        Some(b) => match t.store.open_read(b, &key).await {
            Ok(Some((info, reader))) => {
                let content_type = if key.ends_with(".ndjson") {
                    "application/x-ndjson"
                } else {
                    "application/octet-stream"
                };
                tracing::info!(target: "eventpulse::audit", kind = "download", bucket, key, owner = owner.unwrap_or("-"), size = info.size);
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, content_type.to_string()),
                        (header::CONTENT_LENGTH, info.size.to_string()),
                        (header::ETAG, format!("\"{}\"", info.etag)),
                    ],
                    axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                        reader,
                        64 * 1024,
                    )),
                )
                    .into_response()
            }
            Ok(None) => problem(ApiError::not_found("no such object")),
            Err(e) => internal(e),
        },
    };
    audited(response, DOWNLOAD_OP, owner, &target)
}
