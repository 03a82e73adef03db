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
        mine(ok("running_exports", table.running_exports(10_000).await)),
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
        mine(ok("running_exports", table.running_exports(10_000).await)).is_empty(),
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
