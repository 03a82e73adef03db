//! Durability figures of `eventpulse local` (issue 8, part 7): `kill -9` of the server while
//! 1,000 uploads are in flight, ten rounds; then a restart on the same data dir, and every
//! acknowledged upload must end final with all its events listed. A benchmark that prints
//! figures (it also fails loudly on a lost upload), not a test.
//!
//! ```sh
//! cargo bench -p eventpulse-cli --bench durability
//! EP_DUR_ROUNDS=20 EP_DUR_UPLOADS=2000 cargo bench -p eventpulse-cli --bench durability
//! ```
//!
//! Per round: a fresh data dir; `EP_DUR_USERS` (50) users upload `EP_DUR_UPLOADS` (1000)
//! objects of 1–5 valid events, all at once (presign, then PUT); after a random number of
//! acknowledged PUTs (between 10% and 90% of them) the server gets SIGKILL. Then it is
//! started again and each upload is followed to its end:
//! - *accepted*: the PUT was answered 200 (the object was acknowledged);
//! - *final*: accepted, and stored with every event listed by `GET /v1/events/{id}`;
//! - *lost*: accepted, and not final within 120 s, or an event missing (must be 0);
//! - *in doubt*: presigned but the PUT got no answer (the kill cut it): may end stored
//!   (the object was written before the answer) or be absent; never half-stored.
//!
//! Run without `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run.

#[path = "../tests/support/mod.rs"]
mod support;

use eventpulse_client::EventPulse;
use eventpulse_client::types::{UploadId, UploadState};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::Server;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What happened to one upload before the kill.
enum Sent {
    /// No ticket (the server was gone before the presign answered).
    NoTicket,
    /// A ticket, but the PUT got no 200.
    InDoubt(UploadId, Vec<String>),
    /// The PUT was answered 200.
    Accepted(UploadId, Vec<String>),
}

fn object(round: usize, i: usize, n: usize) -> (Vec<u8>, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|k| format!("d{round}-{i}-{k}")).collect();
    let events: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({"eventId": id, "type": "sensor.reading", "occurredAt": "2026-12-02T10:00:00Z",
                   "source": "durability", "data": {"sensorId": "s-1", "metric": "temperature", "value": 21.5, "unit": "celsius"}})
        })
        .collect();
    (serde_json::to_vec(&events).unwrap_or_default(), ids)
}

async fn send(ep: EventPulse, bytes: Vec<u8>, ids: Vec<String>, acked: Arc<AtomicUsize>) -> Sent {
    let request = eventpulse_client::types::UploadRequest {
        content_length: std::num::NonZeroU64::new(bytes.len() as u64),
        content_type: Some(eventpulse_client::types::UploadRequestContentType::ApplicationJson),
    };
    let ticket = match ep.api().create_upload().body(request).send().await {
        Ok(t) => t.into_inner(),
        Err(e) => {
            if std::env::var_os("EP_DUR_DEBUG").is_some() {
                eprintln!("presign: {e}");
            }
            return Sent::NoTicket;
        }
    };
    let http = reqwest::Client::new();
    let mut put = http.put(&ticket.url).body(bytes);
    for (k, v) in &ticket.headers {
        put = put.header(k, v);
    }
    match put.send().await {
        Ok(r) if r.status().is_success() => {
            acked.fetch_add(1, Ordering::SeqCst);
            Sent::Accepted(ticket.upload_id, ids)
        }
        _ => Sent::InDoubt(ticket.upload_id, ids),
    }
}

#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    sent: usize,
    no_ticket: usize,
    accepted: usize,
    final_: usize,
    lost: usize,
    in_doubt_stored: usize,
    in_doubt_absent: usize,
    in_doubt_other: usize,
}

async fn settle(ep: &EventPulse, id: &UploadId, deadline: Instant) -> Option<UploadState> {
    loop {
        match ep.api().get_upload().upload_id(id.clone()).send().await {
            Ok(s) if s.status != UploadState::Pending => return Some(s.status),
            Ok(_) => {}
            Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => return None,
            Err(_) => {}
        }
        if Instant::now() > deadline {
            return Some(UploadState::Pending);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn all_listed(ep: &EventPulse, ids: &[String]) -> bool {
    for id in ids {
        if ep
            .api()
            .get_event()
            .event_id(id.as_str())
            .send()
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

fn round(n: usize, uploads: usize, users: usize, rt: &tokio::runtime::Runtime) -> Tally {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let clients: Vec<EventPulse> = (0..users)
        .map(|u| server.client(&format!("dur{u}")))
        .collect();
    let kill_at = rand::rng()
        .random_range(uploads / 10..=uploads * 9 / 10)
        .max(1);
    let acked = Arc::new(AtomicUsize::new(0));
    let mut sent: Vec<(usize, Sent)> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..uploads {
            let (bytes, ids) = object(n, i, 1 + i % 5);
            let user = i % users;
            tasks.spawn({
                let (ep, acked) = (clients[user].clone(), acked.clone());
                async move { (user, send(ep, bytes, ids, acked).await) }
            });
        }
        // SIGKILL (the support server's drop) once `kill_at` PUTs were acknowledged.
        let mut server = Some(server);
        let mut out = Vec::with_capacity(uploads);
        loop {
            if server.is_some() && acked.load(Ordering::SeqCst) >= kill_at {
                drop(server.take());
            }
            tokio::select! {
                done = tasks.join_next() => match done {
                    Some(Ok(r)) => out.push(r),
                    Some(Err(e)) => panic!("an upload task failed: {e}"),
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
            }
        }
        drop(server);
        out
    });
    let mut t = Tally {
        sent: uploads,
        ..Tally::default()
    };
    // The same data dir, the same secrets: the old tokens still verify.
    let again = Server::start(dir.path());
    let clients: Vec<EventPulse> = (0..users)
        .map(|u| again.client(&format!("dur{u}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Accepted uploads first (each must end final); by then start-up recovery has queued
    // every object the kill left in the process bucket, so an in-doubt upload still pending
    // a few seconds later was never written.
    sent.sort_by_key(|(_, s)| !matches!(s, Sent::Accepted(..)));
    let mut doubt_deadline = None;
    rt.block_on(async {
        for (user, s) in sent.drain(..) {
            let ep = &clients[user];
            match s {
                Sent::NoTicket => t.no_ticket += 1,
                Sent::Accepted(id, ids) => {
                    t.accepted += 1;
                    match settle(ep, &id, deadline).await {
                        Some(UploadState::Stored) if all_listed(ep, &ids).await => t.final_ += 1,
                        other => {
                            eprintln!("LOST: upload {} of dur{user}: {other:?}", *id);
                            t.lost += 1;
                        }
                    }
                }
                Sent::InDoubt(id, ids) => match settle(
                    ep,
                    &id,
                    *doubt_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(5)),
                )
                .await
                {
                    Some(UploadState::Stored) if all_listed(ep, &ids).await => {
                        t.in_doubt_stored += 1
                    }
                    // Presigned, never written: pending until forgotten.
                    Some(UploadState::Pending) | None => t.in_doubt_absent += 1,
                    other => {
                        eprintln!("IN DOUBT, HALF: upload {} of dur{user}: {other:?}", *id);
                        t.in_doubt_other += 1;
                    }
                },
            }
        }
    });
    t
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (rounds, uploads, users) = if smoke {
        (1, 20, 4)
    } else {
        (
            env("EP_DUR_ROUNDS", 10),
            env("EP_DUR_UPLOADS", 1000),
            env("EP_DUR_USERS", 50),
        )
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "durability: kill -9 of eventpulse local during {uploads} concurrent uploads ({users} users), {rounds} round(s){}",
        if smoke {
            " (smoke run without --bench)"
        } else {
            ""
        }
    );
    println!(
        "{:>5} {:>8} {:>9} {:>8} {:>6} {:>5} {:>16} {:>16} {:>9}",
        "round",
        "uploads",
        "no ticket",
        "accepted",
        "final",
        "lost",
        "in doubt→stored",
        "in doubt→absent",
        "half"
    );
    let mut total = Tally::default();
    for r in 1..=rounds {
        let started = Instant::now();
        let t = round(r, uploads, users, &rt);
        println!(
            "{r:>5} {:>8} {:>9} {:>8} {:>6} {:>5} {:>16} {:>16} {:>9}   ({:.1} s)",
            t.sent,
            t.no_ticket,
            t.accepted,
            t.final_,
            t.lost,
            t.in_doubt_stored,
            t.in_doubt_absent,
            t.in_doubt_other,
            started.elapsed().as_secs_f64()
        );
        total.sent += t.sent;
        total.no_ticket += t.no_ticket;
        total.accepted += t.accepted;
        total.final_ += t.final_;
        total.lost += t.lost;
        total.in_doubt_stored += t.in_doubt_stored;
        total.in_doubt_absent += t.in_doubt_absent;
        total.in_doubt_other += t.in_doubt_other;
    }
    println!(
        "total {:>8} {:>9} {:>8} {:>6} {:>5} {:>16} {:>16} {:>9}",
        total.sent,
        total.no_ticket,
        total.accepted,
        total.final_,
        total.lost,
        total.in_doubt_stored,
        total.in_doubt_absent,
        total.in_doubt_other
    );
    assert_eq!(total.lost, 0, "acknowledged uploads were lost");
    assert_eq!(
        total.in_doubt_other, 0,
        "an upload ended neither stored nor absent"
    );
}
