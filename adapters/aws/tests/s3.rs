//! `S3ObjectStore` on moto: the object-store conformance suite, and what is S3's own
//! (size guard, copy-source encoding, error classification).

mod common;

use bytes::Bytes;
use common::{buckets, clients, moto, unique};
use eventpulse_aws::{Clients, S3Buckets, S3ObjectStore};
use eventpulse_handlers::ports::{Bucket, ObjectStore, PortError};

async fn store() -> S3ObjectStore {
    let clients = clients().await;
    let buckets = buckets(&clients).await;
    let store = S3ObjectStore::new(clients.s3, buckets);
    store.check_buckets().await.expect("the buckets exist");
    store
}

/// Fresh buckets per check.
async fn conformance_store() -> ((), std::sync::Arc<dyn ObjectStore>) {
    ((), std::sync::Arc::new(store().await))
}

mod conformance {
    eventpulse_handlers::object_store_conformance!(super::conformance_store);
}

#[tokio::test]
async fn get_refuses_objects_over_the_limit_before_reading_them() {
    let store = store().await;
    let info = store
        .put(
            Bucket::Process,
            "big.json",
            Bytes::from(vec![b'x'; 4096]),
            "application/json",
        )
        .await
        .expect("put");
    assert_eq!(info.size, 4096);
    assert!(
        !info.etag.contains('"'),
        "ETag without quotes: {}",
        info.etag
    );
    let e = store
        .get(Bucket::Process, "big.json", 4095)
        .await
        .expect_err("over the limit");
    assert!(
        !e.retryable && e.message.contains("larger than the 4095 bytes"),
        "{e}"
    );
    let o = store
        .get(Bucket::Process, "big.json", 4096)
        .await
        .expect("at the limit")
        .expect("present");
    assert_eq!((o.bytes.len(), o.info.etag), (4096, info.etag));
}

#[tokio::test]
async fn copy_encodes_awkward_keys() {
    let store = store().await;
    for key in [
        "incoming/alice/sp ace.json",
        "incoming/alice/plus+equals=percent%25.json",
        "incoming/ünïcødé/日本 語 ✓.json",
        "incoming/alice/q?hash#amp&semi;colon:at@.json",
        "incoming/alice/~tilde'quote\"(paren)*!.json",
    ] {
        let body = Bytes::from(format!("content of {key}"));
        store
            .put(Bucket::Process, key, body.clone(), "application/json")
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        let target = format!("copied/{key}");
        let info = store
            .copy(Bucket::Process, key, Bucket::Quarantine, &target)
            .await
            .unwrap_or_else(|e| panic!("copy {key}: {e}"))
            .unwrap_or_else(|| panic!("copy {key}: source reported missing"));
        assert_eq!(
            (info.key.as_str(), info.size),
            (target.as_str(), body.len() as u64)
        );
        let got = store
            .get(Bucket::Quarantine, &target, 1024)
            .await
            .expect("get copy")
            .expect("copy present");
        assert_eq!(got.bytes, body, "{key}");
        assert_eq!(got.info.etag, info.etag, "{key}");
    }
}

#[track_caller]
fn assert_permanent<T: std::fmt::Debug>(what: &str, r: Result<T, PortError>, code: &str) {
    match r {
        Err(e) => assert!(
            !e.retryable && e.message.contains(code),
            "{what}: expected a permanent {code} error, got {e:?}"
        ),
        Ok(v) => panic!("{what}: expected a permanent {code} error, got {v:?}"),
    }
}

#[tokio::test]
async fn a_missing_bucket_is_a_permanent_error() {
    let clients = clients().await;
    let missing = S3Buckets {
        process: unique("missing"),
        quarantine: unique("missing"),
        exports: unique("missing"),
    };
    let store = S3ObjectStore::new(clients.s3.clone(), missing);
    let b = Bucket::Process;
    // HEAD answers a bare 404 for a missing bucket as for a missing key; the start-up check
    // is what catches the bucket.
    assert_eq!(store.head(b, "k.json").await, Ok(None));
    let e = store.check_buckets().await.expect_err("missing buckets");
    assert!(!e.retryable && e.message.contains("HeadBucket"), "{e:?}");
    assert_permanent(
        "put",
        store
            .put(b, "k.json", Bytes::from_static(b"{}"), "application/json")
            .await,
        "NoSuchBucket",
    );
    assert_permanent("get", store.get(b, "k.json", 10).await, "NoSuchBucket");
    assert_permanent("list", store.list(b, "", None, 10).await, "NoSuchBucket");
    assert_permanent("delete", store.delete(b, "k.json").await, "NoSuchBucket");
    // A copy into a missing bucket, from one that exists.
    let real = buckets(&clients).await;
    let store = S3ObjectStore::new(
        clients.s3,
        S3Buckets {
            quarantine: unique("missing"),
            ..real
        },
    );
    let e = store.check_buckets().await.expect_err("quarantine missing");
    assert!(e.message.contains("Quarantine"), "{e:?}");
    store
        .put(b, "k.json", Bytes::from_static(b"{}"), "application/json")
        .await
        .expect("put");
    assert_permanent(
        "copy",
        store.copy(b, "k.json", Bucket::Quarantine, "k.json").await,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transient_error() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let clients = Clients::for_endpoint(&moto(&format!("http://127.0.0.1:{port}"))).await;
    let store = S3ObjectStore::new(
        clients.s3,
        S3Buckets {
            process: unique("nowhere"),
            quarantine: unique("nowhere"),
            exports: unique("nowhere"),
        },
    );
    let e = store
        .head(Bucket::Process, "k.json")
        .await
        .expect_err("nothing listens there");
    assert!(e.retryable, "a refused connection is transient: {e:?}");
    let e = store
        .put(
            Bucket::Exports,
            "k.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .expect_err("nothing listens there");
    assert!(e.retryable, "a refused connection is transient: {e:?}");
}
