//! `eventpulse local`: the whole pipeline on one machine, on the embedded adapters.
//!
//! Wiring only: build the adapters once, hand them to the domain (processor, API, exporter),
//! serve the generated router plus the presigned-URL endpoints, and run the processing queue.

pub mod auth;
pub mod aws;
pub mod exports;
pub mod pipeline;
pub mod presign;
pub mod ratelimit;
pub mod secrets;
pub mod serve;
pub mod server;

use anyhow::Context;
use eventpulse_embedded::Embedded;
use eventpulse_handlers::api::{Api, ApiConfig};
use eventpulse_handlers::cursor::CursorSigner;
use eventpulse_handlers::exports::ExportRunner;
use eventpulse_handlers::intake::Intake;
use eventpulse_handlers::ports::ExportPosition;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

/// Objects of the largest accepted size (`--max-bytes`) processed at once: the bound on the
/// pipeline's memory, in objects of that size (`pipeline::MemoryBudget`).
const PROCESSING_BUDGET_OBJECTS: u64 = 4;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "EVENTPULSE_ADDR")]
    pub addr: SocketAddr,
    /// Where objects, the event table and keys are kept.
    #[arg(long, default_value = ".eventpulse", env = "EVENTPULSE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// HS256 secret for bearer tokens (default: the data dir's own, created on first start).
    #[arg(long, env = "EVENTPULSE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// For the operator: POST every notification of every user to this URL as well (users
    /// subscribe their own endpoints with `POST /v1/subscriptions`).
    #[arg(long, env = "EVENTPULSE_WEBHOOK")]
    pub webhook: Option<String>,
    /// Let subscriptions point at loopback addresses (127.0.0.1, ::1, localhost) and use
    /// plain `http`: for development and tests on one machine. Private, link-local and
    /// other non-public addresses stay refused.
    #[arg(long, env = "EVENTPULSE_ALLOW_LOOPBACK_WEBHOOKS")]
    pub allow_loopback_webhooks: bool,
    /// Accept subscriptions only to loopback endpoints (and email, which goes to the data
    /// dir's mailbox): for servers that tests fuzz with arbitrary endpoints, so nothing is
    /// ever sent off the machine. Implies --allow-loopback-webhooks.
    #[arg(long, env = "EVENTPULSE_WEBHOOKS_LOOPBACK_ONLY")]
    pub webhooks_loopback_only: bool,
    /// Objects processed at the same time at most. Their memory is bounded apart from
    /// this: at most four times --max-bytes of objects are processed at once (as many as
    /// four of the largest), so small objects run side by side and large ones wait for room.
    #[arg(long, default_value_t = 16)]
    pub workers: usize,
    /// Events waiting for a worker before uploads are made to wait (back-pressure).
    #[arg(long, default_value_t = 256)]
    pub queue: usize,
    /// Uploads (PUTs on presigned URLs) one user may have in progress at once; a PUT beyond
    /// that waits up to --upload-wait seconds for one to end, then is refused with 429.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_uploads_per_user: u32,
    /// Seconds a PUT waits for one of its user's upload slots (see --max-uploads-per-user).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub upload_wait: u64,
    /// Requests one user may make per second (after a burst of twice that); more are
    /// answered 429 with Retry-After. 0 turns the limit off.
    #[arg(long, default_value_t = 500, env = "EVENTPULSE_REQUESTS_PER_USER")]
    pub requests_per_user: u32,
    /// Largest accepted object, in bytes.
    #[arg(long, default_value_t = eventpulse_contract_rt::json::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
    /// Print nothing but logs (no banner).
    #[arg(long)]
    pub quiet: bool,
    /// Which adapters: `embedded` (files + SQLite in the data dir) or `aws` (S3, DynamoDB,
    /// SNS and SQS at AWS_ENDPOINT_URL — moto, LocalStack or a dev account — configured by
    /// the EVENTPULSE_* variables `eventpulse provision` prints).
    #[arg(long, value_enum, default_value_t = Backend::Embedded, env = "EVENTPULSE_BACKEND")]
    pub backend: Backend,
    /// With `--backend aws`: first create whatever is missing (`eventpulse provision`) and
    /// run on it, instead of reading the EVENTPULSE_* variables.
    #[arg(long)]
    pub provision: bool,
    /// With `--provision`: the name every resource is derived from.
    #[arg(long, default_value = "eventpulse-local")]
    pub prefix: String,
    #[command(flatten)]
    pub limits: serve::ConnLimits,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Aws,
}

/// How long a finished export (record and result) is kept: as the AWS template's
/// `ExportsRetentionDays` default.
pub const EXPORT_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// How long an upload whose object never arrived stays pending before it is forgotten
/// (its presigned URL expired after 15 minutes).
pub const PENDING_UPLOAD_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// The `/docs` page: the checked-in template with the vendored Redoc inlined.
pub fn docs_html() -> String {
    const TEMPLATE: &str = include_str!("../../../docs/api-docs.html");
    const REDOC: &str = include_str!("../../../docs/vendor/redoc/redoc.standalone.js");
    // A literal `</script` would end the inline script early.
    TEMPLATE.replace("/*REDOC*/", &REDOC.replace("</script", "<\\/script"))
}

/// The JWT secret in force: flag/env, else the data dir's.
pub fn jwt_secret(flag: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    match flag {
        // HS256 is as strong as its key: refuse guessable ones.
        Some(f) if f.len() < 32 => anyhow::bail!("the JWT secret must be at least 32 bytes long"),
        Some(f) => Ok(f.as_bytes().to_vec()),
        _ => Ok(secrets::Secrets::load_or_create(data_dir)?
            .0
            .jwt_secret
            .into_bytes()),
    }
}

/// A data dir that existed before keeps its mode; say so when other users can enter it.
pub(crate) fn warn_if_shared(data_dir: &std::path::Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(data_dir) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                data_dir = %data_dir.display(),
                mode = format!("{mode:o}"),
                "the data dir is accessible to other users; `chmod 700` it (it holds every user's data)"
            );
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.backend == Backend::Aws {
        return aws::run(args).await;
    }
    eventpulse_embedded::create_private_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    warn_if_shared(&args.data_dir);
    let (secrets, _) = secrets::Secrets::load_or_create(&args.data_dir)?;
    let jwt = jwt_secret(args.jwt_secret.as_deref(), &args.data_dir)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another eventpulse running? use --addr)",
                args.addr
            )
        })?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    let backend = Embedded::open(
        &args.data_dir,
        eventpulse_embedded::Options {
            webhook: args.webhook.clone(),
            public_url: base_url.clone(),
            allow_loopback_webhooks: args.allow_loopback_webhooks,
            webhooks_loopback_only: args.webhooks_loopback_only,
            ..eventpulse_embedded::Options::default()
        },
    )?;
    let ports = backend.ports();
    let (objects, table, clock) = (
        ports.objects.clone(),
        ports.table.clone(),
        ports.clock.clone(),
    );
    let intake = Arc::new(Intake::new(args.max_bytes, 100)?);
    let processor = Arc::new(ports.processor(intake));
    // Notifications are recorded with the state change that causes them and delivered by
    // this one task (so never twice at once), woken whenever something was recorded.
    let outbox_wake = Arc::new(tokio::sync::Notify::new());
    let pipeline = pipeline::Pipeline::start(
        processor.clone(),
        args.workers,
        args.queue,
        PROCESSING_BUDGET_OBJECTS * args.max_bytes as u64,
        outbox_wake.clone(),
    );
    let dispatcher = Arc::new(pipeline.dispatcher.clone());
    let presigner = Arc::new(presign::LocalPresigner::new(
        secrets.presign_key.as_bytes(),
        &base_url,
    ));
    let exporter = Arc::new(ports.exporter());
    let exports: Arc<dyn ExportRunner> =
        Arc::new(exports::TaskExports::start(exporter, outbox_wake.clone()));
    let api = Arc::new(Api {
        table: table.clone(),
        objects: objects.clone(),
        presigner: presigner.clone(),
        dispatcher: dispatcher.clone(),
        exports: exports.clone(),
        subscriptions: ports.subscriptions.clone(),
        subscriber: ports.subscriber.clone(),
        clock: clock.clone(),
        cursors: CursorSigner::new(secrets.cursor_key.as_bytes()),
        config: ApiConfig {
            max_object_bytes: args.max_bytes as u64,
            docs_html: Arc::from(docs_html()),
            endpoints: backend.rules,
            ..ApiConfig::default()
        },
    });
    let auth = Arc::new(ratelimit::RateLimited::new(
        auth::JwtAuthenticator::new(&jwt),
        args.requests_per_user,
    ));
    let app =
        eventpulse_generated_router::router(api, auth).merge(server::routes(server::Transfer {
            objects,
            store: backend.objects.clone(),
            table: table.clone(),
            dispatcher,
            presigner,
            clock,
            max_object_bytes: args.max_bytes as u64,
            in_flight: Arc::default(),
            receiving: Arc::new(server::UserSlots::new(
                args.max_uploads_per_user as usize,
                Duration::from_secs(args.upload_wait),
            )),
        }));

    // Finish what a previous run left: objects never processed, exports cut off, and
    // notifications not delivered (the outbox task below).
    let mut restarted = 0usize;
    let mut after = None;
    loop {
        let page = table.running_exports(after.as_ref(), 500).await?;
        for export in &page {
            exports.submit(export).await?;
        }
        restarted += page.len();
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(ExportPosition::of(last)),
            _ => break,
        }
    }
    if restarted > 0 {
        tracing::info!(restarted, "restarted exports cut off by the previous run");
    }
    let recovered = pipeline.recover().await?;
    if recovered > 0 {
        tracing::info!(recovered, "queued unfinished objects from the previous run");
    }
    let outbox = {
        let processor = processor.clone();
        let wake = outbox_wake.clone();
        tokio::spawn(async move {
            loop {
                match processor.flush_outbox().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(delivered = n, "delivered notifications"),
                    Err(e) => tracing::warn!(error = %e, "notification outbox"),
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
            }
        })
    };
    // Deliveries to the users' subscribed endpoints (what SNS does on AWS), from the queue
    // in the table: what a previous run left queued goes out now.
    let deliverer = tokio::spawn(backend.deliverer().run());
    // Finished exports are deleted once past their retention (the data dir does not grow
    // with every export ever made), and uploads whose object never arrived are forgotten;
    // GET shows both as gone from then on.
    let expirer = {
        let (table, store) = (backend.table.clone(), backend.objects.clone());
        tokio::spawn(async move {
            loop {
                match exports::expire_exports(&table, &store, EXPORT_RETENTION).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "deleted exports past their retention"),
                    Err(e) => tracing::warn!(error = %e, "export retention"),
                }
                let before = chrono::Utc::now() - PENDING_UPLOAD_RETENTION;
                match exports::forget_stale_uploads(&table, &store, before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(forgotten = n, "forgot uploads whose object never arrived")
                    }
                    Err(e) => tracing::warn!(error = %e, "pending upload retention"),
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        })
    };
    // Objects that were stored but never queued (queue full for too long) or whose retries
    // ran out are picked up again, instead of waiting for the next start.
    let sweeper = {
        let sweep = pipeline.sweeper();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match sweep
                    .requeue_older_than(chrono::Duration::seconds(60))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(requeued = n, "requeued objects left in the process bucket")
                    }
                    Err(e) => tracing::warn!(error = %e, "process bucket sweep"),
                }
            }
        })
    };

    if !args.quiet {
        let token = auth::mint(&jwt, "demo", chrono::Duration::hours(24))?;
        print_banner(&base_url, &token, &args);
        if args.jwt_secret.is_none() {
            println!(
                "Tokens are signed with a random secret generated for this data dir, kept in {} (mode 0600);",
                args.data_dir.join(secrets::FILE).display()
            );
            println!("set EVENTPULSE_JWT_SECRET (32+ bytes) to use your own.\n");
        }
    }
    tracing::info!(%addr, data_dir = %args.data_dir.display(), "eventpulse local is listening");
    serve::serve(listener, app, &args.limits, shutdown_signal()).await?;
    tracing::info!("draining the processing queue");
    sweeper.abort();
    pipeline.drain().await;
    // Deliver what the last objects recorded, then stop.
    if let Err(e) = processor.flush_outbox().await {
        tracing::warn!(error = %e, "notification outbox at shutdown");
    }
    outbox.abort();
    deliverer.abort();
    expirer.abort();
    tracing::info!("stopped");
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

fn print_banner(base_url: &str, token: &str, args: &Args) {
    let data_dir = args.data_dir.display();
    println!(
        "\nEventPulse is running at {base_url}  (data in {data_dir})\n\
         API docs:  {base_url}/docs\n\n\
         A token for user `demo`, valid 24 h:\n\n  export EVENTPULSE_TOKEN={token}\n  export EVENTPULSE_API={base_url}\n\n\
         Then, in another shell:\n\n\
         \x20 eventpulse upload examples/events/valid/order-placed.json --wait\n\
         \x20 eventpulse upload examples/events/invalid/order-currency-lowercase.json --wait\n\
         \x20 eventpulse events list\n\
         \x20 eventpulse quarantine list\n\
         \x20 eventpulse notifications\n\n\
         Tokens for other users: eventpulse token --user alice --data-dir {data_dir}\n\
         Stop with Ctrl-C (in-flight objects are finished first).\n"
    );
}
