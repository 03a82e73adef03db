//! Notifications and exports: plain conditional writes, and the two work lists of every
//! owner kept in gsi3 as sparse keys (the outbox, the running exports).

use super::DynamoTable;
use super::error;
use super::items::{
    EXPORTS_RUNNING, OUTBOX, Reader, export, export_item, export_sk, key, notification,
    notification_item, notification_sk, owner_pk, running_export_sk, ts,
};
use super::reads::{Bound, KeyQuery};
use chrono::{DateTime, Utc};
use eventpulse_generated::types::ExportState;
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::{ExportPosition, ExportRecord, PortResult};

/// The oldest-first work list `name` of gsi3.
fn work_list(name: &str) -> KeyQuery {
    KeyQuery {
        index: Some("gsi3"),
        pk_attr: "gsi3pk",
        pk: name.into(),
        sk_attr: "gsi3sk",
        lower: None,
        upper: None,
        forward: true,
    }
}

impl DynamoTable {
    /// Idempotent on the id: a notification recorded again keeps its first version and its
    /// delivery state.
    pub(crate) async fn record_notification(
        &self,
        owner: &str,
        no: &Notification,
    ) -> PortResult<()> {
        let out = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(notification_item(owner, no)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(error::sdk("record_notification", &self.table, err)),
        }
    }

    pub(crate) async fn undelivered_notifications(
        &self,
        limit: usize,
    ) -> PortResult<Vec<(String, Notification)>> {
        let items = self
            .query_up_to("undelivered_notifications", &work_list(OUTBOX), limit)
            .await?;
        items
            .iter()
            .map(|i| {
                let r = Reader::new(&self.table, i);
                Ok((r.owner()?.to_string(), notification(&r)?))
            })
            .collect()
    }

    /// Leaves the outbox (the sparse gsi3 keys go); the notification stays listed. Scoped
    /// by owner through the key; a missing notification is not an error (a retried mark).
    pub(crate) async fn mark_delivered(&self, owner: &str, id: &str) -> PortResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(owner_pk(owner), notification_sk(id))))
            .update_expression("REMOVE #gsi3pk, #gsi3sk")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#gsi3pk", "gsi3pk")
            .expression_attribute_names("#gsi3sk", "gsi3sk")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(error::sdk("mark_delivered", &self.table, err)),
        }
    }

    /// An upsert: the whole record is replaced, so a finished export loses its gsi3 keys.
    pub(crate) async fn put_export(&self, x: &ExportRecord) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(export_item(x)?))
            .send()
            .await
            .map_err(|err| error::sdk("put_export", &self.table, err))?;
        Ok(())
    }

    /// The owner's exports are read from the base table (`X#…` under the owner's pk,
    /// consistent) and counted here: one owner's exports are few (finished ones expire),
    /// and gsi3 holds every owner's running exports.
    pub(crate) async fn count_running_exports(
        &self,
        owner: &str,
        since: DateTime<Utc>,
    ) -> PortResult<usize> {
        let q = KeyQuery {
            index: None,
            pk_attr: "pk",
            pk: owner_pk(owner),
            sk_attr: "sk",
            lower: Some(Bound {
                key: export_sk(""),
                inclusive: true,
            }),
            // '$' follows '#': every `X#…` key is below it.
            upper: Some(Bound {
                key: "X$".into(),
                inclusive: false,
            }),
            forward: true,
        };
        let items = self
            .query_up_to("count_running_exports", &q, usize::MAX)
            .await?;
        let mut n = 0;
        for i in &items {
            let x = export(&Reader::new(&self.table, i))?;
            if x.status == ExportState::Running && x.created_at >= since {
                n += 1;
            }
        }
        Ok(n)
    }

    pub(crate) async fn running_exports(
        &self,
        after: Option<&ExportPosition>,
        limit: usize,
    ) -> PortResult<Vec<ExportRecord>> {
        let mut q = work_list(EXPORTS_RUNNING);
        if let Some(a) = after {
            q.lower = Some(Bound {
                key: running_export_sk(&ts(&a.created_at)?, &a.export_id, &a.owner),
                inclusive: false,
            });
        }
        let items = self.query_up_to("running_exports", &q, limit).await?;
        items
            .iter()
            .map(|i| export(&Reader::new(&self.table, i)))
            .collect()
    }
}
