//! `eventpulse`: the command-line entry point.

mod local;
mod provision;
mod remote;
mod subscriptions;
mod validate;

use clap::{Parser, Subcommand};

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "eventpulse", version, about = "Schema-driven ingestion of JSON events", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate upload objects offline against the published schema.
    ///
    /// Exit status: 0 when every file is valid, 1 when any is not (every error is printed on
    /// stderr as FILE:POINTER: [KEYWORD] MESSAGE), 2 when a file cannot be read.
    // This text is clap's help, shown as written: `[KEYWORD]` is no link.
    #[allow(rustdoc::broken_intra_doc_links)]
    Validate(validate::Args),
    /// Run the whole pipeline and the API on this machine (no AWS needed).
    Local(local::Args),
    /// Create whatever of an AWS deployment is missing (buckets, table, topic, queues, the
    /// Object Created rule, the cursor key) and print its configuration as `export` lines.
    ///
    /// Idempotent: a second run changes nothing and prints the same. Uses the environment's
    /// account, region and `AWS_ENDPOINT_URL` (moto, LocalStack).
    Provision(provision::Args),
    /// Print a bearer token for the local stack (only the token, on stdout).
    Token {
        /// The user id (the token's `sub`).
        #[arg(long)]
        user: String,
        /// Validity in hours (at most 720; negative gives an expired token, for tests).
        #[arg(long, default_value_t = 24, allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(-local::auth::MAX_TOKEN_HOURS..=local::auth::MAX_TOKEN_HOURS))]
        hours: i64,
        /// The local stack's data dir (its secret signs the token).
        #[arg(long, default_value = ".eventpulse", env = "EVENTPULSE_DATA_DIR")]
        data_dir: PathBuf,
        /// Sign with this secret instead (must match the server's).
        #[arg(long, env = "EVENTPULSE_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
    },
    /// Upload event objects (presigned upload, then PUT).
    Upload {
        #[command(flatten)]
        conn: remote::Conn,
        #[command(flatten)]
        args: remote::UploadArgs,
    },
    /// Query your stored events.
    Events {
        #[command(flatten)]
        conn: remote::Conn,
        #[command(subcommand)]
        cmd: remote::EventsCmd,
    },
    /// Manage your quarantined uploads.
    Quarantine {
        #[command(flatten)]
        conn: remote::Conn,
        #[command(subcommand)]
        cmd: remote::QuarantineCmd,
    },
    /// Your notifications, newest first.
    Notifications {
        #[command(flatten)]
        conn: remote::Conn,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Export your events as NDJSON.
    Exports {
        #[command(flatten)]
        conn: remote::Conn,
        #[command(subcommand)]
        cmd: remote::ExportsCmd,
    },
    /// Endpoints that receive your notifications as they happen.
    Subscriptions {
        #[command(flatten)]
        conn: remote::Conn,
        #[command(subcommand)]
        cmd: subscriptions::SubscriptionsCmd,
    },
    /// A small endpoint for trying subscriptions: verifies each message's
    /// EventPulse-Signature, confirms its subscription, prints each notification.
    WebhookReceiver(subscriptions::ReceiverArgs),
}

fn init_logs(json: bool) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter =
        EnvFilter::try_from_env("EVENTPULSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if json {
        fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventpulse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Token {
            user,
            hours,
            data_dir,
            jwt_secret,
        } => report((|| {
            let secret = local::jwt_secret(jwt_secret.as_deref(), &data_dir)?;
            let ttl = chrono::Duration::try_hours(hours)
                .ok_or_else(|| anyhow::anyhow!("--hours {hours} is out of range"))?;
            println!("{}", local::auth::mint(&secret, &user, ttl)?);
            Ok(())
        })()),
        Command::Local(args) => {
            // Structured JSON logs: one audit line per request and per processed object.
            init_logs(
                std::env::var("EVENTPULSE_LOG_FORMAT")
                    .map(|f| f != "text")
                    .unwrap_or(true),
            );
            report(
                runtime()
                    .map_err(Into::into)
                    .and_then(|rt| rt.block_on(local::run(args))),
            )
        }
        Command::Provision(args) => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(provision::run(&args))),
        ),
        Command::Upload { conn, args } => match runtime()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(remote::upload(&conn, &args)))
        {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("eventpulse: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Events { conn, cmd } => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(remote::events(&conn, &cmd))),
        ),
        Command::Quarantine { conn, cmd } => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(remote::quarantine(&conn, &cmd))),
        ),
        Command::Notifications { conn, limit } => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(remote::notifications(&conn, limit))),
        ),
        Command::Exports { conn, cmd } => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(remote::exports(&conn, &cmd))),
        ),
        Command::Subscriptions { conn, cmd } => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(subscriptions::run(&conn, &cmd))),
        ),
        Command::WebhookReceiver(args) => report(
            runtime()
                .map_err(Into::into)
                .and_then(|rt| rt.block_on(subscriptions::receiver(&args))),
        ),
    }
}
