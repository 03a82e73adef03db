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
