//! `provision` on moto: everything is created and configured, a second run changes nothing
//! (the cursor key included), and the rule delivers the process bucket's new uploads, and
//! only those, to its queue.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_ssm::types::ParameterType;
use common::{clients, unique};
use eventpulse_aws::Clients;
use eventpulse_aws::provision::{Provisioned, provision};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn cursor_key(clients: &Clients, p: &Provisioned) -> (String, Option<ParameterType>) {
    let name = p
        .settings
        .cursor_key_parameter
        .as_deref()
        .expect("parameter");
    let out = clients
        .ssm()
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("the cursor key exists");
    let p = out.parameter.expect("parameter");
    (p.value.unwrap_or_default(), p.r#type)
}

#[tokio::test]
async fn provisions_everything_once() {
    let clients = clients().await;
    let prefix = unique("prov");
    let first = provision(&clients, &prefix).await.expect("provision");
    let s = &first.settings;
    assert_eq!(s.buckets.process, format!("{prefix}-process"));
    assert_eq!(s.table, format!("{prefix}-events"));
    assert!(
        s.notify_topic_arn
            .ends_with(&format!(":{prefix}-notifications"))
    );
    assert!(
        s.exports_queue_url
            .as_deref()
            .unwrap()
            .ends_with(&format!("/{prefix}-exports"))
    );
    assert_eq!(
        s.cursor_key_parameter.as_deref(),
        Some(&*format!("/{prefix}/cursor-key"))
    );
    let (key, kind) = cursor_key(&clients, &first).await;
    assert_eq!(kind, Some(ParameterType::SecureString));
    assert_eq!(key.len(), 64);

    for bucket in [
        &s.buckets.process,
        &s.buckets.quarantine,
        &s.buckets.exports,
    ] {
        let block = clients
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .expect("public access block")
            .public_access_block_configuration
            .expect("configuration");
        assert_eq!(block.block_public_acls, Some(true), "{bucket}");
        assert_eq!(block.restrict_public_buckets, Some(true), "{bucket}");
    }
    // EventBridge notifications on the process bucket: moto never reports them in
    // GetBucketNotificationConfiguration, so `the_rule_delivers_new_uploads_only` shows them
    // working instead.
    clients
        .dynamodb()
        .describe_table()
        .table_name(&s.table)
        .send()
        .await
        .expect("the table exists");
    let policy = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(&first.events_queue_url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::Policy))
        .expect("a queue policy");
    let policy: Value = serde_json::from_str(&policy).expect("policy JSON");
    assert_eq!(
        policy["Statement"][0]["Principal"]["Service"],
        "events.amazonaws.com"
    );

    let again = provision(&clients, &prefix).await.expect("provision again");
    assert_eq!(again, first);
    assert_eq!(cursor_key(&clients, &again).await.0, key, "the key is kept");
    let targets = clients
        .eventbridge()
        .list_targets_by_rule()
        .rule(format!("{prefix}-object-created"))
        .send()
        .await
        .expect("targets");
    assert_eq!(targets.targets().len(), 1);
}

#[tokio::test]
async fn the_rule_delivers_new_uploads_only() {
    let clients = clients().await;
    let p = provision(&clients, &unique("rule"))
        .await
        .expect("provision");
    // Outside `incoming/` first: had the rule let it through, it would arrive before the
    // upload, so stopping at the upload's event is enough to see it.
    for key in ["other/a.json", "incoming/alice/u-1.json"] {
        clients
            .s3
            .put_object()
            .bucket(&p.settings.buckets.process)
            .key(key)
            .body(ByteStream::from_static(b"[]"))
            .send()
            .await
            .expect("put");
    }
    let sqs = clients.sqs();
    let mut events: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events
        .iter()
        .any(|e| e["detail"]["object"]["key"] == "incoming/alice/u-1.json")
    {
        assert!(Instant::now() < deadline, "no event for the upload");
        let out = sqs
            .receive_message()
            .queue_url(&p.events_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            events.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON"));
        }
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["source"], "aws.s3");
    assert_eq!(e["detail-type"], "Object Created");
    assert_eq!(e["detail"]["bucket"]["name"], *p.settings.buckets.process);
}

#[tokio::test]
async fn an_invalid_prefix_is_refused_before_any_call() {
    let clients = clients().await;
    let e = provision(&clients, "Not_Valid").await.expect_err("refused");
    assert!(!e.retryable);
    assert!(
        e.message.contains("invalid prefix \"Not_Valid\""),
        "{}",
        e.message
    );
}
