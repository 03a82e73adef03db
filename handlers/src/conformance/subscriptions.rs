//! [`SubscriptionTable`] checks: records round-trip, the per-owner cap and endpoint rule
//! hold atomically (also under concurrent creates), pages, and owners never see each other.

use super::{join_all, ok, owner, t};
use crate::ports::{SubscriptionCreated, SubscriptionRecord, SubscriptionTable};
use eventpulse_generated::types::{NotificationKind, SubscriptionProtocol, SubscriptionState};

fn subscription(owner: &str, id: &str, endpoint: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        owner: owner.into(),
        subscription_id: id.into(),
        protocol: SubscriptionProtocol::Https,
        endpoint: endpoint.into(),
        kinds: vec![
            NotificationKind::ObjectQuarantined,
            NotificationKind::ExportDone,
        ],
        status: SubscriptionState::Pending,
        created_at: t("2026-12-02T10:00:00.123456789Z"),
        secret: Some("whsec_conformance ✓".into()),
        delivery_ref: None,
    }
}

async fn create(
    table: &dyn SubscriptionTable,
    s: &SubscriptionRecord,
    cap: usize,
) -> SubscriptionCreated {
    ok(
        format!("create_subscription({}, {})", s.owner, s.subscription_id),
        table.create_subscription(s, cap).await,
    )
}

async fn all_subscriptions(
    table: &dyn SubscriptionTable,
    owner: &str,
    limit: usize,
) -> Vec<SubscriptionRecord> {
    let mut out: Vec<SubscriptionRecord> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let page = ok(
            format!("list_subscriptions({owner}, after {after:?}, limit {limit})"),
            table
                .list_subscriptions(owner, after.as_deref(), limit)
                .await,
        );
        assert!(
            page.len() <= limit,
            "conformance: list_subscriptions returned {} for limit {limit}",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = Some(last.subscription_id.clone());
        let short = page.len() < limit;
        out.extend(page);
        if short {
            break;
        }
    }
    out
}

pub async fn subscriptions_round_trip(table: &dyn SubscriptionTable) {
    let o = owner("sub-rt");
    let mut s = subscription(&o, "01sub-a", "https://hooks.example.com/a?x=1&y=%20");
    assert_eq!(create(table, &s, 10).await, SubscriptionCreated::Created);
    let got = ok(
        "get_subscription",
        table.get_subscription(&o, "01sub-a").await,
    );
    assert_eq!(
        got.as_ref(),
        Some(&s),
        "conformance: a subscription must read back as written"
    );
    s.status = SubscriptionState::Confirmed;
    s.delivery_ref = Some("arn:aws:sns:eu-west-1:123456789012:topic:5f0c".into());
    assert!(
        ok("update_subscription", table.update_subscription(&s).await),
        "conformance: update_subscription of an existing subscription must say true"
    );
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&o, "01sub-a").await
        )
        .as_ref(),
        Some(&s),
        "conformance: update_subscription must write status and delivery_ref"
    );
    let gone = subscription(&o, "01sub-missing", "https://hooks.example.com/m");
    assert!(
        !ok(
            "update_subscription",
            table.update_subscription(&gone).await
        ),
        "conformance: update_subscription of a missing subscription must say false and write nothing"
    );
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&o, "01sub-missing").await
        ),
        None,
        "conformance: update_subscription must not create a subscription"
    );
    let deleted = ok(
        "delete_subscription",
        table.delete_subscription(&o, "01sub-a").await,
    );
    assert_eq!(
        deleted.as_ref(),
        Some(&s),
        "conformance: delete_subscription must return what it deleted"
    );
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&o, "01sub-a").await
        ),
        None
    );
    assert_eq!(
        ok(
            "delete_subscription",
            table.delete_subscription(&o, "01sub-a").await
        ),
        None,
        "conformance: deleting twice must say None the second time"
    );
    assert!(all_subscriptions(table, &o, 10).await.is_empty());
}

pub async fn subscriptions_cap_and_endpoints(table: &dyn SubscriptionTable) {
    let o = owner("sub-cap");
    for i in 0..3 {
        let s = subscription(
            &o,
            &format!("02sub-{i}"),
            &format!("https://h.example.com/{i}"),
        );
        assert_eq!(create(table, &s, 3).await, SubscriptionCreated::Created);
    }
    let fourth = subscription(&o, "02sub-3", "https://h.example.com/3");
    assert_eq!(
        create(table, &fourth, 3).await,
        SubscriptionCreated::LimitReached,
        "conformance: past the cap create_subscription must say LimitReached"
    );
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&o, "02sub-3").await
        ),
        None,
        "conformance: a refused subscription must not be written"
    );
    // The same endpoint again, under a raised cap: taken.
    let again = subscription(&o, "02sub-4", "https://h.example.com/1");
    assert_eq!(
        create(table, &again, 10).await,
        SubscriptionCreated::EndpointTaken,
        "conformance: one owner may subscribe an endpoint once"
    );
    // The same text under another protocol is another endpoint.
    let email = SubscriptionRecord {
        protocol: SubscriptionProtocol::Email,
        ..subscription(&o, "02sub-5", "https://h.example.com/1")
    };
    assert_eq!(
        create(table, &email, 10).await,
        SubscriptionCreated::Created
    );
    // Another owner may subscribe the same endpoint.
    let other = owner("sub-cap-other");
    assert_eq!(
        create(
            table,
            &subscription(&other, "02sub-0", "https://h.example.com/0"),
            3
        )
        .await,
        SubscriptionCreated::Created,
        "conformance: the endpoint rule is per owner, and so is the cap"
    );
    // Deleting frees both a place under the cap and the endpoint.
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "02sub-1").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "02sub-5").await,
    );
    assert_eq!(
        create(
            table,
            &subscription(&o, "02sub-6", "https://h.example.com/1"),
            3
        )
        .await,
        SubscriptionCreated::Created,
        "conformance: a deleted subscription must free its endpoint and its place under the cap"
    );
    assert_eq!(all_subscriptions(table, &o, 10).await.len(), 3);
}

pub async fn subscriptions_cap_under_concurrency(table: &dyn SubscriptionTable) {
    let o = owner("sub-race");
    let records: Vec<SubscriptionRecord> = (0..8)
        .map(|i| {
            subscription(
                &o,
                &format!("03sub-{i}"),
                &format!("https://r.example.com/{i}"),
            )
        })
        .collect();
    let results = join_all(
        records
            .iter()
            .map(|s| Box::pin(table.create_subscription(s, 5)) as _)
            .collect(),
    )
    .await;
    let created = results
        .into_iter()
        .map(|r| ok("create_subscription", r))
        .filter(|r| *r == SubscriptionCreated::Created)
        .count();
    assert_eq!(
        created, 5,
        "conformance: 8 concurrent creates under a cap of 5 must create exactly 5"
    );
    assert_eq!(all_subscriptions(table, &o, 100).await.len(), 5);
    // The same endpoint 4 times at once: exactly one.
    let same: Vec<SubscriptionRecord> = (0..4)
        .map(|i| subscription(&o, &format!("04sub-{i}"), "https://r.example.com/same"))
        .collect();
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-0").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-1").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-2").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-3").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-4").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-5").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-6").await,
    );
    ok(
        "delete_subscription",
        table.delete_subscription(&o, "03sub-7").await,
    );
    let results = join_all(
        same.iter()
            .map(|s| Box::pin(table.create_subscription(s, 10)) as _)
            .collect(),
    )
    .await;
    let created = results
        .into_iter()
        .map(|r| ok("create_subscription", r))
        .filter(|r| *r == SubscriptionCreated::Created)
        .count();
    assert_eq!(
        created, 1,
        "conformance: one endpoint subscribed 4 times at once must be created once"
    );
}

pub async fn subscriptions_pages(table: &dyn SubscriptionTable) {
    let o = owner("sub-pages");
    // Created out of order: the list is in id order.
    let ids = [
        "05sub-e", "05sub-a", "05sub-g", "05sub-c", "05sub-b", "05sub-f", "05sub-d",
    ];
    for id in ids {
        let s = subscription(&o, id, &format!("https://p.example.com/{id}"));
        assert_eq!(create(table, &s, 10).await, SubscriptionCreated::Created);
    }
    let mut want: Vec<&str> = ids.to_vec();
    want.sort();
    for limit in [1, 3, 7, 50] {
        let got: Vec<String> = all_subscriptions(table, &o, limit)
            .await
            .into_iter()
            .map(|s| s.subscription_id)
            .collect();
        assert_eq!(
            got, want,
            "conformance: list_subscriptions with limit {limit} must give every subscription once, in id order"
        );
    }
    let after_c = ok(
        "list_subscriptions",
        table.list_subscriptions(&o, Some("05sub-c"), 2).await,
    );
    let after_c: Vec<&str> = after_c.iter().map(|s| s.subscription_id.as_str()).collect();
    assert_eq!(
        after_c,
        ["05sub-d", "05sub-e"],
        "conformance: `after` is exclusive"
    );
}

pub async fn subscriptions_tenancy(table: &dyn SubscriptionTable) {
    let alice = owner("sub-alice");
    let bob = owner("sub-bob");
    let s = subscription(&alice, "06sub-a", "https://t.example.com/a");
    assert_eq!(create(table, &s, 10).await, SubscriptionCreated::Created);
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&bob, "06sub-a").await
        ),
        None,
        "conformance: another owner's subscription must not be readable"
    );
    assert!(
        all_subscriptions(table, &bob, 10).await.is_empty(),
        "conformance: another owner's subscriptions must not be listed"
    );
    let hijack = SubscriptionRecord {
        owner: bob.clone(),
        status: SubscriptionState::Confirmed,
        ..s.clone()
    };
    assert!(
        !ok(
            "update_subscription",
            table.update_subscription(&hijack).await
        ),
        "conformance: updating another owner's subscription id must change nothing"
    );
    assert_eq!(
        ok(
            "delete_subscription",
            table.delete_subscription(&bob, "06sub-a").await
        ),
        None,
        "conformance: deleting another owner's subscription id must delete nothing"
    );
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&alice, "06sub-a").await
        )
        .as_ref(),
        Some(&s),
        "conformance: the owner's subscription must be untouched by another owner's calls"
    );
    // Bob may use the same id for his own.
    let bobs = subscription(&bob, "06sub-a", "https://t.example.com/b");
    assert_eq!(create(table, &bobs, 10).await, SubscriptionCreated::Created);
    assert_eq!(
        ok(
            "get_subscription",
            table.get_subscription(&alice, "06sub-a").await
        )
        .as_ref(),
        Some(&s)
    );
}
