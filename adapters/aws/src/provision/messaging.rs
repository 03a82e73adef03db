//! The SNS topic, the SQS queues, and the EventBridge rule that turns the process bucket's
//! "Object Created" events into messages on a queue.

use crate::error::classify;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use eventpulse_handlers::ports::{PortError, PortResult};
use serde_json::{Value, json};

/// The rule's one target.
const TARGET_ID: &str = "events-queue";

/// CreateTopic is idempotent: it answers an existing topic of that name with its ARN.
pub(super) async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> PortResult<String> {
    let what = format!("SNS CreateTopic {name}");
    sns.create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| classify(&what, e))?
        .topic_arn
        .ok_or_else(|| PortError::permanent(format!("{what}: the answer has no ARN")))
}

pub(super) struct Queue {
    pub url: String,
    pub arn: String,
}

/// CreateQueue without attributes is idempotent too (attributes are set apart, so that a
/// queue whose attributes differ is not refused as `QueueAlreadyExists`).
pub(super) async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> PortResult<Queue> {
    let what = format!("SQS CreateQueue {name}");
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| classify(&what, e))?
        .queue_url
        .ok_or_else(|| PortError::permanent(format!("{what}: the answer has no URL")))?;
    let arn = attribute(sqs, &url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| PortError::permanent(format!("SQS queue {url} has no QueueArn")))?;
    Ok(Queue { url, arn })
}

async fn attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> PortResult<Option<String>> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(|e| classify(&format!("SQS GetQueueAttributes {url}"), e))?;
    Ok(out.attributes.and_then(|mut a| a.remove(&name)))
}

/// What the rule matches: S3's events for new objects under the upload prefix of the
/// process bucket (S3 also sends "Object Tags Added" and the like for the same object,
/// which the processor would only have to ignore).
fn pattern(process_bucket: &str) -> Value {
    json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [process_bucket]},
            "object": {"key": [{"prefix": "incoming/"}]}
        }
    })
}

/// The queue's policy: only EventBridge, and only for this rule, may send to it.
fn policy(queue_arn: &str, rule_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EventBridgeObjectCreated",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
        }]
    })
}

fn same_json(current: Option<&str>, want: &Value) -> bool {
    current
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .is_some_and(|c| &c == want)
}

/// The rule (on the default bus), its queue, the queue's policy and the target, each
/// written only when it is missing or differs.
pub(super) async fn object_created_rule(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    queue_name: &str,
    process_bucket: &str,
) -> PortResult<Queue> {
    let queue = queue(sqs, queue_name).await?;
    let rule_arn = ensure_rule(events, rule, &pattern(process_bucket)).await?;
    let want = policy(&queue.arn, &rule_arn);
    if !same_json(
        attribute(sqs, &queue.url, QueueAttributeName::Policy)
            .await?
            .as_deref(),
        &want,
    ) {
        sqs.set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(QueueAttributeName::Policy, want.to_string())
            .send()
            .await
            .map_err(|e| classify(&format!("SQS SetQueueAttributes {}", queue.url), e))?;
    }
    ensure_target(events, rule, &queue.arn).await?;
    Ok(queue)
}

async fn ensure_rule(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    pattern: &Value,
) -> PortResult<String> {
    match events.describe_rule().name(rule).send().await {
        Ok(d) if d.state == Some(RuleState::Enabled) && same_json(d.event_pattern(), pattern) => {
            if let Some(arn) = d.arn {
                return Ok(arn);
            }
        }
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => return Err(classify(&format!("EventBridge DescribeRule {rule}"), e)),
    }
    let what = format!("EventBridge PutRule {rule}");
    events
        .put_rule()
        .name(rule)
        .event_pattern(pattern.to_string())
        .state(RuleState::Enabled)
        .description("S3 Object Created under incoming/ of the process bucket → the processor")
        .send()
        .await
        .map_err(|e| classify(&what, e))?
        .rule_arn
        .ok_or_else(|| PortError::permanent(format!("{what}: the answer has no ARN")))
}

async fn ensure_target(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    queue_arn: &str,
) -> PortResult<()> {
    let current = events
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
        .map_err(|e| classify(&format!("EventBridge ListTargetsByRule {rule}"), e))?;
    if current
        .targets()
        .iter()
        .any(|t| t.id() == TARGET_ID && t.arn() == queue_arn)
    {
        return Ok(());
    }
    let what = format!("EventBridge PutTargets {rule}");
    let target = Target::builder()
        .id(TARGET_ID)
        .arn(queue_arn)
        .build()
        .map_err(|e| PortError::permanent(format!("{what}: {e}")))?;
    let out = events
        .put_targets()
        .rule(rule)
        .targets(target)
        .send()
        .await
        .map_err(|e| classify(&what, e))?;
    if out.failed_entry_count > 0 {
        return Err(PortError::permanent(format!(
            "{what}: refused: {:?}",
            out.failed_entries()
        )));
    }
    Ok(())
}
