//! [`provision`]: one deployment's resources, created where they are missing.
//!
//! For a first deployment, a developer's account, LocalStack or moto: everything the two
//! functions need, named after one prefix, and the configuration they read
//! ([`Settings`], printed by `eventpulse provision`). Idempotent: each resource is looked
//! up first and only what is missing (or configured otherwise) is written, so a second run
//! changes nothing and returns the same [`Provisioned`]. Nothing is ever deleted, and the
//! cursor-signing key is never overwritten (that would invalidate every cursor in use).
//!
//! | resource | name |
//! |---|---|
//! | process bucket (EventBridge notifications on) | `{prefix}-process` |
//! | quarantine bucket | `{prefix}-quarantine` |
//! | exports bucket | `{prefix}-exports` |
//! | DynamoDB table | `{prefix}-events` |
//! | SNS topic of user notifications | `{prefix}-notifications` |
//! | SQS queue of export requests | `{prefix}-exports` |
//! | EventBridge rule on the process bucket's `incoming/` | `{prefix}-object-created` |
//! | SQS queue, the rule's target | `{prefix}-object-created` |
//! | SSM SecureString, the cursor-signing key | `/{prefix}/cursor-key` |
//!
//! The rule's target is a queue, not the processor function: moto cannot invoke a Lambda
//! target (and one such target silently stops its delivery to every later rule), and a
//! queue is what `eventpulse local --backend aws` and the tests poll. The SAM template
//! points the same rule at the function.

mod buckets;
mod messaging;
mod secret;

use crate::compose::shell_quote;
use crate::{Clients, S3Buckets, Settings};
use eventpulse_handlers::ports::{PortError, PortResult};

/// The variable `eventpulse provision` prints the rule's queue under.
pub const EVENTS_QUEUE_URL: &str = "EVENTPULSE_EVENTS_QUEUE_URL";

/// What [`provision`] set up: the functions' configuration, and the queue the rule
/// delivers "Object Created" events to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub settings: Settings,
    pub events_queue_url: String,
}

impl Provisioned {
    /// [`Settings::to_exports`] and the events queue, as `export NAME=value` lines.
    pub fn to_exports(&self) -> String {
        format!(
            "{}export {EVENTS_QUEUE_URL}={}\n",
            self.settings.to_exports(),
            shell_quote(&self.events_queue_url)
        )
    }
}

/// The longest suffix a name gets is `-object-created` (15 characters), on the rule, whose
/// names stop at 64 characters; the buckets' limit (63, `-quarantine`) is looser.
const MAX_PREFIX: usize = 64 - "-object-created".len();

/// Bucket names may not start with these (S3's reserved prefixes).
const RESERVED_STARTS: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];

/// Refuses a prefix that would give an invalid name anywhere: the strictest rules are S3's
/// (lowercase letters, digits and hyphens, starting and ending with a letter or digit; no
/// dots, which SQS names and virtual-hosted HTTPS refuse) and the rule name's length.
pub fn validate_prefix(prefix: &str) -> PortResult<()> {
    let refuse = |why: &str| {
        Err(PortError::permanent(format!(
            "invalid prefix {prefix:?}: {why} (the prefix names S3 buckets, a DynamoDB table, \
             an SNS topic, SQS queues, an EventBridge rule and an SSM parameter)"
        )))
    };
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if prefix.is_empty() || prefix.len() > MAX_PREFIX {
        return refuse(&format!("it must be 1 to {MAX_PREFIX} characters long"));
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return refuse("only lowercase letters, digits and hyphens are allowed");
    }
    if !edge_ok(prefix.chars().next()) || !edge_ok(prefix.chars().last()) {
        return refuse("it must start and end with a lowercase letter or a digit");
    }
    if let Some(r) = RESERVED_STARTS.iter().find(|r| prefix.starts_with(**r)) {
        return refuse(&format!("S3 reserves bucket names starting with {r:?}"));
    }
    Ok(())
}

/// The names of one deployment's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Names {
    buckets: S3Buckets,
    table: String,
    topic: String,
    exports_queue: String,
    events_rule: String,
    events_queue: String,
    cursor_key: String,
}

impl Names {
    fn new(prefix: &str) -> PortResult<Self> {
        validate_prefix(prefix)?;
        let name = |suffix: &str| format!("{prefix}-{suffix}");
        Ok(Self {
            buckets: S3Buckets {
                process: name("process"),
                quarantine: name("quarantine"),
                exports: name("exports"),
            },
            table: name("events"),
            topic: name("notifications"),
            exports_queue: name("exports"),
            events_rule: name("object-created"),
            events_queue: name("object-created"),
            cursor_key: format!("/{prefix}/cursor-key"),
        })
    }
}

/// Creates whatever of the deployment `prefix` names is missing; see the module docs.
/// Independent resources are provisioned concurrently (the table's wait for ACTIVE
/// dominates on AWS).
pub async fn provision(clients: &Clients, prefix: &str) -> PortResult<Provisioned> {
    let names = Names::new(prefix)?;
    let (sqs, events, ssm) = (clients.sqs(), clients.eventbridge(), clients.ssm());
    let dynamodb = clients.dynamodb();
    let (_, _, topic_arn, exports_queue, events_queue, ()) = tokio::try_join!(
        buckets::provision(clients, &names.buckets),
        crate::dynamo::provision(&dynamodb, &names.table),
        messaging::topic(&clients.sns, &names.topic),
        messaging::queue(&sqs, &names.exports_queue),
        messaging::object_created_rule(
            &sqs,
            &events,
            &names.events_rule,
            &names.events_queue,
            &names.buckets.process
        ),
        secret::cursor_key(&ssm, &names.cursor_key),
    )?;
    Ok(Provisioned {
        settings: Settings {
            buckets: names.buckets,
            table: names.table,
            notify_topic_arn: topic_arn,
            exports_queue_url: Some(exports_queue.url),
            cursor_key_parameter: Some(names.cursor_key),
        },
        events_queue_url: events_queue.url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let n = Names::new("ep-dev").expect("valid");
        assert_eq!(n.buckets.quarantine, "ep-dev-quarantine");
        assert_eq!(n.events_rule, "ep-dev-object-created");
        assert_eq!(n.cursor_key, "/ep-dev/cursor-key");
        let longest = "a".repeat(MAX_PREFIX);
        let n = Names::new(&longest).expect("longest");
        assert_eq!(n.events_rule.len(), 64);
        assert!(n.buckets.quarantine.len() <= 63);
    }

    #[test]
    fn bad_prefixes_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "1 to"),
            (&"a".repeat(MAX_PREFIX + 1)[..], "1 to"),
            ("Dev", "lowercase"),
            ("ep.dev", "lowercase"),
            ("ep_dev", "lowercase"),
            ("-ep", "start and end"),
            ("ep-", "start and end"),
            ("xn--ep", "reserves"),
        ] {
            let e = validate_prefix(bad).expect_err(bad);
            assert!(!e.retryable);
            assert!(e.message.contains(why), "{bad:?}: {}", e.message);
        }
        assert!(validate_prefix("0ep-1").is_ok());
    }

    #[test]
    fn exports_name_the_events_queue_too() {
        let p = Provisioned {
            settings: Settings {
                buckets: S3Buckets {
                    process: "p".into(),
                    quarantine: "q".into(),
                    exports: "x".into(),
                },
                table: "t".into(),
                notify_topic_arn: "arn:aws:sns:us-east-1:1:n".into(),
                exports_queue_url: Some("https://sqs/1/x".into()),
                cursor_key_parameter: Some("/p/cursor-key".into()),
            },
            events_queue_url: "https://sqs/1/e".into(),
        };
        let out = p.to_exports();
        assert!(out.starts_with(&p.settings.to_exports()));
        assert!(out.ends_with("export EVENTPULSE_EVENTS_QUEUE_URL=https://sqs/1/e\n"));
    }
}
