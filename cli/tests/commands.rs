//! The API commands of `eventpulse`, run as a user would against a real local stack.

mod support;

use serde_json::Value;
use std::process::{Command, Output};
use support::{Server, bin, root};

fn run(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .env("EVENTPULSE_API", &server.base)
        .env("EVENTPULSE_TOKEN", token)
        .output()
        .expect("run eventpulse")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_session_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = server.token("carol");

    // Upload a directory with a progress bar, wait for the outcomes.
    let o = run(
        &server,
        &token,
        &[
            "upload",
            "examples/events/valid/order-placed.json",
            "examples/events/valid/page-view-full.json",
            "--wait",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout).matches("stored ").count(),
        2,
        "{}",
        text(&o.stdout)
    );

    // An invalid object: exit 1, the reason, and where to look.
    let o = run(
        &server,
        &token,
        &[
            "upload",
            "examples/events/invalid/batch-one-bad-event.json",
            "--wait",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("quarantined") && out.contains("schema_violation"),
        "{out}"
    );

    let o = run(&server, &token, &["events", "list", "--json"]);
    let page: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let o = run(
        &server,
        &token,
        &["events", "list", "--type", "page.view", "--all", "--json"],
    );
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let o = run(&server, &token, &["events", "get", "order-2026-000481"]);
    assert!(o.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["event"]["data"]["currency"],
        "EUR"
    );

    let o = run(&server, &token, &["quarantine", "list", "--json"]);
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = list[0]["uploadId"].as_str().unwrap().to_string();
    let o = run(&server, &token, &["quarantine", "show", &id]);
    assert!(
        text(&o.stdout).contains("/1/data/currency: [pattern]"),
        "{}",
        text(&o.stdout)
    );
    let saved = dir.path().join("download.json");
    let o = run(
        &server,
        &token,
        &["quarantine", "download", &id, "-o", saved.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(root().join("examples/events/invalid/batch-one-bad-event.json")).unwrap()
    );

    let o = run(&server, &token, &["notifications"]);
    assert!(
        text(&o.stdout).contains("object_quarantined"),
        "{}",
        text(&o.stdout)
    );

    let o = run(&server, &token, &["exports", "create", "--wait"]);
    let out = text(&o.stdout);
    assert!(
        out.contains("done") && out.contains("2 event(s)") && out.contains("download: http"),
        "{out}"
    );

    let o = run(&server, &token, &["quarantine", "reprocess", &id, "--wait"]);
    assert!(
        text(&o.stdout).contains("quarantined again: schema_violation"),
        "{}",
        text(&o.stdout)
    );

    let o = run(&server, &token, &["quarantine", "delete", &id]);
    assert!(o.status.success());
    let o = run(&server, &token, &["quarantine", "show", &id]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("404"), "{}", text(&o.stderr));

    // A bad token: a clear message with the way out.
    let o = run(&server, "not-a-token", &["events", "list"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("401") && err.contains("eventpulse token --user"),
        "{err}"
    );
    // No server: says so.
    let o = Command::new(bin())
        .args(["events", "list"])
        .env("EVENTPULSE_API", "http://127.0.0.1:9")
        .env("EVENTPULSE_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        text(&o.stderr).contains("cannot reach the API"),
        "{}",
        text(&o.stderr)
    );
}

/// `eventpulse token --hours` out of range is a usage error naming the flag, not a panic.
#[test]
fn token_hours_out_of_range_is_a_clear_error() {
    let secret = "a-test-secret-of-at-least-32-bytes!!";
    for hours in ["99999999999999", "721", "-99999999999999"] {
        let o = Command::new(bin())
            .args([
                "token",
                "--user",
                "alice",
                "--hours",
                hours,
                "--jwt-secret",
                secret,
            ])
            .output()
            .unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--hours {hours}: {err}");
        assert!(err.contains("--hours") && err.contains("720"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(o.stdout.is_empty());
    }
    let o = Command::new(bin())
        .args([
            "token",
            "--user",
            "alice",
            "--hours",
            "720",
            "--jwt-secret",
            secret,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// The two-shell walk-through of the README, in one test: `subscriptions add` prints the
/// secret, `webhook-receiver` verifies the confirmation request and confirms, and then
/// prints the signed notification of a failed upload; `list` and `remove` as a user runs them.
#[test]
fn subscriptions_with_the_cli_and_the_webhook_receiver() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--allow-loopback-webhooks"]);
    let token = server.token("dana");
    // A free port for the receiver: bind, read, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");

    let o = run(
        &server,
        &token,
        &[
            "subscriptions",
            "add",
            "--protocol",
            "http",
            &hook,
            "--kind",
            "object_quarantined",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let created: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(created["status"], "pending");
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["subscriptionId"].as_str().unwrap().to_string();

    // The receiver starts after the confirmation request was first sent: the retry finds it.
    let mut receiver = Command::new(bin())
        .args(["webhook-receiver", "--listen", &format!("127.0.0.1:{port}")])
        .env("EVENTPULSE_WEBHOOK_SECRET", &secret)
        .env("EVENTPULSE_API", &server.base)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(receiver.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let confirmed = (0..100).find_map(|_| {
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .ok()
            .filter(|l| l.contains("confirmed subscription"))
    });
    assert!(
        confirmed.is_some_and(|l| l.contains(&id)),
        "the receiver did not confirm"
    );
    let o = run(&server, &token, &["subscriptions", "list"]);
    assert!(text(&o.stdout).contains("confirmed"), "{}", text(&o.stdout));

    let o = run(
        &server,
        &token,
        &[
            "upload",
            "examples/events/invalid/order-currency-lowercase.json",
            "--wait",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let mut stdout = BufReader::new(receiver.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let n: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(n["kind"], "object_quarantined");

    let o = run(&server, &token, &["subscriptions", "remove", &id]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run(&server, &token, &["subscriptions", "list"]);
    assert!(
        text(&o.stderr).contains("no subscriptions"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&server, &token, &["subscriptions", "get", &id]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("404") || text(&o.stderr).contains("no subscription"),
        "{}",
        text(&o.stderr)
    );
    let _ = receiver.kill();
    let _ = receiver.wait();
}
