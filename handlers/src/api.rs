//! The API's behaviour: the generated `EventPulseApi` trait, implemented on the ports.
//!
//! Every method reads the owner from the authenticated [`Principal`] and passes it to every
//! port call; nothing here takes an owner from a path, a body, a cursor or an object. A
//! resource of another owner is reported exactly like a missing one (404), so ids reveal
//! nothing.

use crate::cursor::{CursorError, CursorSigner, fingerprint};
use crate::exports::{ExportRunner, new_export};
use crate::keys;
use crate::ports::{
    Bucket, Clock, Dispatcher, EventPosition, EventQuery, EventRecord, EventTable, ExportRecord,
    NotificationPosition, ObjectStore, PortError, Presigner, QuarantinePosition, Subscriber,
    SubscriptionTable, UploadRecord,
};
use crate::processor::new_id;
use chrono::{DateTime, Duration, Utc};
use eventpulse_contract_rt::{ApiError, Principal, RequestContext, Violation};
use eventpulse_generated::api::*;
use eventpulse_generated::types::{
    self, Cursor, EventPage, ExportState, ExportStatus, NotificationPage, QuarantineItem,
    QuarantinePage, QuarantineReport, StoredEvent, UploadState, UploadStatus, UploadTicket,
    UploadTicketMethod,
};
use std::sync::Arc;

mod subscriptions;

/// How long a reprocess claim (`EventTable::reopen_upload`) holds before another request may
/// take it over: far longer than a claim takes to be followed by its copy, so only a claim
/// whose request failed or crashed in between is ever taken over.
pub const REOPEN_LEASE: Duration = Duration::minutes(15);

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a presigned upload stays valid.
    pub upload_ttl: Duration,
    /// How long an export's download URL stays valid.
    pub download_ttl: Duration,
    /// Largest object accepted (the intake limit).
    pub max_object_bytes: u64,
    /// The page served at `GET /docs`.
    pub docs_html: Arc<str>,
    /// What subscription endpoints may point at.
    pub endpoints: crate::subscriptions::EndpointRules,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            upload_ttl: Duration::minutes(15),
            download_ttl: Duration::minutes(15),
            max_object_bytes: eventpulse_contract_rt::json::DEFAULT_MAX_BYTES as u64,
            docs_html: Arc::from(""),
            endpoints: crate::subscriptions::EndpointRules::default(),
        }
    }
}

pub struct Api {
    pub table: Arc<dyn EventTable>,
    pub objects: Arc<dyn ObjectStore>,
    pub presigner: Arc<dyn Presigner>,
    pub dispatcher: Arc<dyn Dispatcher>,
    pub exports: Arc<dyn ExportRunner>,
    pub subscriptions: Arc<dyn SubscriptionTable>,
    pub subscriber: Arc<dyn Subscriber>,
    pub clock: Arc<dyn Clock>,
    pub cursors: CursorSigner,
    pub config: ApiConfig,
}

fn storage(e: PortError) -> ApiError {
    tracing::error!(error = %e, retryable = e.retryable, "storage failure");
    if e.retryable {
        ApiError::internal("A storage service is temporarily unavailable; retry the request.")
    } else {
        ApiError::internal("A storage operation failed; the request id identifies it in our logs.")
    }
}

/// Data we stored that no longer reads back: our fault. The cause goes to the log, the
/// caller gets a problem without internals.
fn corrupt(what: impl std::fmt::Display, cause: impl std::fmt::Display) -> ApiError {
    tracing::error!(%what, %cause, "stored data does not read back");
    ApiError::internal("Stored data could not be read; the request id identifies it in our logs.")
}

fn bad_cursor(e: CursorError) -> ApiError {
    ApiError::validation(
        e.to_string(),
        vec![Violation {
            pointer: "/query/cursor".into(),
            keyword: "cursor".into(),
            message: e.to_string(),
        }],
    )
}

fn page_size(limit: std::num::NonZeroU64) -> usize {
    // The spec bounds limit to 1..=100; the clamp only guards the arithmetic.
    limit.get().min(100) as usize
}

fn upload_status(u: &UploadRecord) -> Result<UploadStatus, ApiError> {
    Ok(UploadStatus {
        upload_id: typed_upload_id(&u.upload_id)?,
        status: u.status,
        event_count: u.event_count,
        processed_at: u.processed_at,
        reason_code: u.reason_code,
    })
}

fn typed_upload_id(id: &str) -> Result<types::UploadId, ApiError> {
    id.parse::<types::UploadId>()
        .map_err(|e| corrupt(format!("upload id {id}"), e))
}

fn stored_event(e: EventRecord) -> Result<StoredEvent, ApiError> {
    Ok(StoredEvent {
        // The stored text, as it is: it was validated against the schema at intake.
        event: e.body,
        received_at: e.received_at,
        upload_id: typed_upload_id(&e.upload_id)?,
    })
}

fn cursor_value(s: String) -> Result<Cursor, ApiError> {
    Cursor::try_from(s).map_err(|e| corrupt("a new cursor", e))
}

impl Api {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn quarantine_of(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> Result<crate::ports::QuarantineRecord, ApiError> {
        self.table
            .get_quarantine(owner, upload_id)
            .await
            .map_err(storage)?
            .ok_or_else(|| {
                ApiError::not_found(format!("You have no quarantined upload {upload_id}."))
            })
    }

    /// The position a request's cursor stands for (none on a first page).
    fn after<P: serde::de::DeserializeOwned>(
        &self,
        cursor: &Option<Cursor>,
        owner: &str,
        fp: &str,
    ) -> Result<Option<P>, ApiError> {
        cursor
            .as_ref()
            .map(|c| self.cursors.decode(c, owner, fp).map_err(bad_cursor))
            .transpose()
    }

    /// Cuts `rows` (fetched with one extra row) to a page, and signs the cursor of the next
    /// page when that extra row shows there is one.
    fn page<T, P: serde::Serialize>(
        &self,
        mut rows: Vec<T>,
        limit: usize,
        owner: &str,
        fp: &str,
        position: impl Fn(&T) -> P,
    ) -> Result<(Vec<T>, Option<Cursor>), ApiError> {
        if rows.len() <= limit {
            return Ok((rows, None));
        }
        rows.truncate(limit);
        let next = rows
            .last()
            .map(|last| cursor_value(self.cursors.encode(owner, fp, &position(last))))
            .transpose()?;
        Ok((rows, next))
    }

    /// The end of a DELETE whose entry is gone but whose objects may remain: the upload is
    /// the caller's and quarantined (so no reprocess holds it: a reprocess makes it pending
    /// and keeps the entry), and the objects are under the caller's own quarantine key.
    async fn finish_cut_off_delete(
        &self,
        owner: &str,
        upload_id: &str,
    ) -> Result<DeleteQuarantineResponse, ApiError> {
        let missing =
            || ApiError::not_found(format!("You have no quarantined upload {upload_id}."));
        let upload = self
            .table
            .get_upload(owner, upload_id)
            .await
            .map_err(storage)?
            .ok_or_else(missing)?;
        if upload.status != UploadState::Quarantined {
            return Err(missing());
        }
        let key = keys::quarantine_key(owner, upload_id);
        let report = crate::ports::report_key(&key);
        let mut left = false;
        for k in [&report, &key] {
            if self
                .objects
                .head(Bucket::Quarantine, k)
                .await
                .map_err(storage)?
                .is_some()
            {
                left = true;
                self.objects
                    .delete(Bucket::Quarantine, k)
                    .await
                    .map_err(storage)?;
            }
        }
        if left {
            Ok(DeleteQuarantineResponse::NoContent)
        } else {
            Err(missing())
        }
    }

    async fn export_status(&self, e: &ExportRecord) -> Result<ExportStatus, ApiError> {
        let (download_url, expires_at) = match (&e.status, &e.result_key) {
            (ExportState::Done, Some(key)) => {
                let expires = self.now() + self.config.download_ttl;
                let url = self
                    .presigner
                    .presign_download(Bucket::Exports, key, expires)
                    .await
                    .map_err(storage)?;
                (Some(url), Some(expires))
            }
            _ => (None, None),
        };
        Ok(ExportStatus {
            export_id: types::ExportId::try_from(e.export_id.clone())
                .map_err(|err| corrupt(format!("export id {}", e.export_id), err))?,
            status: e.status,
            event_count: e.event_count,
            download_url,
            expires_at,
        })
    }
}

fn check_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    base: &str,
) -> Result<(), ApiError> {
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::validation(
            "`from` must be before `to` (from is inclusive, to exclusive).",
            vec![Violation {
                pointer: format!("{base}to"),
                keyword: "range".into(),
                message: format!("{t} is not after {f}"),
            }],
        ));
    }
    Ok(())
}

impl EventPulseApi for Api {
    async fn create_upload(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: CreateUploadRequest,
    ) -> Result<CreateUploadResponse, ApiError> {
        let length = req
            .body
            .as_ref()
            .and_then(|b| b.content_length)
            .map(|n| n.get());
        if let Some(n) = length
            && n > self.config.max_object_bytes
        {
            return Err(ApiError::payload_too_large(format!(
                "An object may be at most {} bytes; split the events into several objects.",
                self.config.max_object_bytes
            )));
        }
        let now = self.now();
        let upload_id = new_id();
        let key = keys::incoming_key(&p.user_id, &upload_id);
        let created = self
            .table
            .create_upload(&UploadRecord {
                owner: p.user_id.clone(),
                upload_id: upload_id.clone(),
                key: key.clone(),
                status: UploadState::Pending,
                created_at: now,
                etag: None,
                event_count: None,
                processed_at: None,
                reason_code: None,
            })
            .await
            .map_err(storage)?;
        if !created {
            return Err(ApiError::internal("upload id collision; retry the request"));
        }
        let expires = now + self.config.upload_ttl;
        let signed = self
            .presigner
            .presign_upload(&key, length, expires)
            .await
            .map_err(storage)?;
        Ok(CreateUploadResponse::Created(UploadTicket {
            upload_id: typed_upload_id(&upload_id)?,
            key,
            url: signed.url,
            method: UploadTicketMethod::Put,
            headers: signed.headers.into_iter().collect(),
            expires_at: signed.expires_at,
        }))
    }

    async fn get_upload(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetUploadRequest,
    ) -> Result<GetUploadResponse, ApiError> {
        let id = req.upload_id.to_string();
        let upload = self
            .table
            .get_upload(&p.user_id, &id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("You have no upload {id}.")))?;
        Ok(GetUploadResponse::Ok(upload_status(&upload)?))
    }

    async fn list_events(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: ListEventsRequest,
    ) -> Result<ListEventsResponse, ApiError> {
        check_range(req.from, req.to, "/query/")?;
        let query = EventQuery {
            event_type: req.type_,
            from: req.from,
            to: req.to,
        };
        let fp = fingerprint("list_events", &query);
        let after: Option<EventPosition> = self.after(&req.cursor, &p.user_id, &fp)?;
        let limit = page_size(req.limit);
        let rows = self
            .table
            .list_events(&p.user_id, &query, after.as_ref(), limit + 1)
            .await
            .map_err(storage)?;
        let (rows, next_cursor) = self.page(rows, limit, &p.user_id, &fp, |e| EventPosition {
            occurred_at: e.occurred_at,
            event_id: e.event_id.clone(),
        })?;
        let items = rows
            .into_iter()
            .map(stored_event)
            .collect::<Result<_, _>>()?;
        Ok(ListEventsResponse::Ok(EventPage { items, next_cursor }))
    }

    async fn get_event(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetEventRequest,
    ) -> Result<GetEventResponse, ApiError> {
        let id = req.event_id.to_string();
        let event = self
            .table
            .get_event(&p.user_id, &id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("You have no event {id}.")))?;
        Ok(GetEventResponse::Ok(stored_event(event)?))
    }

    async fn list_quarantine(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: ListQuarantineRequest,
    ) -> Result<ListQuarantineResponse, ApiError> {
        let fp = fingerprint("list_quarantine", &());
        let after: Option<QuarantinePosition> = self.after(&req.cursor, &p.user_id, &fp)?;
        let limit = page_size(req.limit);
        let rows = self
            .table
            .list_quarantine(&p.user_id, after.as_ref(), limit + 1)
            .await
            .map_err(storage)?;
        let (rows, next_cursor) =
            self.page(rows, limit, &p.user_id, &fp, |q| QuarantinePosition {
                quarantined_at: q.quarantined_at,
                upload_id: q.upload_id.clone(),
            })?;
        let items = rows
            .into_iter()
            .map(|q| {
                Ok(QuarantineItem {
                    upload_id: typed_upload_id(&q.upload_id)?,
                    key: keys::incoming_key(&q.owner, &q.upload_id),
                    quarantined_at: q.quarantined_at,
                    reason_code: q.reason_code,
                    error_count: q.error_count,
                    size_bytes: q.size_bytes,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(ListQuarantineResponse::Ok(QuarantinePage {
            items,
            next_cursor,
        }))
    }

    async fn get_quarantine(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetQuarantineRequest,
    ) -> Result<GetQuarantineResponse, ApiError> {
        let q = self.quarantine_of(&p.user_id, &req.upload_id).await?;
        let report_key = crate::ports::report_key(&q.key);
        let object = self
            .objects
            .get(Bucket::Quarantine, &report_key, 16 * 1024 * 1024)
            .await
            .map_err(storage)?
            .ok_or_else(|| {
                corrupt(
                    format!("report of quarantined upload {}", q.upload_id),
                    "missing",
                )
            })?;
        let report: QuarantineReport = serde_json::from_slice(&object.bytes)
            .map_err(|e| corrupt(format!("report of quarantined upload {}", q.upload_id), e))?;
        Ok(GetQuarantineResponse::Ok(report))
    }

    async fn get_quarantine_object(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetQuarantineObjectRequest,
    ) -> Result<GetQuarantineObjectResponse, ApiError> {
        let q = self.quarantine_of(&p.user_id, &req.upload_id).await?;
        let object = self
            .objects
            .get(Bucket::Quarantine, &q.key, q.size_bytes.max(1))
            .await
            .map_err(storage)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "The object of quarantined upload {} is gone.",
                    q.upload_id
                ))
            })?;
        Ok(GetQuarantineObjectResponse::Ok(object.bytes))
    }

    async fn reprocess_quarantine(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: ReprocessQuarantineRequest,
    ) -> Result<ReprocessQuarantineResponse, ApiError> {
        let q = self.quarantine_of(&p.user_id, &req.upload_id).await?;
        // The copy goes under a key of its own, which no upload URL can write (`keys`):
        // processing tells it from a second object put under the owner's key meanwhile.
        let copy = keys::reprocess_key(&p.user_id, &q.upload_id);
        // Still in the process bucket: an earlier attempt (or an earlier reprocess) is being
        // processed right now, and its clean-up would remove what this request puts there.
        for key in [keys::incoming_key(&p.user_id, &q.upload_id), copy.clone()] {
            if self
                .objects
                .head(Bucket::Process, &key)
                .await
                .map_err(storage)?
                .is_some()
            {
                return Err(ApiError::conflict(format!(
                    "Upload {} is being processed; retry when its status is final.",
                    q.upload_id
                )));
            }
        }
        // Claim it first (one conditional write: of concurrent requests exactly one gets
        // here), so that the copy below, which on AWS itself triggers processing, finds the
        // upload pending. The entry stays listed until processing ends; a claim whose copy
        // never happened (a failure after this line) may be taken again once it is older
        // than REOPEN_LEASE, so retrying the request then repeats the steps.
        let now = self.clock.now();
        if !self
            .table
            .reopen_upload(&p.user_id, &q.upload_id, now, now - REOPEN_LEASE)
            .await
            .map_err(storage)?
        {
            return Err(ApiError::conflict(format!(
                "Upload {} is being reprocessed or is not quarantined any more; retry when its status is final.",
                q.upload_id
            )));
        }
        if self
            .objects
            .copy(Bucket::Quarantine, &q.key, Bucket::Process, &copy)
            .await
            .map_err(storage)?
            .is_none()
        {
            return Err(ApiError::conflict(format!(
                "The object of quarantined upload {} is gone; delete the entry.",
                q.upload_id
            )));
        }
        self.dispatcher
            .object_created(&copy)
            .await
            .map_err(storage)?;
        Ok(ReprocessQuarantineResponse::Accepted(UploadStatus {
            upload_id: typed_upload_id(&q.upload_id)?,
            status: UploadState::Pending,
            event_count: None,
            processed_at: None,
            reason_code: None,
        }))
    }

    async fn delete_quarantine(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: DeleteQuarantineRequest,
    ) -> Result<DeleteQuarantineResponse, ApiError> {
        let id = req.upload_id.to_string();
        let Some(q) = self
            .table
            .get_quarantine(&p.user_id, &id)
            .await
            .map_err(storage)?
        else {
            // A DELETE cut off after its entry went (the step below) left the objects: the
            // retried request finishes the job instead of a 404 that leaves them for good.
            return self.finish_cut_off_delete(&p.user_id, &id).await;
        };
        // The entry first, atomically refused while a reprocess is under way; then the
        // objects. A failure between the two leaves no entry without its object, and the
        // retried DELETE removes what is left (`finish_cut_off_delete`).
        if !self
            .table
            .delete_quarantine(&p.user_id, &q.upload_id)
            .await
            .map_err(storage)?
        {
            return Err(ApiError::conflict(format!(
                "Upload {} is being reprocessed; wait for the outcome, then delete it if it is quarantined again.",
                q.upload_id
            )));
        }
        self.objects
            .delete(Bucket::Quarantine, &crate::ports::report_key(&q.key))
            .await
            .map_err(storage)?;
        self.objects
            .delete(Bucket::Quarantine, &q.key)
            .await
            .map_err(storage)?;
        Ok(DeleteQuarantineResponse::NoContent)
    }

    async fn list_notifications(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: ListNotificationsRequest,
    ) -> Result<ListNotificationsResponse, ApiError> {
        let fp = fingerprint("list_notifications", &());
        let after: Option<NotificationPosition> = self.after(&req.cursor, &p.user_id, &fp)?;
        let limit = page_size(req.limit);
        let rows = self
            .table
            .list_notifications(&p.user_id, after.as_ref(), limit + 1)
            .await
            .map_err(storage)?;
        let (items, next_cursor) =
            self.page(rows, limit, &p.user_id, &fp, |n| NotificationPosition {
                created_at: n.created_at,
                notification_id: n.notification_id.clone(),
            })?;
        Ok(ListNotificationsResponse::Ok(NotificationPage {
            items,
            next_cursor,
        }))
    }

    async fn list_subscriptions(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: ListSubscriptionsRequest,
    ) -> Result<ListSubscriptionsResponse, ApiError> {
        self.list_subscriptions_impl(p, req).await
    }

    async fn create_subscription(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: CreateSubscriptionRequest,
    ) -> Result<CreateSubscriptionResponse, ApiError> {
        self.create_subscription_impl(p, req).await
    }

    async fn get_subscription(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetSubscriptionRequest,
    ) -> Result<GetSubscriptionResponse, ApiError> {
        self.get_subscription_impl(p, req).await
    }

    async fn delete_subscription(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: DeleteSubscriptionRequest,
    ) -> Result<DeleteSubscriptionResponse, ApiError> {
        self.delete_subscription_impl(p, req).await
    }

    async fn confirm_subscription(
        &self,
        _ctx: &RequestContext,
        req: ConfirmSubscriptionRequest,
    ) -> Result<ConfirmSubscriptionResponse, ApiError> {
        self.confirm_subscription_impl(req).await
    }

    async fn create_export(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: CreateExportRequest,
    ) -> Result<CreateExportResponse, ApiError> {
        check_range(req.body.from, req.body.to, "/body/")?;
        let query = EventQuery {
            event_type: req.body.type_,
            from: req.body.from,
            to: req.body.to,
        };
        // The per-owner limit (API4): counted, then recorded, so concurrent requests of one
        // owner can pass it together by at most their number; the runners' own slots bound
        // the work regardless.
        let running = self
            .table
            .count_running_exports(&p.user_id, self.now() - crate::exports::RUNNING_LEASE)
            .await
            .map_err(storage)?;
        if running >= crate::exports::MAX_RUNNING_PER_OWNER {
            return Err(ApiError::too_many_requests(
                format!(
                    "You have {running} exports running, the most allowed at once; start this one when one of them is done (GET /v1/exports/{{exportId}})."
                ),
                5,
            ));
        }
        let export = new_export(&p.user_id, query, self.clock.as_ref());
        self.table.put_export(&export).await.map_err(storage)?;
        let status = self.export_status(&export).await?;
        if let Err(e) = self.exports.submit(&export).await {
            // Not left `running` with nothing to run it: the owner sees it failed.
            let failed = ExportRecord {
                status: ExportState::Failed,
                finished_at: Some(self.now()),
                ..export
            };
            if let Err(e2) = self.table.put_export(&failed).await {
                tracing::error!(export_id = %failed.export_id, error = %e2, "could not record the export as failed");
            }
            return Err(storage(e));
        }
        Ok(CreateExportResponse::Accepted(status))
    }

    async fn get_export(
        &self,
        _ctx: &RequestContext,
        p: &Principal,
        req: GetExportRequest,
    ) -> Result<GetExportResponse, ApiError> {
        let id = req.export_id.to_string();
        let export = self
            .table
            .get_export(&p.user_id, &id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("You have no export {id}.")))?;
        Ok(GetExportResponse::Ok(self.export_status(&export).await?))
    }

    async fn get_event_schema(
        &self,
        _ctx: &RequestContext,
        _req: GetEventSchemaRequest,
    ) -> Result<GetEventSchemaResponse, ApiError> {
        let schema: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(eventpulse_generated::UPLOAD_OBJECT_SCHEMA)
                .map_err(|e| corrupt("the bundled schema", e))?;
        Ok(GetEventSchemaResponse::Ok(schema))
    }

    async fn get_released_event_schema(
        &self,
        _ctx: &RequestContext,
        req: GetReleasedEventSchemaRequest,
    ) -> Result<GetReleasedEventSchemaResponse, ApiError> {
        let version = req.version.to_string();
        let text = eventpulse_generated::RELEASED_SCHEMAS
            .iter()
            .find(|(n, _)| n.to_string() == version)
            .map(|(_, text)| *text)
            .ok_or_else(|| {
                let released: Vec<String> = eventpulse_generated::RELEASED_SCHEMAS
                    .iter()
                    .map(|(n, _)| n.to_string())
                    .collect();
                ApiError::not_found(format!(
                    "Version {version} of the upload schema was never released; released versions: {}.",
                    released.join(", ")
                ))
            })?;
        let schema: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| corrupt("a released schema", e))?;
        Ok(GetReleasedEventSchemaResponse::Ok(schema))
    }

    async fn get_openapi(
        &self,
        _ctx: &RequestContext,
        _req: GetOpenapiRequest,
    ) -> Result<GetOpenapiResponse, ApiError> {
        Ok(GetOpenapiResponse::Ok(
            eventpulse_generated::OPENAPI_YAML.to_string(),
        ))
    }

    async fn get_openapi_json(
        &self,
        _ctx: &RequestContext,
        _req: GetOpenapiJsonRequest,
    ) -> Result<GetOpenapiJsonResponse, ApiError> {
        let doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(eventpulse_generated::OPENAPI_JSON)
                .map_err(|e| corrupt("the OpenAPI document", e))?;
        Ok(GetOpenapiJsonResponse::Ok(doc.into()))
    }

    async fn get_docs(
        &self,
        _ctx: &RequestContext,
        _req: GetDocsRequest,
    ) -> Result<GetDocsResponse, ApiError> {
        Ok(GetDocsResponse::Ok(self.config.docs_html.to_string()))
    }
}
