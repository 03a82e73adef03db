//! Export records: put, get, and the running ones restarted after a crash.

use super::*;

/// Exports: put is an upsert, get is owner-scoped.
pub async fn exports(table: &dyn EventTable) {
    let o = owner("exports");
    let running = ExportRecord {
        owner: o.clone(),
        export_id: "x-1".into(),
        status: ExportState::Running,
        query: EventQuery {
            event_type: Some(EventType::SensorReading),
            from: Some(t("1969-12-31T23:59:59.999999999Z")),
            to: Some(t("9999-12-31T23:59:59.999999999Z")),
        },
        created_at: t("2026-11-27T10:00:00.000000001Z"),
        finished_at: None,
        event_count: None,
        result_key: None,
    };
    assert!(ok("get_export (none yet)", table.get_export(&o, "x-1").await).is_none());
    ok("put_export", table.put_export(&running).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(running.clone()),
        "conformance: get_export must return what was put"
    );
    let mine =
        |all: Vec<ExportRecord>| all.into_iter().filter(|e| e.owner == o).collect::<Vec<_>>();
    assert_eq!(
        mine(ok(
            "running_exports",
            table.running_exports(None, 10_000).await
        )),
        vec![running.clone()],
        "conformance: running_exports must list a running export"
    );
    let done = ExportRecord {
        status: ExportState::Done,
        finished_at: Some(t("2026-11-27T10:00:01.999999999Z")),
        event_count: Some(u64::from(u32::MAX) + 7),
        result_key: Some(keys::export_key(&o, "x-1")),
        ..running.clone()
    };
    ok("put_export (update)", table.put_export(&done).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(done.clone()),
        "conformance: put_export must replace the record"
    );
    assert!(
        mine(ok(
            "running_exports",
            table.running_exports(None, 10_000).await
        ))
        .is_empty(),
        "conformance: a finished export is not running"
    );
    let plain = ExportRecord {
        export_id: "x-2".into(),
        query: EventQuery::default(),
        status: ExportState::Failed,
        ..running.clone()
    };
    ok("put_export", table.put_export(&plain).await);
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-2").await),
        Some(plain)
    );
    assert_eq!(
        ok("get_export", table.get_export(&o, "x-1").await),
        Some(done)
    );
    assert!(
        ok(
            "get_export (other owner)",
            table.get_export(&format!("{o}x"), "x-1").await
        )
        .is_none(),
        "conformance: exports are owner-scoped"
    );
}

/// Running exports are paged oldest first by `(created_at, export_id, owner)`, `after`
/// exclusive, so a restart can resume every one of them, however many: two owners with the
/// same export id at the same instant are both listed.
pub async fn running_exports_pages(table: &dyn EventTable) {
    let o = owner("running-pages");
    let twin = owner("running-pages-twin");
    let at = |s: &str| t(s);
    // Two share an instant (ordered by id), one is 1 ns later, one before 1970.
    let made = [
        ("x-b", at("2026-11-27T10:00:00.000000001Z")),
        ("x-a", at("2026-11-27T10:00:00.000000001Z")),
        ("x-c", at("2026-11-27T10:00:00.000000002Z")),
        ("x-0", at("1969-12-31T23:59:59.999999999Z")),
        ("x-z", at("2026-11-28T00:00:00Z")),
    ];
    for (who, (id, created_at)) in made
        .iter()
        .map(|m| (&o, m))
        .chain(std::iter::once((&twin, &made[1])))
    {
        let x = ExportRecord {
            owner: who.clone(),
            export_id: (*id).into(),
            status: ExportState::Running,
            query: EventQuery::default(),
            created_at: *created_at,
            finished_at: None,
            event_count: None,
            result_key: None,
        };
        ok("put_export", table.put_export(&x).await);
    }
    let mut want: Vec<(DateTime<Utc>, String, String)> = made
        .iter()
        .map(|(id, at)| (*at, id.to_string(), o.clone()))
        .chain(std::iter::once((
            made[1].1,
            made[1].0.to_string(),
            twin.clone(),
        )))
        .collect();
    want.sort();
    for limit in [1, 2, 3, 100] {
        let mut seen: Vec<(DateTime<Utc>, String, String)> = Vec::new();
        let mut after: Option<crate::ports::ExportPosition> = None;
        for _ in 0..100_000 {
            let page = ok(
                format!("running_exports(after {after:?}, {limit})"),
                table.running_exports(after.as_ref(), limit).await,
            );
            assert!(
                page.len() <= limit,
                "conformance: running_exports exceeded its limit"
            );
            let Some(last) = page.last() else { break };
            after = Some(crate::ports::ExportPosition::of(last));
            let short = page.len() < limit;
            seen.extend(
                page.into_iter()
                    .filter(|x| x.owner == o || x.owner == twin)
                    .map(|x| (x.created_at, x.export_id, x.owner)),
            );
            if short {
                break;
            }
        }
        assert_eq!(
            seen, want,
            "conformance: paging running_exports with limit {limit} must give each running export once, oldest first"
        );
    }
}

/// The per-owner count of running exports: only running ones, only the owner's, only those
/// created at or after `since`.
pub async fn count_running_exports(table: &dyn EventTable) {
    let o = owner("count-running");
    let other = owner("count-running-other");
    let x = |owner: &str, id: &str, status: ExportState, at: &str| ExportRecord {
        owner: owner.into(),
        export_id: id.into(),
        status,
        query: EventQuery::default(),
        created_at: t(at),
        finished_at: None,
        event_count: None,
        result_key: None,
    };
    let since = t("2026-11-27T10:00:00.000000001Z");
    for e in [
        x(
            &o,
            "x-1",
            ExportState::Running,
            "2026-11-27T10:00:00.000000001Z",
        ),
        x(&o, "x-2", ExportState::Running, "2026-11-27T11:00:00Z"),
        x(&o, "x-old", ExportState::Running, "2026-11-27T10:00:00Z"),
        x(&o, "x-done", ExportState::Done, "2026-11-27T12:00:00Z"),
        x(&o, "x-failed", ExportState::Failed, "2026-11-27T12:00:00Z"),
        x(&other, "x-3", ExportState::Running, "2026-11-27T12:00:00Z"),
    ] {
        ok("put_export", table.put_export(&e).await);
    }
    assert_eq!(
        ok(
            "count_running_exports",
            table.count_running_exports(&o, since).await
        ),
        2,
        "conformance: count_running_exports counts the owner's running exports created at or after `since`"
    );
    assert_eq!(
        ok(
            "count_running_exports",
            table.count_running_exports(&other, since).await
        ),
        1
    );
    assert_eq!(
        ok(
            "count_running_exports",
            table
                .count_running_exports(&owner("count-none"), since)
                .await
        ),
        0
    );
    let finished = ExportRecord {
        status: ExportState::Done,
        finished_at: Some(t("2026-11-27T11:30:00Z")),
        ..x(&o, "x-2", ExportState::Running, "2026-11-27T11:00:00Z")
    };
    ok("put_export", table.put_export(&finished).await);
    assert_eq!(
        ok(
            "count_running_exports",
            table.count_running_exports(&o, since).await
        ),
        1,
        "conformance: a finished export no longer counts"
    );
}
