//! The upload ledger: create, read, and what `create_upload` must never overwrite.

use super::*;

/// create_upload is insert-if-absent, per owner; get_upload is owner-scoped.
pub async fn uploads(table: &dyn EventTable) {
    let a = owner("uploads");
    // b has a as a prefix: catches "begins with" lookups.
    let b = format!("{a}x");
    let created = t("2026-11-27T08:00:00.000000007Z");
    let up = pending(&a, "up-1", created);

    assert!(ok("get_upload (none yet)", table.get_upload(&a, "up-1").await).is_none());
    assert!(
        ok("create_upload", table.create_upload(&up).await),
        "conformance: create_upload of a new id must return true"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up.clone()),
        "conformance: get_upload must return the upload as created (nanoseconds included)"
    );
    let again = UploadRecord {
        key: "incoming/other/key.json".into(),
        created_at: created + Duration::hours(1),
        ..up.clone()
    };
    assert!(
        !ok("create_upload (again)", table.create_upload(&again).await),
        "conformance: create_upload of an existing id must return false"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up.clone()),
        "conformance: a refused create_upload must change nothing"
    );

    // Another owner never sees it, and may use the same id for an upload of its own.
    assert!(
        ok(
            "get_upload (other owner)",
            table.get_upload(&b, "up-1").await
        )
        .is_none(),
        "conformance: another owner must not see an upload"
    );
    assert!(
        ok(
            "get_upload (prefix owner)",
            table.get_upload(&a[..a.len() - 1], "up-1").await
        )
        .is_none()
    );
    let theirs = pending(&b, "up-1", t("1970-01-01T00:00:00Z"));
    assert!(
        ok(
            "create_upload (other owner, same id)",
            table.create_upload(&theirs).await
        ),
        "conformance: upload ids are per owner"
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&b, "up-1").await),
        Some(theirs)
    );
    assert_eq!(
        ok("get_upload", table.get_upload(&a, "up-1").await),
        Some(up)
    );
    assert!(
        ok(
            "get_upload (missing id)",
            table.get_upload(&a, "up-2").await
        )
        .is_none()
    );
}
