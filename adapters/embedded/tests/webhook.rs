//! LocalNotifier against real HTTP servers on 127.0.0.1.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use eventpulse_embedded::{LocalNotifier, RetryPolicy};
use eventpulse_generated::types::{
    Notification, NotificationKind, NotificationNotificationVersion, ReasonCode, UploadId,
};
use eventpulse_handlers::ports::Notifier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers `status` to every request (in order), then 200.
struct Hook {
    answers: Vec<StatusCode>,
    calls: AtomicUsize,
    seen: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn handle(State(hook): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = hook.calls.fetch_add(1, Ordering::SeqCst);
    hook.seen.lock().expect("lock").push((headers, body));
    hook.answers.get(n).copied().unwrap_or(StatusCode::OK)
}

async fn serve(answers: Vec<StatusCode>) -> (String, Arc<Hook>) {
    let hook = Arc::new(Hook {
        answers,
        calls: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/hook", post(handle))
        .with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hook)
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
    }
}

fn notification() -> Notification {
    Notification {
        notification_version: NotificationNotificationVersion::try_from(1).expect("version"),
        notification_id: "n-1".into(),
        kind: NotificationKind::ObjectQuarantined,
        created_at: Utc::now(),
        message: "Upload u-1 was quarantined ✓".into(),
        upload_id: Some(UploadId::try_from("u-1".to_string()).expect("id")),
        key: Some("incoming/alice/u-1.json".into()),
        reason_code: Some(ReasonCode::SchemaViolation),
        error_count: Some(2),
        export_id: None,
        event_count: Some(3),
    }
}

#[tokio::test]
async fn posts_the_notification_as_json_with_the_owner() {
    let (url, hook) = serve(vec![]).await;
    let n = notification();
    LocalNotifier::with_policy(Some(url), fast())
        .deliver("alice@example.com", &n)
        .await
        .expect("delivered");
    let seen = hook.seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-eventpulse-owner"], "alice@example.com");
    let got: Notification = serde_json::from_slice(body).expect("the body is a Notification");
    assert_eq!(got, n);
    let raw: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert_eq!(raw["notificationId"], "n-1");
    assert_eq!(raw["reasonCode"], "schema_violation");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (url, hook) = serve(vec![
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::INTERNAL_SERVER_ERROR,
    ])
    .await;
    LocalNotifier::with_policy(Some(url), fast())
        .deliver("alice", &notification())
        .await
        .expect("third attempt succeeds");
    assert_eq!(hook.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn attempts_are_bounded_and_failure_is_transient() {
    let (url, hook) = serve(vec![StatusCode::SERVICE_UNAVAILABLE; 10]).await;
    let e = LocalNotifier::with_policy(Some(url), fast())
        .deliver("alice", &notification())
        .await
        .expect_err("every attempt fails");
    assert!(e.retryable, "the outbox must retry later: {e}");
    assert!(
        e.message.contains("3 attempts") && e.message.contains("503"),
        "{e}"
    );
    assert_eq!(hook.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried_at_once_but_later() {
    let (url, hook) = serve(vec![StatusCode::NOT_FOUND; 10]).await;
    let e = LocalNotifier::with_policy(Some(url), fast())
        .deliver("alice", &notification())
        .await
        .expect_err("404");
    assert!(e.retryable, "{e}");
    assert_eq!(hook.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_webhook_is_a_transient_error() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let e = LocalNotifier::with_policy(Some(format!("http://{addr}/hook")), fast())
        .deliver("alice", &notification())
        .await
        .expect_err("unreachable");
    assert!(e.retryable, "{e}");
    assert!(e.message.contains("3 attempts"), "{e}");
}

#[tokio::test]
async fn without_a_webhook_delivery_only_logs() {
    LocalNotifier::new(None)
        .deliver("alice", &notification())
        .await
        .expect("logging cannot fail");
    LocalNotifier::new(Some("  ".into()))
        .deliver("alice", &notification())
        .await
        .expect("a blank webhook is none");
}

#[tokio::test]
async fn a_malformed_webhook_url_is_a_permanent_error() {
    let e = LocalNotifier::with_policy(Some("not a url".into()), fast())
        .deliver("alice", &notification())
        .await
        .expect_err("bad url");
    assert!(!e.retryable, "{e}");
}
