//! Subscriptions end to end on `eventpulse local --allow-loopback-webhooks`: a real
//! endpoint on loopback receives signed confirmation requests and notifications over HTTP,
//! retried after a failure; the mailbox gets email deliveries; tenancy, the cap and the
//! endpoint rules hold over the API. No test sends anything to a non-loopback address:
//! refused endpoints are refused before any connection is made.

use super::support::{Backend, Server};
use super::{api_status, event, rt, upload_and_wait};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use eventpulse_client::EventPulse;
use eventpulse_client::types::{self, NotificationKind, SubscriptionProtocol, SubscriptionState};
use eventpulse_handlers::subscriptions::{SIGNATURE_HEADER, verify};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// One POST the endpoint received.
#[derive(Debug)]
struct Received {
    path: String,
    signature: String,
    body: Bytes,
}

/// An endpoint on loopback that records every POST; the first `fail_first` get a 500.
async fn endpoint(fail_first: usize) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let (tx, failures) = (tx.clone(), failures.clone());
        async move {
            let _ = tx.send(Received {
                path: uri.path().to_string(),
                signature: headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body,
            });
            let fail = failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NO_CONTENT
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>, what: &str) -> Received {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("nothing received: {what}"))
        .unwrap()
}

/// The message, after checking its signature under `secret`.
fn verified(r: &Received, secret: &str) -> Value {
    verify(
        secret,
        &r.signature,
        &r.body,
        chrono::Utc::now().timestamp(),
    )
    .unwrap_or_else(|e| panic!("signature of {}: {e}", r.path));
    serde_json::from_slice(&r.body).unwrap()
}

async fn subscribe(
    ep: &EventPulse,
    protocol: SubscriptionProtocol,
    endpoint: &str,
    kinds: Option<Vec<NotificationKind>>,
) -> Result<types::Subscription, eventpulse_client::ClientError> {
    ep.api()
        .create_subscription()
        .body(types::SubscriptionRequest {
            protocol,
            endpoint: endpoint.try_into().unwrap(),
            kinds,
        })
        .send()
        .await
        .map(|r| r.into_inner())
        .map_err(Into::into)
}

async fn quarantine_one(ep: &EventPulse, id: &str) -> String {
    let bytes = serde_json::to_vec(&event(id, "usd")).unwrap();
    let s = upload_and_wait(ep, bytes).await;
    assert_eq!(s.status, types::UploadState::Quarantined);
    s.upload_id.to_string()
}

#[test]
fn subscribers_receive_their_own_signed_notifications_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--webhooks-loopback-only"]);
    rt().block_on(async {
        let alice = server.client("alice");
        let bob = server.client("bob");
        // The first POST fails: the confirmation request must be retried.
        let (base, mut rx) = endpoint(1).await;

        let a = subscribe(
            &alice,
            SubscriptionProtocol::Http,
            &format!("{base}/alice"),
            Some(vec![NotificationKind::ObjectQuarantined]),
        )
        .await
        .unwrap();
        assert_eq!(a.status, SubscriptionState::Pending);
        assert_eq!(a.kinds, vec![NotificationKind::ObjectQuarantined]);
        let a_secret = a
            .secret
            .clone()
            .expect("the creating response carries the secret");
        assert!(a_secret.starts_with("whsec_"));

        // Refused, then retried (backoff 1 s), each time signed.
        let first = next(&mut rx, "alice's confirmation").await;
        let again = next(&mut rx, "alice's confirmation, retried").await;
        assert_eq!(
            (first.path.as_str(), again.path.as_str()),
            ("/alice", "/alice")
        );
        let confirmation = verified(&again, &a_secret);
        assert_eq!(verified(&first, &a_secret), confirmation);
        assert_eq!(confirmation["kind"], "subscription_confirmation");
        assert_eq!(confirmation["subscriptionId"], json!(*a.subscription_id));
        let confirm_url = confirmation["confirmUrl"].as_str().unwrap().to_string();
        assert!(confirm_url.starts_with(&server.base), "{confirm_url}");

        // Bob subscribes (every kind) and stays pending: his failure reaches nobody.
        let b = subscribe(
            &bob,
            SubscriptionProtocol::Http,
            &format!("{base}/bob"),
            None,
        )
        .await
        .unwrap();
        assert_eq!(b.kinds.len(), 3);
        let b_secret = b.secret.clone().unwrap();
        let b_confirmation = verified(&next(&mut rx, "bob's confirmation").await, &b_secret);
        quarantine_one(&bob, "bob-while-pending").await;

        // Neither the secret nor another user's subscription is readable afterwards.
        let got = alice
            .api()
            .get_subscription()
            .subscription_id(a.subscription_id.clone())
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.secret, None);
        assert_eq!(got.status, SubscriptionState::Pending);
        for r in [
            bob.api()
                .get_subscription()
                .subscription_id(a.subscription_id.clone())
                .send()
                .await
                .map(|_| ()),
            bob.api()
                .delete_subscription()
                .subscription_id(a.subscription_id.clone())
                .send()
                .await
                .map(|_| ()),
        ] {
            assert_eq!(api_status(r.map_err(Into::into)), 404);
        }
        let bobs = bob
            .api()
            .list_subscriptions()
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(bobs.items.len(), 1);
        assert_eq!(bobs.items[0].subscription_id, b.subscription_id);

        // The endpoint confirms: no bearer token, the link is the proof.
        let http = reqwest::Client::new();
        let confirmed: Value = http
            .get(&confirm_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(confirmed["status"], "confirmed");
        assert!(confirmed.get("secret").is_none());
        let bad = http
            .get(format!(
                "{}/v1/subscription-confirmations/{}",
                server.base,
                "0".repeat(64)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 404);
        assert_eq!(
            bad.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );

        // Alice's failure reaches her endpoint, signed, as the notification she can list.
        let upload_id = quarantine_one(&alice, "alice-1").await;
        let got = next(&mut rx, "alice's notification").await;
        assert_eq!(got.path, "/alice");
        let n = verified(&got, &a_secret);
        assert_eq!(n["kind"], "object_quarantined");
        assert_eq!(n["uploadId"], json!(upload_id));
        let listed = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(n, serde_json::to_value(&listed.items[0]).unwrap());
        // Under bob's secret it does not verify.
        assert!(
            verify(
                &b_secret,
                &got.signature,
                &got.body,
                chrono::Utc::now().timestamp()
            )
            .is_err()
        );

        // An export's notification is not of a kind alice asked for.
        alice
            .api()
            .create_export()
            .body(types::ExportRequest {
                type_: None,
                from: None,
                to: None,
            })
            .send()
            .await
            .unwrap();

        // Bob confirms; his next failure reaches him, his earlier one (while pending) never.
        let b_url = b_confirmation["confirmUrl"].as_str().unwrap();
        assert_eq!(http.get(b_url).send().await.unwrap().status(), 200);
        // Confirming again is harmless.
        assert_eq!(http.get(b_url).send().await.unwrap().status(), 200);
        let bob_upload = quarantine_one(&bob, "bob-1").await;
        let got = next(&mut rx, "bob's notification").await;
        assert_eq!(
            got.path, "/bob",
            "alice's export_done must not be delivered to her"
        );
        assert_eq!(verified(&got, &b_secret)["uploadId"], json!(bob_upload));

        // Unsubscribed: nothing more for alice. Bob's next delivery is the barrier: alice's
        // notification was recorded, and fanned out, before his.
        alice
            .api()
            .delete_subscription()
            .subscription_id(a.subscription_id.clone())
            .send()
            .await
            .unwrap();
        quarantine_one(&alice, "alice-2").await;
        let bob_upload = quarantine_one(&bob, "bob-2").await;
        let got = next(&mut rx, "bob's second notification").await;
        assert_eq!(
            got.path, "/bob",
            "a deleted subscription must receive nothing"
        );
        assert_eq!(verified(&got, &b_secret)["uploadId"], json!(bob_upload));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err(), "nothing else may arrive");
    });
}

#[test]
fn email_subscriptions_and_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--webhooks-loopback-only"]);
    rt().block_on(async {
        let alice = server.client("alice");
        let mailbox = dir.path().join("mailbox");
        let s = subscribe(
            &alice,
            SubscriptionProtocol::Email,
            "alice@example.com",
            None,
        )
        .await
        .unwrap();
        assert_eq!(s.secret, None, "nothing is signed for email");
        let text = wait_for(&mailbox, "confirmUrl").await;
        assert!(text.contains("To: <alice@example.com>"), "{text}");
        let url = text
            .split('"')
            .find(|p| p.contains("/v1/subscription-confirmations/"))
            .unwrap();
        assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
        let upload_id = quarantine_one(&alice, "mail-1").await;
        let text = wait_for(&mailbox, &upload_id).await;
        assert!(text.contains("Subject: EventPulse notification"), "{text}");

        // The same endpoint twice: 409. Up to ten in all, then 409.
        assert_eq!(
            api_status(
                subscribe(
                    &alice,
                    SubscriptionProtocol::Email,
                    "alice@example.com",
                    None
                )
                .await
            ),
            409
        );
        for i in 1..10 {
            subscribe(
                &alice,
                SubscriptionProtocol::Email,
                &format!("a{i}@example.com"),
                None,
            )
            .await
            .unwrap();
        }
        let over = subscribe(&alice, SubscriptionProtocol::Email, "a10@example.com", None).await;
        assert_eq!(api_status(over), 409);
        let page = alice
            .api()
            .list_subscriptions()
            .limit(4u64)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.items.len(), 4);
        assert!(page.next_cursor.is_some());
        // Another user is not limited by alice's.
        subscribe(
            &server.client("bob"),
            SubscriptionProtocol::Email,
            "a1@example.com",
            None,
        )
        .await
        .unwrap();
    });
}

async fn wait_for(path: &std::path::Path, needle: &str) -> String {
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains(needle)
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never contained {needle}", path.display());
}

/// Endpoints every deployment refuses, each a 400 problem naming the field; checked before
/// any connection, so nothing is sent to them.
pub fn refused_endpoints(server: &Server, backend: Backend) {
    rt().block_on(async {
        let http = reqwest::Client::new();
        let token = server.token("mallory");
        let mut cases = vec![
            (
                "https",
                "https://169.254.169.254/latest/meta-data/",
                "/body/endpoint",
            ),
            (
                "https",
                "https://[::ffff:169.254.169.254]/",
                "/body/endpoint",
            ),
            ("https", "https://10.0.0.1/hook", "/body/endpoint"),
            ("https", "https://192.168.1.1/hook", "/body/endpoint"),
            ("https", "https://[fd00::1]/hook", "/body/endpoint"),
            ("https", "https://224.0.0.1/hook", "/body/endpoint"),
            (
                "https",
                "https://user:pw@hooks.example.com/",
                "/body/endpoint",
            ),
            ("email", "not-an-address", "/body/endpoint"),
            ("ftp", "ftp://hooks.example.com/", "/body/protocol"),
        ];
        match backend {
            Backend::Embedded => {
                cases.push((
                    "sqs",
                    "arn:aws:sqs:us-east-1:123456789012:q",
                    "/body/protocol",
                ));
                // Without --allow-loopback-webhooks.
                cases.push(("http", "http://127.0.0.1:9/hook", "/body/endpoint"));
                cases.push(("https", "https://localhost/hook", "/body/endpoint"));
                cases.push(("https", "https://127.0.0.1/hook", "/body/endpoint"));
            }
            // The API function is never given the loopback flag.
            Backend::Aws => {
                cases.push(("http", "http://127.0.0.1:9/hook", "/body/protocol"));
                cases.push(("https", "https://127.0.0.1/hook", "/body/endpoint"));
                cases.push(("https", "https://localhost/hook", "/body/endpoint"));
            }
        }
        for (protocol, endpoint, pointer) in cases {
            let r = http
                .post(format!("{}/v1/subscriptions", server.base))
                .bearer_auth(&token)
                .json(&json!({"protocol": protocol, "endpoint": endpoint}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{protocol} {endpoint}");
            let p: Value = r.json().await.unwrap();
            assert!(
                p["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["pointer"] == pointer),
                "{protocol} {endpoint}: {p}"
            );
            assert!(p["detail"].as_str().unwrap().len() > 20, "{p}");
        }
        let list: Value = http
            .get(format!("{}/v1/subscriptions", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["items"],
            json!([]),
            "a refused subscription must not be recorded"
        );
    });
}
