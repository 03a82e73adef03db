//! Subscriptions on the AWS backend, end to end on moto: the domain's `Api` built on
//! `Aws::ports()` as the API function builds it, called through `EventPulseApi` as a
//! caller, with the records in DynamoDB (`DynamoTable`) and the deliveries by SNS
//! (`SnsSubscriber`): real SQS queues receive what the real `SnsNotifier` publishes, as
//! each subscription's filter policy lets through.
//!
//! moto differs from SNS in ways these tests work around (each named where it matters):
//! it confirms every subscription at once (`PendingConfirmation` is always `false`, where
//! SNS keeps `https` and `email` pending until the endpoint confirms), it never sends a
//! confirmation request or mail, and a Subscribe of an endpoint the topic already has
//! returns that subscription and overwrites its attributes (SNS refuses different
//! attributes with `InvalidParameter`), so no test subscribes one endpoint for two owners.
//!
//! Needs moto server (`eval "$(bash scripts/moto.sh start)"`); every test provisions its
//! own deployment (a fresh prefix) and never resets moto.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use eventpulse_aws::Aws;
use eventpulse_aws::provision::provision;
use eventpulse_contract_rt::{ApiError, Principal, RequestContext};
use eventpulse_generated::api::{
    CreateSubscriptionRequest, CreateSubscriptionResponse, DeleteSubscriptionRequest,
    DeleteSubscriptionResponse, EventPulseApi, GetSubscriptionRequest, GetSubscriptionResponse,
    ListSubscriptionsRequest, ListSubscriptionsResponse,
};
use eventpulse_generated::types::{
    Notification, NotificationKind, Subscription, SubscriptionId, SubscriptionProtocol,
    SubscriptionState,
};
use eventpulse_handlers::api::{Api, ApiConfig};
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::ports::{
    Notifier, StoreNotifies, Subscribed, Subscriber, SubscriptionRecord, SubscriptionTable,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One deployment on moto and the API on it.
struct Deployment {
    aws: Aws,
    api: Api,
    sqs: aws_sdk_sqs::Client,
    prefix: String,
}

async fn deployment() -> Deployment {
    let clients = common::clients().await;
    let prefix = common::unique("subs");
    let provisioned = provision(&clients, &prefix).await.expect("provision");
    // As the API function's main does.
    let aws = Aws::connect(clients, provisioned.settings.clone());
    let api = aws.ports().api(
        aws.presigner.clone(),
        Arc::new(StoreNotifies),
        aws.export_runner().expect("export runner"),
        CursorSigner::new(&aws.cursor_key().await.expect("cursor key")),
        ApiConfig::default(),
    );
    let sqs = aws.sqs.clone();
    Deployment {
        aws,
        api,
        sqs,
        prefix,
    }
}

fn ctx(operation_id: &'static str, user: &str) -> RequestContext {
    RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        operation_id,
        path: "/v1/subscriptions".into(),
        user: Some(user.into()),
        resources: vec![],
    }
}

fn principal(user: &str) -> Principal {
    Principal {
        user_id: user.into(),
    }
}

fn id(s: &str) -> SubscriptionId {
    SubscriptionId::try_from(s.to_string()).expect("a subscription id")
}

impl Deployment {
    async fn create(&self, user: &str, body: Value) -> Result<Subscription, ApiError> {
        let req = CreateSubscriptionRequest {
            body: serde_json::from_value(body).expect("a valid SubscriptionRequest"),
        };
        let CreateSubscriptionResponse::Created(s) = self
            .api
            .create_subscription(&ctx("create_subscription", user), &principal(user), req)
            .await?;
        Ok(s)
    }

    async fn get(&self, user: &str, subscription_id: &str) -> Result<Subscription, ApiError> {
        let req = GetSubscriptionRequest {
            subscription_id: id(subscription_id),
        };
        let GetSubscriptionResponse::Ok(s) = self
            .api
            .get_subscription(&ctx("get_subscription", user), &principal(user), req)
            .await?;
        Ok(s)
    }

    async fn delete(&self, user: &str, subscription_id: &str) -> Result<(), ApiError> {
        let req = DeleteSubscriptionRequest {
            subscription_id: id(subscription_id),
        };
        let DeleteSubscriptionResponse::NoContent = self
            .api
            .delete_subscription(&ctx("delete_subscription", user), &principal(user), req)
            .await?;
        Ok(())
    }

    /// Every subscription of `user`, page by page (`limit` each), following the cursors.
    async fn list(&self, user: &str, limit: u64) -> Vec<Subscription> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let req = ListSubscriptionsRequest {
                limit: NonZeroU64::new(limit).expect("limit"),
                cursor: cursor.take(),
            };
            let ListSubscriptionsResponse::Ok(page) = self
                .api
                .list_subscriptions(&ctx("list_subscriptions", user), &principal(user), req)
                .await
                .expect("list_subscriptions");
            assert!(page.items.len() as u64 <= limit);
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    /// A new queue: its URL and ARN.
    async fn queue(&self, tag: &str, fifo: bool) -> (String, String) {
        let name = if fifo {
            format!("{}-{tag}.fifo", self.prefix)
        } else {
            format!("{}-{tag}", self.prefix)
        };
        let mut create = self.sqs.create_queue().queue_name(name);
        if fifo {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let url = create
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue URL");
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue ARN");
        (url, arn)
    }

    /// The message bodies `queue` receives until `done` holds of them (or, with `done`
    /// never holding, for `patience`).
    async fn receive(
        &self,
        queue: &str,
        patience: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let mut bodies = Vec::new();
        let deadline = Instant::now() + patience;
        while !done(&bodies) && Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            bodies.extend(
                out.messages()
                    .iter()
                    .map(|m| m.body().unwrap_or_default().to_string()),
            );
        }
        bodies
    }

    /// SNS's attributes of a subscription.
    async fn sns_attributes(&self, arn: &str) -> HashMap<String, String> {
        self.aws
            .clients
            .sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetSubscriptionAttributes {arn}: {e:?}"))
            .attributes
            .unwrap_or_default()
    }

    /// The ARNs of the notification topic's subscriptions at SNS.
    async fn sns_subscriptions(&self) -> Vec<String> {
        self.aws
            .clients
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&self.aws.settings.notify_topic_arn)
            .send()
            .await
            .expect("ListSubscriptionsByTopic")
            .subscriptions()
            .iter()
            .filter_map(|s| s.subscription_arn().map(String::from))
            .collect()
    }

    /// The SNS subscription ARN the table recorded for a subscription.
    async fn delivery_ref(&self, user: &str, subscription_id: &str) -> String {
        self.aws
            .table
            .get_subscription(user, subscription_id)
            .await
            .expect("get_subscription")
            .expect("recorded")
            .delivery_ref
            .expect("an SNS subscription ARN")
    }
}

fn notification(id: &str, kind: &str) -> Notification {
    let mut n = json!({
        "notificationVersion": 1,
        "notificationId": id,
        "kind": kind,
        "createdAt": "2026-12-02T10:00:00.5Z",
        "message": format!("notification {id} ✓"),
    });
    if kind == "object_quarantined" {
        n["reasonCode"] = json!("schema_violation");
        n["uploadId"] = json!("u-1");
        n["key"] = json!("incoming/alice/u-1.json");
        n["errorCount"] = json!(2);
    } else {
        n["exportId"] = json!("x-1");
        n["eventCount"] = json!(7);
    }
    serde_json::from_value(n).expect("a valid notification")
}

fn ids(bodies: &[String]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Notification>(b)
                .unwrap_or_else(|e| panic!("not a raw Notification ({e}): {b}"))
                .notification_id
        })
        .collect()
}

fn has(id: &'static str) -> impl Fn(&[String]) -> bool {
    move |bodies| ids(bodies).iter().any(|i| i == id)
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[tokio::test]
async fn sqs_subscriptions_get_their_owners_kinds_raw_until_deleted() {
    let d = deployment().await;
    let (alices_queue, alices_arn) = d.queue("alice", false).await;
    let (bobs_queue, bobs_arn) = d.queue("bob", false).await;

    let alices = d
        .create(
            "alice",
            json!({"protocol": "sqs", "endpoint": alices_arn, "kinds": ["object_quarantined"]}),
        )
        .await
        .expect("alice subscribes her queue");
    // A queue of the same account needs no confirmation (on SNS as on moto).
    assert_eq!(alices.status, SubscriptionState::Confirmed);
    assert_eq!(alices.protocol, SubscriptionProtocol::Sqs);
    assert_eq!(alices.endpoint, alices_arn);
    assert_eq!(alices.kinds, [NotificationKind::ObjectQuarantined]);
    assert_eq!(alices.secret, None, "SNS signs its own messages: no secret");
    let bobs = d
        .create("bob", json!({"protocol": "sqs", "endpoint": bobs_arn}))
        .await
        .expect("bob subscribes his queue, every kind");
    assert_eq!(bobs.status, SubscriptionState::Confirmed);
    assert_eq!(bobs.kinds.len(), 3);

    // What SNS holds: the subscription the table refers to, filtered on alice and her
    // kinds, with raw delivery.
    let arn = d.delivery_ref("alice", &alices.subscription_id).await;
    let a = d.sns_attributes(&arn).await;
    assert_eq!(a["TopicArn"], d.aws.settings.notify_topic_arn);
    assert_eq!(a["Protocol"], "sqs");
    assert_eq!(a["Endpoint"], alices_arn);
    assert_eq!(
        parse(&a["FilterPolicy"]),
        json!({"userId": ["alice"], "kind": ["object_quarantined"]})
    );
    assert_eq!(a["FilterPolicyScope"], "MessageAttributes");
    assert_eq!(a["RawMessageDelivery"], "true");
    assert_eq!(
        d.get("alice", &alices.subscription_id)
            .await
            .expect("alice reads hers"),
        Subscription {
            secret: None,
            ..alices.clone()
        }
    );

    // Published as the processor and the exporter publish: alice's export notification
    // first (not a kind she asked for), then her quarantine notification, then bob's.
    let export = notification("n-alice-export", "export_done");
    let quarantined = notification("n-alice-quarantined", "object_quarantined");
    let bobs_export = notification("n-bob-export", "export_done");
    let notifier = &d.aws.notifier;
    notifier.deliver("alice", &export).await.expect("publish");
    notifier
        .deliver("alice", &quarantined)
        .await
        .expect("publish");
    notifier
        .deliver("bob", &bobs_export)
        .await
        .expect("publish");

    // The export one was published first: had the kind filter let it through, it would be
    // there by the time the quarantine one is.
    let got = d
        .receive(
            &alices_queue,
            Duration::from_secs(20),
            has("n-alice-quarantined"),
        )
        .await;
    assert_eq!(
        ids(&got),
        ["n-alice-quarantined"],
        "only her quarantine notification"
    );
    assert_eq!(
        got[0],
        serde_json::to_string(&quarantined).expect("JSON"),
        "the raw notification JSON, as published"
    );
    let got = d
        .receive(&bobs_queue, Duration::from_secs(20), has("n-bob-export"))
        .await;
    assert_eq!(
        ids(&got),
        ["n-bob-export"],
        "bob gets his own, none of alice's"
    );

    // Deleted: unsubscribed at SNS, gone from the table.
    d.delete("alice", &alices.subscription_id)
        .await
        .expect("alice deletes hers");
    let e = d
        .get("alice", &alices.subscription_id)
        .await
        .expect_err("deleted");
    assert_eq!(e.status.as_u16(), 404, "{e:?}");
    assert!(
        !d.sns_subscriptions().await.contains(&arn),
        "Unsubscribe must have removed {arn}"
    );

    // A further notification does not reach the deleted subscription's queue. A second
    // subscription of hers is the control: once it has the notification, SNS has done
    // all the fan-out it will do for that publish.
    let (control_queue, control_arn) = d.queue("alice-control", false).await;
    d.create(
        "alice",
        json!({"protocol": "sqs", "endpoint": control_arn, "kinds": ["object_quarantined"]}),
    )
    .await
    .expect("alice subscribes another queue");
    let after = notification("n-alice-after", "object_quarantined");
    notifier.deliver("alice", &after).await.expect("publish");
    let got = d
        .receive(
            &control_queue,
            Duration::from_secs(20),
            has("n-alice-after"),
        )
        .await;
    assert_eq!(ids(&got), ["n-alice-after"]);
    let got = d
        .receive(&alices_queue, Duration::from_secs(2), |_| false)
        .await;
    assert!(
        got.is_empty(),
        "the deleted subscription still delivered: {got:?}"
    );
}

#[tokio::test]
async fn the_cap_the_endpoint_rule_and_the_protocols_hold() {
    let d = deployment().await;
    // Queue ARNs of queues that need not exist: nothing is published here.
    let queue = |i: usize| format!("arn:aws:sqs:us-east-1:123456789012:{}-q{i}", d.prefix);
    let mut created = Vec::new();
    for i in 0..10 {
        let s = d
            .create(
                "alice",
                json!({"protocol": "sqs", "endpoint": queue(i), "kinds": ["export_done"]}),
            )
            .await
            .unwrap_or_else(|e| panic!("subscription {i}: {e:?}"));
        created.push(s.subscription_id.to_string());
    }
    let e = d
        .create("alice", json!({"protocol": "sqs", "endpoint": queue(10)}))
        .await
        .expect_err("an 11th");
    assert_eq!(e.status.as_u16(), 409, "{e:?}");
    assert!(e.detail.contains("10 subscriptions"), "{}", e.detail);

    // The list, page by page over the table, in id (creation) order.
    for limit in [3, 10, 50] {
        let listed: Vec<String> = d
            .list("alice", limit)
            .await
            .into_iter()
            .map(|s| s.subscription_id.to_string())
            .collect();
        assert_eq!(listed, created, "limit {limit}");
    }

    // A place freed; the same endpoint again is still a conflict, another one is not.
    d.delete("alice", &created[3]).await.expect("delete");
    let e = d
        .create("alice", json!({"protocol": "sqs", "endpoint": queue(1)}))
        .await
        .expect_err("an endpoint she has");
    assert_eq!(e.status.as_u16(), 409, "{e:?}");
    assert!(e.detail.contains("already"), "{}", e.detail);
    d.create("alice", json!({"protocol": "sqs", "endpoint": queue(3)}))
        .await
        .expect("the freed place, and the freed endpoint");

    // `http` is not delivered on AWS.
    let e = d
        .create(
            "alice",
            json!({"protocol": "http", "endpoint": "http://hooks.example.com/x"}),
        )
        .await
        .expect_err("http");
    assert_eq!(e.status.as_u16(), 400, "{e:?}");
    assert_eq!(e.errors.len(), 1, "{e:?}");
    assert_eq!(e.errors[0].pointer, "/body/protocol", "{e:?}");
    assert!(e.detail.contains("https, email, sqs"), "{}", e.detail);

    // SNS has exactly the 10 subscriptions the table has: nothing refused reached it.
    assert_eq!(d.sns_subscriptions().await.len(), 10);
}

#[tokio::test]
async fn another_owners_subscription_is_not_found() {
    let d = deployment().await;
    let alices = d
        .create(
            "alice",
            json!({"protocol": "sqs", "endpoint": format!("arn:aws:sqs:us-east-1:123456789012:{}-a", d.prefix)}),
        )
        .await
        .expect("alice subscribes");
    let id = alices.subscription_id.to_string();
    let e = d.get("bob", &id).await.expect_err("bob reads alice's");
    assert_eq!(e.status.as_u16(), 404, "{e:?}");
    let e = d.delete("bob", &id).await.expect_err("bob deletes alice's");
    assert_eq!(e.status.as_u16(), 404, "{e:?}");
    assert!(d.list("bob", 10).await.is_empty());
    // Alice's is untouched, here and at SNS.
    assert_eq!(
        d.get("alice", &id).await.expect("hers").endpoint,
        alices.endpoint
    );
    let arn = d.delivery_ref("alice", &id).await;
    assert_eq!(d.sns_subscriptions().await, [arn]);
}

#[tokio::test]
async fn an_endpoint_sns_refuses_is_a_400_and_leaves_nothing_behind() {
    let d = deployment().await;
    // SNS (and moto) refuse FIFO queues on a standard topic with InvalidParameter.
    let (_, fifo_arn) = d.queue("alice", true).await;
    let e = d
        .create("alice", json!({"protocol": "sqs", "endpoint": fifo_arn}))
        .await
        .expect_err("a FIFO queue");
    assert_eq!(e.status.as_u16(), 400, "{e:?}");
    assert_eq!(e.errors.len(), 1, "{e:?}");
    assert_eq!(e.errors[0].pointer, "/body/endpoint", "{e:?}");
    assert!(e.errors[0].message.contains("FIFO"), "{e:?}");
    // The record went again, and with it its place under the cap (the counter item).
    assert!(d.list("alice", 10).await.is_empty());
    assert!(d.sns_subscriptions().await.is_empty());
    let counter = d
        .aws
        .dynamodb
        .get_item()
        .table_name(&d.aws.settings.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("O#alice".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("SUBS".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the counter item");
    assert_eq!(
        counter.get("n"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::N("0".into()))
    );
}

#[tokio::test]
async fn email_and_https_get_the_filter_and_sns_signed_envelopes() {
    let d = deployment().await;
    let email = d
        .create(
            "carol",
            json!({"protocol": "email", "endpoint": "carol@example.com", "kinds": ["export_failed", "export_done"]}),
        )
        .await
        .expect("email");
    let https = d
        .create(
            "carol",
            json!({"protocol": "https", "endpoint": "https://hooks.example.com/carol?x=1"}),
        )
        .await
        .expect("https");
    for s in [&email, &https] {
        assert_eq!(s.secret, None, "SNS signs its own messages");
        // On SNS both stay pending until confirmed; moto confirms at once.
        assert_eq!(
            s.status,
            SubscriptionState::Confirmed,
            "moto confirms every subscription"
        );
    }
    let a = d
        .sns_attributes(&d.delivery_ref("carol", &email.subscription_id).await)
        .await;
    assert_eq!(a["Protocol"], "email");
    assert_eq!(a["Endpoint"], "carol@example.com");
    assert_eq!(
        parse(&a["FilterPolicy"]),
        json!({"userId": ["carol"], "kind": ["export_done", "export_failed"]}),
        "the kinds in the registry's order"
    );
    assert_eq!(a["RawMessageDelivery"], "false", "no raw delivery for mail");
    let a = d
        .sns_attributes(&d.delivery_ref("carol", &https.subscription_id).await)
        .await;
    assert_eq!(a["Protocol"], "https");
    assert_eq!(a["Endpoint"], "https://hooks.example.com/carol?x=1");
    assert_eq!(
        parse(&a["FilterPolicy"]),
        json!({"userId": ["carol"], "kind": ["object_quarantined", "export_done", "export_failed"]})
    );
    assert_eq!(
        a["RawMessageDelivery"], "false",
        "https receivers get SNS's signed envelope: raw delivery would drop the signature"
    );
}

#[tokio::test]
async fn a_pending_subscription_is_refreshed_from_sns_when_read() {
    let d = deployment().await;
    let s = d
        .create(
            "dave",
            json!({"protocol": "sqs", "endpoint": format!("arn:aws:sqs:us-east-1:123456789012:{}-d", d.prefix)}),
        )
        .await
        .expect("subscribe");
    // moto never leaves a subscription pending; the table is put back to what it holds
    // while SNS waits for a confirmation, as if the endpoint confirmed since.
    let mut record = d
        .aws
        .table
        .get_subscription("dave", &s.subscription_id)
        .await
        .expect("get")
        .expect("recorded");
    record.status = SubscriptionState::Pending;
    assert!(
        d.aws
            .table
            .update_subscription(&record)
            .await
            .expect("update")
    );
    assert_eq!(
        d.get("dave", &s.subscription_id).await.expect("get").status,
        SubscriptionState::Confirmed,
        "GET asks SNS"
    );
    let stored = d
        .aws
        .table
        .get_subscription("dave", &s.subscription_id)
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(
        stored.status,
        SubscriptionState::Confirmed,
        "and keeps the answer"
    );
    assert_eq!(stored.delivery_ref, record.delivery_ref);
}

#[tokio::test]
async fn the_subscriber_on_its_own() {
    let d = deployment().await;
    let subscriber = &d.aws.subscriber;
    assert_eq!(
        subscriber.protocols(),
        [
            SubscriptionProtocol::Https,
            SubscriptionProtocol::Email,
            SubscriptionProtocol::Sqs
        ]
    );
    for p in subscriber.protocols() {
        assert!(!subscriber.signs(*p));
    }
    assert_eq!(
        subscriber.confirm("any token").await.expect("confirm"),
        None
    );

    let topic = &d.aws.settings.notify_topic_arn;
    let record = |delivery_ref: Option<String>| SubscriptionRecord {
        owner: "erin".into(),
        subscription_id: "01sub".into(),
        protocol: SubscriptionProtocol::Sqs,
        endpoint: format!("arn:aws:sqs:us-east-1:123456789012:{}-e", d.prefix),
        kinds: vec![NotificationKind::ExportDone],
        status: SubscriptionState::Pending,
        created_at: chrono::Utc::now(),
        secret: None,
        delivery_ref,
    };
    // Nothing to stop or ask where nothing was subscribed.
    subscriber
        .unsubscribe(&record(None))
        .await
        .expect("no SNS subscription");
    assert_eq!(
        subscriber.status(&record(None)).await.expect("status"),
        SubscriptionState::Pending
    );
    // A subscription SNS no longer has (an unconfirmed one expires after 48 hours):
    // pending, and unsubscribing it is done already.
    let gone = record(Some(format!(
        "{topic}:00000000-0000-0000-0000-000000000000"
    )));
    assert_eq!(
        subscriber.status(&gone).await.expect("status"),
        SubscriptionState::Pending
    );
    subscriber
        .unsubscribe(&gone)
        .await
        .expect("not found is done");
    // An ARN of another topic is never unsubscribed.
    let foreign = record(Some(format!("{topic}-other:5f0c")));
    let e = subscriber
        .unsubscribe(&foreign)
        .await
        .expect_err("another topic's subscription");
    assert!(!e.retryable, "{e:?}");

    // Subscribe, status, unsubscribe, straight on the port.
    let Subscribed::Accepted {
        delivery_ref: Some(arn),
        status,
    } = subscriber
        .subscribe(&record(None))
        .await
        .expect("subscribe")
    else {
        panic!("moto accepts a queue ARN");
    };
    assert_eq!(status, SubscriptionState::Confirmed);
    assert!(arn.starts_with(&format!("{topic}:")), "{arn}");
    let subscribed = record(Some(arn.clone()));
    assert_eq!(
        subscriber.status(&subscribed).await.expect("status"),
        SubscriptionState::Confirmed
    );
    subscriber
        .unsubscribe(&subscribed)
        .await
        .expect("unsubscribe");
    assert!(!d.sns_subscriptions().await.contains(&arn));
    subscriber
        .unsubscribe(&subscribed)
        .await
        .expect("twice is fine");

    // A topic that is not there: a permanent error, not a refusal of the endpoint.
    let missing = eventpulse_aws::SnsSubscriber::new(
        d.aws.clients.sns.clone(),
        format!("arn:aws:sns:us-east-1:123456789012:{}-missing", d.prefix),
    );
    let e = missing
        .subscribe(&record(None))
        .await
        .expect_err("no such topic");
    assert!(!e.retryable, "{e:?}");
}
