//! `S3Presigner` on moto. moto checks neither presigned signatures nor expiry, so what the
//! URL promises is checked on the URL itself (what is signed, for how long, for which key),
//! and what S3 does with it (the upload lands; a second PUT is refused) through moto.

mod common;

use bytes::Bytes;
use chrono::{Duration, Utc};
use common::{buckets, clients};
use eventpulse_aws::{S3Buckets, S3ObjectStore, S3Presigner};
use eventpulse_handlers::ports::{Bucket, ObjectStore, PresignedRequest};

async fn setup() -> (S3Buckets, S3ObjectStore, S3Presigner) {
    let clients = clients().await;
    let buckets = buckets(&clients).await;
    (
        buckets.clone(),
        S3ObjectStore::new(clients.s3.clone(), buckets.clone()),
        S3Presigner::new(clients.s3, buckets),
    )
}

/// The decoded query parameters of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    let parsed = reqwest::Url::parse(url).expect("presigned URL parses");
    parsed.query_pairs().into_owned().collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the URL has no {name}: {q:?}"))
}

/// PUTs `body` as a client would: the URL, its method, and every header it lists.
async fn upload(r: &PresignedRequest, body: &'static [u8]) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, &r.url);
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    req.body(body)
        .send()
        .await
        .expect("PUT through the presigned URL")
}

#[tokio::test]
async fn upload_urls_sign_type_length_and_create_only() {
    let (buckets, store, presigner) = setup().await;
    let key = "incoming/alice/u-1.json";
    let body: &'static [u8] = br#"[{"eventId":"e1"}]"#;
    let asked = Utc::now() + Duration::minutes(15);
    let r = presigner
        .presign_upload(key, Some(body.len() as u64), asked)
        .await
        .expect("presign");

    assert_eq!(r.method, "PUT");
    let url = reqwest::Url::parse(&r.url).expect("URL");
    assert_eq!(url.path(), format!("/{}/{key}", buckets.process));
    let q = query(&r.url);
    let expires: i64 = param(&q, "X-Amz-Expires").parse().expect("seconds");
    assert!((899..=900).contains(&expires), "X-Amz-Expires {expires}");
    assert!(r.expires_at <= asked && asked - r.expires_at < Duration::seconds(1));
    let signed: Vec<&str> = param(&q, "X-Amz-SignedHeaders").split(';').collect();
    for h in ["content-length", "content-type", "host", "if-none-match"] {
        assert!(signed.contains(&h), "{h} must be signed: {signed:?}");
    }
    // Every signed header but `host` (which the URL fixes) is for the client to send.
    let mut listed: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    listed.sort_unstable();
    let mut want: Vec<&str> = signed.iter().copied().filter(|h| *h != "host").collect();
    want.sort_unstable();
    assert_eq!(listed, want, "headers to send");
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/json"));
    assert_eq!(header("if-none-match"), Some("*"));
    assert_eq!(
        header("content-length"),
        Some(body.len().to_string().as_str())
    );

    let first = upload(&r, body).await;
    assert_eq!(first.status(), 200, "{:?}", first.text().await);
    let o = store
        .get(Bucket::Process, key, 1024)
        .await
        .expect("get")
        .expect("the upload landed");
    assert_eq!(o.bytes, Bytes::from_static(body));

    // The same URL again: S3 refuses to overwrite, and the first upload stays.
    let second = upload(&r, br#"[{"eventId":"e2"}]"#).await;
    assert_eq!(
        second.status(),
        412,
        "a presigned URL must create, never overwrite"
    );
    let after = store.get(Bucket::Process, key, 1024).await.expect("get");
    assert_eq!(after.map(|o| o.bytes), Some(Bytes::from_static(body)));
}

#[tokio::test]
async fn upload_urls_without_a_length_leave_it_unsigned() {
    let (_, store, presigner) = setup().await;
    let key = "incoming/bob/u-2.json";
    let r = presigner
        .presign_upload(key, None, Utc::now() + Duration::seconds(60))
        .await
        .expect("presign");
    let q = query(&r.url);
    let signed = param(&q, "X-Amz-SignedHeaders");
    assert!(!signed.contains("content-length"), "{signed}");
    assert!(signed.contains("if-none-match") && signed.contains("content-type"));
    assert!(r.headers.iter().all(|(k, _)| k != "content-length"));
    let put = upload(&r, b"[]").await;
    assert_eq!(put.status(), 200);
    let info = store.head(Bucket::Process, key).await.expect("head");
    assert_eq!(info.map(|i| i.size), Some(2));
}

#[tokio::test]
async fn download_urls_fetch_the_object() {
    let (_, store, presigner) = setup().await;
    let key = "alice/e 1 é.ndjson";
    store
        .put(
            Bucket::Exports,
            key,
            Bytes::from_static(b"{\"a\":1}\n"),
            "application/x-ndjson",
        )
        .await
        .expect("put");
    let url = presigner
        .presign_download(Bucket::Exports, key, Utc::now() + Duration::minutes(5))
        .await
        .expect("presign");
    let q = query(&url);
    let expires: i64 = param(&q, "X-Amz-Expires").parse().expect("seconds");
    assert!((299..=300).contains(&expires), "X-Amz-Expires {expires}");
    let got = reqwest::get(&url).await.expect("GET");
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.expect("body").as_ref(), b"{\"a\":1}\n");
}

#[tokio::test]
async fn expiries_outside_what_sigv4_allows_are_refused() {
    let (_, _, presigner) = setup().await;
    for expires_at in [
        Utc::now() - Duration::seconds(1),
        Utc::now(),
        Utc::now() + Duration::days(8),
    ] {
        let e = presigner
            .presign_upload("incoming/alice/u.json", None, expires_at)
            .await
            .expect_err("refused");
        assert!(!e.retryable, "{e}");
        let e = presigner
            .presign_download(Bucket::Exports, "k", expires_at)
            .await
            .expect_err("refused");
        assert!(!e.retryable, "{e}");
    }
}
