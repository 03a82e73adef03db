//! What a composition root hands the domain: one backend's adapters, built once.
//!
//! Each backend has one composition root that builds its adapters and returns [`Ports`]
//! (`eventpulse_embedded::Embedded`, `eventpulse_aws::Aws`); `eventpulse local`, the Lambda
//! functions and the tests all start from one, so they run the same wiring.

use crate::api::{Api, ApiConfig};
use crate::cursor::CursorSigner;
use crate::exports::{ExportRunner, Exporter};
use crate::intake::Intake;
use crate::ports::{
    Clock, Dispatcher, EventTable, Notifier, ObjectStore, PortResult, Presigner, Subscriber,
    SubscriptionTable,
};
use crate::processor::Processor;
use eventpulse_generated::types::Notification;
use std::sync::Arc;

/// How notifications leave the table once recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A long-running outbox task delivers them (locally), so a slow webhook never holds a
    /// processing worker.
    Outbox,
    /// The function that recorded one delivers it before it answers (on Lambda, where
    /// nothing runs after the answer); a failed delivery is left to the outbox sweep.
    AtOnce,
}

/// One backend's adapters.
#[derive(Clone)]
pub struct Ports {
    pub objects: Arc<dyn ObjectStore>,
    pub table: Arc<dyn EventTable>,
    pub notifier: Arc<dyn Notifier>,
    pub subscriptions: Arc<dyn SubscriptionTable>,
    /// Delivers to subscribed endpoints (SNS; the local delivery queue).
    pub subscriber: Arc<dyn Subscriber>,
    pub clock: Arc<dyn Clock>,
    pub delivery: Delivery,
}

impl Ports {
    pub fn processor(&self, intake: Arc<Intake>) -> Processor {
        Processor {
            objects: self.objects.clone(),
            table: self.table.clone(),
            notifier: self.notifier.clone(),
            clock: self.clock.clone(),
            intake,
            delivery: self.delivery,
        }
    }

    /// The API on these ports; the rest is what differs between entry points.
    pub fn api(
        &self,
        presigner: Arc<dyn Presigner>,
        dispatcher: Arc<dyn Dispatcher>,
        exports: Arc<dyn ExportRunner>,
        cursors: CursorSigner,
        config: ApiConfig,
    ) -> Api {
        Api {
            table: self.table.clone(),
            objects: self.objects.clone(),
            presigner,
            dispatcher,
            exports,
            subscriptions: self.subscriptions.clone(),
            subscriber: self.subscriber.clone(),
            clock: self.clock.clone(),
            cursors,
            config,
        }
    }

    pub fn exporter(&self) -> Exporter {
        Exporter {
            table: self.table.clone(),
            objects: self.objects.clone(),
            clock: self.clock.clone(),
            notifier: self.notifier.clone(),
            delivery: self.delivery,
        }
    }
}

/// Delivers a notification just recorded when `delivery` says so, and marks it delivered.
/// A failure is logged and left for the outbox sweep: the notification is recorded either
/// way, so it is delivered at least once.
pub async fn deliver_recorded(
    delivery: Delivery,
    table: &dyn EventTable,
    notifier: &dyn Notifier,
    owner: &str,
    n: &Notification,
) {
    if delivery == Delivery::Outbox {
        return;
    }
    let result: PortResult<()> = async {
        notifier.deliver(owner, n).await?;
        table.mark_delivered(owner, &n.notification_id).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(owner, notification_id = %n.notification_id, error = %e,
            "notification not delivered yet; the outbox sweep will retry");
    }
}
