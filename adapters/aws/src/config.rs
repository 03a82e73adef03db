//! [`Clients`]: the SDK clients, built once per process and shared by every adapter.
//!
//! Building a client loads credentials, the region and the endpoint, and opens a connection
//! pool: per request that would be slow and would defeat connection reuse, so a Lambda
//! builds [`Clients`] in its init phase and clones the (cheap, `Arc`-backed) clients.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::service_config::ServiceConfigKey;
use std::time::Duration;

/// A connection that is not up by then will not come up; failing fast lets the retry (and,
/// past it, the caller's own retry of a transient error) try again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of one call, body upload included: generous for the largest upload (the
/// intake limit is a few MiB), short enough that a stuck connection is given up.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The SDK's standard retry: throttling and 5xx are retried with jittered backoff.
const MAX_ATTEMPTS: u32 = 3;

/// The SDK clients the adapters use. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    /// What the clients were built from (HTTP client, credentials, region, timeouts), for
    /// clients of other services: the tests' SQS client, later the local mode's queue.
    pub sdk: SdkConfig,
    /// The explicit endpoint, if [`Clients::for_endpoint`] built them.
    pub endpoint: Option<String>,
}

/// An endpoint with static credentials: moto in tests, or any S3/SNS-compatible endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Clients {
    /// Everything from the environment, as on Lambda: region, credentials (the function's
    /// role), and `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SNS` when
    /// set (aws-config reads them itself).
    pub async fn from_env() -> Self {
        Self::build(&loader().load().await, None)
    }

    /// An explicit endpoint, region and credentials; the developer's profile files and any
    /// `AWS_*` endpoint variables are not consulted, so a test sees the same thing everywhere.
    pub async fn for_endpoint(endpoint: &Endpoint) -> Self {
        let credentials = Credentials::new(
            &endpoint.access_key_id,
            &endpoint.secret_access_key,
            None,
            None,
            "eventpulse-static",
        );
        let config = loader()
            .region(Region::new(endpoint.region.clone()))
            .credentials_provider(credentials)
            // An empty profile in place of ~/.aws/config and ~/.aws/credentials (the set
            // may not be empty).
            .profile_files(
                EnvConfigFiles::builder()
                    .with_contents(EnvConfigFileKind::Config, "")
                    .build(),
            )
            .load()
            .await;
        Self::build(&config, Some(&endpoint.url))
    }

    /// `endpoint` is set on each service's own configuration, where it outranks
    /// `AWS_ENDPOINT_URL_S3` and the like (set on the shared configuration, it would not).
    /// S3 uses path-style addressing whenever an endpoint URL is configured: emulators such
    /// as moto (and most S3-compatible stores) serve `http://host/bucket/key`, not
    /// `http://bucket.host/key`.
    fn build(config: &SdkConfig, endpoint: Option<&str>) -> Self {
        let mut s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(endpoint.is_some() || s3_endpoint_configured(config));
        let mut sns = aws_sdk_sns::config::Builder::from(config);
        if let Some(url) = endpoint {
            s3 = s3.endpoint_url(url);
            sns = sns.endpoint_url(url);
        }
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
            sdk: config.clone(),
            endpoint: endpoint.map(str::to_string),
        }
    }
}

/// A client of another service on the same configuration and explicit endpoint.
macro_rules! service_client {
    ($(#[$doc:meta])* $name:ident, $krate:ident) => {
        $(#[$doc])*
        pub fn $name(&self) -> $krate::Client {
            let mut b = $krate::config::Builder::from(&self.sdk);
            if let Some(url) = &self.endpoint {
                b = b.endpoint_url(url);
            }
            $krate::Client::from_conf(b.build())
        }
    };
}

impl Clients {
    service_client!(
        /// DynamoDB, for the table.
        dynamodb,
        aws_sdk_dynamodb
    );
    service_client!(
        /// SQS: the exports queue, and the rule's queue `eventpulse local --backend aws` polls.
        sqs,
        aws_sdk_sqs
    );
    service_client!(
        /// SSM Parameter Store: the cursor-signing key.
        ssm,
        aws_sdk_ssm
    );
    service_client!(
        /// EventBridge: the rule on the process bucket's events (`provision`).
        eventbridge,
        aws_sdk_eventbridge
    );
}

/// The common part of both constructors: HTTPS on rustls with ring rather than the SDK's
/// default aws-lc-rs (a much larger C build, for no gain here), timeouts and retries.
fn loader() -> ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// Whether S3 gets an endpoint URL: the shared one, or the S3-specific one from
/// `AWS_ENDPOINT_URL_S3` or a profile's `[services]` section, looked up with the key the S3
/// client itself uses.
fn s3_endpoint_configured(config: &SdkConfig) -> bool {
    let service_specific = || {
        let key = ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        config.service_config()?.load_config(key)
    };
    config.endpoint_url().is_some() || service_specific().is_some()
}
