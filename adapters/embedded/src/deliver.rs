//! Deliveries to subscribed endpoints on `eventpulse local`: what SNS does on AWS.
//!
//! [`LocalSubscriber`] (the [`Subscriber`] port) queues each subscription's confirmation
//! request; [`LocalNotifier`](crate::LocalNotifier) queues each notification for the owner's
//! confirmed subscriptions of its kind; [`Deliverer::run`] sends what is due: `http(s)`
//! endpoints get a signed JSON POST (`EventPulse-Signature`, see
//! [`eventpulse_handlers::subscriptions::sign`]), `email` addresses a message appended to the
//! data dir's `mailbox` file. A failed delivery is retried with exponential backoff until
//! its give-up time; the queue is in SQLite, so nothing queued is lost by a restart.
//!
//! Server-side request forgery: the endpoint is checked again before every send, every
//! address a name resolves to is checked by [`GuardedResolver`] (so a name that moved to a
//! private address gets nothing), and redirects are never followed.

use crate::SqliteTable;
use crate::sqlite::{CONFIRMATION, Delivery};
use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, Utc};
use eventpulse_generated::types::{
    SubscriptionConfirmationMessage, SubscriptionConfirmationMessageKind, SubscriptionProtocol,
    SubscriptionState,
};
use eventpulse_handlers::ports::{
    Clock, PortError, PortResult, Subscribed, Subscriber, SubscriptionRecord,
};
use eventpulse_handlers::subscriptions::{
    self, EndpointRules, SIGNATURE_HEADER, check_endpoint, refused_address,
};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The file `email` deliveries are appended to, in the data dir.
pub const MAILBOX_FILE: &str = "mailbox";

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Wait after the first failure; doubled after each later one.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// How long after it was queued a message is given up.
    pub give_up_after: Duration,
    /// Limit for one request, connection included.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// The wait before attempt `attempts + 1`, after `attempts` failures (at least one).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_retry)
    }

    fn give_up_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Span::from_std(self.give_up_after).unwrap_or(Span::days(1))
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The [`Subscriber`] of `eventpulse local`.
pub struct LocalSubscriber {
    table: Arc<SqliteTable>,
    /// The server's own base URL, for confirmation links.
    public_url: String,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    wake: Arc<Notify>,
}

impl LocalSubscriber {
    pub fn new(
        table: Arc<SqliteTable>,
        public_url: &str,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            table,
            public_url: public_url.trim_end_matches('/').to_string(),
            clock,
            policy,
            wake,
        }
    }
}

#[async_trait]
impl Subscriber for LocalSubscriber {
    fn protocols(&self) -> &'static [SubscriptionProtocol] {
        &[
            SubscriptionProtocol::Https,
            SubscriptionProtocol::Http,
            SubscriptionProtocol::Email,
        ]
    }

    fn signs(&self, protocol: SubscriptionProtocol) -> bool {
        matches!(
            protocol,
            SubscriptionProtocol::Https | SubscriptionProtocol::Http
        )
    }

    async fn subscribe(&self, s: &SubscriptionRecord) -> PortResult<Subscribed> {
        let token = subscriptions::new_token().map_err(PortError::transient)?;
        let now = self.clock.now();
        let message = SubscriptionConfirmationMessage {
            kind: SubscriptionConfirmationMessageKind::SubscriptionConfirmation,
            subscription_id: s
                .subscription_id
                .clone()
                .try_into()
                .map_err(|e| PortError::permanent(format!("subscription id: {e}")))?,
            confirm_url: format!("{}/v1/subscription-confirmations/{token}", self.public_url),
            created_at: now,
            message: format!(
                "EventPulse was asked to send the notifications of one of its users to this {}. \
                 GET confirmUrl to start receiving them; ignore this message to receive nothing.",
                if s.protocol == SubscriptionProtocol::Email {
                    "address"
                } else {
                    "endpoint"
                }
            ),
        };
        let body = serde_json::to_string(&message)
            .map_err(|e| PortError::permanent(format!("confirmation message: {e}")))?;
        let queued = self
            .table
            .queue_confirmation(
                &s.owner,
                &s.subscription_id,
                token_hash(&token),
                body,
                now,
                self.policy.give_up_at(now),
            )
            .await?;
        if !queued {
            return Ok(Subscribed::Refused(
                "the subscription was deleted while it was being created".into(),
            ));
        }
        self.wake.notify_one();
        Ok(Subscribed::Accepted {
            delivery_ref: None,
            status: SubscriptionState::Pending,
        })
    }

    async fn status(&self, s: &SubscriptionRecord) -> PortResult<SubscriptionState> {
        // Confirmations are written to the table itself: it is the truth.
        Ok(s.status)
    }

    async fn unsubscribe(&self, _s: &SubscriptionRecord) -> PortResult<()> {
        // Deleting the record drops its queued deliveries (ON DELETE CASCADE).
        Ok(())
    }

    async fn confirm(&self, token: &str) -> PortResult<Option<(String, String)>> {
        self.table.confirm_token(token_hash(token)).await
    }
}

/// Queues each notification for the owner's confirmed subscriptions of its kind (the fan-out
/// SNS does on AWS); [`LocalNotifier`](crate::LocalNotifier) calls it for every notification.
#[derive(Clone)]
pub struct SubscriptionQueue {
    pub table: Arc<SqliteTable>,
    pub clock: Arc<dyn Clock>,
    pub policy: DeliveryPolicy,
    pub wake: Arc<Notify>,
}

impl SubscriptionQueue {
    /// Idempotent: queuing one notification twice (the outbox delivers at least once) adds
    /// nothing the second time.
    pub async fn queue(
        &self,
        owner: &str,
        n: &eventpulse_generated::types::Notification,
    ) -> PortResult<usize> {
        let body = serde_json::to_string(n)
            .map_err(|e| PortError::permanent(format!("serialising notification: {e}")))?;
        let now = self.clock.now();
        let queued = self
            .table
            .queue_notification(
                owner,
                &n.notification_id,
                n.kind,
                body,
                now,
                self.policy.give_up_at(now),
            )
            .await?;
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok(queued)
    }
}

/// A DNS resolver that hands reqwest only addresses EventPulse may send to.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_loopback: bool,
}

/// The addresses of `resolved` that may be sent to, or why none may.
pub fn guard_addresses(
    host: &str,
    resolved: impl IntoIterator<Item = SocketAddr>,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, String> {
    let mut refused = Vec::new();
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| match refused_address(a.ip(), allow_loopback) {
            Some(why) => {
                refused.push(format!("{} ({why})", a.ip()));
                false
            }
            None => true,
        })
        .collect();
    // One refused address refuses the name: a name that mixes public and private
    // addresses is how rebinding attacks pick the private one.
    if !refused.is_empty() {
        return Err(format!(
            "{host} resolves to addresses EventPulse does not send to: {}",
            refused.join(", ")
        ));
    }
    if allowed.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(allowed)
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = guard_addresses(&host, resolved, allow_loopback)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends what the delivery queue holds.
pub struct Deliverer {
    table: Arc<SqliteTable>,
    client: Result<reqwest::Client, String>,
    rules: EndpointRules,
    mailbox: PathBuf,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    wake: Arc<Notify>,
}

/// Messages sent at once by one pass.
const BATCH: usize = 16;

impl Deliverer {
    pub fn new(
        table: Arc<SqliteTable>,
        data_dir: &std::path::Path,
        rules: EndpointRules,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        wake: Arc<Notify>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback: rules.allow_loopback || rules.loopback_only,
            }))
            .no_proxy()
            .user_agent(concat!("EventPulse-Webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string());
        Self {
            table,
            client,
            rules,
            mailbox: data_dir.join(MAILBOX_FILE),
            clock,
            policy,
            wake,
        }
    }

    /// Delivers whatever is due, forever; woken when something is queued.
    pub async fn run(self) {
        loop {
            match self.deliver_due().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "eventpulse::deliver", error = %e, "delivery queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            let wait = match self.table.next_delivery_at().await {
                Ok(Some(at)) => (at - self.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_secs(30)),
                _ => Duration::from_secs(30),
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
            }
        }
    }

    /// One pass: sends up to a batch of due messages at once; how many were due.
    pub async fn deliver_due(&self) -> PortResult<usize> {
        let now = self.clock.now();
        let due = self.table.due_deliveries(now, BATCH).await?;
        let n = due.len();
        let mut sends = tokio::task::JoinSet::new();
        for d in due {
            let this = self.sender();
            sends.spawn(async move { this.settle(d).await });
        }
        let mut unrecorded = None;
        while let Some(r) = sends.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => unrecorded = Some(e),
                Err(e) => unrecorded = Some(PortError::transient(format!("a send task: {e}"))),
            }
        }
        // An outcome that could not be recorded leaves its delivery due: say so, so that
        // `run` waits before the next pass instead of sending it again at once.
        match unrecorded {
            Some(e) => Err(PortError::transient(format!(
                "recording a delivery's outcome: {}",
                e.message
            ))),
            None => Ok(n),
        }
    }

    fn sender(&self) -> Sender {
        Sender {
            table: self.table.clone(),
            client: self.client.clone(),
            rules: self.rules,
            mailbox: self.mailbox.clone(),
            clock: self.clock.clone(),
            policy: self.policy,
        }
    }
}

/// What one concurrent send needs.
struct Sender {
    table: Arc<SqliteTable>,
    client: Result<reqwest::Client, String>,
    rules: EndpointRules,
    mailbox: PathBuf,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
}

impl Sender {
    /// Sends one message and records the outcome.
    async fn settle(&self, d: Delivery) -> PortResult<()> {
        let result = self.send(&d).await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                tracing::info!(target: "eventpulse::deliver", owner = %d.owner,
                    subscription_id = %d.subscription_id, message_id = %d.message_id,
                    attempt = d.attempts + 1, "delivered");
                self.table.delivery_done(&d).await
            }
            Err(Failure::Never(e)) | Err(Failure::Again(e)) if now >= d.give_up_at => {
                tracing::warn!(target: "eventpulse::deliver", owner = %d.owner,
                    subscription_id = %d.subscription_id, message_id = %d.message_id,
                    attempts = d.attempts + 1, error = %e, "delivery given up");
                self.table.delivery_done(&d).await
            }
            Err(Failure::Never(e)) | Err(Failure::Again(e)) => {
                let wait = self.policy.backoff(d.attempts + 1);
                let next =
                    (now + Span::from_std(wait).unwrap_or(Span::minutes(10))).min(d.give_up_at);
                tracing::warn!(target: "eventpulse::deliver", owner = %d.owner,
                    subscription_id = %d.subscription_id, message_id = %d.message_id,
                    attempt = d.attempts + 1, retry_in_ms = wait.as_millis() as u64, error = %e,
                    "delivery failed");
                self.table.delivery_failed(&d, next, e).await
            }
        }
    }

    async fn send(&self, d: &Delivery) -> Result<(), Failure> {
        // The rules of today, not of the day it was subscribed (a restart without
        // --allow-loopback-webhooks stops loopback deliveries).
        check_endpoint(d.protocol, &d.endpoint, self.rules).map_err(Failure::Never)?;
        match d.protocol {
            SubscriptionProtocol::Https | SubscriptionProtocol::Http => self.post(d).await,
            SubscriptionProtocol::Email => self.mail(d).map_err(Failure::Again),
            SubscriptionProtocol::Sqs => Err(Failure::Never(
                "sqs endpoints are delivered only on AWS".into(),
            )),
        }
    }

    async fn post(&self, d: &Delivery) -> Result<(), Failure> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| Failure::Never(e.clone()))?;
        let secret = d
            .secret
            .as_deref()
            .ok_or_else(|| Failure::Never("the subscription has no signing secret".into()))?;
        let signature =
            subscriptions::sign(secret, self.clock.now().timestamp(), d.body.as_bytes());
        let sent = client
            .post(&d.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("EventPulse-Message-Id", &d.message_id)
            .header("EventPulse-Subscription-Id", &d.subscription_id)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_redirection() => Err(Failure::Again(format!(
                "HTTP {} (redirects are not followed)",
                r.status()
            ))),
            Ok(r) => Err(Failure::Again(format!("HTTP {}", r.status()))),
            Err(e) => Err(Failure::Again(crate::notify::chain(&e))),
        }
    }

    /// Appends the message to the mailbox file (mbox format).
    fn mail(&self, d: &Delivery) -> Result<(), String> {
        let now = self.clock.now();
        let subject = if d.message_id == CONFIRMATION {
            "Confirm your EventPulse subscription".to_string()
        } else {
            format!("EventPulse notification {}", d.message_id)
        };
        let mut text = format!(
            "From eventpulse@localhost {}\nDate: {}\nFrom: EventPulse <eventpulse@localhost>\nTo: <{}>\nSubject: {subject}\nContent-Type: application/json\nEventPulse-Subscription-Id: {}\n\n",
            now.format("%a %b %e %H:%M:%S %Y"),
            now.to_rfc2822(),
            d.endpoint,
            d.subscription_id,
        );
        // mbox: a body line starting with "From " is quoted.
        for line in d.body.lines() {
            if line.starts_with("From ") {
                text.push('>');
            }
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        let mut f = crate::private_file_options()
            .append(true)
            .create(true)
            .open(&self.mailbox)
            .map_err(|e| format!("opening {}: {e}", self.mailbox.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| format!("writing {}: {e}", self.mailbox.display()))
    }
}

enum Failure {
    /// Will fail again until something changes (kept until its give-up time anyway: the
    /// owner may fix the endpoint's DNS or restart with other flags).
    Never(String),
    Again(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| format!("{a}:443").parse().unwrap())
            .collect()
    }

    #[test]
    fn resolved_addresses_are_guarded() {
        // What a name resolving to these addresses gets: no test sends to any of them.
        assert!(guard_addresses("a.example", addrs(&["93.184.215.14"]), false).is_ok());
        for bad in [
            &["169.254.169.254"][..],
            &["10.0.0.7"],
            &["93.184.215.14", "192.168.0.1"],
            &["127.0.0.1"],
            &["[fd00::1]"],
            &[],
        ] {
            assert!(
                guard_addresses("rebind.example", addrs(bad), false).is_err(),
                "{bad:?}"
            );
        }
        assert!(guard_addresses("localhost", addrs(&["127.0.0.1", "[::1]"]), true).is_ok());
        assert!(guard_addresses("localhost", addrs(&["127.0.0.1", "10.1.1.1"]), true).is_err());
    }

    #[test]
    fn backoff_doubles_to_its_ceiling() {
        let p = DeliveryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(2), Duration::from_secs(2));
        assert_eq!(p.backoff(5), Duration::from_secs(16));
        assert_eq!(p.backoff(11), Duration::from_secs(600));
        assert_eq!(p.backoff(500), Duration::from_secs(600));
    }
}
