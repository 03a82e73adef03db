//! Transport limits of `eventpulse local` (issue 8, part 6): connections that send nothing,
//! half a request head or half a body are closed after the configured timeouts, the
//! connection cap holds, and a short upload leaves nothing behind. Timeouts are set small by
//! each test; every wait is bounded generously, and nothing asserts on elapsed time.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::Server;

/// Liveness bound for reads: far above any timeout a test sets.
const PATIENCE: Duration = Duration::from_secs(60);

fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Reads until the server closes the connection; returns what it sent first. Panics if the
/// connection is still open after [`PATIENCE`].
fn read_until_closed(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: the server did not close the connection within {PATIENCE:?}")
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Waits (bounded) until the server logged a line whose message contains `text`.
fn wait_for_log(server: &Server, text: &str) {
    for _ in 0..600 {
        if server
            .log_lines()
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server never logged {text:?}");
}

fn get_schema(base: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap()
            .get(format!("{base}/v1/schemas/event"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn idle_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--header-timeout", "1"]);
    let mut silent: Vec<_> = (0..10).map(|_| connect(&server)).collect();
    let mut half: Vec<_> = (0..10)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"GET /v1/schemas/event HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // A complete request on a keep-alive connection, then nothing: closed as idle.
    let mut kept = connect(&server);
    kept.write_all(b"GET /v1/schemas/event HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    for (i, s) in silent.iter_mut().enumerate() {
        let got = read_until_closed(s, &format!("silent connection {i}"));
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
    for (i, s) in half.iter_mut().enumerate() {
        let got = read_until_closed(s, &format!("half-sent connection {i}"));
        assert!(
            !got.starts_with(b"HTTP/1.1 200"),
            "a half-sent request was answered"
        );
    }
    let got = read_until_closed(&mut kept, "idle keep-alive connection");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
    // And the server still serves.
    assert_eq!(get_schema(&server.base), 200);
}

/// At the cap, new connections wait in the listen queue (they are neither refused nor
/// served), and are served as soon as the idle ones holding the slots are closed by the
/// header timeout.
#[test]
fn at_the_connection_cap_a_client_waits_and_is_served_once_idle_ones_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &["--header-timeout", "2", "--max-connections", "3"],
    );
    let mut idle: Vec<_> = (0..3).map(|_| connect(&server)).collect();
    // The three were accepted and the accept loop now waits for a slot.
    wait_for_log(&server, "connection limit reached");
    assert_eq!(get_schema(&server.base), 200);
    for (i, s) in idle.iter_mut().enumerate() {
        read_until_closed(s, &format!("idle connection {i}"));
    }
    // The cap did not leak slots: more clients than the cap, one after another, are served.
    for _ in 0..6 {
        assert_eq!(get_schema(&server.base), 200);
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

fn object(id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "eventId": id, "type": "order.placed", "occurredAt": "2026-11-27T10:00:00Z",
        "source": "test", "data": {"orderId": "o", "currency": "EUR", "amountMinor": 1,
        "items": [{"sku": "s", "quantity": 1}]}
    }))
    .unwrap()
}

/// A presigned upload for `len` bytes: (upload id, URL).
fn ticket(server: &Server, token: &str, len: usize) -> (String, String) {
    let v: serde_json::Value = rt().block_on(async {
        let r = http()
            .post(format!("{}/v1/uploads", server.base))
            .bearer_auth(token)
            .json(&serde_json::json!({"contentLength": len}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "create upload");
        r.json().await.unwrap()
    });
    (
        v["uploadId"].as_str().unwrap().to_string(),
        v["url"].as_str().unwrap().to_string(),
    )
}

/// Starts a PUT of `body` on `url` over a raw connection, sending only `sent` of its bytes.
fn partial_put(server: &Server, url: &str, body: &[u8], sent: usize, expect: bool) -> TcpStream {
    let path = url.strip_prefix(&server.base).unwrap();
    let mut s = connect(server);
    let expect = if expect {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{expect}\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..sent]).unwrap();
    s
}

fn put(url: &str, body: Vec<u8>) -> reqwest::Response {
    rt().block_on(async {
        http()
            .put(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    })
}

fn upload_status(server: &Server, token: &str, id: &str) -> String {
    rt().block_on(async {
        let v: serde_json::Value = http()
            .get(format!("{}/v1/uploads/{id}", server.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["status"].as_str().unwrap().to_string()
    })
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_short_put_is_ended_after_the_body_timeout_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--body-timeout", "1"]);
    let token = server.token("alice");
    let body = object("short-1");
    let (id, url) = ticket(&server, &token, body.len());
    let mut s = partial_put(&server, &url, &body, body.len() - 1, false);
    let got = read_until_closed(&mut s, "a PUT one byte short");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("PUT the whole object again"), "{text}");
    // Nothing stored, nothing staged, the upload still waiting for its object.
    let objects = server.data.join("objects");
    assert_eq!(
        files_under(&objects.join(".tmp")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_under(&objects.join("process")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(upload_status(&server, &token, &id), "pending");
    // The URL still works for the whole object.
    assert_eq!(put(&url, body).status().as_u16(), 200);
    let mut status = String::new();
    for _ in 0..600 {
        status = upload_status(&server, &token, &id);
        if status != "pending" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status, "stored");
}

/// At the per-user cap a PUT waits (`--upload-wait`) for a slot, then gets 429; other users
/// are not affected, and a freed slot is usable again.
#[test]
fn uploads_in_progress_are_capped_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--max-uploads-per-user",
            "2",
            "--upload-wait",
            "1",
            "--body-timeout",
            "120",
        ],
    );
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    let bodies: Vec<_> = (0..3).map(|i| object(&format!("cap-{i}"))).collect();
    let tickets: Vec<_> = bodies
        .iter()
        .map(|b| ticket(&server, &alice, b.len()))
        .collect();
    // Two slow uploads of alice's, each in the handler (it asked for the body: 100 Continue).
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let mut s = partial_put(&server, &tickets[i].1, &bodies[i], 0, true);
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 100"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            s.write_all(&bodies[i][..10]).unwrap();
            s
        })
        .collect();
    let refused = put(&tickets[2].1, bodies[2].clone());
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert!(refused.headers().contains_key("retry-after"));
    // Another user is not affected.
    let theirs = object("bob-1");
    let (_, url) = ticket(&server, &bob, theirs.len());
    assert_eq!(put(&url, theirs).status().as_u16(), 200);
    // The slow clients go away; their slots are freed (and nothing of them is kept).
    drop(slow);
    let mut status = 0;
    for _ in 0..60 {
        status = put(&tickets[2].1, bodies[2].clone()).status().as_u16();
        if status != 429 {
            break;
        }
    }
    assert_eq!(status, 200);
    assert_eq!(
        files_under(&server.data.join("objects/.tmp")),
        Vec::<std::path::PathBuf>::new()
    );
}

/// Requests per user (API4): past the burst one user gets 429 problems with `Retry-After`;
/// another user is served meanwhile. No assertion on time: the burst (twice the rate) is
/// sent back to back, far faster than 1 request per second refills.
#[test]
fn a_user_past_the_request_rate_gets_429_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--requests-per-user", "1"]);
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    rt().block_on(async {
        let http = http();
        let get = |token: String| {
            let http = http.clone();
            let url = format!("{}/v1/notifications", server.base);
            async move { http.get(url).bearer_auth(token).send().await.unwrap() }
        };
        let mut statuses = Vec::new();
        let mut refused = None;
        for _ in 0..10 {
            let r = get(alice.clone()).await;
            statuses.push(r.status().as_u16());
            if r.status() == 429 && refused.is_none() {
                refused = Some(r);
            }
        }
        assert!(
            statuses.starts_with(&[200, 200]),
            "the burst is served: {statuses:?}"
        );
        let r = refused.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait >= 1);
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(p["status"], 429);
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("requests per second"),
            "{p}"
        );
        assert_eq!(
            get(bob.clone()).await.status(),
            200,
            "bob has his own bucket"
        );
        // Public operations are not counted per user.
        let schema = http
            .get(format!("{}/v1/schemas/event", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(schema.status(), 200);
    });
}
