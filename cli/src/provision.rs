//! `eventpulse provision --prefix NAME`: creates whatever of a deployment is missing and
//! prints the functions' configuration.
//!
//! The account comes from the environment as for any AWS tool (`AWS_REGION`, credentials,
//! and `AWS_ENDPOINT_URL` for moto or LocalStack). stdout carries only `export NAME=value`
//! lines, so `eval "$(eventpulse provision --prefix dev)"` configures a shell; the summary
//! goes to stderr.

use anyhow::anyhow;
use eventpulse_aws::Clients;
use eventpulse_aws::provision::provision;

#[derive(clap::Args)]
pub struct Args {
    /// Names every resource (`{prefix}-process`, `{prefix}-events`, …): lowercase letters,
    /// digits and hyphens. Bucket names are global, so on AWS pick one nobody else uses.
    #[arg(long)]
    prefix: String,
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let clients = Clients::from_env().await;
    let region = clients
        .sdk
        .region()
        .map_or_else(|| "(no region)".to_string(), |r| r.to_string());
    let p = provision(&clients, &args.prefix)
        .await
        .map_err(|e| anyhow!("provisioning {}: {e}", args.prefix))?;
    print!("{}", p.to_exports());
    eprintln!(
        "eventpulse: {} is provisioned in {region}: buckets {}, {}, {}; table {}; topic {}; \
         exports and events queues; rule {}-object-created; cursor key {}",
        args.prefix,
        p.settings.buckets.process,
        p.settings.buckets.quarantine,
        p.settings.buckets.exports,
        p.settings.table,
        p.settings.notify_topic_arn,
        args.prefix,
        p.settings
            .cursor_key_parameter
            .as_deref()
            .unwrap_or_default(),
    );
    Ok(())
}
