//! [`Clients`]: the SDK clients, built once per process and shared by every adapter.
//!
//! Building a client loads credentials, the region and the endpoint, and opens a connection
//! pool: per request that would be slow and would defeat connection reuse, so a Lambda
//! builds [`Clients`] in its init phase and clones the (cheap, `Arc`-backed) clients.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::Credentials;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
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
        Self::build(&loader(https(Roots::System)).load().await, None)
    }

    /// What a Lambda function runs on, built without aws-config's provider chains: the
    /// region from `AWS_REGION`, the credentials Lambda puts in the environment (the
    /// function's role; nothing else is ever consulted there), and `AWS_ENDPOINT_URL` when set
    /// (the tests' moto; the service-specific `AWS_ENDPOINT_URL_*` and profile files are
    /// not read). Two reasons, both measured (functions/README.md): the profile, SSO, STS,
    /// ECS and IMDS providers a function never uses stay out of its binary, and init skips
    /// their setup.
    ///
    /// HTTPS to AWS trusts the Amazon Trust Services roots compiled in
    /// ([`AMAZON_TRUST_SERVICES`]) rather than the system's: every AWS endpoint chains to
    /// them, loading and parsing the system store was the largest single cost of init, and a
    /// function that trusts five roots instead of ~140 is also harder to intercept. With an
    /// explicit `https://` endpoint (a proxy of the developer's), and in the China regions,
    /// the system store is used.
    pub fn for_lambda() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .ok_or("AWS_REGION is not set (Lambda always sets it)")?;
        let endpoint = var("AWS_ENDPOINT_URL");
        let roots = Roots::for_lambda(&region, endpoint.as_deref());
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ))
            .identity_cache(IdentityCache::lazy().build())
            .http_client(https(roots))
            .sleep_impl(TokioSleep::new())
            .time_source(SystemTimeSource::new())
            .timeout_config(timeouts())
            .retry_config(retries())
            .build();
        Ok(Self::build(&config, endpoint.as_deref()))
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
        let config = loader(https(Roots::System))
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

/// The roots of Amazon Trust Services (`certs/amazon-trust-services.pem`: Amazon Root CA
/// 1-4 and the Starfield root that cross-signs them), which every AWS endpoint chains to.
pub const AMAZON_TRUST_SERVICES: &str = include_str!("../certs/amazon-trust-services.pem");

/// Whom HTTPS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Roots {
    /// The platform's store: any endpoint a developer points the CLI at.
    System,
    /// [`AMAZON_TRUST_SERVICES`] only: a function talking to AWS.
    AmazonTrustServices,
}

impl Roots {
    /// The China partition is not served under Amazon Trust Services certificates; an
    /// https endpoint of the developer's may chain to anything; a plain-http one (moto) is
    /// never asked for a certificate, so it costs the same init as AWS itself.
    fn for_lambda(region: &str, endpoint: Option<&str>) -> Self {
        match endpoint {
            None if !region.starts_with("cn-") => Roots::AmazonTrustServices,
            Some(url) if url.starts_with("http://") => Roots::AmazonTrustServices,
            _ => Roots::System,
        }
    }
}

/// HTTPS on rustls with ring rather than the SDK's default aws-lc-rs (a much larger C
/// build, for no gain here).
fn https(roots: Roots) -> SharedHttpClient {
    let trust = match roots {
        Roots::System => TrustStore::default(),
        Roots::AmazonTrustServices => {
            TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
        }
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store without custom server names is always valid");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The common part of the aws-config constructors: HTTPS, timeouts and retries.
fn loader(http: SharedHttpClient) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts())
        .retry_config(retries())
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

#[cfg(test)]
mod tests {
    use super::{AMAZON_TRUST_SERVICES, Roots};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    /// The SDK parses the bundle only at the first connection, and panics if it does not
    /// parse: parse it here the same way, comments included.
    #[test]
    fn the_amazon_roots_parse_as_five_certificates() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("every PEM section parses");
        assert_eq!(certs.len(), 5);
        for cert in &certs {
            // A DER SEQUENCE of a plausible certificate's size.
            assert_eq!(cert.as_ref()[0], 0x30);
            assert!(cert.len() > 400, "{} bytes", cert.len());
        }
    }

    #[test]
    fn a_function_trusts_the_system_store_only_where_amazon_roots_would_not_do() {
        use Roots::*;
        assert_eq!(Roots::for_lambda("eu-west-1", None), AmazonTrustServices);
        assert_eq!(Roots::for_lambda("cn-north-1", None), System);
        let moto = Some("http://127.0.0.1:5000");
        assert_eq!(Roots::for_lambda("us-east-1", moto), AmazonTrustServices);
        let proxy = Some("https://proxy.corp.example");
        assert_eq!(Roots::for_lambda("us-east-1", proxy), System);
    }
}
