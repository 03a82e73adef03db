//! SDK clients whose HTTP client records how long requests were in flight: the time an
//! invocation spent waiting on moto (loopback and moto's own work), as opposed to its own.

use aws_config::{BehaviorVersion, Region};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_s3::config::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use eventpulse_aws::Clients;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    in_flight: u32,
    since: Option<Instant>,
    busy: Duration,
    requests: u32,
}

/// Time with at least one request in flight (overlapping requests count once: moto
/// serves one at a time anyway), and the number of requests, since the last [`Meter::take`].
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<State>>);

impl Meter {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn begin(&self) -> InFlight {
        self.with(|s| {
            if s.in_flight == 0 {
                s.since = Some(Instant::now());
            }
            s.in_flight += 1;
            s.requests += 1;
        });
        InFlight(self.clone())
    }

    /// Time spent waiting on the endpoint, and requests made, since the last call.
    pub fn take(&self) -> (Duration, u32) {
        self.with(|s| (std::mem::take(&mut s.busy), std::mem::take(&mut s.requests)))
    }
}

/// Ends a request's interval however its future ends (answered, failed or dropped).
struct InFlight(Meter);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight -= 1;
            if s.in_flight == 0
                && let Some(t) = s.since.take()
            {
                s.busy += t.elapsed();
            }
        });
    }
}

#[derive(Debug)]
struct Timed {
    inner: SharedHttpClient,
    meter: Meter,
}

impl HttpClient for Timed {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(TimedConnector {
            inner: self.inner.http_connector(settings, components),
            meter: self.meter.clone(),
        })
    }
}

#[derive(Debug)]
struct TimedConnector {
    inner: SharedHttpConnector,
    meter: Meter,
}

impl HttpConnector for TimedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let in_flight = self.meter.begin();
        let call = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let answer = call.await;
            drop(in_flight);
            answer
        })
    }
}

/// Clients on `endpoint` as the functions build them (rustls + ring, path-style S3, static
/// credentials, no profile), every request timed by `meter`.
pub async fn clients(endpoint: &str, meter: Meter) -> Clients {
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(SharedHttpClient::new(Timed { inner, meter }))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .profile_files(
            EnvConfigFiles::builder()
                .with_contents(EnvConfigFileKind::Config, "")
                .build(),
        )
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .force_path_style(true);
    let sns = aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(endpoint);
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        sns: aws_sdk_sns::Client::from_conf(sns.build()),
        sdk,
        endpoint: Some(endpoint.to_string()),
    }
}
