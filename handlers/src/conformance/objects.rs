//! The object store: round trips, ETags, size limits, copy, list, bucket independence.

use super::*;

// ---------------------------------------------------------------------------------------
// ObjectStore

fn prefix(tag: &str) -> String {
    format!("conformance/{tag}-{}/", unique())
}

#[track_caller]
fn assert_same_object(got: &ObjectInfo, want: &ObjectInfo, what: &str) {
    assert_eq!(
        (&got.key, got.size, &got.etag),
        (&want.key, want.size, &want.etag),
        "conformance: {what}: key, size and ETag must match"
    );
}

async fn head(store: &dyn ObjectStore, bucket: Bucket, key: &str) -> Option<ObjectInfo> {
    ok(
        format!("head({bucket:?}, {key})"),
        store.head(bucket, key).await,
    )
}

async fn get_bytes(store: &dyn ObjectStore, bucket: Bucket, key: &str) -> Option<Bytes> {
    ok(
        format!("get({bucket:?}, {key})"),
        store.get(bucket, key, u64::MAX).await,
    )
    .map(|o| o.bytes)
}

async fn put(store: &dyn ObjectStore, bucket: Bucket, key: &str, bytes: &[u8]) -> ObjectInfo {
    let info = ok(
        format!("put({bucket:?}, {key})"),
        store
            .put(
                bucket,
                key,
                Bytes::copy_from_slice(bytes),
                "application/json",
            )
            .await,
    );
    assert_eq!(
        info.key, key,
        "conformance: put must return the object's key"
    );
    assert_eq!(
        info.size,
        bytes.len() as u64,
        "conformance: put must return the object's size"
    );
    assert!(
        !info.etag.is_empty(),
        "conformance: put must return an ETag"
    );
    info
}

async fn cleanup(store: &dyn ObjectStore, bucket: Bucket, prefix: &str) {
    loop {
        let page = ok(
            "list (clean-up)",
            store.list(bucket, prefix, None, 500).await,
        );
        if page.is_empty() {
            break;
        }
        for o in page {
            ok("delete (clean-up)", store.delete(bucket, &o.key).await);
        }
    }
}

/// put → head → get return the same key, size and ETag and the exact bytes, for nested
/// keys, binary and empty content and an object of several MiB.
pub async fn objects_round_trip(store: &dyn ObjectStore) {
    let p = prefix("round-trip");
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{p}a/b/c/d/e.json"),
            br#"[{"eventId":"a"}]"#.to_vec(),
        ),
        (format!("{p}top.json"), b"{}".to_vec()),
        (
            format!("{p}binary.bin"),
            (0..=255u8).chain([0xff, 0xfe, 0, 0xc3]).collect(),
        ),
        (format!("{p}empty.json"), Vec::new()),
        (
            format!("{p}unicode é ü/sp ace+%3D=:~.json"),
            "{\"x\":\"ñ ✓\"}".as_bytes().to_vec(),
        ),
        (
            format!("{p}large/5mib.json"),
            (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect(),
        ),
    ];
    let now = Utc::now();
    for (key, bytes) in &cases {
        let info = put(store, Bucket::Process, key, bytes).await;
        let h = head(store, Bucket::Process, key)
            .await
            .unwrap_or_else(|| panic!("conformance: head after put of {key} found nothing"));
        assert_same_object(&h, &info, &format!("head after put of {key}"));
        assert!(
            (h.last_modified - now).num_hours().abs() < 24,
            "conformance: head of {key}: last_modified {} is not the time of the put",
            h.last_modified
        );
        let o = ok(
            format!("get {key} with max_bytes = its size"),
            store.get(Bucket::Process, key, bytes.len() as u64).await,
        )
        .unwrap_or_else(|| panic!("conformance: get after put of {key} found nothing"));
        assert_same_object(&o.info, &info, &format!("get after put of {key}"));
        assert!(
            o.bytes.as_ref() == bytes.as_slice(),
            "conformance: get of {key} returned other bytes ({} instead of {})",
            o.bytes.len(),
            bytes.len()
        );
    }
    cleanup(store, Bucket::Process, &p).await;
}

/// The ETag changes whenever the content changes, even for content of the same size
/// written within the same second.
pub async fn objects_etags(store: &dyn ObjectStore) {
    let p = prefix("etags");
    let key = format!("{p}incoming/owner/u.json");
    let a = put(store, Bucket::Process, &key, b"content number 1").await;
    let b = put(store, Bucket::Process, &key, b"content number 2").await;
    assert_ne!(
        a.etag, b.etag,
        "conformance: the ETag must change when the content changes (same size, same second)"
    );
    let h = head(store, Bucket::Process, &key).await;
    assert_eq!(
        h.as_ref().map(|h| (h.size, h.etag.clone())),
        Some((b.size, b.etag.clone())),
        "conformance: head after an overwrite must describe the new content"
    );
    assert_eq!(
        get_bytes(store, Bucket::Process, &key).await.as_deref(),
        Some(&b"content number 2"[..]),
        "conformance: get after an overwrite must return the new content"
    );
    let c = put(
        store,
        Bucket::Process,
        &key,
        b"a longer content than before",
    )
    .await;
    assert!(
        c.etag != b.etag && c.etag != a.etag,
        "conformance: a third content must have a third ETag"
    );
    // Same content again: the ETag may or may not repeat, but must differ from the last one.
    let d = put(store, Bucket::Process, &key, b"content number 1").await;
    assert_ne!(
        d.etag, c.etag,
        "conformance: the ETag must change back with the content"
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// `get` with `max_bytes` below the size is a permanent error, never a truncated read.
pub async fn objects_size_limit(store: &dyn ObjectStore) {
    let p = prefix("size-limit");
    let key = format!("{p}big.json");
    let bytes = vec![b'x'; 1000];
    put(store, Bucket::Process, &key, &bytes).await;
    for max in [0u64, 1, 999] {
        match store.get(Bucket::Process, &key, max).await {
            Ok(Some(o)) => panic!(
                "conformance: get with max_bytes {max} of a 1000-byte object must fail, got {} bytes",
                o.bytes.len()
            ),
            Ok(None) => panic!(
                "conformance: get with max_bytes {max} must fail, not report a missing object"
            ),
            Err(e) => assert!(
                !e.retryable,
                "conformance: an object larger than max_bytes is a permanent error (retrying cannot help): {e}"
            ),
        }
    }
    let o = ok(
        "get with max_bytes = size",
        store.get(Bucket::Process, &key, 1000).await,
    );
    assert_eq!(
        o.map(|o| o.bytes.len()),
        Some(1000),
        "conformance: max_bytes is inclusive"
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// `read` tells what `head` and `get` tell, in one step: the whole object within the bound,
/// only its description above it, `None` when missing.
pub async fn objects_read_within_a_bound(store: &dyn ObjectStore) {
    let p = prefix("read");
    let key = format!("{p}x.json");
    let bytes = br#"{"read":"within"}"#;
    let stored = put(store, Bucket::Process, &key, bytes).await;
    let n = bytes.len() as u64;
    for max in [n, n + 1, u64::MAX] {
        match ok("read within", store.read(Bucket::Process, &key, max).await) {
            Some(Read::Whole(o)) => {
                assert_same_object(&o.info, &stored, "read (whole)");
                assert_eq!(
                    &o.bytes[..],
                    bytes,
                    "conformance: read must return the content"
                );
            }
            other => panic!("conformance: read with max_bytes {max} of {n} bytes: {other:?}"),
        }
    }
    for max in [0, n - 1] {
        match ok("read above", store.read(Bucket::Process, &key, max).await) {
            Some(Read::TooLarge(info)) => assert_same_object(&info, &stored, "read (too large)"),
            other => panic!(
                "conformance: read with max_bytes {max} of {n} bytes must describe it as too large, got {other:?}"
            ),
        }
    }
    let missing = format!("{p}missing.json");
    assert!(
        ok(
            "read missing",
            store.read(Bucket::Process, &missing, 10).await
        )
        .is_none(),
        "conformance: read of a missing object must be None"
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// Missing objects are `None` everywhere; delete is idempotent.
pub async fn objects_missing_and_delete(store: &dyn ObjectStore) {
    let p = prefix("missing");
    let key = format!("{p}gone/x.json");
    assert!(
        head(store, Bucket::Process, &key).await.is_none(),
        "conformance: head of a missing object must be None"
    );
    assert!(
        ok("get missing", store.get(Bucket::Process, &key, 10).await).is_none(),
        "conformance: get of a missing object must be None"
    );
    ok(
        "delete of a missing object",
        store.delete(Bucket::Process, &key).await,
    );

    put(store, Bucket::Process, &key, b"soon gone").await;
    let sibling = format!("{p}gone/y.json");
    put(store, Bucket::Process, &sibling, b"stays").await;
    ok("delete", store.delete(Bucket::Process, &key).await);
    assert!(
        head(store, Bucket::Process, &key).await.is_none(),
        "conformance: head after delete must be None"
    );
    assert!(
        get_bytes(store, Bucket::Process, &key).await.is_none(),
        "conformance: get after delete must be None"
    );
    ok("second delete", store.delete(Bucket::Process, &key).await);
    assert_eq!(
        get_bytes(store, Bucket::Process, &sibling).await.as_deref(),
        Some(&b"stays"[..]),
        "conformance: delete must not touch other keys"
    );
    let listed = ok(
        "list after delete",
        store.list(Bucket::Process, &p, None, 100).await,
    );
    assert_eq!(
        listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        vec![sibling.as_str()],
        "conformance: a deleted object must not be listed"
    );
    // Deleting the last object under a "directory" and writing there again works.
    ok("delete", store.delete(Bucket::Process, &sibling).await);
    put(store, Bucket::Process, &key, b"back").await;
    assert_eq!(
        get_bytes(store, Bucket::Process, &key).await.as_deref(),
        Some(&b"back"[..])
    );
    cleanup(store, Bucket::Process, &p).await;
}

/// An object written in parts (`ObjectStore::writer`): invisible until `finish`, then whole
/// (parts in order, the size and ETag `head` reports); a single part, no part, and an aborted
/// writer (nothing left, the old content kept).
pub async fn objects_written_in_parts(store: &dyn ObjectStore) {
    let p = prefix("parts");
    let key = format!("{p}big.ndjson");
    let parts: Vec<Bytes> = (0..3u8)
        .map(|i| {
            let len = if i < 2 { MIN_PART_BYTES } else { 1234 };
            Bytes::from(vec![b'a' + i; len])
        })
        .collect();
    let mut w = ok(
        "writer",
        store
            .writer(Bucket::Exports, &key, "application/x-ndjson")
            .await,
    );
    for part in &parts {
        ok("write", w.write(part.clone()).await);
        assert!(
            head(store, Bucket::Exports, &key).await.is_none(),
            "conformance: an object written in parts must not be visible before finish"
        );
    }
    let info = ok("finish", w.finish().await);
    let want: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(
        info.size,
        want.len() as u64,
        "conformance: finish reports the size"
    );
    let h = head(store, Bucket::Exports, &key)
        .await
        .expect("conformance: the finished object must exist");
    assert_same_object(&h, &info, "head after finish");
    let got = ok(
        "get",
        store.get(Bucket::Exports, &key, want.len() as u64).await,
    )
    .expect("conformance: get after finish");
    assert!(
        got.bytes[..] == want[..],
        "conformance: the object is its parts, in order"
    );

    // One part, and no part at all.
    let small = format!("{p}small.ndjson");
    let mut w = ok(
        "writer",
        store.writer(Bucket::Exports, &small, "text/plain").await,
    );
    ok("write", w.write(Bytes::from_static(b"one line\n")).await);
    ok("finish", w.finish().await);
    assert_eq!(
        get_bytes(store, Bucket::Exports, &small).await.as_deref(),
        Some(&b"one line\n"[..])
    );
    let empty = format!("{p}empty.ndjson");
    let w = ok(
        "writer",
        store.writer(Bucket::Exports, &empty, "text/plain").await,
    );
    let info = ok("finish", w.finish().await);
    assert_eq!(info.size, 0);
    assert_eq!(
        get_bytes(store, Bucket::Exports, &empty).await.as_deref(),
        Some(&b""[..])
    );

    // Aborted over an existing object: nothing changes.
    let mut w = ok(
        "writer",
        store.writer(Bucket::Exports, &small, "text/plain").await,
    );
    ok("write", w.write(parts[0].clone()).await);
    ok("write", w.write(parts[2].clone()).await);
    ok("abort", w.abort().await);
    assert_eq!(
        get_bytes(store, Bucket::Exports, &small).await.as_deref(),
        Some(&b"one line\n"[..]),
        "conformance: an aborted writer must leave the old content"
    );
    let fresh = format!("{p}aborted.ndjson");
    let mut w = ok(
        "writer",
        store.writer(Bucket::Exports, &fresh, "text/plain").await,
    );
    ok("write", w.write(parts[0].clone()).await);
    ok("write", w.write(parts[1].clone()).await);
    ok("abort", w.abort().await);
    assert!(
        head(store, Bucket::Exports, &fresh).await.is_none(),
        "conformance: an aborted writer must leave no object"
    );
    cleanup(store, Bucket::Exports, &p).await;
}

/// Copy between buckets and within one, overwriting; a missing source is `None` and leaves
/// the target as it was.
pub async fn objects_copy(store: &dyn ObjectStore) {
    let p = prefix("copy");
    let src = format!("{p}incoming/alice/u1.json");
    let src_info = put(store, Bucket::Process, &src, b"[1,2,3]").await;

    let dst = format!("{p}alice/u1.json");
    let copied = ok(
        "copy process → quarantine",
        store
            .copy(Bucket::Process, &src, Bucket::Quarantine, &dst)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy of an existing object returned None"));
    assert_eq!(
        (copied.key.as_str(), copied.size),
        (dst.as_str(), 7),
        "conformance: copy must describe the target"
    );
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );
    let h = head(store, Bucket::Quarantine, &dst).await;
    assert_eq!(
        h.map(|h| h.etag),
        Some(copied.etag.clone()),
        "conformance: head of a copy must match what copy returned"
    );
    assert_same_object(
        &head(store, Bucket::Process, &src)
            .await
            .unwrap_or_else(|| panic!("conformance: copy must keep the source")),
        &src_info,
        "source after copy",
    );

    // Overwrite an existing, longer target.
    let dst2 = format!("{p}deep/er/target.json");
    put(
        store,
        Bucket::Quarantine,
        &dst2,
        b"an older and much longer content",
    )
    .await;
    let over = ok(
        "copy over an existing target",
        store
            .copy(Bucket::Process, &src, Bucket::Quarantine, &dst2)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy over an existing target returned None"));
    assert_eq!(over.size, 7, "conformance: copy must overwrite the target");
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst2).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );

    // Within one bucket.
    let same = format!("{p}incoming/alice/u2.json");
    ok(
        "copy within a bucket",
        store
            .copy(Bucket::Process, &src, Bucket::Process, &same)
            .await,
    )
    .unwrap_or_else(|| panic!("conformance: copy within a bucket returned None"));
    assert_eq!(
        get_bytes(store, Bucket::Process, &same).await.as_deref(),
        Some(&b"[1,2,3]"[..])
    );

    // Missing source: None, and the target is untouched.
    let missing = format!("{p}incoming/alice/missing.json");
    assert!(
        ok(
            "copy of a missing source",
            store
                .copy(Bucket::Process, &missing, Bucket::Quarantine, &dst)
                .await
        )
        .is_none(),
        "conformance: copy of a missing source must be None"
    );
    assert_eq!(
        get_bytes(store, Bucket::Quarantine, &dst).await.as_deref(),
        Some(&b"[1,2,3]"[..]),
        "conformance: a failed copy must leave the target as it was"
    );
    let fresh = format!("{p}never/created.json");
    assert!(
        ok(
            "copy of a missing source",
            store
                .copy(Bucket::Process, &missing, Bucket::Quarantine, &fresh)
                .await
        )
        .is_none()
    );
    assert!(
        head(store, Bucket::Quarantine, &fresh).await.is_none(),
        "conformance: a failed copy must not create the target"
    );

    cleanup(store, Bucket::Process, &p).await;
    cleanup(store, Bucket::Quarantine, &p).await;
}

/// list: string prefixes (not only at `/`), key order (bytes, not directory walk order),
/// `start_after`, `limit`, and the size and ETag of each object.
pub async fn objects_list(store: &dyn ObjectStore) {
    let root = prefix("list");
    let p = format!("{root}l/");
    // In key (byte) order. A directory walk sorted per directory would put `a/…` before
    // `a-c` and `a.d`; the order is that of the whole key.
    let names = ["B", "a-c", "a.d", "a/b", "a/c/d/e", "a0", "ab", "b0/x", "é"];
    let mut infos = Vec::new();
    // Written out of order.
    for name in names.iter().rev() {
        let key = format!("{p}{name}");
        infos.push(
            put(
                store,
                Bucket::Exports,
                &key,
                format!("content of {name}").as_bytes(),
            )
            .await,
        );
    }
    infos.reverse();
    // Keys that share the prefix's characters but not the prefix.
    let outside = [
        format!("{root}l2/x"),
        format!("{root}k"),
        format!("{root}l.txt"),
    ];
    for key in &outside {
        put(store, Bucket::Exports, key, b"outside").await;
    }
    let keys_of = |v: &[ObjectInfo]| v.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
    let all: Vec<String> = names.iter().map(|n| format!("{p}{n}")).collect();
    let list = |prefix: String, start_after: Option<String>, limit: usize| async move {
        ok(
            format!("list(exports, {prefix:?}, {start_after:?}, {limit})"),
            store
                .list(Bucket::Exports, &prefix, start_after.as_deref(), limit)
                .await,
        )
    };

    let got = list(p.clone(), None, 1000).await;
    assert_eq!(
        keys_of(&got),
        all,
        "conformance: list must return every key under the prefix, in key order"
    );
    for (g, want) in got.iter().zip(&infos) {
        assert_same_object(g, want, "list entry");
    }
    let sub = |names: &[&str]| names.iter().map(|n| format!("{p}{n}")).collect::<Vec<_>>();
    assert_eq!(
        keys_of(&list(format!("{p}a"), None, 1000).await),
        sub(&["a-c", "a.d", "a/b", "a/c/d/e", "a0", "ab"]),
        "conformance: a prefix is a string prefix, not a directory"
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/"), None, 1000).await),
        sub(&["a/b", "a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/c"), None, 1000).await),
        sub(&["a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}a/c/d/e"), None, 1000).await),
        sub(&["a/c/d/e"])
    );
    assert_eq!(
        keys_of(&list(format!("{p}b"), None, 1000).await),
        sub(&["b0/x"]),
        "conformance: prefixes are case-sensitive"
    );
    assert!(
        list(format!("{p}zz"), None, 1000).await.is_empty(),
        "conformance: no match → empty"
    );
    assert!(list(format!("{p}a/c/d/e/"), None, 1000).await.is_empty());
    let mut with_outside = all.clone();
    with_outside.insert(0, format!("{root}l.txt"));
    with_outside.push(format!("{root}l2/x"));
    assert_eq!(
        keys_of(&list(format!("{root}l"), None, 1000).await),
        with_outside,
        "conformance: list must include keys continuing the prefix without `/`"
    );

    // start_after: strictly after, whether or not it names a key.
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a.d")), 1000).await),
        all[3..].to_vec(),
        "conformance: start_after is exclusive"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a/bz")), 1000).await),
        all[4..].to_vec(),
        "conformance: start_after need not be a key"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(root.clone()), 1000).await),
        all,
        "conformance: start_after before the prefix"
    );
    assert!(
        list(p.clone(), Some(format!("{p}é")), 1000)
            .await
            .is_empty(),
        "conformance: start_after the last key → empty"
    );
    assert!(
        list(p.clone(), Some(format!("{p}\u{10FFFF}")), 1000)
            .await
            .is_empty()
    );

    // limit, and paging with start_after.
    assert_eq!(
        keys_of(&list(p.clone(), None, 3).await),
        all[..3].to_vec(),
        "conformance: limit keeps the first keys"
    );
    assert_eq!(
        keys_of(&list(p.clone(), Some(format!("{p}a/b")), 2).await),
        all[4..6].to_vec()
    );
    for limit in [1, 2, 4] {
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = list(p.clone(), after.clone(), limit).await;
            assert!(
                page.len() <= limit,
                "conformance: list returned more than limit"
            );
            if page.is_empty() {
                break;
            }
            after = page.last().map(|o| o.key.clone());
            paged.extend(keys_of(&page));
        }
        assert_eq!(
            paged, all,
            "conformance: paging with limit {limit} must give every key once, in order"
        );
    }

    // Other buckets hold none of these.
    assert!(
        ok(
            "list in another bucket",
            store.list(Bucket::Process, &root, None, 1000).await
        )
        .is_empty(),
        "conformance: list must only return keys of its bucket"
    );
    cleanup(store, Bucket::Exports, &root).await;
    assert!(
        ok(
            "list after clean-up",
            store.list(Bucket::Exports, &root, None, 10).await
        )
        .is_empty()
    );
}

/// The same key in the three buckets holds three objects.
pub async fn objects_buckets_are_independent(store: &dyn ObjectStore) {
    let p = prefix("buckets");
    let key = format!("{p}same/key.json");
    let buckets = [Bucket::Process, Bucket::Quarantine, Bucket::Exports];
    for b in buckets {
        put(store, b, &key, format!("in {b:?}").as_bytes()).await;
    }
    for b in buckets {
        assert_eq!(
            get_bytes(store, b, &key).await,
            Some(Bytes::from(format!("in {b:?}"))),
            "conformance: buckets must be independent"
        );
    }
    ok(
        "delete in quarantine",
        store.delete(Bucket::Quarantine, &key).await,
    );
    assert!(head(store, Bucket::Quarantine, &key).await.is_none());
    for b in [Bucket::Process, Bucket::Exports] {
        assert!(
            head(store, b, &key).await.is_some(),
            "conformance: a delete in one bucket must not touch the others"
        );
        let listed = ok("list", store.list(b, &p, None, 10).await);
        assert_eq!(
            listed.len(),
            1,
            "conformance: each bucket lists its own objects"
        );
    }
    assert!(ok("list", store.list(Bucket::Quarantine, &p, None, 10).await).is_empty());
    for b in buckets {
        cleanup(store, b, &p).await;
    }
}
