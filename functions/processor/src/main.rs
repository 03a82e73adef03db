//! `eventpulse-processor`: the processor Lambda function. Thin: configuration and clients
//! once per execution environment, then every invocation to [`eventpulse_processor::handle`].

use eventpulse_aws::{Aws, Clients, Settings};
use eventpulse_handlers::intake::Intake;
use eventpulse_processor::{Function, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

// One thread: Lambda hands an execution environment one invocation at a time, and the
// awaits inside one (SDK calls) need no second worker; no pool to start at init, no stacks.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON logs with the request id of each invocation (AWS_LAMBDA_LOG_FORMAT decides).
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let aws = Aws::connect(Clients::for_lambda()?, settings);
    let ports = aws.ports();
    let intake = Arc::new(Intake::new(
        eventpulse_contract_rt::json::DEFAULT_MAX_BYTES,
        100,
    )?);
    let function = Function::new(
        ports.processor(intake),
        ports.exporter(),
        ports.objects.clone(),
        ports.table.clone(),
        aws.settings.buckets.process.clone(),
    );
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(function, event.payload).await
    }))
    .await
}
