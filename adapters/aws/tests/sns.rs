//! `SnsNotifier` on moto: a user's SQS subscription, filtered on `userId`, receives that
//! user's notifications with their attributes, and no one else's.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{clients, unique};
use eventpulse_aws::SnsNotifier;
use eventpulse_generated::types::Notification;
use eventpulse_handlers::ports::Notifier;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn notification(id: &str, kind: &str, reason: Option<&str>) -> Notification {
    let mut n = json!({
        "notificationVersion": 1,
        "notificationId": id,
        "kind": kind,
        "createdAt": "2026-11-27T10:00:00.5Z",
        "message": format!("notification {id} ✓"),
    });
    if let Some(reason) = reason {
        n["reasonCode"] = json!(reason);
        n["uploadId"] = json!("u-1");
        n["key"] = json!("incoming/x/u-1.json");
        n["errorCount"] = json!(2);
    }
    serde_json::from_value(n).expect("a valid notification")
}

#[tokio::test]
async fn subscribers_filter_on_the_owner() {
    let clients = clients().await;
    let endpoint = clients.endpoint.clone().expect("moto endpoint");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&clients.sdk)
            .endpoint_url(endpoint)
            .build(),
    );
    let topic_arn = clients
        .sns
        .create_topic()
        .name(unique("notifications"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("alice"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue ARN");
    clients
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("FilterPolicy", r#"{"userId": ["alice"]}"#)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");

    let notifier = SnsNotifier::new(clients.sns.clone(), &topic_arn);
    let bobs = notification("n-bob", "export_done", None);
    let alices = notification("n-alice", "object_quarantined", Some("schema_violation"));
    notifier.deliver("bob", &bobs).await.expect("publish bob's");
    notifier
        .deliver("alice", &alices)
        .await
        .expect("publish alice's");

    // Bob's was published first: if the filter let it through, it arrives no later than
    // alice's, so draining until alice's arrives is enough to see it.
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !received
        .iter()
        .any(|(body, _): &(Notification, _)| body.notification_id == "n-alice")
    {
        assert!(
            Instant::now() < deadline,
            "alice's notification never arrived"
        );
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body: Notification =
                serde_json::from_str(m.body().unwrap_or_default()).expect("raw notification JSON");
            let attributes: HashMap<String, (String, String)> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        (
                            v.data_type().to_string(),
                            v.string_value().unwrap_or_default().to_string(),
                        ),
                    )
                })
                .collect();
            received.push((body, attributes));
        }
    }
    assert_eq!(received.len(), 1, "only alice's notification: {received:?}");
    let (body, attributes) = &received[0];
    assert_eq!(body, &alices, "the message is the notification's JSON");
    let string = |v: &str| ("String".to_string(), v.to_string());
    assert_eq!(
        attributes,
        &HashMap::from([
            ("userId".to_string(), string("alice")),
            ("kind".to_string(), string("object_quarantined")),
            ("reasonCode".to_string(), string("schema_violation")),
        ])
    );
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_a_permanent_error() {
    let clients = clients().await;
    let arn = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("missing"));
    let e = SnsNotifier::new(clients.sns, arn)
        .deliver("alice", &notification("n-1", "export_done", None))
        .await
        .expect_err("no such topic");
    assert!(!e.retryable, "{e:?}");
}
