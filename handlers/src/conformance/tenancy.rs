//! Tenancy: every call is scoped to its owner.

use super::*;

/// Tenancy: for every read (and owner-scoped write), one owner never sees or touches
/// another's data, including owners whose ids are prefixes of each other.
pub async fn tenancy(table: &dyn EventTable) {
    let a = owner("tenant");
    let b = format!("{a}.b@c-d"); // a is a prefix of b
    let c = owner("tenant"); // unrelated
    let at = t("2026-11-27T10:00:00.5Z");
    let mut seeded = Vec::new();
    for (who, tag) in [(&a, "A"), (&b, "B")] {
        let ev = event(
            who,
            "shared-id",
            "page.view",
            "2026-11-27T10:00:00Z",
            "up",
            tag,
        );
        let mine = event(
            who,
            &format!("only-{tag}"),
            "order.placed",
            "2026-11-27T10:00:00.000000001Z",
            "up",
            tag,
        );
        ok(
            "commit_stored",
            store_events(
                table,
                &stored(who, "up", "etag", 2),
                &[ev.clone(), mine.clone()],
            )
            .await,
        );
        let n = quarantine_notification(&format!("{tag}-{}", unique()), "bad", at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(who, "bad", "etag-bad"),
                    &quarantine_record(who, "bad", at),
                    &n
                )
                .await
        ));
        let x = notification(
            &format!("{tag}x-{}", unique()),
            NotificationKind::ExportDone,
            at,
            None,
        );
        ok(
            "record_notification",
            table.record_notification(who, &x).await,
        );
        ok(
            "put_export",
            table
                .put_export(&ExportRecord {
                    owner: who.clone(),
                    export_id: "exp".into(),
                    status: ExportState::Running,
                    query: EventQuery::default(),
                    created_at: at,
                    finished_at: None,
                    event_count: None,
                    result_key: None,
                })
                .await,
        );
        seeded.push((who.clone(), tag, ev, mine, n, x));
    }

    for (who, tag, ev, mine, n, x) in &seeded {
        let other = if *tag == "A" { "B" } else { "A" };
        assert_event(
            ok("get_event", table.get_event(who, "shared-id").await),
            ev,
            "tenancy",
        );
        assert!(
            ok(
                "get_event",
                table.get_event(who, &format!("only-{other}")).await
            )
            .is_none(),
            "conformance: get_event must not return another owner's event"
        );
        assert_eq!(
            ids(&all_events(table, who, &EventQuery::default(), 10).await),
            ["shared-id".to_string(), mine.event_id.clone()],
            "conformance: list_events must return only the owner's events"
        );
        let ty = EventQuery {
            event_type: Some(EventType::OrderPlaced),
            ..Default::default()
        };
        assert_eq!(
            ids(&all_events(table, who, &ty, 10).await),
            vec![mine.event_id.clone()]
        );
        assert_eq!(
            ok("get_upload", table.get_upload(who, "up").await).map(|u| u.owner),
            Some(who.clone())
        );
        assert_eq!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).map(|q| q.owner),
            Some(who.clone())
        );
        assert_eq!(
            ok(
                "list_quarantine",
                table.list_quarantine(who, None, 10).await
            )
            .into_iter()
            .map(|q| q.owner)
            .collect::<Vec<_>>(),
            vec![who.clone()],
            "conformance: list_quarantine must return only the owner's entries"
        );
        let mut want = vec![n.clone(), x.clone()];
        want.sort_by(|p, q| {
            (q.created_at, &q.notification_id).cmp(&(p.created_at, &p.notification_id))
        });
        assert_eq!(
            ok(
                "list_notifications",
                table.list_notifications(who, None, 10).await
            ),
            want,
            "conformance: list_notifications must return only the owner's notifications"
        );
        assert_eq!(
            ok("get_export", table.get_export(who, "exp").await).map(|e| e.owner),
            Some(who.clone())
        );
    }

    // An owner without data sees nothing at all.
    for who in [c.as_str(), &a[..a.len() - 1], "ct-tenant"] {
        assert!(
            ok("get_event", table.get_event(who, "shared-id").await).is_none(),
            "conformance: get_event leaks across owners"
        );
        assert!(
            ok(
                "list_events",
                table
                    .list_events(who, &EventQuery::default(), None, 10)
                    .await
            )
            .is_empty(),
            "conformance: list_events leaks across owners"
        );
        assert!(
            ok("get_upload", table.get_upload(who, "up").await).is_none(),
            "conformance: get_upload leaks across owners"
        );
        assert!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).is_none(),
            "conformance: get_quarantine leaks across owners"
        );
        assert!(
            ok(
                "list_quarantine",
                table.list_quarantine(who, None, 10).await
            )
            .is_empty(),
            "conformance: list_quarantine leaks across owners"
        );
        assert!(
            ok(
                "list_notifications",
                table.list_notifications(who, None, 10).await
            )
            .is_empty(),
            "conformance: list_notifications leaks across owners"
        );
        assert!(
            ok("get_export", table.get_export(who, "exp").await).is_none(),
            "conformance: get_export leaks across owners"
        );
        assert!(
            !ok("reopen_upload", reopen(table, who, "bad").await),
            "conformance: reopen_upload must not touch another owner's upload"
        );
        assert!(
            !ok(
                "delete_quarantine",
                table.delete_quarantine(who, "bad").await
            ),
            "conformance: delete_quarantine must not touch another owner's entry"
        );
    }
    for (who, ..) in &seeded {
        assert!(
            ok("get_quarantine", table.get_quarantine(who, "bad").await).is_some(),
            "conformance: another owner's reopen/delete changed this owner's quarantine"
        );
        assert_eq!(
            ok("get_upload", table.get_upload(who, "bad").await).map(|u| u.status),
            Some(UploadState::Quarantined)
        );
    }

    // Owner-scoped writes of one owner leave the other's data as it was.
    assert!(ok("reopen_upload", reopen(table, &a, "bad").await));
    assert!(
        ok("get_quarantine", table.get_quarantine(&b, "bad").await).is_some(),
        "conformance: reopen_upload touched another owner"
    );
    assert!(ok(
        "delete_quarantine",
        table.delete_quarantine(&b, "bad").await
    ));
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "bad").await).map(|u| u.status),
        Some(UploadState::Pending)
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&b, "bad").await).map(|u| u.status),
        Some(UploadState::Quarantined)
    );
    for who in [&a, &b] {
        mark_all_delivered(table, who).await;
    }
}
