//! Storing an object's events: the commit rule (ARCHITECTURE.md), duplicates and conflicts.

use super::*;

/// commit_stored stores every event and marks the upload stored; replays write nothing;
/// identical events in other uploads are duplicates.
pub async fn commit_stored(table: &dyn EventTable) {
    let o = owner("stored");
    let e1 = event(
        &o,
        "e-1",
        "page.view",
        "2026-11-27T10:30:00.123456789+01:00",
        "s-1",
        "one",
    );
    let e2 = event(
        &o,
        "e-2",
        "order.placed",
        "2026-11-27T09:30:00.123456790Z",
        "s-1",
        "two",
    );
    let e3 = event(
        &o,
        "e-3",
        "sensor.reading",
        "1970-01-01T00:00:00Z",
        "s-1",
        "three",
    );
    let batch = vec![e1.clone(), e2.clone(), e3.clone()];

    // An upload created by the API first: commit_stored updates it, keeping created_at.
    let created = t("2026-11-27T09:00:00.000000001Z");
    assert!(ok(
        "create_upload",
        table.create_upload(&pending(&o, "s-1", created)).await
    ));
    let up = stored(&o, "s-1", "etag-1", 3);
    assert_eq!(
        ok("commit_stored", store_events(table, &up, &batch).await),
        StoreOutcome::Stored {
            inserted: 3,
            duplicates: 0,
            already: false
        },
        "conformance: a first commit_stored inserts every event"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await),
        Some(UploadRecord {
            created_at: created,
            ..up.clone()
        }),
        "conformance: commit_stored must mark the upload stored with its ETag, count and time, keeping created_at"
    );
    for e in &batch {
        assert_event(
            ok("get_event", table.get_event(&o, &e.event_id).await),
            e,
            "after commit_stored",
        );
    }

    // Replay (same upload, same ETag): already, nothing written — even if the events differ.
    let e4 = event(
        &o,
        "e-4",
        "page.view",
        "2026-11-27T10:00:00Z",
        "s-1",
        "four",
    );
    let replay = vec![e1.clone(), e2.clone(), e3.clone(), e4.clone()];
    match ok(
        "commit_stored (replay)",
        store_events(table, &up, &replay).await,
    ) {
        StoreOutcome::Stored {
            inserted: 0,
            already: true,
            ..
        } => {}
        other => panic!(
            "conformance: replaying a stored upload with the same ETag must be Stored {{ already: true, inserted: 0 }}, got {other:?}"
        ),
    }
    assert!(
        ok("get_event", table.get_event(&o, "e-4").await).is_none(),
        "conformance: a replay must write nothing"
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 100)
            .await
            .len(),
        3,
        "conformance: a replay must not duplicate events"
    );

    // The same events in another upload: duplicates, not conflicts; the stored copy is kept.
    let mut again = e1.clone();
    again.upload_id = "s-2".into();
    again.received_at = t("2030-01-01T00:00:00Z");
    let mut e5 = event(
        &o,
        "e-5",
        "page.view",
        "2026-11-27T11:00:00Z",
        "s-2",
        "five",
    );
    e5.received_at = again.received_at;
    let up2 = stored(&o, "s-2", "etag-2", 2);
    assert_eq!(
        ok(
            "commit_stored (with a duplicate)",
            store_events(table, &up2, &[again, e5.clone()]).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 1,
            already: false
        },
        "conformance: an event already stored with the same content is a duplicate"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "e-1").await),
        &e1,
        "a duplicate must not overwrite the stored event",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "e-5").await),
        &e5,
        "after commit_stored",
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-2").await),
        Some(up2),
        "conformance: commit_stored must create a missing upload record"
    );

    // The same key with new content (a new ETag) does not change a final upload: one upload
    // id ends in one state. Only reopen_upload (reprocess) makes it processable again.
    let up1b = stored(&o, "s-1", "etag-1b", 1);
    assert_eq!(
        ok(
            "commit_stored (new ETag)",
            store_events(table, &up1b, std::slice::from_ref(&e1)).await
        ),
        StoreOutcome::AlreadyFinal(UploadState::Stored),
        "conformance: a stored upload must not be finalised again with another ETag"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await).and_then(|u| u.etag),
        Some("etag-1".into()),
        "conformance: AlreadyFinal must leave the upload as it was"
    );
    let at = t("2026-11-27T10:00:00Z");
    assert!(
        !ok(
            "commit_quarantined (stored upload, new ETag)",
            table
                .commit_quarantined(
                    &quarantined_upload(&o, "s-1", "etag-1c"),
                    &quarantine_record(&o, "s-1", at),
                    &quarantine_notification(&format!("n-s1-{}", unique()), "s-1", at),
                )
                .await
        ),
        "conformance: a stored upload must not be quarantined by other content"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "s-1").await).map(|u| u.status),
        Some(UploadState::Stored)
    );
    assert!(ok("get_quarantine", table.get_quarantine(&o, "s-1").await).is_none());

    // The same event twice in one batch: one insert, one duplicate.
    let e6 = event(&o, "e-6", "page.view", "2026-11-27T12:00:00Z", "s-3", "six");
    assert_eq!(
        ok(
            "commit_stored (event twice in a batch)",
            store_events(
                table,
                &stored(&o, "s-3", "etag-3", 2),
                &[e6.clone(), e6.clone()]
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 1,
            already: false
        },
        "conformance: an event repeated identically within one batch is stored once"
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 100)
            .await
            .len(),
        5
    );

    // A large batch is one unit too.
    let big: Vec<EventRecord> = (0..1000)
        .map(|i| {
            event(
                &o,
                &format!("big-{i:04}"),
                "page.view",
                "2026-11-28T00:00:00Z",
                "s-big",
                "big",
            )
        })
        .collect();
    assert_eq!(
        ok(
            "commit_stored (1000 events)",
            store_events(table, &stored(&o, "s-big", "etag-big", 1000), &big).await
        ),
        StoreOutcome::Stored {
            inserted: 1000,
            duplicates: 0,
            already: false
        }
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 1000)
            .await
            .len(),
        1005
    );
}

/// A reused eventId with other content is a conflict, and nothing of the batch is written.
pub async fn commit_stored_conflicts(table: &dyn EventTable) {
    let o = owner("conflict");
    let x1 = event(
        &o,
        "x-1",
        "page.view",
        "2026-11-27T10:00:00Z",
        "c-1",
        "original",
    );
    let x2 = event(
        &o,
        "x-2",
        "page.view",
        "2026-11-27T10:00:01Z",
        "c-1",
        "original",
    );
    assert_eq!(
        ok(
            "commit_stored",
            store_events(
                table,
                &stored(&o, "c-1", "etag-c1", 2),
                &[x1.clone(), x2.clone()]
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 2,
            duplicates: 0,
            already: false
        }
    );

    // 300 events: new ones around two conflicting ones (one in the middle, one last) and
    // one identical duplicate.
    assert!(ok(
        "create_upload",
        table
            .create_upload(&pending(&o, "c-2", t("2026-11-27T10:00:00Z")))
            .await
    ));
    let mut batch: Vec<EventRecord> = (0..297)
        .map(|i| {
            event(
                &o,
                &format!("n-{i:03}"),
                "order.placed",
                "2026-11-27T11:00:00.5Z",
                "c-2",
                "new",
            )
        })
        .collect();
    batch.insert(
        150,
        event(
            &o,
            "x-1",
            "page.view",
            "2026-11-27T10:00:00Z",
            "c-2",
            "changed",
        ),
    );
    batch.insert(
        10,
        event(
            &o,
            "x-2",
            "page.view",
            "2026-11-27T10:00:01Z",
            "c-2",
            "original",
        ),
    );
    batch.push(event(
        &o,
        "x-2",
        "page.view",
        "2026-11-27T10:00:01Z",
        "c-2",
        "changed too",
    ));
    match ok(
        "commit_stored (conflict)",
        store_events(table, &stored(&o, "c-2", "etag-c2", batch.len()), &batch).await,
    ) {
        StoreOutcome::Conflict { event_ids } => assert_eq!(
            event_ids.iter().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from(["x-1".to_string(), "x-2".to_string()]),
            "conformance: Conflict must name exactly the conflicting eventIds"
        ),
        other => panic!(
            "conformance: reusing an eventId with other content must be a Conflict, got {other:?}"
        ),
    }
    for id in ["n-000", "n-149", "n-150", "n-296"] {
        assert!(
            ok("get_event", table.get_event(&o, id).await).is_none(),
            "conformance: after a Conflict nothing of the batch may be written, but {id} was"
        );
    }
    assert_event(
        ok("get_event", table.get_event(&o, "x-1").await),
        &x1,
        "a Conflict must keep the stored event",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x-2").await),
        &x2,
        "a Conflict must keep the stored event",
    );
    assert_eq!(
        all_events(table, &o, &EventQuery::default(), 1000)
            .await
            .len(),
        2,
        "conformance: a Conflict writes nothing"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "c-2").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: after a Conflict the upload must not be marked stored"
    );
    assert!(
        ok("get_upload", table.get_upload(&o, "c-3").await).is_none(),
        "precondition: c-3 does not exist"
    );

    // Within one batch, the same eventId with two contents is a conflict too.
    let y_a = event(&o, "y-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "a");
    let y_b = event(&o, "y-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "b");
    let z = event(&o, "z-1", "page.view", "2026-11-27T10:00:00Z", "c-3", "z");
    match ok(
        "commit_stored (conflict within the batch)",
        store_events(table, &stored(&o, "c-3", "etag-c3", 3), &[z, y_a, y_b]).await,
    ) {
        StoreOutcome::Conflict { event_ids } => assert_eq!(
            event_ids.iter().cloned().collect::<BTreeSet<_>>(),
            BTreeSet::from(["y-1".to_string()])
        ),
        other => panic!(
            "conformance: one eventId with two contents in one batch must be a Conflict, got {other:?}"
        ),
    }
    assert!(ok("get_event", table.get_event(&o, "y-1").await).is_none());
    assert!(
        ok("get_event", table.get_event(&o, "z-1").await).is_none(),
        "conformance: a Conflict writes nothing"
    );
    assert!(
        ok("get_upload", table.get_upload(&o, "c-3").await)
            .is_none_or(|u| u.status != UploadState::Stored),
        "conformance: after a Conflict the upload must not be marked stored"
    );

    // Two owners use the same eventId independently.
    let p = format!("{o}x");
    let theirs = event(
        &p,
        "x-1",
        "page.view",
        "2026-11-27T10:00:00Z",
        "c-1",
        "someone else's",
    );
    assert_eq!(
        ok(
            "commit_stored (other owner, same eventId)",
            store_events(
                table,
                &stored(&p, "c-1", "etag-c1", 1),
                std::slice::from_ref(&theirs)
            )
            .await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: eventIds are per owner: another owner's x-1 is neither a duplicate nor a conflict"
    );
    assert_event(
        ok("get_event", table.get_event(&p, "x-1").await),
        &theirs,
        "other owner",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x-1").await),
        &x1,
        "first owner",
    );
}

/// A pending upload with the ETag of its content, as the processor commits it.
fn committing(owner: &str, upload_id: &str, etag: &str, events: usize) -> UploadRecord {
    stored(owner, upload_id, etag, events)
}

async fn create_pending(table: &dyn EventTable, owner: &str, upload_id: &str) {
    ok(
        "create_upload",
        table
            .create_upload(&pending(owner, upload_id, t("2026-11-27T09:00:00Z")))
            .await,
    );
}

async fn listed_ids(table: &dyn EventTable, owner: &str) -> Vec<String> {
    ids(&all_events(table, owner, &EventQuery::default(), 7).await)
}

/// Held events are invisible (`get_event`, `list_events`) until `mark_stored`, then all of
/// them are listed at once, under the upload.
pub async fn commit_rule_hidden_until_stored(table: &dyn EventTable) {
    let o = owner("hidden");
    let evs: Vec<EventRecord> = (0..3)
        .map(|i| {
            event(
                &o,
                &format!("h-{i}"),
                "page.view",
                "2026-11-27T10:00:00Z",
                "u-1",
                "a",
            )
        })
        .collect();
    create_pending(table, &o, "u-1").await;
    let up = committing(&o, "u-1", "etag-1", 3);
    assert_eq!(
        ok("hold_events", table.hold_events(&up, &evs[..2]).await),
        vec![Held::New, Held::New],
        "conformance: hold_events answers one result per event, in order"
    );
    assert!(
        listed_ids(table, &o).await.is_empty()
            && ok("get_event", table.get_event(&o, "h-0").await).is_none(),
        "conformance: held events must not be listed or readable before mark_stored"
    );
    assert_eq!(
        ok("hold_events", table.hold_events(&up, &evs[2..]).await),
        vec![Held::New]
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "u-1").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: holding events must not change the upload's state"
    );
    assert!(listed_ids(table, &o).await.is_empty());
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up).await),
        MarkStored::Marked
    );
    assert_eq!(listed_ids(table, &o).await, vec!["h-0", "h-1", "h-2"]);
    for e in &evs {
        assert_event(
            ok("get_event", table.get_event(&o, &e.event_id).await),
            e,
            "after mark_stored",
        );
    }
    assert_eq!(
        ok("mark_stored (again)", table.mark_stored(&up).await),
        MarkStored::AlreadyStored,
        "conformance: mark_stored again with the same ETag is a replay"
    );
    let other = committing(&o, "u-1", "etag-other", 3);
    assert_eq!(
        ok("mark_stored (other ETag)", table.mark_stored(&other).await),
        MarkStored::AlreadyFinal(UploadState::Stored),
        "conformance: a stored upload is never stored again with other content"
    );
}

/// A crash between chunks (some events held, the upload pending) lists nothing, and the
/// replay of the whole commit lists every event exactly once.
pub async fn commit_rule_crash_between_chunks(table: &dyn EventTable) {
    let o = owner("crash");
    let n = crate::commit::CHUNK + 30;
    let evs: Vec<EventRecord> = (0..n)
        .map(|i| {
            event(
                &o,
                &format!("c-{i:04}"),
                "order.placed",
                "2026-11-27T10:00:00Z",
                "u-1",
                "a",
            )
        })
        .collect();
    create_pending(table, &o, "u-1").await;
    let up = committing(&o, "u-1", "etag-1", n);
    ok(
        "hold_events (first chunk)",
        table.hold_events(&up, &evs[..crate::commit::CHUNK]).await,
    );
    assert!(
        listed_ids(table, &o).await.is_empty(),
        "conformance: after a crash between chunks nothing of the upload may be listed"
    );
    assert_eq!(
        ok(
            "store_events (replay)",
            store_events(table, &up, &evs).await
        ),
        StoreOutcome::Stored {
            inserted: n as u64,
            duplicates: 0,
            already: false
        },
        "conformance: the replay after a crash between chunks must store every event"
    );
    let listed = listed_ids(table, &o).await;
    let want: Vec<String> = evs.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(
        listed, want,
        "conformance: every event listed exactly once after the replay"
    );
    assert_eq!(
        ok(
            "store_events (second replay)",
            store_events(table, &up, &evs).await
        ),
        StoreOutcome::Stored {
            inserted: 0,
            duplicates: 0,
            already: true
        }
    );
}

/// A live holder with other content (an upload still being committed) is a conflict; the
/// holds of a quarantined upload are void and are taken over.
pub async fn commit_rule_live_and_void_holders(table: &dyn EventTable) {
    let o = owner("holders");
    let a = event(&o, "x", "page.view", "2026-11-27T10:00:00Z", "u-a", "a");
    create_pending(table, &o, "u-a").await;
    let up_a = committing(&o, "u-a", "etag-a", 1);
    ok(
        "hold_events",
        table.hold_events(&up_a, std::slice::from_ref(&a)).await,
    );

    // u-b sends other content under the same eventId while u-a is pending.
    let b = event(&o, "x", "page.view", "2026-11-27T11:00:00Z", "u-b", "b");
    create_pending(table, &o, "u-b").await;
    let up_b = committing(&o, "u-b", "etag-b", 1);
    assert_eq!(
        ok(
            "find_conflicts",
            table.find_conflicts(&up_b, std::slice::from_ref(&b)).await
        ),
        vec!["x".to_string()],
        "conformance: a pending holder with other content is a conflict (pre-check)"
    );
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_b, std::slice::from_ref(&b)).await
        ),
        vec![Held::Conflict],
        "conformance: a pending holder with other content is a conflict (hold)"
    );
    assert_eq!(
        ok(
            "find_conflicts (own holds)",
            table.find_conflicts(&up_a, std::slice::from_ref(&a)).await
        ),
        Vec::<String>::new(),
        "conformance: an upload's own holds are never its conflicts"
    );

    // u-a ends quarantined: its hold is void, and u-b may take the eventId over.
    let rec = quarantine_record(&o, "u-a", t("2026-11-27T10:00:01Z"));
    let n = quarantine_notification(&format!("n-{}", unique()), "u-a", t("2026-11-27T10:00:01Z"));
    ok(
        "commit_quarantined",
        table
            .commit_quarantined(&quarantined_upload(&o, "u-a", "etag-a"), &rec, &n)
            .await,
    );
    assert_eq!(
        ok(
            "store_events",
            store_events(table, &up_b, std::slice::from_ref(&b)).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        },
        "conformance: the holds of a quarantined upload are void and may be taken over"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x").await),
        &b,
        "after a takeover",
    );

    // Now x is listed: other content is a conflict, the same content a duplicate.
    let c = event(&o, "x", "page.view", "2026-11-27T12:00:00Z", "u-c", "c");
    create_pending(table, &o, "u-c").await;
    let up_c = committing(&o, "u-c", "etag-c", 1);
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_c, std::slice::from_ref(&c)).await
        ),
        vec![Held::Conflict],
        "conformance: a listed event with other content is a conflict"
    );
    let same = EventRecord {
        upload_id: "u-c".into(),
        ..b.clone()
    };
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_c, std::slice::from_ref(&same)).await
        ),
        vec![Held::Duplicate],
        "conformance: a listed event with the same content is a duplicate"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "x").await),
        &b,
        "a listed event never changes",
    );
}

/// Two uploads holding the same content at once (a client's retried upload) both store;
/// the event is listed once.
pub async fn commit_rule_concurrent_same_content(table: &dyn EventTable) {
    let o = owner("same");
    let a = event(
        &o,
        "s",
        "sensor.reading",
        "2026-11-27T10:00:00Z",
        "u-a",
        "a",
    );
    let b = EventRecord {
        upload_id: "u-b".into(),
        ..a.clone()
    };
    create_pending(table, &o, "u-a").await;
    create_pending(table, &o, "u-b").await;
    let (up_a, up_b) = (
        committing(&o, "u-a", "ea", 1),
        committing(&o, "u-b", "eb", 1),
    );
    assert_eq!(
        ok(
            "hold",
            table.hold_events(&up_a, std::slice::from_ref(&a)).await
        ),
        vec![Held::New]
    );
    assert_eq!(
        ok(
            "hold",
            table.hold_events(&up_b, std::slice::from_ref(&b)).await
        ),
        vec![Held::New],
        "conformance: the same content held by two pending uploads is no conflict"
    );
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up_b).await),
        MarkStored::Marked
    );
    assert_eq!(
        ok("mark_stored", table.mark_stored(&up_a).await),
        MarkStored::Marked
    );
    assert_eq!(listed_ids(table, &o).await, vec!["s"]);
    assert_eq!(
        ok("get_event", table.get_event(&o, "s").await).map(|e| e.upload_id),
        Some("u-b".to_string()),
        "conformance: a listed event names the upload that first listed it"
    );
}

/// Holds are per content: events held for one ETag are never listed when the upload is
/// stored with another (a second object under a used key), and `release_events` drops them.
pub async fn commit_rule_holds_are_per_content(table: &dyn EventTable) {
    let o = owner("etag");
    create_pending(table, &o, "u-1").await;
    let first = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-1", "a");
    let second = event(&o, "two", "page.view", "2026-11-27T10:00:00Z", "u-1", "b");
    let (up_x, up_y) = (
        committing(&o, "u-1", "etag-x", 1),
        committing(&o, "u-1", "etag-y", 1),
    );
    ok(
        "hold (etag-x)",
        table.hold_events(&up_x, std::slice::from_ref(&first)).await,
    );
    assert_eq!(
        ok(
            "store_events (etag-y)",
            store_events(table, &up_y, std::slice::from_ref(&second)).await
        ),
        StoreOutcome::Stored {
            inserted: 1,
            duplicates: 0,
            already: false
        }
    );
    assert_eq!(
        listed_ids(table, &o).await,
        vec!["two"],
        "conformance: events held for another ETag must never be listed"
    );
    // The etag-x hold is void: other content takes "one" over.
    create_pending(table, &o, "u-2").await;
    let other = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-2", "c");
    assert_eq!(
        ok(
            "find_conflicts",
            table
                .find_conflicts(
                    &committing(&o, "u-2", "e2", 1),
                    std::slice::from_ref(&other)
                )
                .await
        ),
        Vec::<String>::new(),
        "conformance: holds for content other than the stored one are void"
    );
    // Release: drops the hold and the never-listed event with it.
    ok(
        "release_events",
        table.release_events(&up_x, &["one".to_string()]).await,
    );
    ok(
        "release_events (again)",
        table.release_events(&up_x, &["one".to_string()]).await,
    );
    create_pending(table, &o, "u-3").await;
    let up_3 = committing(&o, "u-3", "e3", 1);
    let third = event(&o, "one", "page.view", "2026-11-27T10:00:00Z", "u-3", "d");
    assert_eq!(
        ok(
            "hold_events",
            table.hold_events(&up_3, std::slice::from_ref(&third)).await
        ),
        vec![Held::New]
    );
    ok(
        "release_events",
        table.release_events(&up_3, &["one".to_string()]).await,
    );
    assert_eq!(
        ok(
            "find_conflicts",
            table
                .find_conflicts(
                    &committing(&o, "u-4", "e4", 1),
                    std::slice::from_ref(&first)
                )
                .await
        ),
        Vec::<String>::new(),
        "conformance: a released hold no longer blocks other content"
    );
    assert_eq!(listed_ids(table, &o).await, vec!["two"]);
}

/// `hold_and_mark_stored`, the last step of a commit, whether a backend takes it atomically
/// or as two steps: marks only when no event conflicts, lists what earlier chunks held with
/// it, is a replay when stored already, and holds, takes over and duplicates as
/// `hold_events` does.
pub async fn commit_rule_hold_and_mark_stored(table: &dyn EventTable) {
    let o = owner("last");
    let ev = |id: &str, upload: &str, content: &str| {
        event(&o, id, "page.view", "2026-11-27T10:00:00Z", upload, content)
    };
    let one = |e: &EventRecord| vec![e.clone()];

    // An earlier chunk held; the last chunk repeats one of its holds (a replay after a crash)
    // and brings a new event.
    create_pending(table, &o, "u-1").await;
    let up = committing(&o, "u-1", "etag-1", 3);
    let (a, b, c) = (
        ev("a", "u-1", "a"),
        ev("b", "u-1", "b"),
        ev("c", "u-1", "c"),
    );
    ok(
        "hold_events",
        table.hold_events(&up, &[a.clone(), b.clone()]).await,
    );
    assert_eq!(
        ok(
            "hold_and_mark_stored",
            table
                .hold_and_mark_stored(&up, &[b.clone(), c.clone()])
                .await
        ),
        HoldAndMark::Marked(vec![Held::New, Held::New]),
        "conformance: hold_and_mark_stored holds the last chunk and marks the upload stored"
    );
    assert_eq!(
        listed_ids(table, &o).await,
        vec!["a", "b", "c"],
        "conformance: the earlier chunks are listed with the last"
    );
    for e in [&a, &b, &c] {
        assert_event(
            ok("get_event", table.get_event(&o, &e.event_id).await),
            e,
            "after hold_and_mark_stored",
        );
    }
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "u-1").await).map(|u| (u.status, u.etag)),
        Some((UploadState::Stored, Some("etag-1".to_string())))
    );
    assert_eq!(
        ok(
            "hold_and_mark_stored (replay)",
            table.hold_and_mark_stored(&up, &one(&c)).await
        ),
        HoldAndMark::AlreadyStored,
        "conformance: hold_and_mark_stored on a stored upload with its ETag is a replay"
    );
    assert_eq!(
        ok(
            "hold_and_mark_stored (other ETag)",
            table
                .hold_and_mark_stored(
                    &committing(&o, "u-1", "etag-2", 1),
                    &one(&ev("z", "u-1", "z"))
                )
                .await
        ),
        HoldAndMark::AlreadyFinal(UploadState::Stored),
        "conformance: a stored upload is never stored again with other content"
    );
    assert!(ok("get_event", table.get_event(&o, "z").await).is_none());

    // A conflict in the last chunk: not marked, nothing of it listed.
    create_pending(table, &o, "u-2").await;
    let up2 = committing(&o, "u-2", "etag-1", 2);
    let (d, a_other) = (ev("d", "u-2", "d"), ev("a", "u-2", "other"));
    assert_eq!(
        ok(
            "hold_and_mark_stored (conflict)",
            table
                .hold_and_mark_stored(&up2, &[d.clone(), a_other])
                .await
        ),
        HoldAndMark::Conflict(vec!["a".to_string()]),
        "conformance: a conflicting event in the last chunk is named, and the upload is not marked"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&o, "u-2").await).map(|u| u.status),
        Some(UploadState::Pending),
        "conformance: an upload whose last chunk conflicts stays pending"
    );
    assert!(ok("get_event", table.get_event(&o, "d").await).is_none());
    assert_event(
        ok("get_event", table.get_event(&o, "a").await),
        &a,
        "a conflict never changes a listed event",
    );
    ok(
        "release_events",
        table.release_events(&up2, &["d".to_string()]).await,
    );

    // A listed event with the same content is a duplicate; the holds of a quarantined
    // upload are taken over; the same content held by another pending upload is listed once.
    create_pending(table, &o, "u-q").await;
    let upq = committing(&o, "u-q", "etag-q", 1);
    ok(
        "hold_events",
        table.hold_events(&upq, &one(&ev("v", "u-q", "q"))).await,
    );
    let rec = quarantine_record(&o, "u-q", t("2026-11-27T10:00:01Z"));
    let n = quarantine_notification(&format!("n-{}", unique()), "u-q", t("2026-11-27T10:00:01Z"));
    ok(
        "commit_quarantined",
        table
            .commit_quarantined(&quarantined_upload(&o, "u-q", "etag-q"), &rec, &n)
            .await,
    );
    create_pending(table, &o, "u-p").await;
    let upp = committing(&o, "u-p", "etag-p", 1);
    ok(
        "hold_events",
        table.hold_events(&upp, &one(&ev("s", "u-p", "s"))).await,
    );
    create_pending(table, &o, "u-3").await;
    let up3 = committing(&o, "u-3", "etag-3", 3);
    let (a_same, v, s) = (
        ev("a", "u-3", "a"),
        ev("v", "u-3", "v"),
        ev("s", "u-3", "s"),
    );
    assert_eq!(
        ok(
            "hold_and_mark_stored",
            table
                .hold_and_mark_stored(&up3, &[a_same, v.clone(), s.clone()])
                .await
        ),
        HoldAndMark::Marked(vec![Held::Duplicate, Held::New, Held::New]),
        "conformance: hold_and_mark_stored answers as hold_events does: duplicate, takeover, shared content"
    );
    assert_event(
        ok("get_event", table.get_event(&o, "v").await),
        &v,
        "taken over from a quarantined upload",
    );
    assert_event(
        ok("get_event", table.get_event(&o, "s").await),
        &s,
        "listed by the first upload stored",
    );
    assert_eq!(
        ok("mark_stored", table.mark_stored(&upp).await),
        MarkStored::Marked
    );
    assert_eq!(
        ok("get_event", table.get_event(&o, "s").await).map(|e| e.upload_id),
        Some("u-3".to_string()),
        "conformance: a listed event names the upload that first listed it"
    );
    assert_eq!(listed_ids(table, &o).await, vec!["a", "b", "c", "s", "v"]);
}
