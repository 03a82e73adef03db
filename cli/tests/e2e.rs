//! End to end: the real `eventpulse local` binary on an ephemeral port and a temp data dir,
//! driven over real HTTP with the generated client (and raw requests where a client would
//! refuse to send something malformed).

use eventpulse_client::types::{self, ReasonCode, UploadState};
use eventpulse_client::{ClientError, EventPulse};
use eventpulse_handlers::intake::{Intake, Verdict};
use serde_json::{Value, json};
#[path = "e2e/bola.rs"]
mod bola;
#[path = "e2e/subscriptions.rs"]
mod subscriptions;
mod support;

use bola::every_operation_refuses_another_users_resources;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::{Backend, Server, bin, root};

/// The black-box tests that hold on either backend run on both: the embedded default, and
/// the AWS adapters on moto (`eventpulse local --backend aws --provision`).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $( #[test] fn $name() { super::$name(super::Backend::Embedded) } )+
        }
        mod aws {
            $( #[test] fn $name() { super::$name(super::Backend::Aws) } )+
        }
    };
}

on_both_backends!(
    every_example_ends_in_the_expected_state_with_the_expected_report,
    a_user_never_reaches_another_users_data,
    replays_and_duplicates_add_nothing_and_conflicts_quarantine,
    bad_tokens_and_bad_requests_get_problem_details,
    exports_docs_and_published_contracts,
    concurrent_reprocess_is_accepted_once,
    an_upload_url_used_again_never_changes_its_upload,
    subscriptions_refuse_what_no_deployment_delivers_to,
    a_loopback_only_server_subscribes_nothing_off_the_machine,
    every_operation_refuses_another_users_resources,
);

/// `--webhooks-loopback-only` (the test command's fuzzed server) holds on both backends: on
/// the AWS one too, so that SNS (moto) never posts to an endpoint a fuzzer made up.
fn a_loopback_only_server_subscribes_nothing_off_the_machine(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on_with(backend, dir.path(), &["--webhooks-loopback-only"]);
    rt().block_on(async {
        let http = reqwest::Client::new();
        let token = server.token("lo");
        let subscribe = |endpoint: &'static str| {
            let r = http
                .post(format!("{}/v1/subscriptions", server.base))
                .bearer_auth(&token)
                .json(&json!({"protocol": "https", "endpoint": endpoint}));
            async move {
                let r = r.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, body) = subscribe("https://hooks.example.com/eventpulse").await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("/body/endpoint"), "{body}");
        let (status, body) = subscribe("https://127.0.0.1:9/eventpulse").await;
        assert_eq!(status, 201, "{body}");
    });
}

fn subscriptions_refuse_what_no_deployment_delivers_to(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    subscriptions::refused_endpoints(&server, backend);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn wait_final(ep: &EventPulse, id: &types::UploadId) -> types::UploadStatus {
    let s = ep.wait_final(id, Duration::from_secs(60)).await.unwrap();
    assert_ne!(
        s.status,
        UploadState::Pending,
        "upload {} still pending",
        **id
    );
    s
}

async fn upload_and_wait(ep: &EventPulse, bytes: Vec<u8>) -> types::UploadStatus {
    let ticket = ep.upload(bytes).await.unwrap();
    wait_final(ep, &ticket.upload_id).await
}

/// An upload URL with its headers, as the API hands it out (no length or type bound).
async fn new_ticket(ep: &EventPulse) -> types::UploadTicket {
    ep.api()
        .create_upload()
        .body(types::UploadRequest {
            content_length: None,
            content_type: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner()
}

/// PUTs `body` to the ticket's URL with its headers; the status.
async fn put_ticket(ticket: &types::UploadTicket, body: Vec<u8>) -> u16 {
    let mut put = reqwest::Client::new().put(&ticket.url).body(body);
    for (k, v) in &ticket.headers {
        put = put.header(k, v);
    }
    put.send().await.unwrap().status().as_u16()
}

fn examples(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(root().join("examples/events").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn api_status<T>(r: Result<T, ClientError>) -> u16 {
    match r {
        Ok(_) => panic!("expected an error response"),
        Err(e) => e.status().unwrap_or(0),
    }
}

fn event(id: &str, currency: &str) -> Value {
    json!({"eventId": id, "type": "order.placed", "occurredAt": "2026-11-27T10:00:00Z", "source": "test",
           "data": {"orderId": "o", "currency": currency, "amountMinor": 1, "items": [{"sku": "s", "quantity": 1}]}})
}

fn every_example_ends_in_the_expected_state_with_the_expected_report(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    let intake = Intake::new(5 * 1024 * 1024, 100).unwrap();
    rt().block_on(async {
        // One user per file, so files that share an eventId cannot interfere.
        let mut n = 0;
        for folder in ["valid", "invalid", "malformed"] {
            for (name, bytes) in examples(folder) {
                if !name.ends_with(".json") {
                    continue;
                }
                n += 1;
                let ep = server.client(&format!("user{n}"));
                let status = upload_and_wait(&ep, bytes.clone()).await;
                match intake.check(&bytes) {
                    Verdict::Accepted(events) => {
                        assert_eq!(
                            status.status,
                            UploadState::Stored,
                            "{folder}/{name}: {status:?}"
                        );
                        assert_eq!(
                            status.event_count,
                            Some(events.len() as u64),
                            "{folder}/{name}"
                        );
                        let stored = ep.all_events(&Default::default()).await.unwrap();
                        assert_eq!(stored.len(), events.len(), "{folder}/{name}");
                        // Stored exactly as uploaded (numbers compared by value).
                        let expected = events[0].body.to_value().unwrap();
                        let first = serde_json::to_value(
                            &stored
                                .iter()
                                .find(|s| {
                                    serde_json::to_value(&s.event).unwrap()["eventId"]
                                        == expected["eventId"]
                                })
                                .unwrap()
                                .event,
                        )
                        .unwrap();
                        assert_eq!(first["occurredAt"], expected["occurredAt"], "{name}");
                        assert_eq!(folder, "valid", "{name} was accepted offline");
                    }
                    Verdict::Rejected(expected) => {
                        assert_ne!(folder, "valid", "{name} was refused offline");
                        assert_eq!(status.status, UploadState::Quarantined, "{folder}/{name}");
                        // The client reads with the tolerant-reader types, the domain
                        // decides with the server's: compared as the JSON both mean.
                        let reason = serde_json::to_value(expected.reason).unwrap();
                        assert_eq!(
                            serde_json::to_value(status.reason_code).unwrap(),
                            reason,
                            "{folder}/{name}"
                        );
                        let report = ep
                            .api()
                            .get_quarantine()
                            .upload_id(status.upload_id.clone())
                            .send()
                            .await
                            .unwrap()
                            .into_inner();
                        assert_eq!(serde_json::to_value(report.reason_code).unwrap(), reason);
                        assert_eq!(report.error_count, expected.error_count, "{name}");
                        let pointers: Vec<_> =
                            report.errors.iter().map(|e| e.pointer.clone()).collect();
                        let want: Vec<_> =
                            expected.errors.iter().map(|e| e.pointer.clone()).collect();
                        assert_eq!(pointers, want, "{folder}/{name}");
                        assert_eq!(report.size_bytes, bytes.len() as u64);
                        // The quarantined object is byte-for-byte what was uploaded.
                        let raw = ep
                            .api()
                            .get_quarantine_object()
                            .upload_id(status.upload_id.clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(
                            eventpulse_client::read_all(raw.into_inner()).await.unwrap(),
                            bytes,
                            "{name}"
                        );
                        assert!(
                            ep.all_events(&Default::default()).await.unwrap().is_empty(),
                            "{name}: events stored from a refused object"
                        );
                        let notes = ep
                            .api()
                            .list_notifications()
                            .send()
                            .await
                            .unwrap()
                            .into_inner();
                        assert_eq!(notes.items.len(), 1, "{name}: exactly one notification");
                    }
                }
            }
        }
        assert!(n > 100, "only {n} examples");
    });
    // One audit line per processed object, and per request with the user.
    let logs = server.log_lines();
    assert!(logs.iter().any(|l| l["kind"] == "object"
        && l["outcome"] == "quarantined"
        && l["reason_code"] == "schema_violation"));
    assert!(logs.iter().any(|l| l["kind"] == "request"
        && l["operation"] == "get_quarantine"
        && l["user"].as_str().is_some_and(|u| u.starts_with("user"))));
}

fn a_user_never_reaches_another_users_data(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let alice = server.client("alice");
        let bob = server.client("bob");
        let batch: Vec<Value> = (0..3).map(|i| event(&format!("a-{i}"), "EUR")).collect();
        let stored = upload_and_wait(&alice, serde_json::to_vec(&batch).unwrap()).await;
        assert_eq!(stored.status, UploadState::Stored);
        let bad = upload_and_wait(&alice, serde_json::to_vec(&event("a-bad", "eur")).unwrap()).await;
        assert_eq!(bad.status, UploadState::Quarantined);
        let export = alice.api().create_export().body(types::ExportRequest { type_: None, from: None, to: None }).send().await.unwrap().into_inner();
        let page = alice.api().list_events().limit(1u64).send().await.unwrap().into_inner();
        let cursor = page.next_cursor.clone().expect("alice has a second page");

        // Bob, with every id alice has: 404, never data.
        let api = bob.api();
        assert_eq!(api_status(api.get_upload().upload_id(stored.upload_id.clone()).send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.get_event().event_id("a-0").send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.get_quarantine().upload_id(bad.upload_id.clone()).send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.get_quarantine_object().upload_id(bad.upload_id.clone()).send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.reprocess_quarantine().upload_id(bad.upload_id.clone()).send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.delete_quarantine().upload_id(bad.upload_id.clone()).send().await.map_err(ClientError::from)), 404);
        assert_eq!(api_status(api.get_export().export_id(export.export_id.clone()).send().await.map_err(ClientError::from)), 404);
        // Alice's cursor is refused for bob (and reveals nothing).
        assert_eq!(api_status(api.list_events().limit(1u64).cursor(cursor.clone()).send().await.map_err(ClientError::from)), 400);
        assert!(api.list_events().send().await.unwrap().into_inner().items.is_empty());
        assert!(api.list_quarantine().send().await.unwrap().into_inner().items.is_empty());
        assert!(api.list_notifications().send().await.unwrap().into_inner().items.is_empty());
        // Alice's things are all still there.
        assert!(alice.api().get_quarantine().upload_id(bad.upload_id.clone()).send().await.is_ok());
        assert_eq!(alice.all_events(&Default::default()).await.unwrap().len(), 3);
        // Same cursor with other filters: refused.
        assert_eq!(
            api_status(alice.api().list_events().limit(1u64).type_(types::EventType::PageView).cursor(cursor).send().await.map_err(ClientError::from)),
            400
        );
        // Bob may use the same eventIds, independently.
        let bobs = upload_and_wait(&bob, serde_json::to_vec(&event("a-0", "USD")).unwrap()).await;
        assert_eq!(bobs.status, UploadState::Stored);
        let a0 = alice.api().get_event().event_id("a-0").send().await.unwrap().into_inner();
        assert_eq!(serde_json::to_value(&a0.event).unwrap()["data"]["currency"], "EUR");

        // Presigned URLs: bob cannot bend alice's ticket to another key, size or deadline.
        // Locally the signature is ours; on S3 it is S3's to check (moto checks none), and
        // what is ours there (signed headers, expiry, key) is tested in adapters/aws.
        if backend == Backend::Embedded {
            let ticket = alice.api().create_upload().body(types::UploadRequest { content_length: None, content_type: None }).send().await.unwrap().into_inner();
            let http = reqwest::Client::new();
            for tampered in [
                ticket.url.replace("/alice/", "/bob/"),
                ticket.url.replace("expires=", "expires=9"),
                ticket.url.replace("sig=", "sig=00"),
            ] {
                let r = http.put(&tampered).body(serde_json::to_vec(&event("x", "EUR")).unwrap()).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 403, "{tampered}");
            }
            // Malformed presigned requests are problems too, never plain text.
            let bad_query = ticket.url.replace("expires=", "expires=abc");
            let r = http.put(&bad_query).body("{}").send().await.unwrap();
            assert_eq!(r.status().as_u16(), 400);
            assert_eq!(r.headers()["content-type"], "application/problem+json");
            let r = http.get(&ticket.url).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 405);
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
        // The token decides who you are; a body claiming another owner changes nothing.
        let claim = json!({"eventId": "claim", "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z", "source": "bob",
                           "data": {"url": "https://e.com/"}, "owner": "bob"});
        let s = upload_and_wait(&alice, serde_json::to_vec(&claim).unwrap()).await;
        assert_eq!(s.reason_code, Some(ReasonCode::SchemaViolation));
        assert_eq!(api_status(bob.api().get_event().event_id("claim").send().await.map_err(ClientError::from)), 404);
    });
}

fn replays_and_duplicates_add_nothing_and_conflicts_quarantine(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let alice = server.client("alice");
        let batch = serde_json::to_vec(&vec![event("d-1", "EUR"), event("d-2", "EUR")]).unwrap();
        assert_eq!(
            upload_and_wait(&alice, batch.clone()).await.status,
            UploadState::Stored
        );
        // The same events again, reformatted: a no-op that still counts as stored.
        let mut again: Vec<Value> = serde_json::from_slice(&batch).unwrap();
        again.reverse();
        let s = upload_and_wait(&alice, serde_json::to_vec_pretty(&again).unwrap()).await;
        assert_eq!((s.status, s.event_count), (UploadState::Stored, Some(2)));
        assert_eq!(
            alice.all_events(&Default::default()).await.unwrap().len(),
            2
        );
        // The same instant and offset spelled differently is the same event: a no-op too, and
        // what is listed keeps the text first stored (as another user, whose quarantine may
        // fill).
        let erin = server.client("erin");
        let s = upload_and_wait(&erin, serde_json::to_vec(&event("d-1", "EUR")).unwrap()).await;
        assert_eq!(s.status, UploadState::Stored);
        let mut respelled = event("d-1", "EUR");
        respelled["occurredAt"] = json!("2026-11-27T10:00:00.000+00:00");
        let s = upload_and_wait(&erin, serde_json::to_vec(&respelled).unwrap()).await;
        assert_eq!((s.status, s.reason_code), (UploadState::Stored, None));
        let d1 = erin
            .api()
            .get_event()
            .event_id("d-1")
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            serde_json::to_value(&d1.event).unwrap()["occurredAt"],
            "2026-11-27T10:00:00Z"
        );
        // The same instant at another offset is other content.
        let mut moved = event("d-1", "EUR");
        moved["occurredAt"] = json!("2026-11-27T11:00:00+01:00");
        let s = upload_and_wait(&erin, serde_json::to_vec(&moved).unwrap()).await;
        assert_eq!(
            (s.status, s.reason_code),
            (UploadState::Quarantined, Some(ReasonCode::EventIdConflict))
        );
        // Same eventId, other content: quarantined, nothing overwritten, report points at it.
        let conflict = serde_json::to_vec(&vec![event("d-3", "EUR"), event("d-2", "USD")]).unwrap();
        let s = upload_and_wait(&alice, conflict).await;
        assert_eq!(
            (s.status, s.reason_code),
            (UploadState::Quarantined, Some(ReasonCode::EventIdConflict))
        );
        let report = alice
            .api()
            .get_quarantine()
            .upload_id(s.upload_id.clone())
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            report
                .errors
                .iter()
                .map(|e| e.pointer.as_str())
                .collect::<Vec<_>>(),
            ["/1/eventId"]
        );
        let all = alice.all_events(&Default::default()).await.unwrap();
        assert_eq!(
            all.len(),
            2,
            "d-3 must not be stored from a conflicting object"
        );
        let d2 = alice
            .api()
            .get_event()
            .event_id("d-2")
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            serde_json::to_value(&d2.event).unwrap()["data"]["currency"],
            "EUR"
        );
        // A presigned URL takes one upload only.
        let ticket = alice
            .upload(serde_json::to_vec(&event("d-4", "EUR")).unwrap())
            .await
            .unwrap();
        wait_final(&alice, &ticket.upload_id).await;
        // Locally the endpoint refuses a used URL (409); S3 refuses the create-only write
        // the URL signs (`If-None-Match: *`, 412) while the object exists.
        let taken = if backend == Backend::Aws { 412 } else { 409 };
        let put =
            |url: &str, headers: &std::collections::HashMap<String, String>, body: Vec<u8>| {
                let mut r = reqwest::Client::new().put(url).body(body);
                for (k, v) in headers {
                    r = r.header(k, v);
                }
                r.send()
            };
        let r = put(
            &ticket.url,
            &ticket.headers,
            serde_json::to_vec(&event("d-5", "EUR")).unwrap(),
        )
        .await
        .unwrap();
        if backend == Backend::Embedded {
            assert_eq!(r.status().as_u16(), 409);
        } else {
            // S3's create-only write protects the key while the object is there (412); once
            // processed and removed — the upload turns final just before the removal, so
            // either can happen here — the URL can write again until it expires (200), and
            // that second object goes to the operator's quarantine. Either way the upload
            // keeps its one outcome and nothing of the second object is listed.
            let code = r.status().as_u16();
            assert!(code == 412 || code == 200, "a reused URL got {code}");
            tokio::time::sleep(Duration::from_secs(3)).await;
            let again = alice
                .api()
                .get_upload()
                .upload_id(ticket.upload_id.clone())
                .send()
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                (again.status, again.event_count),
                (UploadState::Stored, Some(1))
            );
            assert_eq!(
                api_status(
                    alice
                        .api()
                        .get_event()
                        .event_id("d-5")
                        .send()
                        .await
                        .map_err(ClientError::from)
                ),
                404
            );
        }
        // Two PUTs racing on one URL: exactly one is accepted, and it is what gets processed.
        let ticket = alice
            .api()
            .create_upload()
            .body(types::UploadRequest {
                content_length: None,
                content_type: Default::default(),
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        let (a, b) = tokio::join!(
            put(
                &ticket.url,
                &ticket.headers,
                serde_json::to_vec(&event("race-a", "EUR")).unwrap()
            ),
            put(
                &ticket.url,
                &ticket.headers,
                serde_json::to_vec(&event("race-b", "EUR")).unwrap()
            ),
        );
        let (a, b) = (a.unwrap().status().as_u16(), b.unwrap().status().as_u16());
        let mut codes = [a, b];
        codes.sort();
        assert_eq!(codes, [200, taken]);
        let raced = wait_final(&alice, &ticket.upload_id).await;
        assert_eq!(
            (raced.status, raced.event_count),
            (UploadState::Stored, Some(1))
        );
        let winner = if a == 200 { "race-a" } else { "race-b" };
        let loser = if a == 200 { "race-b" } else { "race-a" };
        assert!(
            alice
                .api()
                .get_event()
                .event_id(winner)
                .send()
                .await
                .is_ok()
        );
        assert_eq!(
            api_status(
                alice
                    .api()
                    .get_event()
                    .event_id(loser)
                    .send()
                    .await
                    .map_err(ClientError::from)
            ),
            404
        );

        // Reprocess after fixing the cause: delete nothing, just make the conflict go away by
        // reprocessing an object whose conflict is real → quarantined again, one more notice.
        let before = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner()
            .items
            .len();
        alice
            .api()
            .reprocess_quarantine()
            .upload_id(s.upload_id.clone())
            .send()
            .await
            .unwrap();
        let again = wait_final(&alice, &s.upload_id).await;
        assert_eq!(again.reason_code, Some(ReasonCode::EventIdConflict));
        let after = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner()
            .items
            .len();
        assert_eq!(after, before + 1);
        // Delete it: gone from the list, its id 404s.
        alice
            .api()
            .delete_quarantine()
            .upload_id(s.upload_id.clone())
            .send()
            .await
            .unwrap();
        assert!(
            alice
                .api()
                .list_quarantine()
                .send()
                .await
                .unwrap()
                .into_inner()
                .items
                .is_empty()
        );
        assert_eq!(
            api_status(
                alice
                    .api()
                    .get_quarantine()
                    .upload_id(s.upload_id.clone())
                    .send()
                    .await
                    .map_err(ClientError::from)
            ),
            404
        );
    });
}

#[test]
fn a_restart_keeps_everything_and_finishes_unfinished_objects() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let (token, stored_id) = rt().block_on(async {
        let alice = server.client("alice");
        let s = upload_and_wait(&alice, serde_json::to_vec(&event("r-1", "EUR")).unwrap()).await;
        let q = upload_and_wait(&alice, serde_json::to_vec(&event("r-bad", "eur")).unwrap()).await;
        assert_eq!(q.status, UploadState::Quarantined);
        (server.token("alice"), s.upload_id)
    });
    server.stop();
    // A crash between the PUT and processing leaves an object in the process bucket.
    rt().block_on(async {
        use eventpulse_handlers::ports::{Bucket, ObjectStore};
        let store = eventpulse_embedded::FsObjectStore::open(dir.path()).unwrap();
        let body = serde_json::to_vec(&event("r-2", "EUR")).unwrap();
        store
            .put(
                Bucket::Process,
                "incoming/alice/unfinished1.json",
                body.into(),
                "application/json",
            )
            .await
            .unwrap();
        // ...and a crash during an export leaves it running.
        use eventpulse_handlers::ports::EventTable;
        let table = eventpulse_embedded::SqliteTable::open(
            dir.path().join(eventpulse_embedded::TABLE_FILE),
        )
        .unwrap();
        table
            .put_export(&eventpulse_handlers::ports::ExportRecord {
                owner: "alice".into(),
                export_id: "cutoff1".into(),
                status: eventpulse_generated::types::ExportState::Running,
                query: Default::default(),
                created_at: chrono::Utc::now(),
                finished_at: None,
                event_count: None,
                result_key: None,
            })
            .await
            .unwrap();
    });
    let server = Server::start(dir.path());
    rt().block_on(async {
        let alice = EventPulse::new(&server.base, Some(&token)).unwrap();
        assert_eq!(
            alice
                .api()
                .get_upload()
                .upload_id(stored_id)
                .send()
                .await
                .unwrap()
                .into_inner()
                .status,
            UploadState::Stored
        );
        let unfinished = types::UploadId::try_from("unfinished1".to_string()).unwrap();
        let s = wait_final_or_missing(&alice, &unfinished).await;
        assert_eq!(s.status, UploadState::Stored);
        let ids: Vec<String> = alice
            .all_events(&Default::default())
            .await
            .unwrap()
            .iter()
            .map(|e| {
                serde_json::to_value(&e.event).unwrap()["eventId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["r-1", "r-2"]);
        // The export cut off by the crash is run again to completion.
        let mut export = None;
        for _ in 0..200 {
            let e = alice
                .api()
                .get_export()
                .export_id("cutoff1")
                .send()
                .await
                .unwrap()
                .into_inner();
            if e.status != types::ExportState::Running {
                export = Some(e);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let export = export.expect("the cut-off export finished");
        // It runs at start-up, possibly before the recovered object is processed.
        assert_eq!(export.status, types::ExportState::Done);
        assert!(
            matches!(export.event_count, Some(1) | Some(2)),
            "{export:?}"
        );
        assert_eq!(
            alice
                .api()
                .list_quarantine()
                .send()
                .await
                .unwrap()
                .into_inner()
                .items
                .len(),
            1
        );
        // The quarantine from before the restart, and the restarted export's.
        let kinds: Vec<_> = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner()
            .items
            .into_iter()
            .map(|n| n.kind)
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(
            kinds.contains(&types::NotificationKind::ObjectQuarantined)
                && kinds.contains(&types::NotificationKind::ExportDone)
        );
    });
}

/// Like `wait_final`, for an object that has no upload record until it is processed.
async fn wait_final_or_missing(ep: &EventPulse, id: &types::UploadId) -> types::UploadStatus {
    for _ in 0..600 {
        if let Ok(s) = ep.api().get_upload().upload_id(id.clone()).send().await {
            let s = s.into_inner();
            if s.status != UploadState::Pending {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never finished", **id);
}

#[test]
fn two_hundred_concurrent_uploads_each_end_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    rt().block_on(async {
        let alice = Arc::new(server.client("alice"));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let alice = alice.clone();
            tasks.spawn(async move {
                let currency = if i % 4 == 0 { "bad" } else { "EUR" };
                let body = serde_json::to_vec(&vec![
                    event(&format!("c-{i}-a"), currency),
                    event(&format!("c-{i}-b"), "EUR"),
                ])
                .unwrap();
                let ticket = alice.upload(body).await.unwrap();
                (i, ticket.upload_id)
            });
        }
        let mut uploads = Vec::new();
        while let Some(r) = tasks.join_next().await {
            uploads.push(r.unwrap());
        }
        let (mut stored, mut quarantined) = (0, 0);
        for (i, id) in &uploads {
            let s = wait_final(&alice, id).await;
            match s.status {
                UploadState::Stored => {
                    assert_ne!(i % 4, 0);
                    stored += 1;
                }
                UploadState::Quarantined => {
                    assert_eq!(i % 4, 0);
                    quarantined += 1;
                }
                UploadState::Pending => unreachable!(),
            }
        }
        assert_eq!((stored, quarantined), (150, 50));
        assert_eq!(
            alice.all_events(&Default::default()).await.unwrap().len(),
            300
        );
        let mut q = 0;
        let mut cursor = None;
        loop {
            let mut req = alice.api().list_quarantine().limit(7u64);
            if let Some(c) = cursor.take() {
                req = req.cursor(c);
            }
            let page = req.send().await.unwrap().into_inner();
            q += page.items.len();
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(q, 50, "each quarantined object listed exactly once");
        let notes = alice
            .api()
            .list_notifications()
            .limit(100u64)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            notes.items.len(),
            50,
            "exactly one notification per quarantined object"
        );
    });
}

fn bad_tokens_and_bad_requests_get_problem_details(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let http = reqwest::Client::new();
        let url = format!("{}/v1/events", server.base);
        let good = server.token("alice");
        let payload = good.split('.').nth(1).unwrap().to_string();
        let none_alg = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        let other = Command::new(bin())
            .args([
                "token",
                "--user",
                "alice",
                "--jwt-secret",
                "not-the-server-secret",
            ])
            .output()
            .unwrap();
        let other = String::from_utf8(other.stdout).unwrap().trim().to_string();
        let expired = Command::new(bin())
            .args(["token", "--user", "alice", "--hours", "-2"])
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        let expired = String::from_utf8(expired.stdout)
            .unwrap()
            .trim()
            .to_string();
        for (name, header) in [
            ("none", None),
            ("alg none", Some(format!("Bearer {none_alg}"))),
            ("wrong secret", Some(format!("Bearer {other}"))),
            ("expired", Some(format!("Bearer {expired}"))),
            ("garbage", Some("Bearer abc.def.ghi".into())),
            ("basic", Some("Basic YWxpY2U6cHc=".into())),
        ] {
            let mut req = http.get(&url);
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 401, "{name}");
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{name}"
            );
            let p: types::Problem = r.json().await.unwrap();
            assert!(p.detail.is_some_and(|d| !d.is_empty()), "{name}");
        }
        // Two Authorization headers: ambiguous, refused (even when the first is good).
        let r = http
            .get(&url)
            .header("authorization", format!("Bearer {good}"))
            .header("authorization", format!("Bearer {other}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "two Authorization headers");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: types::Problem = r.json().await.unwrap();
        assert!(
            p.detail
                .as_deref()
                .is_some_and(|d| d.contains("2 Authorization headers")),
            "{:?}",
            p.detail
        );
        let r = http
            .get(format!("{url}?limit=500&from=yesterday"))
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let p: types::Problem = r.json().await.unwrap();
        let pointers: Vec<_> = p.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(
            pointers.contains(&"/query/limit") && pointers.contains(&"/query/from"),
            "{pointers:?}"
        );
        let r = http
            .get(format!("{url}?cursor=forged.cursor"))
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let r = http
            .post(format!("{}/v1/uploads", server.base))
            .bearer_auth(&good)
            .json(&json!({"contentLength": 6 * 1024 * 1024}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            400,
            "contentLength above the schema's maximum"
        );
    });
}

fn exports_docs_and_published_contracts(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let alice = server.client("alice");
        let batch: Vec<Value> = (0..5).map(|i| event(&format!("x-{i}"), "EUR")).collect();
        upload_and_wait(&alice, serde_json::to_vec(&batch).unwrap()).await;
        let mut e = alice
            .api()
            .create_export()
            .body(types::ExportRequest {
                type_: Some(types::EventType::OrderPlaced),
                from: None,
                to: None,
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        for _ in 0..200 {
            if e.status != types::ExportState::Running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            e = alice
                .api()
                .get_export()
                .export_id(e.export_id.clone())
                .send()
                .await
                .unwrap()
                .into_inner();
        }
        assert_eq!(
            (e.status, e.event_count),
            (types::ExportState::Done, Some(5))
        );
        let body = reqwest::get(e.download_url.unwrap())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0]["event"]["eventId"], "x-0");
        let notes = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(notes.items[0].kind, types::NotificationKind::ExportDone);

        let http = reqwest::Client::new();
        let spec = http
            .get(format!("{}/openapi.yaml", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            spec,
            std::fs::read_to_string(root().join("openapi.yaml")).unwrap()
        );
        let schema: Value = http
            .get(format!("{}/v1/schemas/event", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bundle: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("generated/schema/upload-object.bundle.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(schema, bundle);
        // Every released version stays published, frozen as released; others are a 404.
        let released = http
            .get(format!("{}/v1/schemas/event/1", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(released.status(), 200);
        assert_eq!(
            released.headers()["content-type"],
            "application/schema+json"
        );
        let released: Value = released.json().await.unwrap();
        let frozen: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("released/upload-object.v1.bundle.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(released, frozen);
        assert_eq!(
            released["$id"],
            "https://eventpulse.dev/schemas/v1/upload-object.bundle.json"
        );
        let unknown = http
            .get(format!("{}/v1/schemas/event/999", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(
            unknown.headers()["content-type"],
            "application/problem+json"
        );
        let p: types::Problem = unknown.json().await.unwrap();
        assert_eq!(p.status, 404);
        assert!(
            p.detail.as_deref().unwrap_or("").contains("never released"),
            "{p:?}"
        );
        let docs = http
            .get(format!("{}/docs", server.base))
            .send()
            .await
            .unwrap();
        assert!(
            docs.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = docs.text().await.unwrap();
        assert!(
            html.contains("<redoc spec-url=\"openapi.yaml\" disable-telemetry=\"true\">")
                && html.contains("RedocStandalone")
        );
        // Everything the page needs is inline: no external script or stylesheet.
        assert!(
            !html.contains("<script src=") && !html.contains("<link "),
            "the docs page loads external assets"
        );
    });
}

/// The AWS backend keeps its state in S3, DynamoDB and the queues: a restart finds it all,
/// and an object uploaded while no server ran is processed from the rule's queue after.
#[test]
fn aws_a_restart_keeps_everything_and_finishes_what_arrived_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_on(Backend::Aws, dir.path());
    let (token, stored, ticket) = rt().block_on(async {
        let alice = server.client("alice");
        let s = upload_and_wait(&alice, serde_json::to_vec(&event("w-1", "EUR")).unwrap()).await;
        assert_eq!(s.status, UploadState::Stored);
        let ticket = new_ticket(&alice).await;
        (server.token("alice"), s.upload_id, ticket)
    });
    server.stop();
    rt().block_on(async {
        let body = serde_json::to_vec(&event("w-2", "EUR")).unwrap();
        assert_eq!(put_ticket(&ticket, body).await, 200);
    });
    let server = Server::start_on(Backend::Aws, dir.path());
    rt().block_on(async {
        let alice = EventPulse::new(&server.base, Some(&token)).unwrap();
        let before = alice
            .api()
            .get_upload()
            .upload_id(stored)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(before.status, UploadState::Stored);
        let meanwhile = wait_final(&alice, &ticket.upload_id).await;
        assert_eq!(meanwhile.status, UploadState::Stored);
        let ids: Vec<String> = alice
            .all_events(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                serde_json::to_value(&e.event).unwrap()["eventId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["w-1", "w-2"]);
    });
}

/// A data dir `eventpulse local` creates is its owner's only: directories 0700, files 0600
/// (SQLite and its WAL, objects, quarantine reports, exports, the secrets file).
#[cfg(unix)]
#[test]
fn the_data_dir_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    fn shared(p: &std::path::Path, out: &mut Vec<String>) {
        let meta = std::fs::symlink_metadata(p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            out.push(format!("{} is {mode:o}", p.display()));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                shared(&e.unwrap().path(), out);
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("new/data");
    let server = Server::start(&data);
    rt().block_on(async {
        let alice = server.client("alice");
        let ok = upload_and_wait(&alice, serde_json::to_vec(&event("p-1", "EUR")).unwrap()).await;
        assert_eq!(ok.status, UploadState::Stored);
        let bad = upload_and_wait(&alice, serde_json::to_vec(&event("p-2", "eur")).unwrap()).await;
        assert_eq!(bad.status, UploadState::Quarantined);
        let export = alice
            .api()
            .create_export()
            .body(types::ExportRequest {
                type_: None,
                from: None,
                to: None,
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        for _ in 0..600 {
            let e = alice
                .api()
                .get_export()
                .export_id(export.export_id.clone())
                .send()
                .await
                .unwrap()
                .into_inner();
            if e.status != types::ExportState::Running {
                assert_eq!(e.status, types::ExportState::Done);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut out = Vec::new();
    shared(&dir.path().join("new"), &mut out);
    assert!(out.is_empty(), "{out:#?}");
    let exports = data.join("objects/exports");
    assert!(
        std::fs::read_dir(&exports).unwrap().next().is_some(),
        "the check saw the export"
    );
}

/// Presigned downloads, and presigned requests refused for their signature, leave audit
/// lines (who, which key, how it ended; never the signature).
#[test]
fn presigned_downloads_and_refused_signatures_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let (url, put_url) = rt().block_on(async {
        let alice = server.client("alice");
        let ok = upload_and_wait(&alice, serde_json::to_vec(&event("au-1", "EUR")).unwrap()).await;
        assert_eq!(ok.status, UploadState::Stored);
        let export = alice
            .api()
            .create_export()
            .body(types::ExportRequest {
                type_: None,
                from: None,
                to: None,
            })
            .send()
            .await
            .unwrap()
            .into_inner();
        let mut url = None;
        for _ in 0..600 {
            let e = alice
                .api()
                .get_export()
                .export_id(export.export_id.clone())
                .send()
                .await
                .unwrap()
                .into_inner();
            if e.status != types::ExportState::Running {
                url = e.download_url;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = url.expect("the export finished with a download URL");
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        // The same URL with another signature, and with another key.
        let forged = format!("{}&sig=00", url.split("&sig=").next().unwrap());
        let r = http.get(&forged).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        let other = url.replace("/alice/", "/bob/");
        assert_eq!(
            http.get(&other).send().await.unwrap().status().as_u16(),
            403
        );
        let ticket = new_ticket(&alice).await;
        let put_url = ticket.url.replace("/alice/", "/bob/");
        let r = http.put(&put_url).body("{}").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        (url, put_url)
    });
    let sig = url.split("&sig=").nth(1).unwrap().to_string();
    // The last request's lines may still be on their way (log_lines_when's docs).
    let logs = server.log_lines_when(|logs| {
        logs.iter()
            .filter(|l| l["kind"] == "presign_denied")
            .count()
            >= 3
            && logs.iter().any(|l| {
                l["kind"] == "request" && l["operation"] == "presigned_upload" && l["status"] == 403
            })
    });
    let requests = |op: &str, status: u64| {
        logs.iter()
            .filter(|l| l["kind"] == "request" && l["operation"] == op && l["status"] == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    let ok = requests("presigned_download", 200);
    assert_eq!(ok.len(), 1, "{logs:#?}");
    assert_eq!(ok[0]["user"], "alice");
    assert!(
        ok[0]["resources"]
            .as_str()
            .unwrap()
            .starts_with("key=exports/alice/")
    );
    assert!(
        logs.iter()
            .any(|l| l["kind"] == "download" && l["owner"] == "alice")
    );
    assert_eq!(requests("presigned_download", 403).len(), 2);
    assert_eq!(requests("presigned_upload", 403).len(), 1);
    let denied: Vec<_> = logs
        .iter()
        .filter(|l| l["kind"] == "presign_denied")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:#?}");
    assert!(
        denied
            .iter()
            .all(|l| l["reason"].as_str().unwrap().contains("signature"))
    );
    assert!(
        denied
            .iter()
            .any(|l| l["method"] == "PUT" && l["key"].as_str().unwrap().contains("/bob/")),
        "{denied:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.to_string().contains(&sig)),
        "a signature was logged"
    );
    assert!(!put_url.is_empty());
}

/// 20 concurrent reprocess requests on one quarantined upload: exactly one is accepted (the
/// others 409), and the upload ends quarantined again with exactly one further notification.
fn concurrent_reprocess_is_accepted_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let alice = Arc::new(server.client("alice"));
        let bad = upload_and_wait(&alice, serde_json::to_vec(&event("rp-1", "eur")).unwrap()).await;
        assert_eq!(bad.status, UploadState::Quarantined);
        let burst = || async {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let (alice, id) = (alice.clone(), bad.upload_id.clone());
                calls.spawn(async move {
                    match alice
                        .api()
                        .reprocess_quarantine()
                        .upload_id(id)
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16(),
                        Err(e) => ClientError::from(e).status().unwrap_or(0),
                    }
                });
            }
            let mut statuses = Vec::new();
            while let Some(s) = calls.join_next().await {
                statuses.push(s.unwrap());
            }
            statuses.sort_unstable();
            statuses
        };
        // On AWS the outcome is recorded before the original object leaves the process
        // bucket, so for a moment every call is rightly told the upload is being processed
        // (409, nothing changed); the burst is repeated, bounded, until the key is free.
        let mut statuses = burst().await;
        for _ in 0..100 {
            if backend != Backend::Aws || statuses.contains(&202) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            statuses = burst().await;
        }
        // A reprocess is refused (409) while another is under way. A call that arrives after
        // an earlier one already ended back in quarantine is rightly accepted again, so the
        // count of 202s depends on timing; what must hold is that each accepted reprocess
        // ran alone and so produced exactly one outcome, and one notification.
        let accepted = statuses.iter().filter(|&&s| s == 202).count();
        assert!(accepted >= 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|&s| s == 202 || s == 409),
            "{statuses:?}"
        );
        let after = wait_final(&alice, &bad.upload_id).await;
        assert_eq!(after.status, UploadState::Quarantined);
        // The first quarantine plus one per accepted reprocess. Wait (bounded) for them to
        // appear, then make sure no more do while the upload is final and its object gone.
        let wanted = 1 + accepted;
        let mut notes = 0;
        for _ in 0..600 {
            notes = alice
                .api()
                .list_notifications()
                .send()
                .await
                .unwrap()
                .into_inner()
                .items
                .len();
            if notes >= wanted {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(notes, wanted, "{statuses:?}");
        // A later reprocess is accepted again (the claim ended with the outcome).
        let r = alice
            .api()
            .reprocess_quarantine()
            .upload_id(bad.upload_id.clone())
            .send()
            .await;
        assert_eq!(r.map(|r| r.status().as_u16()).unwrap_or(0), 202);
    });
}

/// An upload URL stays valid for its few minutes after its object was processed. Used again
/// (after the quarantine, and after a reprocess) it never changes the upload: locally the
/// upload server refuses it (409); S3 accepts it while the key is free, and the processor
/// keeps the second object in the operator quarantine. Either way the upload keeps its one
/// outcome, nothing is listed, and the owner's quarantine and notifications are unchanged.
fn an_upload_url_used_again_never_changes_its_upload(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(async {
        let alice = server.client("alice");
        let ticket = new_ticket(&alice).await;
        let put = |body: Vec<u8>| put_ticket(&ticket, body);
        assert_eq!(
            put(serde_json::to_vec(&event("again-1", "eur")).unwrap()).await,
            200
        );
        let first = wait_final(&alice, &ticket.upload_id).await;
        assert_eq!(first.status, UploadState::Quarantined);

        let valid = serde_json::to_vec(&event("again-2", "EUR")).unwrap();
        // On AWS the second object's processing is not observable through the API: give it
        // a few seconds, then check that it changed nothing (a wait, not a timed assertion).
        let settle = match backend {
            Backend::Embedded => Duration::ZERO,
            Backend::Aws => Duration::from_secs(3),
        };
        let unchanged = |when: &'static str| {
            let (alice, id) = (&alice, ticket.upload_id.clone());
            async move {
                tokio::time::sleep(settle).await;
                let s = wait_final(alice, &id).await;
                assert_eq!(s.status, UploadState::Quarantined, "{when}: {s:?}");
                let events = alice.api().list_events().send().await.unwrap().into_inner();
                assert!(events.items.is_empty(), "{when}: {:?}", events.items);
                let q = alice
                    .api()
                    .list_quarantine()
                    .send()
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(q.items.len(), 1, "{when}: {:?}", q.items);
            }
        };
        let mut again = put(valid.clone()).await;
        // On AWS the outcome is recorded before the original object is deleted, so for a
        // moment the key is still taken (If-None-Match: 412); S3 takes the PUT once it is free.
        for _ in 0..100 {
            if backend != Backend::Aws || again != 412 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            again = put(valid.clone()).await;
        }
        match backend {
            Backend::Embedded => assert_eq!(again, 409, "a second PUT after the outcome"),
            Backend::Aws => assert_eq!(again, 200, "S3 takes it once the key is free"),
        }
        unchanged("after a second PUT").await;

        // 409 while the second object still waits in the process bucket (on AWS).
        let mut status = 0;
        for _ in 0..40 {
            status = match alice
                .api()
                .reprocess_quarantine()
                .upload_id(ticket.upload_id.clone())
                .send()
                .await
            {
                Ok(r) => r.status().as_u16(),
                Err(e) => ClientError::from(e).status().unwrap_or(0),
            };
            if status != 409 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(status, 202);
        let again = put(valid).await;
        assert!(
            [200, 409].contains(&again),
            "a PUT during or after the reprocess: {again}"
        );
        unchanged("after the reprocess and a third PUT").await;
        let notes = alice
            .api()
            .list_notifications()
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            notes.items.len(),
            2,
            "the quarantine and the reprocess: {:?}",
            notes.items
        );
    });
}
