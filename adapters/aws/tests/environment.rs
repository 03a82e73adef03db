//! `Clients::from_env` reads `AWS_ENDPOINT_URL` by itself (through aws-config) and then
//! addresses S3 path-style: with virtual-host style, `bucket.127.0.0.1` would not resolve
//! and nothing here would reach moto.
//!
//! Its own test binary with a single test, because it sets process environment variables:
//! they are set before any thread (the runtime's included) exists.

mod common;

use bytes::Bytes;
use common::{endpoint, moto, unique};
use eventpulse_aws::{Clients, S3Buckets, S3ObjectStore};
use eventpulse_handlers::ports::{Bucket, ObjectStore};

#[test]
// The workspace denies unsafe code: setting the environment is unsafe (edition 2024), and
// sound here, before any other thread exists.
#[allow(unsafe_code)]
fn from_env_honours_aws_endpoint_url_with_path_style_s3() {
    let url = endpoint();
    let vars = [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        // The developer's own profile files must not change the outcome.
        ("AWS_CONFIG_FILE", "/nonexistent/eventpulse-test/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/eventpulse-test/credentials",
        ),
    ];
    for (k, v) in vars {
        // SAFETY: no other thread exists yet in this test binary's only test.
        unsafe { std::env::set_var(k, v) };
    }
    for k in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SNS", "AWS_PROFILE"] {
        // SAFETY: as above.
        unsafe { std::env::remove_var(k) };
    }
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async move {
            let from_env = Clients::from_env().await;
            assert_eq!(from_env.sdk.endpoint_url(), Some(url.as_str()));
            let bucket = unique("env");
            from_env
                .s3
                .create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("create bucket through AWS_ENDPOINT_URL");
            let buckets = S3Buckets {
                process: bucket.clone(),
                quarantine: bucket.clone(),
                exports: bucket,
            };
            let store = S3ObjectStore::new(from_env.s3, buckets.clone());
            let put = store
                .put(
                    Bucket::Process,
                    "k.json",
                    Bytes::from_static(b"{}"),
                    "application/json",
                )
                .await
                .expect("put through AWS_ENDPOINT_URL");
            // Seen through an explicitly configured client: it is the same moto.
            let explicit = Clients::for_endpoint(&moto(&url)).await;
            let seen = S3ObjectStore::new(explicit.s3, buckets)
                .head(Bucket::Process, "k.json")
                .await
                .expect("head");
            assert_eq!(seen.map(|i| i.etag), Some(put.etag));
            from_env
                .sns
                .list_topics()
                .send()
                .await
                .expect("SNS through AWS_ENDPOINT_URL");
        });
}
