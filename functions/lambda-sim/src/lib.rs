//! A Lambda Runtime API server, enough of it to run a real function binary as AWS does:
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`,
//! `POST …/invocation/{id}/error` and `POST …/init/error`
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>).
//!
//! [`RuntimeApi::start`] listens on a loopback port; point the function's
//! `AWS_LAMBDA_RUNTIME_API` at [`RuntimeApi::address`] (see [`RuntimeApi::command`]) and
//! [`RuntimeApi::invoke`] each event. Invocations are handed out one at a time, in order, as
//! the runtime asks for them, exactly like Lambda's single-concurrency execution environment.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

pub mod moto;
pub mod process;

/// What a function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The error document (`errorType`, `errorMessage`) the runtime posted.
    Error(Value),
}

struct Pending {
    id: String,
    event: Value,
    done: oneshot::Sender<Answer>,
}

struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<Value>>,
    /// When the runtime first asked for work (the end of its init); a watch, so that a
    /// benchmark can wait for it without polling (polling would blur the init time).
    first_next: watch::Sender<Option<Instant>>,
}

#[derive(Clone)]
struct AppState {
    queue: Arc<Mutex<mpsc::Receiver<Pending>>>,
    shared: Arc<Shared>,
}

/// A running Runtime API server.
pub struct RuntimeApi {
    addr: SocketAddr,
    tx: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            waiting: Mutex::default(),
            init_error: Mutex::default(),
            first_next: watch::Sender::new(None),
        });
        let state = AppState {
            queue: Arc::new(Mutex::new(rx)),
            shared: shared.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            tx,
            shared,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// A command for `binary` with the environment Lambda gives every function.
    pub fn command(
        &self,
        binary: &std::path::Path,
        function_name: &str,
    ) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(binary);
        c.env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]sim")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .kill_on_drop(true);
        c
    }

    /// Hands `event` to the function and waits (at most `timeout`) for its answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Answer, String> {
        let (done, answer) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        self.tx
            .send(Pending { id, event, done })
            .await
            .map_err(|_| "the Runtime API server stopped".to_string())?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => Err(match self.init_error().await {
                Some(e) => format!("no answer; the function failed to initialise: {e}"),
                None => format!("no answer within {timeout:?}"),
            }),
        }
    }

    /// What the function posted to `/init/error`, if it did.
    pub async fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().await.clone()
    }

    /// When the function first asked for an invocation (its init ended), if it has.
    pub async fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.borrow()
    }

    /// Waits (at most `timeout`) for the function's first `/next`, and says when it came.
    pub async fn wait_first_next(&self, timeout: Duration) -> Option<Instant> {
        let mut rx = self.shared.first_next.subscribe();
        let seen = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        seen.ok()?.ok().and_then(|at| *at)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(s): State<AppState>) -> Response {
    let now = Instant::now();
    s.shared.first_next.send_if_modified(|first| {
        let unset = first.is_none();
        first.get_or_insert(now);
        unset
    });
    // Long poll, as Lambda does: the runtime blocks here between invocations.
    let pending = s.queue.lock().await.recv().await;
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    s.shared.waiting.lock().await.insert(p.id.clone(), p.done);
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or_default();
    let pairs = [
        ("lambda-runtime-aws-request-id", p.id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:sim".to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
        ),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, p.event.to_string()).into_response()
}

async fn finish(s: &AppState, id: &str, answer: Answer) -> StatusCode {
    match s.shared.waiting.lock().await.remove(id) {
        Some(done) => {
            let _ = done.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Answer::Response(json_or_text(&body))).await
}

async fn error(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Answer::Error(json_or_text(&body))).await
}

async fn init_error(State(s): State<AppState>, body: Bytes) -> StatusCode {
    *s.shared.init_error.lock().await = Some(json_or_text(&body));
    StatusCode::ACCEPTED
}
