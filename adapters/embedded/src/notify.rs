//! [`LocalNotifier`]: notifications go to the log and, when configured, to a webhook.

use async_trait::async_trait;
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::{Notifier, PortError, PortResult};
use reqwest::StatusCode;
use std::error::Error as _;
use std::time::Duration;

/// How hard one delivery tries before giving up (the outbox tries again later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per delivery, at least 1.
    pub attempts: u32,
    /// Pause before the second attempt; doubled before each later one.
    pub backoff: Duration,
    /// Limit for one request, connection included.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Logs every notification (target `eventpulse::notify`) and POSTs it as JSON to the
/// webhook, if one is set, with the owner in the `x-eventpulse-owner` header.
#[derive(Debug)]
pub struct LocalNotifier {
    webhook: Option<String>,
    /// The owners' own subscriptions, when this notifier feeds them.
    subscriptions: Option<crate::deliver::SubscriptionQueue>,
    client: Result<reqwest::Client, String>,
    policy: RetryPolicy,
}

impl LocalNotifier {
    pub fn new(webhook: Option<String>) -> Self {
        Self::with_policy(webhook, RetryPolicy::default())
    }

    pub fn with_policy(webhook: Option<String>, policy: RetryPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .build()
            .map_err(|e| chain(&e));
        Self {
            webhook: webhook.filter(|w| !w.trim().is_empty()),
            subscriptions: None,
            client,
            policy,
        }
    }

    /// Also queues every notification for the owner's subscriptions.
    pub fn with_subscriptions(mut self, queue: crate::deliver::SubscriptionQueue) -> Self {
        self.subscriptions = Some(queue);
        self
    }
}

impl std::fmt::Debug for crate::deliver::SubscriptionQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionQueue").finish_non_exhaustive()
    }
}

/// An error with its causes ("error sending request: connection refused").
pub(crate) fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Whether another attempt may get another answer.
fn worth_retrying(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

#[async_trait]
impl Notifier for LocalNotifier {
    async fn deliver(&self, owner: &str, n: &Notification) -> PortResult<()> {
        tracing::info!(
            target: "eventpulse::notify",
            owner,
            notification_id = %n.notification_id,
            kind = %n.kind,
            upload_id = n.upload_id.as_deref().map(String::as_str),
            export_id = n.export_id.as_deref(),
            message = %n.message,
            "notification"
        );
        // Queued first: it is local and idempotent, so a failing operator webhook (which
        // makes the outbox call again) neither loses nor repeats a subscriber's copy.
        if let Some(queue) = &self.subscriptions {
            queue.queue(owner, n).await?;
        }
        let Some(url) = &self.webhook else {
            return Ok(());
        };
        let client = self
            .client
            .as_ref()
            .map_err(|e| PortError::permanent(format!("webhook client: {e}")))?;
        let body = serde_json::to_vec(n)
            .map_err(|e| PortError::permanent(format!("serialising notification: {e}")))?;
        let attempts = self.policy.attempts.max(1);
        let mut backoff = self.policy.backoff;
        let mut last = String::new();
        let mut tried = 0;
        while tried < attempts {
            if tried > 0 {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            tried += 1;
            let sent = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("x-eventpulse-owner", owner)
                .body(body.clone())
                .send()
                .await;
            let retry = match sent {
                Ok(r) if r.status().is_success() => {
                    tracing::debug!(target: "eventpulse::notify", owner, notification_id = %n.notification_id, attempt = tried, "webhook delivered");
                    return Ok(());
                }
                Ok(r) => {
                    last = format!("HTTP {}", r.status());
                    worth_retrying(r.status())
                }
                // A URL or header that cannot be sent will never be.
                Err(e) if e.is_builder() => {
                    return Err(PortError::permanent(format!(
                        "webhook request cannot be built: {}",
                        chain(&e)
                    )));
                }
                Err(e) => {
                    last = chain(&e);
                    true
                }
            };
            tracing::warn!(
                target: "eventpulse::notify",
                owner,
                notification_id = %n.notification_id,
                attempt = tried,
                error = %last,
                "webhook delivery failed"
            );
            if !retry {
                break;
            }
        }
        Err(PortError::transient(format!(
            "webhook delivery of notification {} failed after {tried} attempt{}: {last}",
            n.notification_id,
            if tried == 1 { "" } else { "s" }
        )))
    }
}
