//! `eventpulse subscriptions add|list|get|remove` on the generated client, and
//! `eventpulse webhook-receiver`: a small endpoint that verifies EventPulse's signatures,
//! confirms its subscription and prints each notification, to try subscriptions in two
//! shells.

use crate::remote::{Conn, explain, print_json};
use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use eventpulse_client::types;
use eventpulse_handlers::subscriptions::{SIGNATURE_HEADER, verify};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(clap::Subcommand, Debug)]
pub enum SubscriptionsCmd {
    /// Subscribe an endpoint to your notifications; prints the signing secret once.
    Add {
        /// https, http (eventpulse local --allow-loopback-webhooks only), email, or sqs (AWS).
        #[arg(long, default_value = "https")]
        protocol: String,
        /// The URL, email address or queue ARN.
        endpoint: String,
        /// Only these kinds (repeat the flag): object_quarantined, export_done, export_failed.
        #[arg(long = "kind")]
        kinds: Vec<String>,
    },
    /// Your subscriptions.
    List,
    /// One subscription.
    Get { subscription_id: String },
    /// Unsubscribe.
    Remove { subscription_id: String },
}

fn describe(s: &types::Subscription) -> String {
    let kinds: Vec<String> = s.kinds.iter().map(|k| k.to_string()).collect();
    format!(
        "{}  {:<9} {:<5} {}  [{}]",
        *s.subscription_id,
        s.status.to_string(),
        s.protocol.to_string(),
        s.endpoint,
        kinds.join(", ")
    )
}

pub async fn run(conn: &Conn, cmd: &SubscriptionsCmd) -> Result<()> {
    let ep = conn.client()?;
    match cmd {
        SubscriptionsCmd::Add {
            protocol,
            endpoint,
            kinds,
        } => {
            let protocol: types::SubscriptionProtocol = protocol.parse().map_err(|_| {
                anyhow::anyhow!("--protocol {protocol:?}: use https, http, email or sqs")
            })?;
            let kinds = kinds
                .iter()
                .map(|k| {
                    k.parse::<types::NotificationKind>().map_err(|_| {
                        anyhow::anyhow!(
                            "--kind {k:?}: use object_quarantined, export_done or export_failed"
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let body = types::SubscriptionRequest {
                protocol,
                endpoint: endpoint
                    .as_str()
                    .try_into()
                    .map_err(|e| anyhow::anyhow!("endpoint: {e}"))?,
                kinds: (!kinds.is_empty()).then_some(kinds),
            };
            let s = ep
                .api()
                .create_subscription()
                .body(body)
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            if conn.json {
                return print_json(&s);
            }
            println!("{}", describe(&s));
            if let Some(secret) = &s.secret {
                println!("\nsigning secret (shown once; keep it):\n\n  {secret}\n");
                println!(
                    "Try it: eventpulse webhook-receiver --secret {secret} --listen <the endpoint's host:port>"
                );
            }
            println!(
                "It is pending until the endpoint confirms (it was sent a confirmation request)."
            );
        }
        SubscriptionsCmd::List => {
            let mut cursor: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let mut req = ep.api().list_subscriptions().limit(100u64);
                if let Some(c) = &cursor {
                    req = req.cursor(c.as_str());
                }
                let page = req
                    .send()
                    .await
                    .map_err(|e| explain(e.into()))?
                    .into_inner();
                all.extend(page.items);
                match page.next_cursor {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            if conn.json {
                return print_json(&all);
            }
            for s in &all {
                println!("{}", describe(s));
            }
            if all.is_empty() {
                eprintln!("no subscriptions");
            }
        }
        SubscriptionsCmd::Get { subscription_id } => {
            let s = ep
                .api()
                .get_subscription()
                .subscription_id(subscription_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            if conn.json {
                return print_json(&s);
            }
            println!("{}", describe(&s));
        }
        SubscriptionsCmd::Remove { subscription_id } => {
            ep.api()
                .delete_subscription()
                .subscription_id(subscription_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?;
            if !conn.json {
                println!("removed subscription {subscription_id}");
            }
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReceiverArgs {
    /// The subscription's signing secret (printed by `eventpulse subscriptions add`).
    #[arg(long, env = "EVENTPULSE_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Where to listen: the endpoint's host and port.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The EventPulse server: confirmation links elsewhere are not followed.
    #[arg(long, env = "EVENTPULSE_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
}

struct Receiver {
    secret: String,
    api: url::Url,
    http: reqwest::Client,
}

/// Whether `link` is on the EventPulse server the receiver trusts (scheme, host, port).
fn same_origin(link: &url::Url, api: &url::Url) -> bool {
    link.origin() == api.origin()
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = verify(&r.secret, signature, &body, now) {
        eprintln!("refused a message: {e}");
        return (StatusCode::BAD_REQUEST, "bad signature\n");
    }
    let message: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("refused a signed message that is not JSON: {e}");
            return (StatusCode::BAD_REQUEST, "not JSON\n");
        }
    };
    if message["kind"] == "subscription_confirmation" {
        let Some(link) = message["confirmUrl"]
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            eprintln!("a confirmation request without a confirmUrl");
            return (StatusCode::BAD_REQUEST, "no confirmUrl\n");
        };
        if !same_origin(&link, &r.api) {
            eprintln!(
                "not following a confirmation link outside {}: {link}",
                r.api
            );
            return (StatusCode::BAD_REQUEST, "confirmUrl on another server\n");
        }
        return match r.http.get(link).send().await {
            Ok(resp) if resp.status().is_success() => {
                eprintln!(
                    "confirmed subscription {}",
                    message["subscriptionId"].as_str().unwrap_or("?")
                );
                (StatusCode::NO_CONTENT, "")
            }
            Ok(resp) => {
                eprintln!("confirming failed: HTTP {}", resp.status());
                (StatusCode::BAD_GATEWAY, "confirmation failed\n")
            }
            Err(e) => {
                eprintln!("confirming failed: {e}");
                (StatusCode::BAD_GATEWAY, "confirmation failed\n")
            }
        };
    }
    // One verified notification per line, for scripts.
    println!("{}", String::from_utf8_lossy(&body));
    (StatusCode::NO_CONTENT, "")
}

pub async fn receiver(args: &ReceiverArgs) -> Result<()> {
    let api = url::Url::parse(&args.api).with_context(|| format!("--api {}", args.api))?;
    if args.secret.trim().is_empty() {
        bail!("--secret is empty");
    }
    let state = Arc::new(Receiver {
        secret: args.secret.clone(),
        api,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?,
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "receiving on http://{}/ (any path); verified notifications are printed one per line",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::local::shutdown_signal())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_links_only_on_the_trusted_server() {
        let api = url::Url::parse("http://127.0.0.1:8080").unwrap();
        let ok = url::Url::parse("http://127.0.0.1:8080/v1/subscription-confirmations/ab").unwrap();
        assert!(same_origin(&ok, &api));
        for bad in [
            "http://127.0.0.1:8081/v1/subscription-confirmations/ab",
            "https://127.0.0.1:8080/v1/subscription-confirmations/ab",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert!(!same_origin(&url::Url::parse(bad).unwrap(), &api), "{bad}");
        }
    }
}
