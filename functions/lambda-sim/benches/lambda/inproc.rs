//! The functions' own code run in the bench process on the same deployment, every SDK
//! request timed: how much of an invocation is waiting on moto, and how much is ours.

use crate::timed::{self, Meter};
use crate::workload::{self, Function};
use eventpulse_api::{CognitoClaims, without_stage};
use eventpulse_aws::Aws;
use eventpulse_handlers::api::ApiConfig;
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::ports::StoreNotifies;
use eventpulse_lambda_sim::moto::Deployment;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

#[derive(Default)]
pub struct Samples {
    /// Each invocation's time, all of it.
    pub total: Vec<Duration>,
    /// Of which requests to moto were in flight.
    pub moto: Vec<Duration>,
    pub requests: Vec<u32>,
}

impl Samples {
    /// Per invocation, what was not moto: the SDK (signing, serialising) and our code.
    pub fn own(&self) -> Vec<Duration> {
        self.total
            .iter()
            .zip(&self.moto)
            .map(|(t, m)| t.saturating_sub(*m))
            .collect()
    }
}

enum Code {
    Processor(Box<eventpulse_processor::Function>),
    Api(axum::Router),
}

/// One function's code, built as its `main.rs` builds it, on timed clients.
pub struct InProcess {
    code: Code,
    meter: Meter,
    pub samples: Samples,
    /// The API's one init call (SSM GetParameter for the cursor key), on moto.
    pub init_moto: Option<Duration>,
}

async fn aws(d: &Deployment, meter: &Meter) -> Aws {
    let clients = timed::clients(&d.endpoint, meter.clone()).await;
    Aws::connect(clients, d.aws.settings.clone())
}

fn processor(aws: &Aws) -> Result<Code, String> {
    let ports = aws.ports();
    let intake = Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100)
        .map_err(|e| e.to_string())?;
    Ok(Code::Processor(Box::new(
        eventpulse_processor::Function::new(
            ports.processor(Arc::new(intake)),
            ports.exporter(),
            ports.objects.clone(),
            ports.table.clone(),
            aws.settings.buckets.process.clone(),
        ),
    )))
}

fn api(aws: &Aws, key: &[u8]) -> Result<Code, String> {
    let api = aws.ports().api(
        aws.presigner.clone(),
        Arc::new(StoreNotifies),
        aws.export_runner().map_err(|e| e.to_string())?,
        CursorSigner::new(key),
        ApiConfig::default(),
    );
    let claims = Arc::new(CognitoClaims);
    Ok(Code::Api(eventpulse_generated_router::router(
        Arc::new(api),
        claims,
    )))
}

impl InProcess {
    pub async fn new(function: Function, d: &Deployment) -> Result<Self, String> {
        let meter = Meter::default();
        let aws = aws(d, &meter).await;
        let (code, init_moto) = match function {
            Function::Processor => (processor(&aws)?, None),
            Function::Api => {
                let key = aws.cursor_key().await.map_err(|e| e.to_string())?;
                (api(&aws, &key)?, Some(meter.take().0))
            }
        };
        Ok(Self {
            code,
            meter,
            samples: Samples::default(),
            init_moto,
        })
    }

    /// One invocation on `d`, checked; its figures kept when `record`.
    pub async fn invoke(&mut self, d: &Deployment, record: bool) -> Result<(), String> {
        let function = match self.code {
            Code::Processor(_) => Function::Processor,
            Code::Api(_) => Function::Api,
        };
        let event = function.event(d).await?;
        self.meter.take();
        let started = Instant::now();
        match &self.code {
            Code::Processor(f) => {
                let answer = eventpulse_processor::handle(f, event).await;
                workload::check_stored(&answer.map_err(|e| e.to_string())?)?;
            }
            Code::Api(router) => {
                let req = lambda_http::request::from_str(&event.to_string());
                let req = req.map_err(|e| e.to_string())?;
                let resp = router.clone().oneshot(without_stage(req)).await;
                let resp = resp.map_err(|e| format!("{e:?}"))?;
                let status = resp.status().as_u16().into();
                let body = resp.into_body().collect().await;
                let body = body.map_err(|e| e.to_string())?.to_bytes();
                let body = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                workload::check_page(status, &body)?;
            }
        }
        let took = started.elapsed();
        let (moto, requests) = self.meter.take();
        if record {
            self.samples.total.push(took);
            self.samples.moto.push(moto);
            self.samples.requests.push(requests);
        }
        Ok(())
    }
}
