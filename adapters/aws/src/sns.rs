//! [`SnsNotifier`]: notifications published to one SNS topic.
//!
//! The message is the notification's JSON (the generated `Notification` type, the same body
//! the local webhook receives). Subscribers filter on message attributes rather than on the
//! body, so each notification carries, as `String` attributes:
//!
//! - `userId`: the owner, so that a user's subscription (`{"userId": ["…"]}`) sees only
//!   their own notifications;
//! - `kind`: `object_quarantined`, `export_done`, …;
//! - `reasonCode`: why an object was quarantined, when there is a reason.
//!
//! [`crate::subscribe::SnsSubscriber`] writes its filter policies on the same names
//! ([`USER_ID`], [`KIND`]) and values.

use crate::error::classify;
use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::{Notifier, PortError, PortResult};
use std::collections::HashMap;

/// The message attribute naming the notification's owner.
pub const USER_ID: &str = "userId";
/// The message attribute naming the notification's kind (`NotificationKind`'s spelling).
pub const KIND: &str = "kind";
/// The message attribute naming why an object was quarantined.
pub const REASON_CODE: &str = "reasonCode";

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attributes(owner: &str, n: &Notification) -> PortResult<HashMap<String, MessageAttributeValue>> {
    let mut pairs = vec![(USER_ID, owner.to_string()), (KIND, n.kind.to_string())];
    if let Some(reason) = &n.reason_code {
        pairs.push((REASON_CODE, reason.to_string()));
    }
    pairs
        .into_iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::permanent(format!("SNS message attribute {name}: {e}")))?;
            Ok((name.to_string(), value))
        })
        .collect()
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn deliver(&self, owner: &str, n: &Notification) -> PortResult<()> {
        let what = format!(
            "SNS Publish of notification {} to {}",
            n.notification_id, self.topic_arn
        );
        let message = serde_json::to_string(n)
            .map_err(|e| PortError::permanent(format!("{what}: serialising: {e}")))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .set_message_attributes(Some(attributes(owner, n)?))
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        Ok(())
    }
}
