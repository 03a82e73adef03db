//! `eventpulse local --backend aws`: the same local stack on the AWS adapters.
//!
//! What Lambda does on AWS is done here in-process, the same way: the events queue (the
//! EventBridge rule's stand-in target, see `eventpulse provision`) is polled and each
//! message — the exact "Object Created" event — goes to the processor function's own
//! handler; so do the exports queue's messages and a periodic sweep. The API is the same
//! generated router, with the local HS256 tokens giving the caller (on AWS, Cognito's claims
//! do). Uploads go straight to S3 (or moto) through its presigned URLs.

use super::{Args, auth, docs_html, jwt_secret, secrets, shutdown_signal, warn_if_shared};
use anyhow::Context;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use eventpulse_aws::{Aws, Clients, Settings};
use eventpulse_handlers::api::ApiConfig;
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::ports::StoreNotifies;
use eventpulse_processor::{Function, handle};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use eventpulse_aws::provision::EVENTS_QUEUE_URL;

/// Lambda retries an asynchronous invocation twice before its dead-letter queue; a message
/// received this often is given up (logged as an error) rather than redelivered forever.
const MAX_RECEIVES: u32 = 3;

pub async fn run(args: Args) -> anyhow::Result<()> {
    eventpulse_embedded::create_private_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    warn_if_shared(&args.data_dir);
    let (secrets, _) = secrets::Secrets::load_or_create(&args.data_dir)?;
    let jwt = jwt_secret(args.jwt_secret.as_deref(), &args.data_dir)?;
    let clients = Clients::from_env().await;
    let hint = "run `eventpulse provision --prefix NAME` and eval its output, or pass --provision";
    let (settings, events_queue) = if args.provision {
        let p = eventpulse_aws::provision::provision(&clients, &args.prefix)
            .await
            .map_err(|e| anyhow::anyhow!("provisioning {}: {e}", args.prefix))?;
        tracing::info!(prefix = %args.prefix, "provisioned");
        (p.settings, p.events_queue_url)
    } else {
        let settings = Settings::from_env().map_err(|e| anyhow::anyhow!("{e}: {hint}"))?;
        let queue = std::env::var(EVENTS_QUEUE_URL)
            .map_err(|_| anyhow::anyhow!("{EVENTS_QUEUE_URL} is not set: {hint}"))?;
        (settings, queue)
    };
    // Emulators (an endpoint is set) serve one request at a time: a 20 s long poll would
    // hold moto for everyone. Against AWS, long polls are what SQS recommends.
    let wait = if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        0
    } else {
        20
    };
    let aws = Aws::connect(clients, settings);
    aws.objects
        .check_buckets()
        .await
        .context("the buckets of EVENTPULSE_*_BUCKET are not reachable")?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {} (use --addr)", args.addr))?;
    let addr = listener.local_addr()?;

    let ports = aws.ports();
    let intake = Arc::new(Intake::new(args.max_bytes, 100)?);
    let function = Arc::new(Function::new(
        ports.processor(intake),
        ports.exporter(),
        ports.objects.clone(),
        ports.table.clone(),
        aws.settings.buckets.process.clone(),
    ));
    let cursor_key = match aws.settings.cursor_key_parameter {
        Some(_) => aws.cursor_key().await?,
        None => secrets.cursor_key.into_bytes(),
    };
    let api = ports.api(
        aws.presigner.clone(),
        Arc::new(StoreNotifies),
        aws.export_runner()?,
        CursorSigner::new(&cursor_key),
        ApiConfig {
            max_object_bytes: args.max_bytes as u64,
            docs_html: Arc::from(docs_html()),
            // The same flags as on the embedded default: a server fuzzed with arbitrary
            // endpoints (--webhooks-loopback-only) must not make SNS post off the machine.
            endpoints: eventpulse_handlers::subscriptions::EndpointRules {
                allow_loopback: args.allow_loopback_webhooks,
                loopback_only: args.webhooks_loopback_only,
            },
            ..ApiConfig::default()
        },
    );
    let app = eventpulse_generated_router::router(
        Arc::new(api),
        Arc::new(super::ratelimit::RateLimited::new(
            auth::JwtAuthenticator::new(&jwt),
            args.requests_per_user,
        )),
    );

    let (stop_tx, stop) = watch::channel(false);
    let exports_queue = aws
        .settings
        .exports_queue_url
        .clone()
        .context("EVENTPULSE_EXPORTS_QUEUE_URL is not set")?;
    let pollers = [
        tokio::spawn(poll(
            aws.sqs.clone(),
            events_queue,
            function.clone(),
            Trigger::Objects,
            wait,
            stop.clone(),
        )),
        tokio::spawn(poll(
            aws.sqs.clone(),
            exports_queue,
            function.clone(),
            Trigger::Exports,
            wait,
            stop.clone(),
        )),
        tokio::spawn(sweep(function.clone(), stop.clone())),
    ];
    if !args.quiet {
        let token = auth::mint(&jwt, "demo", chrono::Duration::hours(24))?;
        println!(
            "\nEventPulse (AWS backend) is running at http://{addr}\n\
             A token for user `demo`, valid 24 h:\n\n  export EVENTPULSE_TOKEN={token}\n  export EVENTPULSE_API=http://{addr}\n"
        );
    }
    tracing::info!(%addr, backend = "aws", "eventpulse local is listening");
    super::serve::serve(listener, app, &args.limits, shutdown_signal()).await?;
    tracing::info!("finishing the messages in hand");
    let _ = stop_tx.send(true);
    for p in pollers {
        let _ = p.await;
    }
    tracing::info!("stopped");
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// Each message is one EventBridge event: one invocation per message, as Lambda's
    /// EventBridge target does.
    Objects,
    /// A batch of messages is one SQS event, as Lambda's SQS event source mapping does.
    Exports,
}

/// Receives until told to stop; a message is deleted once its invocation succeeded (or it
/// was given up), so a crash at any point redelivers it.
async fn poll(
    sqs: aws_sdk_sqs::Client,
    queue: String,
    function: Arc<Function>,
    trigger: Trigger,
    wait_seconds: i32,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let received = tokio::select! {
            r = sqs.receive_message()
                .queue_url(&queue)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send() => r,
            _ = stop.changed() => break,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receiving from the queue");
                pause(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            pause(&mut stop, Duration::from_millis(200)).await;
            continue;
        }
        let done = match trigger {
            Trigger::Objects => objects(&function, &messages).await,
            Trigger::Exports => exports(&function, &messages).await,
        };
        for handle in done {
            if let Err(e) = sqs
                .delete_message()
                .queue_url(&queue)
                .receipt_handle(handle)
                .send()
                .await
            {
                // Redelivered then, and handled again: every handler is replay-safe.
                tracing::warn!(queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "deleting a handled message");
            }
        }
    }
}

async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! { _ = tokio::time::sleep(d) => {}, _ = stop.changed() => {} }
}

fn receives(m: &aws_sdk_sqs::types::Message) -> u32 {
    m.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The receipt handles of the messages to delete.
async fn objects(function: &Function, messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    let mut done = Vec::new();
    for m in messages {
        let Some(handle) = m.receipt_handle() else {
            continue;
        };
        let event: Value = match serde_json::from_str(m.body().unwrap_or_default()) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "a message that is not JSON; dropped");
                done.push(handle.to_string());
                continue;
            }
        };
        match handle_event(function, event).await {
            Ok(()) => done.push(handle.to_string()),
            Err(e) if e.retryable && receives(m) < MAX_RECEIVES => {
                tracing::warn!(error = %e, "invocation failed; the message will be delivered again");
            }
            Err(e) => {
                tracing::error!(error = %e, retryable = e.retryable, "invocation failed for good (on AWS: the dead-letter queue); the object stays in the process bucket for the sweep");
                done.push(handle.to_string());
            }
        }
    }
    done
}

async fn handle_event(
    function: &Function,
    event: Value,
) -> Result<(), eventpulse_processor::FunctionError> {
    handle(function, event).await.map(|_| ())
}

async fn exports(function: &Function, messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "body": m.body(), "eventSource": "aws:sqs"}))
        .collect();
    let failed: Vec<String> = match handle(function, json!({"Records": records})).await {
        Ok(answer) => answer["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "export batch failed; delivered again");
            return Vec::new();
        }
    };
    messages
        .iter()
        .filter(|m| {
            !m.message_id()
                .is_some_and(|id| failed.iter().any(|f| f == id))
                || receives(m) >= MAX_RECEIVES
        })
        .filter_map(|m| m.receipt_handle().map(str::to_string))
        .collect()
}

/// The schedule's stand-in: every minute, what EventBridge Scheduler sends the function.
async fn sweep(function: Arc<Function>, mut stop: watch::Receiver<bool>) {
    loop {
        pause(&mut stop, Duration::from_secs(60)).await;
        if *stop.borrow() {
            return;
        }
        let event = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        if let Err(e) = handle(&function, event).await {
            tracing::warn!(error = %e, "sweep");
        }
    }
}
