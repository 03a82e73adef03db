//! Queries over stored events: order, filters, pagination bounds.

use super::*;

/// list_events: `(occurred_at, event_id)` order at nanosecond precision over the whole
/// range of years, filters, and pagination that yields every event exactly once.
pub async fn list_events(table: &dyn EventTable) {
    let o = owner("list");
    let types = ["page.view", "order.placed", "sensor.reading"];
    let mut events = Vec::new();
    // Edges: far past and future, before the epoch, 1 ns apart, equal instants ordered by
    // eventId bytes (`B` < `a` < `a-1` < `a.1` < `a0` < `a:1`), offsets that reorder the
    // local times.
    let edges = [
        ("edge-9999", "9999-12-31T23:59:59.999999999Z"),
        ("edge-0000", "0000-01-01T00:00:00Z"),
        ("edge-1970", "1970-01-01T00:00:00Z"),
        ("edge-1969", "1969-12-31T23:59:59.999999999Z"),
        ("edge-ns-1", "2026-11-27T10:00:00.000000001Z"),
        ("edge-ns-0", "2026-11-27T10:00:00Z"),
        ("edge-ns-2", "2026-11-27T11:00:00.000000002+01:00"),
        ("a:1", "2026-06-01T12:00:00.5Z"),
        ("a0", "2026-06-01T12:00:00.5Z"),
        ("a.1", "2026-06-01T12:00:00.500Z"),
        ("a-1", "2026-06-01T14:00:00.5+02:00"),
        ("a", "2026-06-01T11:00:00.5-01:00"),
        ("B", "2026-06-01T12:00:00.5Z"),
        ("offset-early", "2026-11-27T23:30:00+14:00"),
        ("offset-late", "2026-11-27T00:30:00-12:00"),
    ];
    for (i, (id, at)) in edges.iter().enumerate() {
        events.push(event(&o, id, types[i % 3], at, "l-1", "edge"));
    }
    // Bulk: 250 events spread over years, microseconds and nanoseconds, not in order.
    let base = t("2001-02-03T04:05:06.789012345Z");
    for i in 0..250i64 {
        let at =
            base + Duration::days((i * 7919) % 9000) + Duration::microseconds(i * 13) + ns(i % 7);
        let at_text = if i % 2 == 0 {
            at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        } else {
            at.with_timezone(
                &chrono::FixedOffset::east_opt(-(5 * 3600 + 30 * 60))
                    .unwrap_or_else(|| unreachable!()),
            )
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
        };
        events.push(event(
            &o,
            &format!("bulk-{:03}", (i * 37) % 250),
            types[(i % 3) as usize],
            &at_text,
            "l-2",
            "bulk",
        ));
    }
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "l-1", "etag-l1", edges.len()),
            &events[..edges.len()],
        )
        .await,
    );
    ok(
        "commit_stored",
        store_events(
            table,
            &stored(&o, "l-2", "etag-l2", 250),
            &events[edges.len()..],
        )
        .await,
    );

    let mut expected = events.clone();
    expected.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    let expected_ids = ids(&expected);
    assert_eq!(
        &expected_ids[..2],
        ["edge-0000", "edge-1969"],
        "precondition: test data order"
    );

    let whole = ok(
        "list_events",
        table
            .list_events(&o, &EventQuery::default(), None, 10_000)
            .await,
    );
    assert_eq!(
        ids(&whole),
        expected_ids,
        "conformance: list_events must be in (occurred_at, event_id) order"
    );
    for (g, w) in whole.iter().zip(&expected) {
        assert_event(Some(g.clone()), w, "list_events");
    }
    for limit in [1, 7, 100, 265, 1000] {
        assert_eq!(
            ids(&all_events(table, &o, &EventQuery::default(), limit).await),
            expected_ids,
            "conformance: paging list_events with limit {limit} must give every event exactly once, in order"
        );
    }

    // `after` need not be an event's position.
    let between = EventPosition {
        occurred_at: t("2026-06-01T12:00:00.5Z"),
        event_id: "a/".into(),
    };
    let got = ok(
        "list_events after a position between events",
        table
            .list_events(&o, &EventQuery::default(), Some(&between), 3)
            .await,
    );
    let want: Vec<String> = expected
        .iter()
        .filter(|e| {
            (e.occurred_at, e.event_id.as_str()) > (between.occurred_at, between.event_id.as_str())
        })
        .take(3)
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(&want[..2], ["a0", "a:1"], "precondition: test data order");
    assert_eq!(
        ids(&got),
        want,
        "conformance: `after` is exclusive and compares (occurred_at, event_id)"
    );

    // Filters: type; from inclusive; to exclusive; 1 ns matters.
    let owner_ref: &str = &o;
    let check = |query: EventQuery, filter: Box<dyn Fn(&EventRecord) -> bool + Send + Sync>| {
        let want: Vec<String> = expected
            .iter()
            .filter(|e| filter(e))
            .map(|e| e.event_id.clone())
            .collect();
        async move {
            for limit in [3, 1000] {
                assert_eq!(
                    ids(&all_events(table, owner_ref, &query, limit).await),
                    want,
                    "conformance: list_events with {query:?} (limit {limit})"
                );
            }
        }
    };
    for ty in [
        EventType::PageView,
        EventType::OrderPlaced,
        EventType::SensorReading,
    ] {
        let name = ty.to_string();
        check(
            EventQuery {
                event_type: Some(ty),
                ..Default::default()
            },
            Box::new(move |e| e.event_type == name),
        )
        .await;
    }
    let t0 = t("2026-11-27T10:00:00Z");
    let t1 = t0 + ns(1);
    check(
        EventQuery {
            from: Some(t1),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at >= t1),
    )
    .await;
    check(
        EventQuery {
            to: Some(t1),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at < t1),
    )
    .await;
    let got = all_events(
        table,
        &o,
        &EventQuery {
            from: Some(t0),
            to: Some(t1 + ns(1)),
            ..Default::default()
        },
        10,
    )
    .await;
    assert_eq!(
        ids(&got),
        ["edge-ns-0", "edge-ns-1"],
        "conformance: from is inclusive and to exclusive, to the nanosecond"
    );
    let got = all_events(
        table,
        &o,
        &EventQuery {
            from: Some(t1),
            to: Some(t1 + ns(1)),
            ..Default::default()
        },
        10,
    )
    .await;
    assert_eq!(ids(&got), ["edge-ns-1"]);
    let epoch = t("1970-01-01T00:00:00Z");
    check(
        EventQuery {
            to: Some(epoch),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at < epoch),
    )
    .await;
    let far = t("9999-12-31T23:59:59.999999999Z");
    check(
        EventQuery {
            from: Some(far),
            ..Default::default()
        },
        Box::new(move |e| e.occurred_at >= far),
    )
    .await;
    let (from, to) = (
        t("2005-01-01T00:00:00Z"),
        t("2020-01-01T00:00:00.000000001Z"),
    );
    check(
        EventQuery {
            event_type: Some(EventType::OrderPlaced),
            from: Some(from),
            to: Some(to),
        },
        Box::new(move |e| {
            e.event_type == "order.placed" && e.occurred_at >= from && e.occurred_at < to
        }),
    )
    .await;
    check(
        EventQuery {
            from: Some(to),
            to: Some(from),
            ..Default::default()
        },
        Box::new(|_| false),
    )
    .await;
    // Paging combined with filters, starting after a position.
    let q = EventQuery {
        event_type: Some(EventType::PageView),
        from: Some(from),
        to: None,
    };
    let want: Vec<String> = expected
        .iter()
        .filter(|e| e.event_type == "page.view" && e.occurred_at >= from)
        .map(|e| e.event_id.clone())
        .collect();
    let first = ok("list_events", table.list_events(&o, &q, None, 2).await);
    let after = first.last().map(|e| EventPosition {
        occurred_at: e.occurred_at,
        event_id: e.event_id.clone(),
    });
    let rest = ok(
        "list_events",
        table.list_events(&o, &q, after.as_ref(), 10_000).await,
    );
    assert_eq!(
        [ids(&first), ids(&rest)].concat(),
        want,
        "conformance: filters and `after` combine"
    );
}
