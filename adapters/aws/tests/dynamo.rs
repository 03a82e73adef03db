//! `DynamoTable` against moto server: the whole conformance suite (events and
//! subscriptions), plus what only DynamoDB has (provisioning, real races between conditional
//! writes, error classification, the subscriptions' items).
//!
//! Needs moto server (`eval "$(bash scripts/moto.sh start)"`; scripts/test.sh starts it).
//! Every test makes its own table (a random name), so tests run in parallel and against a
//! server that holds other data.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, TimeToLiveStatus};
use chrono::{DateTime, Utc};
use eventpulse_aws::dynamo::{DynamoTable, provision, table_definition};
use eventpulse_generated::types::{
    Notification, NotificationKind, NotificationNotificationVersion, ReasonCode, UploadState,
};
use eventpulse_handlers::commit::store_events;
use eventpulse_handlers::ports::{
    EventQuery, EventRecord, EventTable, Held, MarkStored, PortError, QuarantineRecord,
    StoreOutcome, SubscriptionTable, UploadRecord,
};
use serde_json::json;
use std::time::Instant;

mod common;

/// A DynamoDB client on moto with the tests' fixed credentials and region.
async fn client() -> Client {
    common::clients().await.dynamodb()
}

/// A client of a DynamoDB that is not there (a closed port).
async fn client_at(url: &str) -> Client {
    eventpulse_aws::Clients::for_endpoint(&common::moto(url))
        .await
        .dynamodb()
}

/// A fresh, provisioned table of its own.
async fn fresh_table(tag: &str) -> (Client, DynamoTable) {
    let client = client().await;
    let name = common::unique(tag);
    let created = provision(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("provision {name}: {e}"));
    assert!(created, "a fresh name must create a table");
    let table = DynamoTable::new(client.clone(), name);
    (client, table)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn upload(owner: &str, id: &str, etag: Option<&str>) -> UploadRecord {
    UploadRecord {
        owner: owner.into(),
        upload_id: id.into(),
        key: format!("incoming/{owner}/{id}.json"),
        status: UploadState::Pending,
        created_at: at("2026-11-27T09:00:00Z"),
        etag: etag.map(Into::into),
        event_count: None,
        processed_at: None,
        reason_code: None,
    }
}

fn committing(owner: &str, id: &str, etag: &str, events: u64) -> UploadRecord {
    UploadRecord {
        status: UploadState::Stored,
        event_count: Some(events),
        processed_at: Some(at("2026-11-27T10:00:00Z")),
        ..upload(owner, id, Some(etag))
    }
}

fn event(owner: &str, upload_id: &str, id: &str, variant: &str, second: u32) -> EventRecord {
    let body = json!({"type": "page.view", "eventId": id, "data": {"variant": variant}});
    EventRecord {
        owner: owner.into(),
        event_id: id.into(),
        event_type: "page.view".into(),
        occurred_at: at("2026-11-27T10:00:00Z") + chrono::Duration::seconds(second.into()),
        content_hash: format!("hash-{variant}-{id}"),
        body: eventpulse_handlers::ports::EventJson::from_value(&body).unwrap(),
        received_at: at("2026-11-27T10:30:00Z"),
        upload_id: upload_id.into(),
    }
}

fn quarantine_of(u: &UploadRecord) -> (UploadRecord, QuarantineRecord, Notification) {
    let now = at("2026-11-27T10:00:05Z");
    let up = UploadRecord {
        status: UploadState::Quarantined,
        reason_code: Some(ReasonCode::SchemaViolation),
        processed_at: Some(now),
        ..u.clone()
    };
    let q = QuarantineRecord {
        owner: u.owner.clone(),
        upload_id: u.upload_id.clone(),
        key: format!("quarantine/{}/{}.json", u.owner, u.upload_id),
        quarantined_at: now,
        reason_code: ReasonCode::SchemaViolation,
        error_count: 1,
        size_bytes: 10,
    };
    let n = Notification {
        notification_version: NotificationNotificationVersion::try_from(1)
            .unwrap_or_else(|e| panic!("version: {e}")),
        notification_id: uuid::Uuid::new_v4().simple().to_string(),
        kind: NotificationKind::ObjectQuarantined,
        created_at: now,
        message: "quarantined".into(),
        upload_id: None,
        key: None,
        reason_code: None,
        error_count: None,
        export_id: None,
        event_count: None,
    };
    (up, q, n)
}

/// Retries what a processor would retry (transient errors: on real DynamoDB concurrent
/// transactions on one item may be cancelled with TransactionConflict).
async fn retrying<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    for _ in 0..20 {
        match f().await {
            Ok(v) => return v,
            Err(e) if e.retryable => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: still failing after 20 transient errors")
}

/// One table per check, as the embedded backend has one data dir per check.
async fn conformance_table() -> ((), std::sync::Arc<dyn EventTable>) {
    let (_, table) = fresh_table("conformance").await;
    ((), std::sync::Arc::new(table))
}

mod conformance {
    eventpulse_handlers::event_table_conformance!(super::conformance_table);
}

/// The subscriptions on a table of their own per check, too.
async fn subscription_table() -> ((), std::sync::Arc<dyn SubscriptionTable>) {
    let (_, table) = fresh_table("subscriptions").await;
    ((), std::sync::Arc::new(table))
}

mod subscription_conformance {
    eventpulse_handlers::subscription_table_conformance!(super::subscription_table);
}

#[tokio::test]
async fn provision_is_idempotent_and_creates_indexes_and_ttl() {
    let (client, table) = fresh_table("provision").await;
    let name = table.table_name().to_string();
    for _ in 0..2 {
        assert!(
            !provision(&client, &name).await.expect("provision again"),
            "provisioning an existing table must not create it again"
        );
    }
    let d = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table description");
    let def = table_definition();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let want = |p: &str, s: &str| {
        vec![
            (p.to_string(), "HASH".to_string()),
            (s.to_string(), "RANGE".to_string()),
        ]
    };
    assert_eq!(
        keys(d.key_schema()),
        want(def.key.partition_key, def.key.sort_key)
    );
    assert_eq!(d.global_secondary_indexes().len(), 3);
    for i in def.indexes {
        let g = d
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(i.name))
            .unwrap_or_else(|| panic!("index {} missing", i.name));
        assert_eq!(
            keys(g.key_schema()),
            want(i.key.partition_key, i.key.sort_key)
        );
        assert_eq!(
            g.projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str()),
            Some("ALL")
        );
    }
    assert_eq!(
        d.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("describe ttl")
        .time_to_live_description
        .expect("ttl description");
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some(def.ttl_attribute));
}

/// Two uploads hold other content under one eventId at the same moment: the conditional
/// writes decide, exactly one holds it, the other sees a live holder → Conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_holds_of_other_content_have_one_winner() {
    let (_, table) = fresh_table("race-hold").await;
    let owner = "racer";
    for (u, e) in [("u-a", "etag-a"), ("u-b", "etag-b")] {
        assert!(
            table
                .create_upload(&upload(owner, u, Some(e)))
                .await
                .expect("create")
        );
    }
    let (a, b) = (
        committing(owner, "u-a", "etag-a", 1),
        committing(owner, "u-b", "etag-b", 1),
    );
    for round in 0..20 {
        let id = format!("contested-{round}");
        let (ea, eb) = (
            event(owner, "u-a", &id, "a", 0),
            event(owner, "u-b", &id, "b", 0),
        );
        let (t1, t2) = (table.clone(), table.clone());
        let (a2, b2) = (a.clone(), b.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { t1.hold_events(&a2, &[ea]).await }),
            tokio::spawn(async move { t2.hold_events(&b2, &[eb]).await }),
        );
        let ra = ra.expect("join").expect("hold a");
        let rb = rb.expect("join").expect("hold b");
        let mut got = [ra[0], rb[0]];
        got.sort_by_key(|h| *h == Held::Conflict);
        assert_eq!(
            got,
            [Held::New, Held::Conflict],
            "round {round}: {ra:?} {rb:?}"
        );
    }
}

/// Many processors finalise one upload at once, half storing it, half quarantining it:
/// exactly one transaction wins, and the upload ends in that one's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_finalisations_have_one_winner() {
    let (_, table) = fresh_table("race-final").await;
    for round in 0..5 {
        let owner = &format!("finaliser-{round}");
        let id = format!("u-{round}");
        assert!(
            table
                .create_upload(&upload(owner, &id, None))
                .await
                .expect("create")
        );
        let up = committing(owner, &id, "etag", 0);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (t, up) = (table.clone(), up.clone());
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    let m = retrying("mark_stored", || t.mark_stored(&up)).await;
                    (m == MarkStored::Marked, Some(m))
                } else {
                    let (qu, q, n) = quarantine_of(&up);
                    let won =
                        retrying("commit_quarantined", || t.commit_quarantined(&qu, &q, &n)).await;
                    (won, None)
                }
            }));
        }
        let mut winners = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (won, marked) = task.await.expect("join");
            if won {
                winners.push((i, marked));
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored_won = winners[0].1.is_some();
        let now = table
            .get_upload(owner, &id)
            .await
            .expect("get")
            .expect("upload");
        let quarantined = table
            .get_quarantine(owner, &id)
            .await
            .expect("get quarantine");
        let notes = table
            .list_notifications(owner, None, 100)
            .await
            .expect("list");
        if stored_won {
            assert_eq!(now.status, UploadState::Stored);
            assert!(quarantined.is_none());
        } else {
            assert_eq!(now.status, UploadState::Quarantined);
            assert!(quarantined.is_some());
        }
        assert_eq!(
            notes.len(),
            usize::from(!stored_won),
            "round {round}: only a winning quarantine records its notification"
        );
    }
}

/// One object of 1,000 events goes through the processor's commit (10 chunks of 100): all
/// listed, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_commit_in_chunks() {
    let (_, table) = fresh_table("thousand").await;
    let owner = "bulk";
    let events: Vec<EventRecord> = (0..1000u32)
        .map(|i| event(owner, "big", &format!("ev-{i:04}"), "x", 999 - i))
        .collect();
    let up = committing(owner, "big", "etag-big", 1000);
    let started = Instant::now();
    assert_eq!(
        store_events(&table, &up, &events).await.expect("store"),
        StoreOutcome::Stored {
            inserted: 1000,
            duplicates: 0,
            already: false
        }
    );
    let took = started.elapsed();
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = table
            .list_events(owner, &EventQuery::default(), after.as_ref(), 300)
            .await
            .expect("list");
        let Some(last) = page.last() else { break };
        after = Some(eventpulse_handlers::ports::EventPosition {
            occurred_at: last.occurred_at,
            event_id: last.event_id.clone(),
        });
        listed.extend(page);
    }
    let mut want: Vec<&EventRecord> = events.iter().collect();
    want.sort_by_key(|e| (e.occurred_at, e.event_id.clone()));
    assert_eq!(listed.len(), 1000);
    assert!(listed.iter().zip(&want).all(|(g, w)| g == *w));
    eprintln!("1000 events stored in {took:?}");
}

#[tokio::test]
async fn errors_are_classified() {
    // A table that does not exist: permanent, naming the operation and the table.
    let client = client().await;
    let missing = DynamoTable::new(client, common::unique("missing"));
    let e = missing
        .get_upload("o", "u")
        .await
        .expect_err("missing table");
    assert!(!e.retryable, "a missing table is permanent: {e}");
    assert!(
        e.message.contains("get_upload") && e.message.contains(missing.table_name()),
        "{e}"
    );

    // Nothing listening: transient.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let closed = DynamoTable::new(client_at(&format!("http://127.0.0.1:{port}")).await, "t");
    let e = closed.get_upload("o", "u").await.expect_err("closed port");
    assert!(e.retryable, "a refused connection is transient: {e}");

    // A malformed item: permanent, naming its key.
    let (client, table) = fresh_table("malformed").await;
    client
        .put_item()
        .table_name(table.table_name())
        .item("pk", AttributeValue::S("O#o".into()))
        .item("sk", AttributeValue::S("U#u".into()))
        .item("status", AttributeValue::S("exploded".into()))
        .send()
        .await
        .expect("raw put");
    let e = table.get_upload("o", "u").await.expect_err("malformed");
    assert!(!e.retryable && e.message.contains("U#u"), "{e}");
}

/// The subscriptions' three kinds of items, as `ARCHITECTURE.md` lists them, share the
/// owner's partition with everything else and stay out of its other lists.
#[tokio::test]
async fn subscription_items_are_the_documented_ones() {
    use eventpulse_generated::types::{SubscriptionProtocol, SubscriptionState};
    use eventpulse_handlers::ports::{SubscriptionCreated, SubscriptionRecord};
    let (client, table) = fresh_table("subscription-items").await;
    let owner = "sub-items";
    let endpoint = "arn:aws:sqs:us-east-1:123456789012:queue-1";
    let s = SubscriptionRecord {
        owner: owner.into(),
        subscription_id: "019ad5c0-sub".into(),
        protocol: SubscriptionProtocol::Sqs,
        endpoint: endpoint.into(),
        kinds: vec![
            NotificationKind::ExportFailed,
            NotificationKind::ObjectQuarantined,
        ],
        status: SubscriptionState::Confirmed,
        created_at: at("2026-12-02T10:00:00.5Z"),
        secret: None,
        delivery_ref: Some("arn:aws:sns:us-east-1:123456789012:t:5f0c".into()),
    };
    // Other items of the owner in the same partition: never listed as subscriptions.
    table
        .create_upload(&upload(owner, "u-1", None))
        .await
        .expect("upload");
    assert_eq!(
        table.create_subscription(&s, 10).await.expect("create"),
        SubscriptionCreated::Created
    );
    let item = |sk: String| {
        let (client, table) = (&client, &table);
        async move {
            client
                .get_item()
                .table_name(table.table_name())
                .key("pk", AttributeValue::S(format!("O#{owner}")))
                .key("sk", AttributeValue::S(sk))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem")
                .item
        }
    };
    let sub = item("S#019ad5c0-sub".into())
        .await
        .expect("the subscription item");
    let string = |v: &str| AttributeValue::S(v.into());
    assert_eq!(sub["protocol"], string("sqs"));
    assert_eq!(sub["endpoint"], string(endpoint));
    assert_eq!(
        sub["kinds"],
        AttributeValue::L(vec![string("export_failed"), string("object_quarantined")])
    );
    assert_eq!(sub["status"], string("confirmed"));
    assert_eq!(sub["createdAt"], string("2026-12-02T10:00:00.500000000Z"));
    assert_eq!(
        sub["deliveryRef"],
        string("arn:aws:sns:us-east-1:123456789012:t:5f0c")
    );
    assert!(!sub.contains_key("secret"));
    let counter = item("SUBS".into()).await.expect("the counter item");
    assert_eq!(counter["n"], AttributeValue::N("1".into()));
    // `SE#{protocol}#{hex SHA-256 of the endpoint}` (the digest from Python's hashlib).
    let endpoint_sk =
        "SE#sqs#7e1141d3625adb13cc46b22e8e2eebde104cb65eb9f7fbaa84e834e60d019895".to_string();
    let e = item(endpoint_sk.clone()).await.expect("the endpoint item");
    assert_eq!(e["subscriptionId"], string("019ad5c0-sub"));
    assert_eq!(
        table
            .list_subscriptions(owner, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );

    assert_eq!(
        table
            .delete_subscription(owner, "019ad5c0-sub")
            .await
            .expect("delete")
            .as_ref(),
        Some(&s)
    );
    assert!(item("S#019ad5c0-sub".into()).await.is_none());
    assert!(
        item(endpoint_sk).await.is_none(),
        "the endpoint is free again"
    );
    let counter = item("SUBS".into()).await.expect("the counter stays");
    assert_eq!(counter["n"], AttributeValue::N("0".into()));
    assert!(table.get_upload(owner, "u-1").await.expect("get").is_some());
}
