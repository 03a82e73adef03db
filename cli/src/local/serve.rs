//! The HTTP server of `eventpulse local`: hyper's HTTP/1.1 connection handling with the
//! limits that `axum::serve` lacks, so that clients that connect and then send nothing, half
//! a request or half a body cannot hold the server.
//!
//! - **Header timeout**: a connection must deliver a complete request head within
//!   `--header-timeout` of being accepted, and again within it after each response (so an idle
//!   keep-alive connection is closed after that time too). hyper closes the connection.
//! - **Body idle timeout**: a request body that delivers no byte for `--body-timeout` ends
//!   with an error; the handlers answer 408 (problem+json) and the connection is closed.
//! - **Connection cap**: at most `--max-connections` connections are served at once. At the
//!   cap the server stops accepting: new connections wait in the listen queue (the kernel's
//!   backlog) and are accepted, in order, as served ones close; the timeouts above bound how
//!   long any one of them can hold a slot. The server never refuses a connection it could
//!   serve a moment later, and it never runs out of file descriptors.

use axum::Router;
use eventpulse_server_rt::limits::IdleTimeoutBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// How long open connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The connection limits, flags of `eventpulse local`.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnLimits {
    /// Seconds a client has to send a complete request head (request line and headers),
    /// counted from the connection's start or from the end of the previous response; an idle
    /// keep-alive connection is closed after this time too.
    #[arg(long = "header-timeout", value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a request body may go without a single byte arriving before the request is
    /// ended with 408 and the connection closed.
    #[arg(long = "body-timeout", value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Connections served at once; more wait in the listen queue until one closes. Keep it
    /// below the process's open-file limit (`ulimit -n`), which the storage needs too.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_connections: 512,
        }
    }
}

impl ConnLimits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max = limits.max_connections;
    let slots = Arc::new(Semaphore::new(max as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout())
        .keep_alive(true);
    let body_timeout = limits.body_timeout();
    tokio::pin!(shutdown);
    // At the cap under a flood, one warning per minute rather than one per connection.
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if warned.is_none_or(|w| w.elapsed() > Duration::from_secs(60)) {
                    warned = Some(std::time::Instant::now());
                    tracing::warn!(
                        max_connections = max,
                        "connection limit reached; new connections wait until one closes"
                    );
                }
                tokio::select! {
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Per-connection failures (reset before accept) are the client's; others
                    // (out of file descriptors) pass with time, so wait a little, never spin.
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let req = req.map(|b| IdleTimeoutBody::new(b, body_timeout));
            app.clone().oneshot(req)
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; leaving them");
    }
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
