//! What every moto-backed test needs: the endpoint, clients with test credentials, and
//! fresh resources. Tests run in parallel against one moto server, so each one isolates
//! itself by unique names (never by resetting moto).

#![allow(dead_code)] // Each test binary uses its own part of this module.

use eventpulse_aws::{Clients, Endpoint, S3Buckets};

const ENDPOINT_VAR: &str = "EVENTPULSE_MOTO_ENDPOINT";

/// The moto server to test against. Unset is a failure, never a skip: a green run must
/// mean the AWS code paths ran.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the eventpulse-aws tests run against moto server.\n\
             Start it (installs moto into .tools/moto-venv the first time) and run the tests:\n\
             \x20   eval \"$(bash scripts/moto.sh start)\"\n\
             \x20   cargo test -p eventpulse-aws\n\
             \x20   bash scripts/moto.sh stop\n\
             (scripts/test.sh does this by itself.)"
        ),
    }
}

/// Static test credentials and region, set here so that nothing depends on the developer's
/// environment or profile files (moto accepts any credentials).
pub fn moto(url: &str) -> Endpoint {
    Endpoint {
        url: url.to_string(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    }
}

pub async fn clients() -> Clients {
    Clients::for_endpoint(&moto(&endpoint())).await
}

/// A name no other test (or run) uses; valid as a bucket, topic or queue name.
pub fn unique(tag: &str) -> String {
    format!("ep-{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// Three new, empty buckets.
pub async fn buckets(clients: &Clients) -> S3Buckets {
    let buckets = S3Buckets {
        process: unique("process"),
        quarantine: unique("quarantine"),
        exports: unique("exports"),
    };
    for name in [&buckets.process, &buckets.quarantine, &buckets.exports] {
        clients
            .s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {name} on moto: {e:?}"));
    }
    buckets
}
