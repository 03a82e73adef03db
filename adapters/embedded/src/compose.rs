//! The embedded backend's composition root: every adapter over one data directory, built
//! once. `eventpulse local` and the tests start from [`Embedded::open`].

use crate::deliver::{Deliverer, DeliveryPolicy, LocalSubscriber, SubscriptionQueue};
use crate::{FsObjectStore, LocalNotifier, SqliteTable, TABLE_FILE};
use eventpulse_handlers::ports::{Clock, PortResult, SystemClock};
use eventpulse_handlers::subscriptions::EndpointRules;
use eventpulse_handlers::wiring::{Delivery, Ports};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

/// How the embedded backend is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// The operator's webhook: every notification of every owner is POSTed to it.
    pub webhook: Option<String>,
    /// The server's base URL, for the confirmation links sent to subscribed endpoints.
    pub public_url: String,
    /// Loopback endpoints and plain `http` for subscriptions (development and tests).
    pub allow_loopback_webhooks: bool,
    /// Subscriptions only to loopback endpoints and the mailbox (fuzzed test servers).
    pub webhooks_loopback_only: bool,
    pub delivery: DeliveryPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            webhook: None,
            public_url: "http://127.0.0.1:8080".into(),
            allow_loopback_webhooks: false,
            webhooks_loopback_only: false,
            delivery: DeliveryPolicy::default(),
        }
    }
}

/// The embedded adapters, typed (for what only they offer, such as the table's path) and as
/// [`Ports`] for the domain.
pub struct Embedded {
    pub objects: Arc<FsObjectStore>,
    pub table: Arc<SqliteTable>,
    pub notifier: Arc<LocalNotifier>,
    pub subscriber: Arc<LocalSubscriber>,
    pub rules: EndpointRules,
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    delivery: DeliveryPolicy,
    /// Woken when a delivery to a subscriber is queued.
    deliveries: Arc<Notify>,
}

impl Embedded {
    /// Opens (creating if needed) the buckets and the table under `data_dir`. Blocking:
    /// call it at start-up.
    pub fn open(data_dir: &Path, options: Options) -> PortResult<Self> {
        let table = Arc::new(SqliteTable::open(data_dir.join(TABLE_FILE))?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let deliveries = Arc::new(Notify::new());
        let queue = SubscriptionQueue {
            table: table.clone(),
            clock: clock.clone(),
            policy: options.delivery,
            wake: deliveries.clone(),
        };
        Ok(Self {
            objects: Arc::new(FsObjectStore::open(data_dir)?),
            notifier: Arc::new(LocalNotifier::new(options.webhook).with_subscriptions(queue)),
            subscriber: Arc::new(LocalSubscriber::new(
                table.clone(),
                &options.public_url,
                clock.clone(),
                options.delivery,
                deliveries.clone(),
            )),
            rules: EndpointRules {
                allow_loopback: options.allow_loopback_webhooks,
                loopback_only: options.webhooks_loopback_only,
            },
            table,
            data_dir: data_dir.to_path_buf(),
            clock,
            delivery: options.delivery,
            deliveries,
        })
    }

    /// The ports, with notifications delivered by a long-running outbox task.
    pub fn ports(&self) -> Ports {
        Ports {
            objects: self.objects.clone(),
            table: self.table.clone(),
            notifier: self.notifier.clone(),
            subscriptions: self.table.clone(),
            subscriber: self.subscriber.clone(),
            clock: self.clock.clone(),
            delivery: Delivery::Outbox,
        }
    }

    /// What sends the subscribers' deliveries: run it as one long-running task.
    pub fn deliverer(&self) -> Deliverer {
        Deliverer::new(
            self.table.clone(),
            &self.data_dir,
            self.rules,
            self.clock.clone(),
            self.delivery,
            self.deliveries.clone(),
        )
    }
}
