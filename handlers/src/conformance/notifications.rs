//! Notifications and the outbox: recorded once, listed newest first, delivered per owner.

use super::*;

/// Notifications: newest first with positions, the outbox oldest first, delivery marks,
/// idempotent recording.
pub async fn notifications(table: &dyn EventTable) {
    let o = owner("notify");
    let base = t("2026-11-27T10:00:00.999999999Z");
    let u = unique();
    let entries = [
        (format!("b-{u}"), base),
        (format!("a-{u}"), base), // same instant: the id breaks the tie
        (format!("c-{u}"), base + ns(1)),
        (format!("d-{u}"), base - ns(1)),
        (format!("e-{u}"), t("1970-01-01T00:00:00Z")),
        (format!("f-{u}"), t("9999-12-31T23:59:59.999999999Z")),
    ];
    let mut all = Vec::new();
    for (i, (id, at)) in entries.iter().enumerate() {
        let kind = if i % 2 == 0 {
            NotificationKind::ExportDone
        } else {
            NotificationKind::ExportFailed
        };
        let mut n = notification(id, kind, *at, None);
        n.export_id = Some(format!("x-{i}"));
        ok(
            "record_notification",
            table.record_notification(&o, &n).await,
        );
        all.push(n);
    }
    // Recording the same notification again changes nothing.
    ok(
        "record_notification (again)",
        table.record_notification(&o, &all[0]).await,
    );

    let mut newest = all.clone();
    newest.sort_by(|a, b| {
        (b.created_at, &b.notification_id).cmp(&(a.created_at, &a.notification_id))
    });
    for limit in [1, 2, 4, 100] {
        assert_eq!(
            all_notifications(table, &o, limit).await,
            newest,
            "conformance: list_notifications must be newest first by (created_at, notification_id), each once (limit {limit})"
        );
    }
    let between = NotificationPosition {
        created_at: base,
        notification_id: format!("b-{u}-"),
    };
    let got = ok(
        "list_notifications after a position",
        table.list_notifications(&o, Some(&between), 2).await,
    );
    assert_eq!(
        got.iter()
            .map(|n| n.notification_id.clone())
            .collect::<Vec<_>>(),
        [format!("b-{u}"), format!("a-{u}")],
        "conformance: `after` is exclusive in the newest-first order"
    );

    let mut oldest = newest.clone();
    oldest.reverse();
    assert_eq!(
        outbox_of(table, &o).await,
        oldest,
        "conformance: the outbox must hold every undelivered notification, oldest first"
    );
    let outbox = ok(
        "undelivered_notifications",
        table.undelivered_notifications(100_000).await,
    );
    assert!(
        outbox
            .iter()
            .filter(|(_, n)| n.notification_id.ends_with(&u))
            .all(|(owner, _)| owner == &o),
        "conformance: undelivered_notifications must return each notification's owner"
    );
    let limited = ok(
        "undelivered_notifications(1)",
        table.undelivered_notifications(1).await,
    );
    assert!(
        limited.len() <= 1,
        "conformance: undelivered_notifications must respect its limit"
    );

    // Scoped by owner: another owner cannot mark it delivered.
    ok(
        "mark_delivered (another owner)",
        table
            .mark_delivered(&owner("intruder"), &format!("c-{u}"))
            .await,
    );
    assert!(
        ok(
            "undelivered_notifications",
            table.undelivered_notifications(10_000).await
        )
        .iter()
        .any(|(_, n)| n.notification_id == format!("c-{u}")),
        "conformance: mark_delivered by another owner must not mark a notification delivered"
    );
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &format!("c-{u}")).await,
    );
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &format!("e-{u}")).await,
    );
    let remaining: Vec<Notification> = oldest
        .iter()
        .filter(|n| n.notification_id != format!("c-{u}") && n.notification_id != format!("e-{u}"))
        .cloned()
        .collect();
    assert_eq!(
        outbox_of(table, &o).await,
        remaining,
        "conformance: mark_delivered removes exactly that notification from the outbox"
    );
    assert_eq!(
        all_notifications(table, &o, 100).await,
        newest,
        "conformance: delivered notifications stay listed"
    );
    mark_all_delivered(table, &o).await;
    assert!(outbox_of(table, &o).await.is_empty());
}
