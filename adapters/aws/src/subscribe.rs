//! [`SnsSubscriber`]: the owners' subscriptions as SNS subscriptions of the notification
//! topic, each filtered on its owner and kinds.
//!
//! [`SnsNotifier`](crate::SnsNotifier) publishes every notification to the one topic with
//! the message attributes `userId` and `kind`; a subscription's filter policy
//! (`FilterPolicyScope` `MessageAttributes`) is `{"userId": [owner], "kind": [kinds…]}`, so
//! SNS hands it exactly its owner's notifications of those kinds. `sqs` queues get raw
//! message delivery (the body is the notification's JSON, as locally; the queue policy
//! says who may send). `https` endpoints get SNS's signed JSON envelope, whose `Message` is
//! the notification: raw delivery would drop the signature, leaving a receiver nothing to
//! verify. `email` gets SNS's mail. SNS runs the confirmation
//! itself (a confirmation request to `https`, a mail to `email`, nothing for a queue of the
//! same account) and signs its own messages, so EventPulse issues no secret and no
//! confirmation token here; `status` is SNS's `PendingConfirmation`.
//!
//! Plain `http` is not offered: SNS would deliver it, but in clear text.

use crate::error::classify;
use crate::sns::{KIND, USER_ID};
use async_trait::async_trait;
use aws_sdk_sns::error::ProvideErrorMetadata;
use eventpulse_generated::types::{NotificationKind, SubscriptionProtocol, SubscriptionState};
use eventpulse_handlers::ports::{
    PortError, PortResult, Subscribed, Subscriber, SubscriptionRecord,
};
use std::collections::HashMap;

/// The protocols SNS delivers to for EventPulse.
const PROTOCOLS: &[SubscriptionProtocol] = &[
    SubscriptionProtocol::Https,
    SubscriptionProtocol::Email,
    SubscriptionProtocol::Sqs,
];

#[derive(Debug, Clone)]
pub struct SnsSubscriber {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsSubscriber {
    /// Subscriptions of the notification topic `topic_arn` (the one `SnsNotifier` publishes
    /// to).
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Whether `arn` is a subscription of this topic (`{topicArn}:{id}`).
    fn is_ours(&self, arn: &str) -> bool {
        arn.strip_prefix(self.topic_arn.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|id| !id.is_empty() && !id.contains(':'))
    }

    /// `PendingConfirmation` of a subscription: `"true"` is pending, anything else
    /// confirmed. One SNS no longer has (an unconfirmed subscription is deleted after 48
    /// hours) delivers nothing: pending.
    async fn status_of(&self, arn: &str) -> PortResult<SubscriptionState> {
        let what = format!("SNS GetSubscriptionAttributes of {arn}");
        let out = self
            .client
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await;
        match out {
            Ok(out) => {
                let pending = out
                    .attributes()
                    .and_then(|a| a.get("PendingConfirmation"))
                    .is_none_or(|v| v.eq_ignore_ascii_case("true"));
                Ok(if pending {
                    SubscriptionState::Pending
                } else {
                    SubscriptionState::Confirmed
                })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_not_found_exception()) =>
            {
                Ok(SubscriptionState::Pending)
            }
            Err(e) => Err(classify(&what, e)),
        }
    }
}

/// The filter policy of `owner`'s subscription to `kinds`: on the attributes, and the
/// values, `SnsNotifier` publishes with.
pub fn filter_policy(owner: &str, kinds: &[NotificationKind]) -> String {
    let kinds: Vec<String> = kinds.iter().map(ToString::to_string).collect();
    serde_json::json!({ USER_ID: [owner], KIND: kinds }).to_string()
}

/// The subscription attributes SNS is given for `s`.
fn attributes(s: &SubscriptionRecord) -> HashMap<String, String> {
    let mut a = HashMap::from([
        (
            "FilterPolicy".to_string(),
            filter_policy(&s.owner, &s.kinds),
        ),
        (
            "FilterPolicyScope".to_string(),
            "MessageAttributes".to_string(),
        ),
    ]);
    // Only for queues: an https receiver verifies SNS's signature, which only the
    // envelope carries.
    if s.protocol == SubscriptionProtocol::Sqs {
        a.insert("RawMessageDelivery".into(), "true".into());
    }
    a
}

#[async_trait]
impl Subscriber for SnsSubscriber {
    fn protocols(&self) -> &'static [SubscriptionProtocol] {
        PROTOCOLS
    }

    fn signs(&self, _protocol: SubscriptionProtocol) -> bool {
        false
    }

    async fn subscribe(&self, s: &SubscriptionRecord) -> PortResult<Subscribed> {
        if !PROTOCOLS.contains(&s.protocol) {
            return Ok(Subscribed::Refused(format!(
                "SNS does not deliver to `{}` endpoints in this deployment",
                s.protocol
            )));
        }
        if s.kinds.is_empty() {
            return Err(PortError::permanent(format!(
                "subscription {} of {} names no kind",
                s.subscription_id, s.owner
            )));
        }
        let what = format!(
            "SNS Subscribe of subscription {} ({}) to {}",
            s.subscription_id, s.protocol, self.topic_arn
        );
        let out = self
            .client
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol(s.protocol.to_string())
            .endpoint(&s.endpoint)
            .set_attributes(Some(attributes(s)))
            .return_subscription_arn(true)
            .send()
            .await;
        let arn = match out {
            Ok(out) => out.subscription_arn.unwrap_or_default(),
            // A bad endpoint, or one subscribed already with other attributes (another
            // owner's filter policy): the caller's to change.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_invalid_parameter_exception()) =>
            {
                let reason = e
                    .as_service_error()
                    .and_then(|se| se.message())
                    .unwrap_or("invalid parameter")
                    .to_string();
                return Ok(Subscribed::Refused(format!("SNS refused it ({reason})")));
            }
            Err(e) => return Err(classify(&what, e)),
        };
        if !self.is_ours(&arn) {
            return Err(PortError::permanent(format!(
                "{what}: SNS answered {arn:?}, not a subscription ARN of the topic"
            )));
        }
        // The subscription exists now: a failed status read must not undo the record (the
        // subscription would go on without one). Pending is refreshed on the next read.
        let status = match self.status_of(&arn).await {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(subscription_id = %s.subscription_id, error = %e,
                    "status of a new SNS subscription unknown; pending until read again");
                SubscriptionState::Pending
            }
        };
        Ok(Subscribed::Accepted {
            delivery_ref: Some(arn),
            status,
        })
    }

    async fn status(&self, s: &SubscriptionRecord) -> PortResult<SubscriptionState> {
        match &s.delivery_ref {
            None => Ok(s.status),
            Some(arn) => self.status_of(arn).await,
        }
    }

    async fn unsubscribe(&self, s: &SubscriptionRecord) -> PortResult<()> {
        let Some(arn) = &s.delivery_ref else {
            return Ok(()); // never subscribed at SNS
        };
        if !self.is_ours(arn) {
            return Err(PortError::permanent(format!(
                "subscription {} of {} refers to {arn:?}, not a subscription of {}",
                s.subscription_id, s.owner, self.topic_arn
            )));
        }
        let out = self.client.unsubscribe().subscription_arn(arn).send().await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(&format!("SNS Unsubscribe of {arn}"), e)),
        }
    }

    async fn confirm(&self, _token: &str) -> PortResult<Option<(String, String)>> {
        Ok(None) // SNS confirms its own subscriptions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_policy_names_the_published_attributes() {
        let p: serde_json::Value = serde_json::from_str(&filter_policy(
            "alice",
            &[
                NotificationKind::ObjectQuarantined,
                NotificationKind::ExportFailed,
            ],
        ))
        .expect("JSON");
        assert_eq!(
            p,
            serde_json::json!({"userId": ["alice"], "kind": ["object_quarantined", "export_failed"]})
        );
    }

    #[test]
    fn only_the_topics_subscriptions_are_ours() {
        let conf = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .build();
        let s = SnsSubscriber::new(
            aws_sdk_sns::Client::from_conf(conf),
            "arn:aws:sns:us-east-1:123456789012:ep-notifications",
        );
        assert!(s.is_ours("arn:aws:sns:us-east-1:123456789012:ep-notifications:5f0c-1"));
        for other in [
            "arn:aws:sns:us-east-1:123456789012:ep-notifications",
            "arn:aws:sns:us-east-1:123456789012:ep-notifications:",
            "arn:aws:sns:us-east-1:123456789012:ep-notifications-2:5f0c",
            "arn:aws:sns:us-east-1:123456789012:ep-notifications:a:b",
            "pending confirmation",
        ] {
            assert!(!s.is_ours(other), "{other}");
        }
    }
}
