//! `eventpulse-api`: the API Lambda function. Thin: configuration, clients and the cursor
//! key once per execution environment, then the generated router behind API Gateway.

use eventpulse_api::{CognitoClaims, serve};
use eventpulse_aws::{Aws, Clients, Settings};
use eventpulse_handlers::api::ApiConfig;
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::ports::StoreNotifies;
use std::sync::Arc;

// One thread: Lambda hands an execution environment one invocation at a time, and the
// awaits inside one (SDK calls) need no second worker; no pool to start at init, no stacks.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let aws = Aws::connect(Clients::for_lambda()?, Settings::from_env()?);
    let cursors = CursorSigner::new(&aws.cursor_key().await?);
    let api = aws.ports().api(
        aws.presigner.clone(),
        // S3 tells the processor itself, through EventBridge.
        Arc::new(StoreNotifies),
        aws.export_runner()?,
        cursors,
        ApiConfig::default(),
    );
    serve(eventpulse_generated_router::router(
        Arc::new(api),
        Arc::new(CognitoClaims),
    ))
    .await
}
