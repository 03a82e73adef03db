//! The subscription operations: records in the [`SubscriptionTable`], deliveries by the
//! [`Subscriber`] (SNS on AWS, the local delivery queue locally).
//!
//! Create is record first, then subscribe: a crash in between leaves a pending record the
//! owner sees and can delete, never a delivery nobody can stop. A refusal or failure of the
//! deliverer removes the record again.

use super::{Api, corrupt, page_size, storage};
use crate::cursor::fingerprint;
use crate::ports::{Subscribed, SubscriptionCreated, SubscriptionRecord};
use crate::processor::new_id;
use crate::subscriptions::{self, MAX_PER_OWNER};
use eventpulse_contract_rt::{ApiError, Principal, Violation};
use eventpulse_generated::api::*;
use eventpulse_generated::types::{self, Subscription, SubscriptionPage, SubscriptionState};

fn endpoint_error(message: String) -> ApiError {
    ApiError::validation(
        format!("The endpoint is not accepted: {message}."),
        vec![Violation {
            pointer: "/body/endpoint".into(),
            keyword: "endpoint".into(),
            message,
        }],
    )
}

/// The API view of a record; the secret only when `with_secret` (the creating response).
fn view(s: &SubscriptionRecord, with_secret: bool) -> Result<Subscription, ApiError> {
    Ok(Subscription {
        subscription_id: types::SubscriptionId::try_from(s.subscription_id.clone())
            .map_err(|e| corrupt(format!("subscription id {}", s.subscription_id), e))?,
        protocol: s.protocol,
        endpoint: s.endpoint.clone(),
        kinds: s.kinds.clone(),
        status: s.status,
        created_at: s.created_at,
        secret: if with_secret { s.secret.clone() } else { None },
    })
}

impl Api {
    fn not_subscribed(id: &str) -> ApiError {
        ApiError::not_found(format!("You have no subscription {id}."))
    }

    /// The record with its status as the deliverer sees it now, persisted when it moved.
    async fn refreshed(&self, mut s: SubscriptionRecord) -> Result<SubscriptionRecord, ApiError> {
        if s.status == SubscriptionState::Pending && s.delivery_ref.is_some() {
            let now = self.subscriber.status(&s).await.map_err(storage)?;
            if now != s.status {
                s.status = now;
                self.subscriptions
                    .update_subscription(&s)
                    .await
                    .map_err(storage)?;
            }
        }
        Ok(s)
    }

    pub(super) async fn create_subscription_impl(
        &self,
        p: &Principal,
        req: CreateSubscriptionRequest,
    ) -> Result<CreateSubscriptionResponse, ApiError> {
        let body = req.body;
        if !self.subscriber.protocols().contains(&body.protocol) {
            let offered: Vec<String> = self
                .subscriber
                .protocols()
                .iter()
                .map(|p| p.to_string())
                .collect();
            let message = format!(
                "`{}` endpoints are not delivered to by this deployment; it delivers to {}",
                body.protocol,
                offered.join(", ")
            );
            return Err(ApiError::validation(
                format!("{message}."),
                vec![Violation {
                    pointer: "/body/protocol".into(),
                    keyword: "protocol".into(),
                    message,
                }],
            ));
        }
        let endpoint =
            subscriptions::check_endpoint(body.protocol, &body.endpoint, self.config.endpoints)
                .map_err(endpoint_error)?;
        let secret = if self.subscriber.signs(body.protocol) {
            Some(subscriptions::new_secret().map_err(ApiError::internal)?)
        } else {
            None
        };
        let mut record = SubscriptionRecord {
            owner: p.user_id.clone(),
            subscription_id: new_id(),
            protocol: body.protocol,
            endpoint,
            kinds: subscriptions::kinds_of(body.kinds.as_deref()),
            status: SubscriptionState::Pending,
            created_at: self.now(),
            secret,
            delivery_ref: None,
        };
        match self
            .subscriptions
            .create_subscription(&record, MAX_PER_OWNER)
            .await
            .map_err(storage)?
        {
            SubscriptionCreated::Created => {}
            SubscriptionCreated::LimitReached => {
                return Err(ApiError::conflict(format!(
                    "You have {MAX_PER_OWNER} subscriptions, the most allowed; delete one first."
                )));
            }
            SubscriptionCreated::EndpointTaken => {
                return Err(ApiError::conflict(format!(
                    "You have a subscription for this {} endpoint already; delete it first to change its kinds.",
                    record.protocol
                )));
            }
        }
        let subscribed = self.subscriber.subscribe(&record).await;
        let undo = || async {
            if let Err(e) = self
                .subscriptions
                .delete_subscription(&record.owner, &record.subscription_id)
                .await
            {
                tracing::error!(subscription_id = %record.subscription_id, error = %e,
                    "a subscription the deliverer did not take stays recorded, pending; the owner can delete it");
            }
        };
        match subscribed {
            Ok(Subscribed::Accepted {
                delivery_ref,
                status,
            }) => {
                // Written only when the deliverer says something new: an endpoint may
                // confirm (locally, straight into the table) before this line runs, and
                // writing `pending` back would undo that.
                if delivery_ref != record.delivery_ref || status != record.status {
                    record.delivery_ref = delivery_ref;
                    record.status = status;
                    self.subscriptions
                        .update_subscription(&record)
                        .await
                        .map_err(storage)?;
                }
            }
            Ok(Subscribed::Refused(reason)) => {
                undo().await;
                return Err(endpoint_error(reason));
            }
            Err(e) => {
                undo().await;
                return Err(storage(e));
            }
        }
        tracing::info!(owner = %p.user_id, subscription_id = %record.subscription_id,
            protocol = %record.protocol, "subscription created");
        Ok(CreateSubscriptionResponse::Created(view(&record, true)?))
    }

    pub(super) async fn list_subscriptions_impl(
        &self,
        p: &Principal,
        req: ListSubscriptionsRequest,
    ) -> Result<ListSubscriptionsResponse, ApiError> {
        let fp = fingerprint("list_subscriptions", &());
        let after: Option<String> = self.after(&req.cursor, &p.user_id, &fp)?;
        let limit = page_size(req.limit);
        let rows = self
            .subscriptions
            .list_subscriptions(&p.user_id, after.as_deref(), limit + 1)
            .await
            .map_err(storage)?;
        let (rows, next_cursor) =
            self.page(rows, limit, &p.user_id, &fp, |s| s.subscription_id.clone())?;
        let mut items = Vec::with_capacity(rows.len());
        for s in rows {
            items.push(view(&self.refreshed(s).await?, false)?);
        }
        Ok(ListSubscriptionsResponse::Ok(SubscriptionPage {
            items,
            next_cursor,
        }))
    }

    pub(super) async fn get_subscription_impl(
        &self,
        p: &Principal,
        req: GetSubscriptionRequest,
    ) -> Result<GetSubscriptionResponse, ApiError> {
        let id = req.subscription_id.to_string();
        let s = self
            .subscriptions
            .get_subscription(&p.user_id, &id)
            .await
            .map_err(storage)?
            .ok_or_else(|| Self::not_subscribed(&id))?;
        Ok(GetSubscriptionResponse::Ok(view(
            &self.refreshed(s).await?,
            false,
        )?))
    }

    pub(super) async fn delete_subscription_impl(
        &self,
        p: &Principal,
        req: DeleteSubscriptionRequest,
    ) -> Result<DeleteSubscriptionResponse, ApiError> {
        let id = req.subscription_id.to_string();
        let s = self
            .subscriptions
            .get_subscription(&p.user_id, &id)
            .await
            .map_err(storage)?
            .ok_or_else(|| Self::not_subscribed(&id))?;
        // The deliverer first: a failure there leaves the record, so a retry finds it and
        // unsubscribes again, and nothing is delivered without a record that shows it.
        self.subscriber.unsubscribe(&s).await.map_err(storage)?;
        self.subscriptions
            .delete_subscription(&p.user_id, &id)
            .await
            .map_err(storage)?;
        tracing::info!(owner = %p.user_id, subscription_id = %id, "subscription deleted");
        Ok(DeleteSubscriptionResponse::NoContent)
    }

    pub(super) async fn confirm_subscription_impl(
        &self,
        req: ConfirmSubscriptionRequest,
    ) -> Result<ConfirmSubscriptionResponse, ApiError> {
        let unknown = || {
            ApiError::not_found(
                "No subscription waits for this confirmation token (deleted, or never issued here).",
            )
        };
        let (owner, id) = self
            .subscriber
            .confirm(&req.token)
            .await
            .map_err(storage)?
            .ok_or_else(unknown)?;
        let s = self
            .subscriptions
            .get_subscription(&owner, &id)
            .await
            .map_err(storage)?
            .ok_or_else(unknown)?;
        tracing::info!(%owner, subscription_id = %id, "subscription confirmed");
        Ok(ConfirmSubscriptionResponse::Ok(view(&s, false)?))
    }
}
