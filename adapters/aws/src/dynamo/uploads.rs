//! The processing ledger: creating uploads and every change of their state, each one
//! TransactWriteItems (or one conditional PutItem) so that the upload, its quarantine entry
//! and its notification change together.

use super::DynamoTable;
use super::error;
use super::expr::Expr;
use super::items::{
    Item, Reader, key, n, notification_item, owner_pk, quarantine_item, quarantine_sk, s, ts,
    upload_item, upload_sk,
};
use super::reads::backoff;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use eventpulse_generated::types::{Notification, UploadState};
use eventpulse_handlers::ports::{
    MarkStored, PortError, PortResult, QuarantineRecord, UploadRecord,
};

/// Rounds of `mark_stored` while the upload keeps changing between the refusal and the read.
const MARK_ROUNDS: u32 = 3;

/// A transaction refused by a condition: each action's cancellation code (`None` when that
/// action's condition held).
pub(super) struct Refused(Vec<Option<String>>);

impl Refused {
    /// Whether the condition of action `action` (its index in the transaction) failed.
    pub(super) fn failed(&self, action: usize) -> bool {
        self.0
            .get(action)
            .and_then(Option::as_deref)
            .is_some_and(|c| c == "ConditionalCheckFailed")
    }
}

/// The final-state fields of an upload, as `mark_stored` and `commit_quarantined` write
/// them: `created_at` is kept when the record exists.
fn finalise(u: &UploadRecord, status: UploadState) -> PortResult<Expr> {
    let mut x = Expr::new();
    x.set("status", s(status.to_string()))
        .set("key", s(&u.key))
        .set_or_remove("etag", u.etag.as_deref().map(s))
        .set_or_remove("eventCount", u.event_count.map(n))
        .set_or_remove(
            "processedAt",
            u.processed_at.as_ref().map(ts).transpose()?.map(s),
        )
        .set_or_remove("reasonCode", u.reason_code.map(|r| s(r.to_string())))
        .set_if_absent("createdAt", s(ts(&u.created_at)?))
        // A final upload is the ledger: DynamoDB's TTL must not delete it.
        .remove("expiresAt");
    Ok(x)
}

/// `attribute_not_exists(pk) OR status = pending`: the upload is not final.
fn not_final(x: &mut Expr) -> String {
    let (pk, status) = (x.name("pk"), x.name("status"));
    let pending = x.value("pending", s(UploadState::Pending.to_string()));
    format!("attribute_not_exists({pk}) OR {status} = {pending}")
}

impl DynamoTable {
    pub(super) fn update(
        &self,
        op: &str,
        key: Item,
        x: &Expr,
        condition: Option<String>,
    ) -> PortResult<TransactWriteItem> {
        let u = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .update_expression(x.update())
            .set_condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .build()
            .map_err(|e| error::build(op, &self.table, e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    pub(super) fn put(
        &self,
        op: &str,
        item: Item,
        only_new: bool,
    ) -> PortResult<TransactWriteItem> {
        let p = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .set_condition_expression(only_new.then(|| "attribute_not_exists(#pk)".to_string()))
            .set_expression_attribute_names(only_new.then(|| [("#pk".into(), "pk".into())].into()))
            .build()
            .map_err(|e| error::build(op, &self.table, e))?;
        Ok(TransactWriteItem::builder().put(p).build())
    }

    pub(super) fn delete(
        &self,
        op: &str,
        key: Item,
        x: &Expr,
        condition: Option<String>,
    ) -> PortResult<TransactWriteItem> {
        let d = Delete::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .set_condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .build()
            .map_err(|e| error::build(op, &self.table, e))?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    pub(super) fn check(
        &self,
        op: &str,
        key: Item,
        x: &Expr,
        condition: String,
    ) -> PortResult<TransactWriteItem> {
        let c = ConditionCheck::builder()
            .table_name(&*self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .build()
            .map_err(|e| error::build(op, &self.table, e))?;
        Ok(TransactWriteItem::builder().condition_check(c).build())
    }

    /// Runs one transaction. `Ok(Err(_))` when a condition refused it; a cancellation for
    /// any other reason (a conflicting transaction, throttling) is a transient error.
    pub(super) async fn transact(
        &self,
        op: &str,
        actions: Vec<TransactWriteItem>,
    ) -> PortResult<Result<(), Refused>> {
        self.transact_with(op, actions, None).await
    }

    /// [`DynamoTable::transact`] with a client request token: DynamoDB answers a call
    /// repeated with the same token (within 10 minutes) as the first one that succeeded,
    /// without writing again, so a retry after a lost answer cannot be refused by the
    /// very writes it retries.
    pub(super) async fn transact_with(
        &self,
        op: &str,
        actions: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> PortResult<Result<(), Refused>> {
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .set_client_request_token(token)
            .send()
            .await;
        let err = match out {
            Ok(_) => return Ok(Ok(())),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(c)) = err.as_service_error()
        else {
            return Err(error::sdk(op, &self.table, err));
        };
        let codes: Vec<Option<String>> = c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().filter(|c| *c != "None").map(Into::into))
            .collect();
        let all: Vec<&str> = codes.iter().flatten().map(String::as_str).collect();
        if all.iter().any(|c| error::is_transient_code(c)) || all.is_empty() {
            return Err(PortError::transient(format!(
                "dynamodb {op} on table {}: transaction cancelled ({})",
                self.table,
                if all.is_empty() {
                    "no reason given".to_string()
                } else {
                    all.join(", ")
                }
            )));
        }
        if all.iter().all(|c| *c == "ConditionalCheckFailed") {
            return Ok(Err(Refused(codes)));
        }
        Err(PortError::permanent(format!(
            "dynamodb {op} on table {}: transaction cancelled ({})",
            self.table,
            all.join(", ")
        )))
    }

    pub(crate) async fn create_upload(&self, upload: &UploadRecord) -> PortResult<bool> {
        let out = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(upload_item(upload)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(error::sdk("create_upload", &self.table, err)),
        }
    }

    /// The commit point: [upload → stored, unless final; delete its quarantine entry].
    /// `committedAt` (this adapter's clock) orders the uploads that list the same event.
    pub(crate) async fn mark_stored(&self, upload: &UploadRecord) -> PortResult<MarkStored> {
        const OP: &str = "mark_stored";
        if upload.etag.is_none() {
            return Err(PortError::permanent(format!(
                "upload {}/{} is committed without the ETag of its content",
                upload.owner, upload.upload_id
            )));
        }
        let upload_key = || key(owner_pk(&upload.owner), upload_sk(&upload.upload_id));
        for round in 0..MARK_ROUNDS {
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let mut x = finalise(upload, UploadState::Stored)?;
            x.set("committedAt", s(ts(&Utc::now())?));
            let condition = not_final(&mut x);
            let actions = vec![
                self.update(OP, upload_key(), &x, Some(condition))?,
                self.delete(
                    OP,
                    key(owner_pk(&upload.owner), quarantine_sk(&upload.upload_id)),
                    &Expr::new(),
                    None,
                )?,
            ];
            if self.transact(OP, actions).await?.is_ok() {
                return Ok(MarkStored::Marked);
            }
            let now = self
                .get(OP, upload_key(), Some(&["pk", "sk", "status", "etag"]))
                .await?;
            if let Some(item) = &now {
                let r = Reader::new(&self.table, item);
                match r.parse::<UploadState>("status")? {
                    UploadState::Stored if r.opt_s("etag")? == upload.etag.as_deref() => {
                        return Ok(MarkStored::AlreadyStored);
                    }
                    UploadState::Pending => {} // reopened in between: try again
                    state => return Ok(MarkStored::AlreadyFinal(state)),
                }
            }
        }
        Err(PortError::transient(format!(
            "dynamodb {OP} on table {}: upload {}/{} kept changing",
            self.table, upload.owner, upload.upload_id
        )))
    }

    /// [upload → quarantined, unless final; put its quarantine entry; put the notification,
    /// undelivered].
    pub(crate) async fn commit_quarantined(
        &self,
        upload: &UploadRecord,
        q: &QuarantineRecord,
        notification: &Notification,
    ) -> PortResult<bool> {
        const OP: &str = "commit_quarantined";
        if q.owner != upload.owner || q.upload_id != upload.upload_id {
            return Err(PortError::permanent(format!(
                "quarantine entry {}/{} does not belong to upload {}/{}",
                q.owner, q.upload_id, upload.owner, upload.upload_id
            )));
        }
        let mut x = finalise(upload, UploadState::Quarantined)?;
        let condition = not_final(&mut x);
        let actions = vec![
            self.update(
                OP,
                key(owner_pk(&upload.owner), upload_sk(&upload.upload_id)),
                &x,
                Some(condition),
            )?,
            self.put(OP, quarantine_item(q)?, false)?,
            self.put(OP, notification_item(&upload.owner, notification)?, true)?,
        ];
        match self.transact(OP, actions).await? {
            Ok(()) => Ok(true),
            Err(refused) if refused.failed(0) => Ok(false),
            Err(_) => Err(PortError::permanent(format!(
                "dynamodb {OP} on table {}: notification {} of {} is already recorded",
                self.table, notification.notification_id, upload.owner
            ))),
        }
    }

    /// [the quarantine entry exists; upload quarantined or pending → pending, its final
    /// fields but the ETag removed].
    pub(crate) async fn reopen_upload(
        &self,
        owner: &str,
        upload_id: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> PortResult<bool> {
        const OP: &str = "reopen_upload";
        let mut entry = Expr::new();
        let listed = format!("attribute_exists({})", entry.name("pk"));
        let mut x = Expr::new();
        x.set("status", s(UploadState::Pending.to_string()))
            .set("reopenedAt", s(ts(&at)?))
            .remove("eventCount")
            .remove("processedAt")
            .remove("reasonCode");
        let (pk, status, reopened) = (x.name("pk"), x.name("status"), x.name("reopenedAt"));
        let quarantined = x.value("quarantined", s(UploadState::Quarantined.to_string()));
        let pending = x.value("pending", s(UploadState::Pending.to_string()));
        let before = x.value("staleBefore", s(ts(&stale_before)?));
        // The claim: quarantined, or pending under a stale claim (instants are fixed-width
        // text, so `<` is time order).
        let condition = format!(
            "attribute_exists({pk}) AND ({status} = {quarantined} OR ({status} = {pending} \
             AND (attribute_not_exists({reopened}) OR {reopened} < {before})))"
        );
        let actions = vec![
            self.check(
                OP,
                key(owner_pk(owner), quarantine_sk(upload_id)),
                &entry,
                listed,
            )?,
            self.update(
                OP,
                key(owner_pk(owner), upload_sk(upload_id)),
                &x,
                Some(condition),
            )?,
        ];
        Ok(self.transact(OP, actions).await?.is_ok())
    }

    /// [delete the quarantine entry if it exists; the upload is not pending (reprocessing)].
    pub(crate) async fn delete_quarantine(&self, owner: &str, upload_id: &str) -> PortResult<bool> {
        const OP: &str = "delete_quarantine";
        let mut entry = Expr::new();
        let exists = format!("attribute_exists({})", entry.name("pk"));
        let mut x = Expr::new();
        let (pk, status) = (x.name("pk"), x.name("status"));
        let pending = x.value("pending", s(UploadState::Pending.to_string()));
        let idle = format!("attribute_not_exists({pk}) OR {status} <> {pending}");
        let actions = vec![
            self.delete(
                OP,
                key(owner_pk(owner), quarantine_sk(upload_id)),
                &entry,
                Some(exists),
            )?,
            self.check(OP, key(owner_pk(owner), upload_sk(upload_id)), &x, idle)?,
        ];
        Ok(self.transact(OP, actions).await?.is_ok())
    }
}
