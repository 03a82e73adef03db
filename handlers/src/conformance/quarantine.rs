//! Quarantine: the state change with its notification, reopen for reprocess, delete, and listing.

use super::*;

/// commit_quarantined records the upload, the quarantine entry and one notification, once.
pub async fn commit_quarantined(table: &dyn EventTable) {
    let o = owner("quarantined");
    let at = t("2026-11-27T10:00:00.000000001Z");
    assert!(ok(
        "create_upload",
        table
            .create_upload(&pending(&o, "q-1", t("2026-11-27T09:00:00Z")))
            .await
    ));
    let up = quarantined_upload(&o, "q-1", "etag-q");
    let rec = quarantine_record(&o, "q-1", at);
    let n1 = quarantine_notification(&format!("n1-{}", unique()), "q-1", at);

    assert!(
        ok(
            "commit_quarantined",
            table.commit_quarantined(&up, &rec, &n1).await
        ),
        "conformance: a first commit_quarantined must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-1").await),
        Some(UploadRecord {
            created_at: t("2026-11-27T09:00:00Z"),
            ..up.clone()
        }),
        "conformance: commit_quarantined must mark the upload quarantined with its ETag, reason, counts and time, keeping created_at"
    );
    assert_eq!(
        ok("get_quarantine", table.get_quarantine(&o, "q-1").await),
        Some(rec.clone())
    );
    assert_eq!(
        ok("list_quarantine", table.list_quarantine(&o, None, 10).await),
        vec![rec.clone()]
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()]
    );
    assert_eq!(
        outbox_of(table, &o).await,
        vec![n1.clone()],
        "conformance: the notification must wait in the outbox"
    );

    // Replay with the same ETag: false, nothing changes, no second notification.
    let n2 = quarantine_notification(
        &format!("n2-{}", unique()),
        "q-1",
        at + Duration::seconds(5),
    );
    let later = QuarantineRecord {
        quarantined_at: at + Duration::seconds(5),
        error_count: 9,
        ..rec.clone()
    };
    assert!(
        !ok(
            "commit_quarantined (replay)",
            table.commit_quarantined(&up, &later, &n2).await
        ),
        "conformance: commit_quarantined for an upload already quarantined with this ETag must return false"
    );
    assert_eq!(
        ok("get_quarantine", table.get_quarantine(&o, "q-1").await),
        Some(rec.clone()),
        "conformance: a replay changes nothing"
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()],
        "conformance: a replay must not record a second notification"
    );
    assert_eq!(outbox_of(table, &o).await, vec![n1.clone()]);

    // A stored commit for the same ETag is refused.
    let ev = event(&o, "q-ev", "page.view", "2026-11-27T10:00:00Z", "q-1", "x");
    assert_eq!(
        ok(
            "commit_stored on a quarantined upload",
            store_events(
                table,
                &stored(&o, "q-1", "etag-q", 1),
                std::slice::from_ref(&ev)
            )
            .await
        ),
        StoreOutcome::AlreadyFinal(UploadState::Quarantined),
        "conformance: commit_stored for an upload quarantined with this ETag must be AlreadyFinal"
    );
    assert!(
        ok("get_event", table.get_event(&o, "q-ev").await).is_none(),
        "conformance: AlreadyFinal writes nothing"
    );

    // And a stored upload is not quarantined for the same ETag.
    let ev2 = event(&o, "s-ev", "page.view", "2026-11-27T10:00:00Z", "q-2", "x");
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "q-2", "etag-s", 1),
            std::slice::from_ref(&ev2),
        )
        .await,
    );
    let n3 = quarantine_notification(&format!("n3-{}", unique()), "q-2", at);
    assert!(
        !ok(
            "commit_quarantined on a stored upload",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "q-2", "etag-s"),
                    &quarantine_record(&o, "q-2", at),
                    &n3
                )
                .await
        ),
        "conformance: commit_quarantined for an upload stored with this ETag must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-2").await).map(|u| u.status),
        Some(UploadState::Stored)
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "q-2").await).is_none());
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n1.clone()]
    );

    // A quarantine without a prior upload record creates it (keys outside the layout).
    let n4 = quarantine_notification(&format!("n4-{}", unique()), "q-3", at + ns(1));
    let rec3 = quarantine_record(&o, "q-3", at + ns(1));
    assert!(ok(
        "commit_quarantined (new upload)",
        table
            .commit_quarantined(&quarantined_upload(&o, "q-3", "etag-3"), &rec3, &n4)
            .await
    ));
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "q-3").await),
        Some(quarantined_upload(&o, "q-3", "etag-3"))
    );

    // Delivery.
    ok(
        "mark_delivered",
        table.mark_delivered(&o, &n1.notification_id).await,
    );
    assert_eq!(
        outbox_of(table, &o).await,
        vec![n4.clone()],
        "conformance: mark_delivered removes a notification from the outbox"
    );
    ok(
        "mark_delivered (again)",
        table.mark_delivered(&o, &n1.notification_id).await,
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        ),
        vec![n4.clone(), n1.clone()],
        "conformance: delivered notifications stay listed"
    );
    mark_all_delivered(table, &o).await;
    assert!(outbox_of(table, &o).await.is_empty());
}

/// reopen_upload: quarantined → pending, still listed until processing ends (one claim; a
/// stale claim may be taken over);
/// commit_stored removes the entry; delete_quarantine removes the entry only.
pub async fn reopen_and_delete_quarantine(table: &dyn EventTable) {
    let o = owner("reopen");
    let at = t("2026-11-27T10:00:00Z");
    for id in ["r-1", "r-2"] {
        let n = quarantine_notification(&format!("{id}-{}", unique()), id, at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, id, "etag-r"),
                    &quarantine_record(&o, id, at),
                    &n
                )
                .await
        ));
    }

    assert!(
        ok("reopen_upload", reopen(table, &o, "r-1").await),
        "conformance: reopen_upload of a quarantined upload must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-1").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: reopen_upload must make the upload pending"
    );
    assert!(
        ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_some(),
        "conformance: reopen_upload must keep the quarantine entry until processing ends"
    );
    assert_eq!(
        ok("list_quarantine", table.list_quarantine(&o, None, 10).await).len(),
        2,
        "conformance: a reopened upload stays listed"
    );
    assert!(
        !ok("reopen_upload (again)", reopen(table, &o, "r-1").await),
        "conformance: reopen_upload must refuse an upload already claimed (a concurrent reprocess)"
    );
    // A claim older than the lease (its request died before the copy) may be taken over.
    let now = Utc::now();
    assert!(
        ok(
            "reopen_upload (stale claim)",
            table
                .reopen_upload(&o, "r-1", now, now + Duration::seconds(1))
                .await
        ),
        "conformance: reopen_upload must take over a claim older than stale_before"
    );
    assert!(
        !ok(
            "reopen_upload (fresh again)",
            reopen(table, &o, "r-1").await
        ),
        "conformance: a taken-over claim is fresh again"
    );
    let fresh = UploadRecord {
        owner: o.clone(),
        upload_id: "r-fresh".into(),
        key: format!("incoming/{o}/r-fresh.json"),
        status: UploadState::Pending,
        created_at: at,
        etag: None,
        event_count: None,
        processed_at: None,
        reason_code: None,
    };
    assert!(ok("create_upload", table.create_upload(&fresh).await));
    assert!(
        !ok(
            "reopen_upload (pending, never quarantined)",
            reopen(table, &o, "r-fresh").await
        ),
        "conformance: reopen_upload of an upload without a quarantine entry must return false"
    );
    assert!(!ok(
        "reopen_upload (missing)",
        reopen(table, &o, "r-9").await
    ));

    // Reprocessing the same content quarantines it again, with a new notification.
    let again = quarantine_notification(
        &format!("again-{}", unique()),
        "r-1",
        at + Duration::minutes(1),
    );
    assert!(
        ok(
            "commit_quarantined after reopen",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "r-1", "etag-r"),
                    &quarantine_record(&o, "r-1", at + Duration::minutes(1)),
                    &again
                )
                .await
        ),
        "conformance: after reopen_upload the same ETag may be quarantined again"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_some());
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 10).await
        )
        .len(),
        3
    );

    // Or stored: reopen, then commit_stored succeeds.
    assert!(ok("reopen_upload", reopen(table, &o, "r-1").await));
    let ev = event(&o, "r-ev", "page.view", "2026-11-27T10:00:00Z", "r-1", "x");
    assert_eq!(
        ok(
            "commit_stored after reopen",
            store_events(
                table,
                &stored(&o, "r-1", "etag-r", 1),
                std::slice::from_ref(&ev)
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: after reopen_upload the same ETag may be stored"
    );
    assert!(
        ok("get_quarantine", table.get_quarantine(&o, "r-1").await).is_none(),
        "conformance: commit_stored must remove the upload's quarantine entry"
    );
    assert!(
        !ok("reopen_upload (stored)", reopen(table, &o, "r-1").await),
        "conformance: reopen_upload of a stored upload must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-1").await).map(|u| u.status),
        Some(UploadState::Stored)
    );

    // delete_quarantine refuses while the upload is being reprocessed.
    assert!(ok("reopen_upload", reopen(table, &o, "r-2").await));
    assert!(
        !ok(
            "delete_quarantine (pending)",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine must refuse while the upload is being reprocessed"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-2").await).is_some());
    let again = quarantine_notification(
        &format!("again2-{}", unique()),
        "r-2",
        at + Duration::minutes(2),
    );
    assert!(ok(
        "commit_quarantined (reprocessed r-2)",
        table
            .commit_quarantined(
                &quarantined_upload(&o, "r-2", "etag-r"),
                &quarantine_record(&o, "r-2", at + Duration::minutes(2)),
                &again
            )
            .await
    ));

    // delete_quarantine: the entry goes, the upload stays quarantined.
    assert!(
        ok(
            "delete_quarantine",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine of an entry must return true"
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "r-2").await).is_none());
    assert!(ok("list_quarantine", table.list_quarantine(&o, None, 10).await).is_empty());
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "r-2").await).map(|u| u.status),
        Some(UploadState::Quarantined),
        "conformance: delete_quarantine must leave the upload quarantined"
    );
    assert!(
        !ok(
            "delete_quarantine (again)",
            table.delete_quarantine(&o, "r-2").await
        ),
        "conformance: delete_quarantine without an entry must return false"
    );
    mark_all_delivered(table, &o).await;
}

/// list_quarantine: newest first by `(quarantined_at, upload_id)`, with positions.
pub async fn list_quarantine(table: &dyn EventTable) {
    let o = owner("qlist");
    let base = t("2026-11-27T10:00:00.123456789Z");
    let entries = [
        ("qa", base),
        ("qb", base), // same instant: upload_id breaks the tie
        ("qc", base + ns(1)),
        ("qd", base - ns(1)),
        ("qe", t("1970-01-01T00:00:00Z")),
        ("qf", t("9999-12-31T23:59:59.999999999Z")),
        ("qg", t("1969-07-20T20:17:40.5Z")),
        ("QZ", base),
    ];
    for (id, at) in entries {
        let n = quarantine_notification(&format!("{id}-{}", unique()), id, at);
        assert!(ok(
            "commit_quarantined",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, id, "etag"),
                    &quarantine_record(&o, id, at),
                    &n
                )
                .await
        ));
    }
    let mut want: Vec<(DateTime<Utc>, String)> = entries
        .iter()
        .map(|(id, at)| (*at, id.to_string()))
        .collect();
    want.sort();
    want.reverse();
    let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        &want[..4],
        ["qf", "qc", "qb", "qa"],
        "precondition: test data order"
    );
    for limit in [1, 2, 3, 100] {
        let got = all_quarantine(table, &o, limit).await;
        assert_eq!(
            got.iter().map(|q| q.upload_id.clone()).collect::<Vec<_>>(),
            want,
            "conformance: list_quarantine must be newest first by (quarantined_at, upload_id), every entry once (limit {limit})"
        );
        for q in &got {
            assert_eq!(q, &quarantine_record(&o, &q.upload_id, q.quarantined_at));
        }
    }
    let between = QuarantinePosition {
        quarantined_at: base,
        upload_id: "qaa".into(),
    };
    let got = ok(
        "list_quarantine after a position",
        table.list_quarantine(&o, Some(&between), 2).await,
    );
    assert_eq!(
        got.iter().map(|q| q.upload_id.as_str()).collect::<Vec<_>>(),
        ["qa", "QZ"],
        "conformance: `after` is exclusive in the newest-first order"
    );
    mark_all_delivered(table, &o).await;
}

/// Concurrent reprocess requests on one quarantined upload (issue 8: 20 of them got 11
/// acceptances and 5 notifications): of N concurrent `reopen_upload` calls exactly one
/// claims the upload, and its reprocessing, even delivered several times at once, records
/// exactly one further notification.
pub async fn reprocess_is_claimed_once(table: &dyn EventTable) {
    const N: usize = 20;
    let o = owner("claim");
    let at = t("2026-11-27T10:00:00Z");
    let first = quarantine_notification(&format!("c-{}", unique()), "c-1", at);
    assert!(ok(
        "commit_quarantined",
        table
            .commit_quarantined(
                &quarantined_upload(&o, "c-1", "etag-c"),
                &quarantine_record(&o, "c-1", at),
                &first
            )
            .await
    ));
    let claims = join_all(
        (0..N)
            .map(|_| Box::pin(reopen(table, &o, "c-1")) as std::pin::Pin<Box<_>>)
            .collect(),
    )
    .await;
    let won = claims
        .into_iter()
        .map(|r| ok("reopen_upload (concurrent)", r))
        .filter(|&w| w)
        .count();
    assert_eq!(
        won, 1,
        "conformance: of {N} concurrent reopen_upload calls exactly one may claim the upload"
    );
    // The one reprocess quarantines the same object again; its event delivered several
    // times at once (at-least-once delivery) still records one notification.
    let later = at + Duration::minutes(1);
    let notes: Vec<_> = (0..5)
        .map(|i| quarantine_notification(&format!("c-again-{i}-{}", unique()), "c-1", later))
        .collect();
    let upload = quarantined_upload(&o, "c-1", "etag-c");
    let entry = quarantine_record(&o, "c-1", later);
    let commits = join_all(
        notes
            .iter()
            .map(|n| {
                Box::pin(table.commit_quarantined(&upload, &entry, n)) as std::pin::Pin<Box<_>>
            })
            .collect(),
    )
    .await;
    let committed = commits
        .into_iter()
        .map(|r| ok("commit_quarantined (concurrent)", r))
        .filter(|&c| c)
        .count();
    assert_eq!(
        committed, 1,
        "conformance: concurrent commit_quarantined of one reprocess must record one notification"
    );
    assert_eq!(
        ok(
            "list_notifications",
            table.list_notifications(&o, None, 100).await
        )
        .len(),
        2,
        "conformance: one quarantine plus one reprocess make exactly two notifications"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "c-1").await).map(|u| u.status),
        Some(UploadState::Quarantined)
    );
    // Final again: a later reprocess may claim it.
    assert!(ok("reopen_upload (later)", reopen(table, &o, "c-1").await));
}
