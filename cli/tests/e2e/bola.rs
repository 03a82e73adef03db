//! The BOLA matrix (OWASP API1, broken object-level authorization), on both backends.
//!
//! Alice makes one of everything the API gives an id, a cursor or a key for. Then bob, a
//! fresh user with a valid token of his own, sends every operation of `openapi.yaml` that
//! takes one, with alice's values and other spellings of them (percent-encoded, case
//! changed, `alice/`-prefixed, `../`, as object keys), over raw HTTP. No answer may be a
//! 2xx: another user's id is a 404 that reads exactly like the 404 of an id never issued, a
//! parameter bob could not have (a cursor, an id that is no id) is a 400, and every error is
//! `application/problem+json` that names nothing of alice's bob did not send himself.
//!
//! Presigned URLs are capabilities: alice's export URL serves whoever holds it until it
//! expires, but it cannot be bent to another key, user or export (where the store checks
//! signatures: locally always; moto does not), and an upload URL accepts one object (on S3
//! while that object is still in the process bucket: a later one is filed in the operator's
//! quarantine). Afterwards alice's data is exactly as before (uploads, events, quarantine
//! entries and objects, notifications, subscriptions, her export), bob's lists hold his own
//! things only, and the deliverer sends bob's notifications to bob's endpoint, never alice's.

use super::support::{Backend, Server, moto_endpoint, root};
use super::{rt, upload_and_wait};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use eventpulse_client::EventPulse;
use eventpulse_client::types::{UploadId, UploadState};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An id is another user's: a 404.
const NOT_FOUND: &[u16] = &[404];
/// A spelling that is no valid id (`/path/NAME` pattern, a 400) or no route (404).
const NOT_FOUND_OR_BAD: &[u16] = &[400, 404];
/// A path no operation has (404), or an operation's path with another method (405).
const NO_ROUTE: &[u16] = &[404, 405];
/// A cursor or a body bob could not have.
const BAD: &[u16] = &[400];
/// An identity bob could not have.
const UNAUTHORIZED: &[u16] = &[401];
/// A presigned URL that does not verify.
const FORBIDDEN: &[u16] = &[403];

fn ev(id: &str, currency: &str, source: &str) -> Value {
    json!({"eventId": id, "type": "order.placed", "occurredAt": "2026-11-27T10:00:00Z", "source": source,
           "data": {"orderId": "o", "currency": currency, "amountMinor": 1, "items": [{"sku": "s", "quantity": 1}]}})
}

/// Every byte as `%XX`: the server decodes it to the same id, and must still refuse it.
fn pct(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// What a percent-encoded path says once decoded (for the leak check).
fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An id of the server's form (32 lowercase hex digits) that was never issued.
fn never_issued() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Every character of a signature replaced by another hex digit.
fn forge_signature(url: &str) -> String {
    for name in ["X-Amz-Signature=", "sig="] {
        if let Some(at) = url.find(name) {
            let start = at + name.len();
            let end = url[start..]
                .find('&')
                .map(|n| start + n)
                .unwrap_or(url.len());
            let forged: String = url[start..end]
                .chars()
                .map(|c| if c == '0' { '1' } else { '0' })
                .collect();
            return format!("{}{forged}{}", &url[..start], &url[end..]);
        }
    }
    panic!("no signature in {url}");
}

/// A presigned URL with another expiry (later), its signature kept.
fn extend_expiry(url: &str) -> String {
    if url.contains("X-Amz-Expires=") {
        let at = url.find("X-Amz-Expires=").unwrap() + "X-Amz-Expires=".len();
        let end = url[at..].find('&').map(|n| at + n).unwrap_or(url.len());
        format!("{}604800{}", &url[..at], &url[end..])
    } else {
        url.replace("expires=", "expires=9")
    }
}

/// A JWT's claims rewritten (its signature kept).
fn with_claims(token: &str, edit: impl Fn(&mut Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    parts[1] = B64.encode(serde_json::to_vec(&claims).unwrap());
    parts.join(".")
}

/// A cursor's payload rewritten (its tag kept).
fn cursor_for(cursor: &str, owner: &str) -> String {
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut p: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    p["o"] = json!(owner);
    format!("{}.{tag}", B64.encode(serde_json::to_vec(&p).unwrap()))
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    async fn of(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.bytes().await.unwrap_or_default().to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request of a user's, by its answer.
async fn call(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{base}{path}")
    };
    let mut req = http.request(method.clone(), &url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    Answer::of(
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}")),
    )
    .await
}

/// The JSON of a request that must succeed.
async fn ok_json(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let a = call(http, base, Some(token), method.clone(), path, body).await;
    assert!(
        (200..300).contains(&a.status),
        "{method} {path}: {} {}",
        a.status,
        a.text()
    );
    a.json()
}

/// Every item of a list operation, page by page.
async fn all_items(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=100&cursor={c}"),
            None => format!("{path}{sep}limit=100"),
        };
        let page = ok_json(http, base, token, Method::GET, &url, None).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// A presigned upload: PUT `bytes` to the ticket's URL with its headers.
async fn put_ticket(http: &reqwest::Client, ticket: &Value, url: &str, bytes: Vec<u8>) -> Answer {
    let mut put = http.put(url);
    for (k, v) in ticket["headers"].as_object().unwrap() {
        put = put.header(k.as_str(), v.as_str().unwrap());
    }
    Answer::of(put.body(bytes).send().await.unwrap()).await
}

/// Creates an export and waits for it: its final status and what its URL serves.
async fn export_done(http: &reqwest::Client, base: &str, token: &str) -> (Value, String) {
    let created = ok_json(
        http,
        base,
        token,
        Method::POST,
        "/v1/exports",
        Some(&json!({})),
    )
    .await;
    let id = created["exportId"].as_str().unwrap().to_string();
    for _ in 0..600 {
        let e = ok_json(
            http,
            base,
            token,
            Method::GET,
            &format!("/v1/exports/{id}"),
            None,
        )
        .await;
        if e["status"] != "running" {
            assert_eq!(e["status"], "done", "{e}");
            let url = e["downloadUrl"].as_str().unwrap();
            let a = call(http, base, None, Method::GET, url, None).await;
            assert_eq!(a.status, 200, "{url}: {}", a.text());
            return (e, a.text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("export {id} still running");
}

/// Alice's things, to compare before and after bob's attempts.
struct Alices {
    uploads: Vec<String>,
    quarantined: Vec<String>,
    subscriptions: Vec<String>,
    export_id: String,
}

impl Alices {
    /// What alice reads of each of her things (the export without its fresh URL).
    async fn snapshot(
        &self,
        http: &reqwest::Client,
        b: &str,
        token: &str,
    ) -> BTreeMap<String, Value> {
        let get =
            |path: String| async move { ok_json(http, b, token, Method::GET, &path, None).await };
        let mut s = BTreeMap::new();
        for id in &self.uploads {
            s.insert(
                format!("upload {id}"),
                get(format!("/v1/uploads/{id}")).await,
            );
        }
        for id in &self.quarantined {
            s.insert(
                format!("quarantine {id}"),
                get(format!("/v1/quarantine/{id}")).await,
            );
            let o = call(
                http,
                b,
                Some(token),
                Method::GET,
                &format!("/v1/quarantine/{id}/object"),
                None,
            )
            .await;
            assert_eq!(o.status, 200, "{}", o.text());
            s.insert(format!("object {id}"), json!(o.text()));
        }
        for id in &self.subscriptions {
            s.insert(
                format!("subscription {id}"),
                get(format!("/v1/subscriptions/{id}")).await,
            );
        }
        for list in [
            "/v1/events",
            "/v1/quarantine",
            "/v1/notifications",
            "/v1/subscriptions",
        ] {
            s.insert(
                list.to_string(),
                json!(all_items(http, b, token, list).await),
            );
        }
        let mut e = get(format!("/v1/exports/{}", self.export_id)).await;
        let url = e["downloadUrl"].as_str().unwrap().to_string();
        let body = call(http, b, None, Method::GET, &url, None).await;
        assert_eq!(body.status, 200, "{}", body.text());
        let o = e.as_object_mut().unwrap();
        o.remove("downloadUrl");
        o.remove("expiresAt");
        s.insert("export".into(), e);
        s.insert("export body".into(), json!(body.text()));
        s
    }
}

/// Bob's side: every request he sends, judged.
struct Matrix {
    http: reqwest::Client,
    base: String,
    bob: String,
    /// Embedded presigned endpoints answer problems too; S3's answers are XML.
    s3: bool,
    /// Alice's values: no answer to bob may hold one he did not send.
    secrets: Vec<String>,
    requests: usize,
    cross_2xx: Vec<String>,
    failures: Vec<String>,
    covered: BTreeMap<String, usize>,
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Bob,
    Nobody,
    Token(&'a str),
}

impl Matrix {
    /// Bob sends one request (`path` relative to the API, or a whole URL).
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        op: &str,
        kind: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        who: Who<'_>,
        allowed: &[u16],
    ) -> Answer {
        let token = match who {
            Who::Bob => Some(self.bob.clone()),
            Who::Nobody => None,
            Who::Token(t) => Some(t.to_string()),
        };
        let a = call(
            &self.http,
            &self.base,
            token.as_deref(),
            method.clone(),
            path,
            body,
        )
        .await;
        let sent = format!(
            "{} {}",
            pct_decode(path),
            body.map(Value::to_string).unwrap_or_default()
        );
        let problem = !(self.s3 && path.starts_with("http"));
        self.judge(
            op,
            kind,
            &format!("{method} {path}"),
            &sent,
            method == Method::HEAD,
            problem,
            &a,
            allowed,
        );
        a
    }

    /// A presigned PUT of bob's.
    async fn put(&mut self, op: &str, kind: &str, ticket: &Value, url: &str, allowed: &[u16]) {
        let bytes = serde_json::to_vec(&ev("bob-through-a-url", "EUR", "bob-src")).unwrap();
        let a = put_ticket(&self.http, ticket, url, bytes).await;
        self.judge(
            op,
            kind,
            &format!("PUT {url}"),
            &pct_decode(url),
            false,
            !self.s3,
            &a,
            allowed,
        );
    }

    /// A request sent byte for byte as written (no client normalises its `..`).
    async fn raw(&mut self, op: &str, kind: &str, method: &str, target: &str, allowed: &[u16]) {
        let host = self.base.trim_start_matches("http://").to_string();
        let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.bob
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            // One chunk: `size\r\ndata\r\n0\r\n\r\n`.
            body.split_once("\r\n")
                .map(|(_, rest)| rest.split("\r\n0\r\n").next().unwrap_or(rest))
                .unwrap_or(body)
                .trim_end_matches("\r\n")
                .to_string()
        } else {
            body.to_string()
        };
        let a = Answer {
            status,
            content_type: header("content-type").unwrap_or_default(),
            body: body.into_bytes(),
        };
        self.judge(
            op,
            kind,
            &format!("{method} {target} (raw)"),
            &pct_decode(target),
            method == "HEAD",
            true,
            &a,
            allowed,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        op: &str,
        kind: &str,
        what: &str,
        sent: &str,
        head: bool,
        problem: bool,
        a: &Answer,
        allowed: &[u16],
    ) {
        self.requests += 1;
        *self.covered.entry(format!("{op} × {kind}")).or_default() += 1;
        if (200..300).contains(&a.status) {
            self.cross_2xx
                .push(format!("{what}: {} {}", a.status, a.text()));
        }
        if !allowed.contains(&a.status) {
            self.failures.push(format!(
                "{what}: {} where {allowed:?} was expected: {}",
                a.status,
                a.text()
            ));
        }
        if problem {
            if !a.content_type.starts_with("application/problem+json") {
                self.failures.push(format!(
                    "{what}: {} with content-type {:?}, not application/problem+json",
                    a.status, a.content_type
                ));
            }
            if !head {
                let p = a.json();
                if p["status"] != json!(a.status) || !p["title"].is_string() {
                    self.failures.push(format!(
                        "{what}: not a problem of {}: {}",
                        a.status,
                        a.text()
                    ));
                }
            }
        }
        let text = a.text();
        for s in &self.secrets {
            if !sent.contains(s.as_str()) && text.contains(s.as_str()) {
                self.failures
                    .push(format!("{what}: the answer names alice's {s:?}: {text}"));
            }
        }
    }

    /// Bob asks for alice's `id` and for an id never issued: both 404, and the two answers
    /// say the same (nothing tells bob that alice's exists).
    async fn unknown(&mut self, op: &str, kind: &str, method: Method, template: &str, id: &str) {
        let theirs = self
            .send(
                op,
                kind,
                method.clone(),
                &template.replace("{}", id),
                None,
                Who::Bob,
                NOT_FOUND,
            )
            .await
            .json();
        let fresh = never_issued();
        let none = self
            .send(
                op,
                "an id never issued",
                method.clone(),
                &template.replace("{}", &fresh),
                None,
                Who::Bob,
                NOT_FOUND,
            )
            .await
            .json();
        let same = |p: &Value, id: &str| {
            json!([
                p["type"],
                p["title"],
                p["status"],
                p["detail"].as_str().unwrap_or_default().replace(id, "ID")
            ])
        };
        if same(&theirs, id) != same(&none, &fresh) {
            self.failures.push(format!(
                "{method} {template}: alice's {kind} reads otherwise than an id never issued: {theirs} vs {none}"
            ));
        }
    }

    /// Other spellings of alice's `id` in `template`: refused all the same.
    async fn spellings(&mut self, op: &str, kind: &str, method: Method, template: &str, id: &str) {
        let mut spellings: Vec<(&str, String, &[u16])> = vec![
            ("percent-encoded", pct(id), NOT_FOUND),
            (
                "alice/-prefixed, encoded",
                format!("alice%2F{id}"),
                NOT_FOUND_OR_BAD,
            ),
            ("alice/-prefixed, a path", format!("alice/{id}"), NO_ROUTE),
            (
                "../alice/-prefixed, encoded",
                format!("..%2Falice%2F{id}"),
                NOT_FOUND_OR_BAD,
            ),
            (
                "as a process-bucket key",
                format!("incoming%2Falice%2F{id}.json"),
                NOT_FOUND_OR_BAD,
            ),
            (
                "as a quarantine-bucket key",
                format!("alice%2F{id}.json"),
                NOT_FOUND_OR_BAD,
            ),
            ("with .json", format!("{id}.json"), NOT_FOUND_OR_BAD),
            ("with a trailing slash", format!("{id}/"), NO_ROUTE),
            ("with a space", format!("{id}%20"), NOT_FOUND_OR_BAD),
            ("with a NUL", format!("{id}%00"), NOT_FOUND_OR_BAD),
        ];
        if id.to_uppercase() != id {
            spellings.push(("upper-cased", id.to_uppercase(), NOT_FOUND));
        }
        if id.to_lowercase() != id {
            spellings.push(("lower-cased", id.to_lowercase(), NOT_FOUND));
        }
        for (spelling, value, allowed) in spellings {
            self.send(
                op,
                &format!("{kind}, {spelling}"),
                method.clone(),
                &template.replace("{}", &value),
                None,
                Who::Bob,
                allowed,
            )
            .await;
        }
        // `..` as path segments, sent as written.
        let m = method.as_str();
        let first = template.split("{}").next().unwrap_or_default();
        let parent = first
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        self.raw(
            op,
            &format!("{kind}, ../ segments"),
            m,
            &template.replace("{}", &format!("../{parent}/{id}")),
            NOT_FOUND_OR_BAD,
        )
        .await;
        self.raw(
            op,
            &format!("{kind}, ../alice/ segments"),
            m,
            &template.replace("{}", &format!("x/../../alice/{id}")),
            NOT_FOUND_OR_BAD,
        )
        .await;
        self.raw(
            op,
            &format!("{kind}, %2e%2e segments"),
            m,
            &template.replace("{}", &format!("%2e%2e/{parent}/{id}")),
            NOT_FOUND_OR_BAD,
        )
        .await;
    }
}

/// An email mailbox (embedded): its messages as (recipient, whole text).
fn mailbox(path: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split("\nFrom eventpulse@localhost ")
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let to = m
                .lines()
                .find_map(|l| l.strip_prefix("To: <"))
                .map(|l| l.trim_end_matches('>').to_string())
                .unwrap_or_default();
            (to, m.to_string())
        })
        .collect()
}

/// The texts of the messages to `to` once one of them contains `needle`.
async fn mail_to(path: &std::path::Path, to: &str, needle: &str) -> Vec<String> {
    for _ in 0..600 {
        let mine: Vec<String> = mailbox(path)
            .into_iter()
            .filter(|(t, _)| t == to)
            .map(|(_, m)| m)
            .collect();
        if mine.iter().any(|m| m.contains(needle)) {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} with {needle}: {:?}", mailbox(path));
}

/// The confirmation link mailed to `to`.
async fn confirm_url(path: &std::path::Path, to: &str) -> String {
    mail_to(path, to, "/v1/subscription-confirmations/")
        .await
        .iter()
        .flat_map(|m| m.split('"'))
        .find(|p| p.contains("/v1/subscription-confirmations/"))
        .unwrap()
        .to_string()
}

/// Where notifications arrive: the mailbox locally, SQS queues on AWS.
enum Inbox {
    Mail(std::path::PathBuf),
    Queues(aws_sdk_sqs::Client),
}

impl Inbox {
    /// A queue on moto: its URL and ARN.
    async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap();
        (url, arn)
    }

    /// The messages at `endpoint` (a queue URL or an address), read until every needle is
    /// in one of them (or, with no needles, for a moment).
    async fn messages(&self, endpoint: &str, needles: &[&str]) -> Vec<String> {
        match self {
            Inbox::Mail(path) => match needles {
                [_, ..] => {
                    let mut mails = Vec::new();
                    for n in needles {
                        mails = mail_to(path, endpoint, n).await;
                    }
                    mails
                }
                [] => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    mailbox(path)
                        .into_iter()
                        .filter(|(t, _)| t == endpoint)
                        .map(|(_, m)| m)
                        .collect()
                }
            },
            Inbox::Queues(sqs) => {
                let mut got = Vec::new();
                let deadline =
                    Instant::now() + Duration::from_secs(if needles.is_empty() { 2 } else { 60 });
                while Instant::now() < deadline {
                    let out = sqs
                        .receive_message()
                        .queue_url(endpoint)
                        .max_number_of_messages(10)
                        .message_attribute_names("All")
                        .send()
                        .await
                        .expect("receive");
                    for m in out.messages() {
                        let owner = m
                            .message_attributes()
                            .and_then(|a| a.get("userId"))
                            .and_then(|v| v.string_value())
                            .unwrap_or("-");
                        got.push(format!("userId={owner} {}", m.body().unwrap_or_default()));
                    }
                    if !needles.is_empty()
                        && needles.iter().all(|n| got.iter().any(|m| m.contains(n)))
                    {
                        return got;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                assert!(
                    needles.is_empty(),
                    "not all of {needles:?} arrived at {endpoint}: {got:?}"
                );
                got
            }
        }
    }
}

pub fn every_operation_refuses_another_users_resources(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(backend, dir.path());
    rt().block_on(matrix(&server, backend, dir.path()));
}

async fn matrix(server: &Server, backend: Backend, dir: &std::path::Path) {
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let b = base.as_str();
    let a_tok = server.token("alice");
    let bob_tok = server.token("bob");
    let alice = EventPulse::new(b, Some(&a_tok)).unwrap();
    let bob = EventPulse::new(b, Some(&bob_tok)).unwrap();
    let aws = backend == Backend::Aws;
    let unique: String = dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let inbox = if aws {
        let clients = eventpulse_aws::Clients::for_endpoint(&eventpulse_aws::Endpoint {
            url: moto_endpoint(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        })
        .await;
        Inbox::Queues(clients.sqs())
    } else {
        Inbox::Mail(dir.join("mailbox"))
    };
    let mut m = Matrix {
        http: http.clone(),
        base: base.clone(),
        bob: bob_tok.clone(),
        s3: aws,
        secrets: Vec::new(),
        requests: 0,
        cross_2xx: Vec::new(),
        failures: Vec::new(),
        covered: BTreeMap::new(),
    };

    // ---- 1. Alice makes one of everything. ----
    let example = std::fs::read(root().join("examples/events/valid/order-placed.json")).unwrap();
    let example_event: Value = serde_json::from_slice(&example).unwrap();
    let example_event_id = example_event["eventId"].as_str().unwrap().to_string();
    let s = upload_and_wait(&alice, example).await;
    assert_eq!(s.status, UploadState::Stored, "{s:?}");
    let example_upload = s.upload_id.to_string();
    // More events than one page holds.
    let batch: Vec<Value> = (0..5)
        .map(|i| ev(&format!("ord-a-{i}"), "EUR", "alice-src"))
        .collect();
    let s = upload_and_wait(&alice, serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(s.status, UploadState::Stored, "{s:?}");
    let stored = s.upload_id.to_string();
    // Several quarantined uploads: one from the invalid examples, two more.
    let mut quarantined = Vec::new();
    for bytes in [
        std::fs::read(root().join("examples/events/invalid/batch-one-bad-event.json")).unwrap(),
        serde_json::to_vec(&ev("ord-a-bad-1", "eur", "alice-src")).unwrap(),
        serde_json::to_vec(&ev("ord-a-bad-2", "eur", "alice-src")).unwrap(),
    ] {
        let s = upload_and_wait(&alice, bytes).await;
        assert_eq!(s.status, UploadState::Quarantined, "{s:?}");
        quarantined.push(s.upload_id.to_string());
    }
    let bad = quarantined[0].clone();
    let q_items = all_items(&http, b, &a_tok, "/v1/quarantine").await;
    let q_key = q_items
        .iter()
        .find(|i| i["uploadId"] == json!(bad))
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(q_key, format!("incoming/alice/{bad}.json"));
    // Cursors of every list alice can page.
    let cursor = |page: Value, what: &str| {
        page["nextCursor"]
            .as_str()
            .unwrap_or_else(|| panic!("alice has a second page of {what}: {page}"))
            .to_string()
    };
    let events_cursor = cursor(
        ok_json(&http, b, &a_tok, Method::GET, "/v1/events?limit=2", None).await,
        "events",
    );
    let typed_cursor = cursor(
        ok_json(
            &http,
            b,
            &a_tok,
            Method::GET,
            "/v1/events?limit=2&type=order.placed",
            None,
        )
        .await,
        "order.placed events",
    );
    let quarantine_cursor = cursor(
        ok_json(
            &http,
            b,
            &a_tok,
            Method::GET,
            "/v1/quarantine?limit=1",
            None,
        )
        .await,
        "quarantine",
    );
    let notifications_cursor = cursor(
        ok_json(
            &http,
            b,
            &a_tok,
            Method::GET,
            "/v1/notifications?limit=1",
            None,
        )
        .await,
        "notifications",
    );
    // An export, done, with its download URL.
    let (export, export_body) = export_done(&http, b, &a_tok).await;
    let export_id = export["exportId"].as_str().unwrap().to_string();
    let download_url = export["downloadUrl"].as_str().unwrap().to_string();
    assert_eq!(export_body.lines().count(), 6, "{export_body}");
    // Subscriptions (after her notifications, so that nothing of hers is delivered yet).
    // Locally `email` (the mailbox, no network); on AWS a real SQS queue on moto, which SNS
    // delivers the raw notification to, and an email address (moto sends no mail).
    let (alice_sub_endpoints, alice_queue) = match &inbox {
        Inbox::Queues(sqs) => {
            let (url, arn) = Inbox::queue(sqs, &format!("bola-alice-{unique}")).await;
            (
                vec![
                    ("sqs", arn),
                    ("email", "alice-bola@example.com".to_string()),
                ],
                Some(url),
            )
        }
        Inbox::Mail(_) => (
            vec![
                ("email", "alice-bola@example.com".to_string()),
                ("email", "alice-bola-2@example.com".to_string()),
            ],
            None,
        ),
    };
    let mut subscriptions = Vec::new();
    for (protocol, endpoint) in &alice_sub_endpoints {
        let s = ok_json(
            &http,
            b,
            &a_tok,
            Method::POST,
            "/v1/subscriptions",
            Some(&json!({"protocol": protocol, "endpoint": endpoint})),
        )
        .await;
        subscriptions.push(s["subscriptionId"].as_str().unwrap().to_string());
    }
    if let Inbox::Mail(path) = &inbox {
        // Confirmed by following the link each address received.
        for (_, address) in &alice_sub_endpoints {
            let url = confirm_url(path, address).await;
            assert_eq!(
                call(&http, b, None, Method::GET, &url, None).await.status,
                200
            );
        }
    }
    let subscriptions_cursor = cursor(
        ok_json(
            &http,
            b,
            &a_tok,
            Method::GET,
            "/v1/subscriptions?limit=1",
            None,
        )
        .await,
        "subscriptions",
    );
    // An upload ticket she has not used yet.
    let ticket = ok_json(
        &http,
        b,
        &a_tok,
        Method::POST,
        "/v1/uploads",
        Some(&json!({})),
    )
    .await;
    let pending = ticket["uploadId"].as_str().unwrap().to_string();
    let ticket_url = ticket["url"].as_str().unwrap().to_string();
    assert_eq!(
        ticket["key"],
        json!(format!("incoming/alice/{pending}.json"))
    );
    // And one she used: whoever replays its URL at once is refused (S3: `If-None-Match:
    // *`; locally the one-PUT claim).
    let used = ok_json(
        &http,
        b,
        &a_tok,
        Method::POST,
        "/v1/uploads",
        Some(&json!({})),
    )
    .await;
    let used_id = used["uploadId"].as_str().unwrap().to_string();
    let used_url = used["url"].as_str().unwrap().to_string();
    let put = put_ticket(
        &http,
        &used,
        &used_url,
        serde_json::to_vec(&ev("ord-a-used", "EUR", "alice-src")).unwrap(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    m.put(
        "presigned upload (replayed)",
        "alice's used upload URL, at once",
        &used,
        &used_url,
        &[409, 412],
    )
    .await;
    let s = super::wait_final(&alice, &UploadId::try_from(used_id.clone()).unwrap()).await;
    assert_eq!(s.status, UploadState::Stored);

    // What alice has now, to compare with after bob's attempts.
    let mut uploads = vec![
        example_upload.clone(),
        stored.clone(),
        used_id.clone(),
        pending.clone(),
    ];
    uploads.extend(quarantined.iter().cloned());
    let alices = Alices {
        uploads,
        quarantined: quarantined.clone(),
        subscriptions: subscriptions.clone(),
        export_id: export_id.clone(),
    };
    let before = alices.snapshot(&http, b, &a_tok).await;
    assert_eq!(before["/v1/events"].as_array().unwrap().len(), 7);
    assert_eq!(before["/v1/quarantine"].as_array().unwrap().len(), 3);
    assert_eq!(before["/v1/notifications"].as_array().unwrap().len(), 4);
    assert_eq!(before[&format!("upload {pending}")]["status"], "pending");

    let event_ids: Vec<String> = (1..5)
        .map(|i| format!("ord-a-{i}"))
        .chain([example_event_id.clone(), "ord-a-used".to_string()])
        .collect();
    m.secrets = vec!["alice".to_string(), "alice-src".to_string()];
    m.secrets.extend(
        [
            &stored,
            &example_upload,
            &used_id,
            &pending,
            &export_id,
            &events_cursor,
            &typed_cursor,
            &quarantine_cursor,
            &notifications_cursor,
            &subscriptions_cursor,
            &example_event_id,
        ]
        .map(|s| s.to_string()),
    );
    m.secrets.extend(quarantined.iter().cloned());
    m.secrets.extend(subscriptions.iter().cloned());
    m.secrets.extend(event_ids.iter().cloned());
    m.secrets
        .extend(alice_sub_endpoints.iter().map(|(_, e)| e.clone()));

    // ---- Bob: a user of his own, with data of his own (one eventId the same as alice's). ----
    let (bob_endpoint, bob_queue) = match &inbox {
        Inbox::Queues(sqs) => {
            let (url, arn) = Inbox::queue(sqs, &format!("bola-bob-{unique}")).await;
            (("sqs", arn), Some(url))
        }
        Inbox::Mail(_) => (("email", "bob-bola@example.com".to_string()), None),
    };
    let bob_sub = ok_json(
        &http,
        b,
        &bob_tok,
        Method::POST,
        "/v1/subscriptions",
        Some(&json!({"protocol": bob_endpoint.0, "endpoint": bob_endpoint.1})),
    )
    .await;
    if let Inbox::Mail(path) = &inbox {
        let url = confirm_url(path, &bob_endpoint.1).await;
        assert_eq!(
            call(&http, b, None, Method::GET, &url, None).await.status,
            200
        );
    }
    let s = upload_and_wait(
        &bob,
        serde_json::to_vec(&ev("ord-a-0", "USD", "bob-src")).unwrap(),
    )
    .await;
    assert_eq!(s.status, UploadState::Stored);
    let bob_stored = s.upload_id.to_string();
    let s = upload_and_wait(
        &bob,
        serde_json::to_vec(&ev("bob-bad", "usd", "bob-src")).unwrap(),
    )
    .await;
    assert_eq!(s.status, UploadState::Quarantined);
    let bob_bad = s.upload_id.to_string();
    let (bob_export, bob_export_body) = export_done(&http, b, &bob_tok).await;
    let bob_export_id = bob_export["exportId"].as_str().unwrap().to_string();
    let bob_download = bob_export["downloadUrl"].as_str().unwrap().to_string();
    let bob_ticket = ok_json(
        &http,
        b,
        &bob_tok,
        Method::POST,
        "/v1/uploads",
        Some(&json!({})),
    )
    .await;
    let bob_pending = bob_ticket["uploadId"].as_str().unwrap().to_string();
    let bob_ticket_url = bob_ticket["url"].as_str().unwrap().to_string();

    // ---- 2. Every operation with an id, as bob, with alice's values. ----
    let get = Method::GET;
    // get_upload: every upload of hers (stored, quarantined, pending, used), and ids of
    // other kinds.
    for (kind, id) in [
        ("alice's stored upload", &stored),
        ("alice's stored upload (example)", &example_upload),
        ("alice's quarantined upload", &quarantined[0]),
        ("alice's quarantined upload (2)", &quarantined[1]),
        ("alice's quarantined upload (3)", &quarantined[2]),
        ("alice's pending upload (unused ticket)", &pending),
        ("alice's used upload ticket", &used_id),
        ("alice's export id", &export_id),
        ("alice's subscription id", &subscriptions[0]),
    ] {
        m.unknown("get_upload", kind, get.clone(), "/v1/uploads/{}", id)
            .await;
    }
    m.spellings(
        "get_upload",
        "alice's stored upload",
        get.clone(),
        "/v1/uploads/{}",
        &stored,
    )
    .await;
    m.spellings(
        "get_upload",
        "alice's pending upload",
        get.clone(),
        "/v1/uploads/{}",
        &pending,
    )
    .await;
    // get_event: her eventIds (bob has an "ord-a-0" of his own: below).
    for id in &event_ids {
        m.unknown(
            "get_event",
            "alice's eventId",
            get.clone(),
            "/v1/events/{}",
            id,
        )
        .await;
    }
    m.unknown(
        "get_event",
        "alice's upload id",
        get.clone(),
        "/v1/events/{}",
        &stored,
    )
    .await;
    m.spellings(
        "get_event",
        "alice's eventId",
        get.clone(),
        "/v1/events/{}",
        "ord-a-1",
    )
    .await;
    m.spellings(
        "get_event",
        "alice's eventId (example)",
        get.clone(),
        "/v1/events/{}",
        &example_event_id,
    )
    .await;
    // The quarantine operations: each of her quarantined uploads, her stored and pending
    // ones, and spellings of one.
    let quarantine_ops = [
        ("get_quarantine", Method::GET, "/v1/quarantine/{}"),
        (
            "get_quarantine_object",
            Method::GET,
            "/v1/quarantine/{}/object",
        ),
        (
            "reprocess_quarantine",
            Method::POST,
            "/v1/quarantine/{}/reprocess",
        ),
        ("delete_quarantine", Method::DELETE, "/v1/quarantine/{}"),
    ];
    for (op, method, template) in &quarantine_ops {
        for (kind, id) in [
            ("alice's quarantined upload", &quarantined[0]),
            ("alice's quarantined upload (2)", &quarantined[1]),
            ("alice's quarantined upload (3)", &quarantined[2]),
            ("alice's stored upload", &stored),
            ("alice's pending upload", &pending),
        ] {
            m.unknown(op, kind, method.clone(), template, id).await;
        }
        m.spellings(
            op,
            "alice's quarantined upload",
            method.clone(),
            template,
            &bad,
        )
        .await;
    }
    // Exports.
    m.unknown(
        "get_export",
        "alice's export id",
        get.clone(),
        "/v1/exports/{}",
        &export_id,
    )
    .await;
    m.unknown(
        "get_export",
        "alice's upload id",
        get.clone(),
        "/v1/exports/{}",
        &stored,
    )
    .await;
    m.spellings(
        "get_export",
        "alice's export id",
        get.clone(),
        "/v1/exports/{}",
        &export_id,
    )
    .await;
    // Subscriptions.
    for (op, method) in [
        ("get_subscription", Method::GET),
        ("delete_subscription", Method::DELETE),
    ] {
        for (i, id) in subscriptions.iter().enumerate() {
            m.unknown(
                op,
                &format!("alice's subscription id ({})", alice_sub_endpoints[i].0),
                method.clone(),
                "/v1/subscriptions/{}",
                id,
            )
            .await;
        }
        m.unknown(
            op,
            "alice's export id",
            method.clone(),
            "/v1/subscriptions/{}",
            &export_id,
        )
        .await;
        m.spellings(
            op,
            "alice's subscription id",
            method.clone(),
            "/v1/subscriptions/{}",
            &subscriptions[0],
        )
        .await;
    }
    // The public confirmation, with alice's ids as the token, with and without bob's token.
    for (kind, id) in [
        ("alice's subscription id", &subscriptions[0]),
        ("alice's export id", &export_id),
        ("alice's upload id", &stored),
    ] {
        for who in [Who::Nobody, Who::Bob] {
            m.send(
                "confirm_subscription",
                kind,
                get.clone(),
                &format!("/v1/subscription-confirmations/{id}"),
                None,
                who,
                NOT_FOUND,
            )
            .await;
        }
    }
    // Methods no operation has on alice's resources.
    for (method, path) in [
        (Method::PUT, format!("/v1/uploads/{stored}")),
        (Method::PATCH, format!("/v1/uploads/{stored}")),
        (Method::DELETE, format!("/v1/uploads/{stored}")),
        (Method::PUT, "/v1/events/ord-a-1".to_string()),
        (Method::DELETE, "/v1/events/ord-a-1".to_string()),
        (Method::PUT, format!("/v1/quarantine/{bad}")),
        (Method::DELETE, format!("/v1/quarantine/{bad}/object")),
        (Method::GET, format!("/v1/quarantine/{bad}/reprocess")),
        (
            Method::PATCH,
            format!("/v1/subscriptions/{}", subscriptions[0]),
        ),
        (
            Method::PUT,
            format!("/v1/subscriptions/{}", subscriptions[0]),
        ),
        (Method::DELETE, format!("/v1/exports/{export_id}")),
        (Method::HEAD, format!("/v1/uploads/{stored}")),
        (Method::HEAD, format!("/v1/quarantine/{bad}/object")),
    ] {
        m.send(
            "no operation",
            &format!("{method} on alice's resource"),
            method.clone(),
            &path,
            None,
            Who::Bob,
            NO_ROUTE,
        )
        .await;
    }

    // ---- Cursors: each of alice's on each list, with her filters and others. ----
    let garbage = format!(
        "{}.{}",
        B64.encode(b"{\"o\":\"bob\"}"),
        B64.encode([0u8; 32])
    );
    let cursors = [
        ("alice's events cursor", events_cursor.clone()),
        ("alice's order.placed events cursor", typed_cursor.clone()),
        ("alice's quarantine cursor", quarantine_cursor.clone()),
        ("alice's notifications cursor", notifications_cursor.clone()),
        ("alice's subscriptions cursor", subscriptions_cursor.clone()),
        (
            "alice's events cursor made out to bob",
            cursor_for(&events_cursor, "bob"),
        ),
        (
            "alice's quarantine cursor made out to bob",
            cursor_for(&quarantine_cursor, "bob"),
        ),
        (
            "alice's events cursor, percent-encoded",
            pct(&events_cursor),
        ),
    ];
    let lists = [
        ("list_events", "/v1/events?limit=2"),
        (
            "list_events (type=order.placed)",
            "/v1/events?limit=2&type=order.placed",
        ),
        (
            "list_events (type=page.view)",
            "/v1/events?limit=2&type=page.view",
        ),
        ("list_events (from)", "/v1/events?from=2026-01-01T00:00:00Z"),
        ("list_events (to)", "/v1/events?to=2027-01-01T00:00:00Z"),
        (
            "list_events (from, to, limit=100)",
            "/v1/events?limit=100&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
        ),
        ("list_quarantine", "/v1/quarantine?limit=1"),
        ("list_notifications", "/v1/notifications?limit=1"),
        ("list_subscriptions", "/v1/subscriptions?limit=1"),
    ];
    for (op, path) in lists {
        // What a cursor bob could not have reads like: the same for alice's.
        let reference = m
            .send(
                op,
                "a forged cursor",
                get.clone(),
                &format!("{path}&cursor={garbage}"),
                None,
                Who::Bob,
                BAD,
            )
            .await
            .json();
        for (kind, c) in &cursors {
            let p = m
                .send(
                    op,
                    kind,
                    get.clone(),
                    &format!("{path}&cursor={c}"),
                    None,
                    Who::Bob,
                    BAD,
                )
                .await
                .json();
            if p["detail"] != reference["detail"] || p["errors"] != reference["errors"] {
                m.failures.push(format!(
                    "{op} with {kind} reads otherwise than a forged cursor: {p} vs {reference}"
                ));
            }
        }
    }

    // ---- Bodies and identities claiming alice. ----
    for (op, path, body) in [
        ("create_export", "/v1/exports", json!({"owner": "alice"})),
        (
            "create_export",
            "/v1/exports",
            json!({"type": "order.placed", "userId": "alice"}),
        ),
        ("create_upload", "/v1/uploads", json!({"owner": "alice"})),
        (
            "create_upload",
            "/v1/uploads",
            json!({"key": format!("incoming/alice/{pending}.json")}),
        ),
        ("create_upload", "/v1/uploads", json!({"uploadId": pending})),
        (
            "create_subscription",
            "/v1/subscriptions",
            json!({"protocol": "email", "endpoint": "bob-2@example.com", "owner": "alice"}),
        ),
    ] {
        m.send(
            op,
            "a body naming alice",
            Method::POST,
            path,
            Some(&body),
            Who::Bob,
            BAD,
        )
        .await;
    }
    let as_alice = with_claims(&bob_tok, |c| c["sub"] = json!("alice"));
    let unsigned = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        with_claims(&bob_tok, |c| c["sub"] = json!("alice"))
            .split('.')
            .nth(1)
            .unwrap()
    );
    for (kind, token) in [
        ("bob's token with sub=alice", as_alice.as_str()),
        ("an unsigned token with sub=alice", unsigned.as_str()),
    ] {
        for path in [
            format!("/v1/uploads/{stored}"),
            format!("/v1/quarantine/{bad}/object"),
            format!("/v1/events?cursor={events_cursor}"),
        ] {
            m.send(
                "any operation",
                kind,
                get.clone(),
                &path,
                None,
                Who::Token(token),
                UNAUTHORIZED,
            )
            .await;
        }
    }
    m.send(
        "get_upload",
        "no token",
        get.clone(),
        &format!("/v1/uploads/{stored}"),
        None,
        Who::Nobody,
        UNAUTHORIZED,
    )
    .await;

    // ---- Bob's own lists hold his things only. ----
    let own = |items: &[Value], what: &str, m: &mut Matrix| {
        let text = serde_json::to_string(items).unwrap();
        for s in &m.secrets {
            // "alice" is in his event's own id ("ord-a-0" is not; the source is "bob-src").
            if text.contains(s.as_str()) {
                m.failures
                    .push(format!("bob's {what} name alice's {s:?}: {text}"));
            }
        }
    };
    let bob_events = all_items(&http, b, &bob_tok, "/v1/events").await;
    assert_eq!(bob_events.len(), 1, "{bob_events:?}");
    assert_eq!(bob_events[0]["uploadId"], json!(bob_stored));
    assert_eq!(bob_events[0]["event"]["data"]["currency"], "USD");
    own(&bob_events, "events", &mut m);
    // The same eventId as alice's: his own event, never hers.
    let mine = ok_json(&http, b, &bob_tok, get.clone(), "/v1/events/ord-a-0", None).await;
    assert_eq!(mine["uploadId"], json!(bob_stored));
    assert_eq!(mine["event"]["source"], "bob-src");
    let bob_quarantine = all_items(&http, b, &bob_tok, "/v1/quarantine").await;
    assert_eq!(bob_quarantine.len(), 1, "{bob_quarantine:?}");
    assert_eq!(bob_quarantine[0]["uploadId"], json!(bob_bad));
    own(&bob_quarantine, "quarantine", &mut m);
    let bob_notes = all_items(&http, b, &bob_tok, "/v1/notifications").await;
    assert_eq!(bob_notes.len(), 2, "{bob_notes:?}");
    own(&bob_notes, "notifications", &mut m);
    let bob_subs = all_items(&http, b, &bob_tok, "/v1/subscriptions").await;
    assert_eq!(bob_subs.len(), 1, "{bob_subs:?}");
    assert_eq!(bob_subs[0]["subscriptionId"], bob_sub["subscriptionId"]);
    own(&bob_subs, "subscriptions", &mut m);
    let lines: Vec<Value> = bob_export_body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{bob_export_body}");
    assert_eq!(lines[0]["event"]["source"], "bob-src");
    own(&lines, "export", &mut m);
    // His notifications reach his endpoint; nothing of his reaches alice's.
    let bob_inbox = bob_queue.clone().unwrap_or_else(|| bob_endpoint.1.clone());
    inbox
        .messages(&bob_inbox, &[&bob_bad, &bob_export_id])
        .await;
    let alice_inboxes: Vec<String> = match &alice_queue {
        Some(q) => vec![q.clone()],
        None => alice_sub_endpoints.iter().map(|(_, e)| e.clone()).collect(),
    };
    for at in &alice_inboxes {
        for msg in inbox.messages(at, &[]).await {
            assert!(
                !msg.contains(&bob_bad)
                    && !msg.contains(&bob_export_id)
                    && !msg.contains("userId=bob"),
                "bob's notification reached alice's {at}: {msg}"
            );
        }
    }

    // ---- 3. Presigned URLs. ----
    // A capability: alice's export URL serves whoever holds it, with any token or none,
    // until it expires (15 minutes); that is what a presigned URL is. These uses of alice's
    // URLs as issued are 2xx by design and not counted as the matrix's requests.
    let mut capability_uses = Vec::new();
    let capability = call(&http, b, None, get.clone(), &download_url, None).await;
    assert_eq!(capability.status, 200);
    assert_eq!(capability.text(), export_body);
    capability_uses.push(format!(
        "alice's export URL without a token: {}",
        capability.status
    ));
    let with_bobs_token = call(&http, b, Some(&bob_tok), get.clone(), &download_url, None).await;
    if aws {
        // S3 itself refuses a query-signed request that also carries an `Authorization`
        // header (400 InvalidArgument, one authentication mechanism only); moto serves it.
        assert!(
            [200, 400].contains(&with_bobs_token.status),
            "{}",
            with_bobs_token.text()
        );
    } else {
        assert_eq!(with_bobs_token.status, 200);
        assert_eq!(with_bobs_token.text(), export_body);
    }
    capability_uses.push(format!(
        "alice's export URL with bob's token: {}",
        with_bobs_token.status
    ));
    // Does the store verify signatures? A forged one tells.
    let forged = call(
        &http,
        b,
        None,
        get.clone(),
        &forge_signature(&download_url),
        None,
    )
    .await;
    let verifies = forged.status == 403;
    // moto 5.2.1 does not verify SigV4 presigned URLs: its S3 checks a query-signed request
    // only for the content headers named in the URL (`S3Response._invalid_headers`), and its
    // IAM signature check (`moto/iam/access_control.py`) reads the `Authorization` header
    // alone and runs only with `INITIAL_NO_AUTH_ACTION_COUNT` set (unset: never). So on aws
    // the tamper assertions are skipped while moto serves a forged signature; locally the
    // signature is ours and always checked. (What we sign for S3, the key, headers and
    // expiry, is tested in adapters/aws/tests.)
    if aws && !verifies {
        assert_eq!(forged.status, 200, "{}", forged.text());
        eprintln!(
            "BOLA matrix: moto serves a forged SigV4 signature ({}); presigned-URL tamper assertions skipped on aws",
            forged.status
        );
    } else {
        m.judge(
            "presigned download",
            "alice's export URL, signature forged",
            "GET (forged signature)",
            &download_url,
            false,
            !aws,
            &forged,
            FORBIDDEN,
        );
        let fresh = never_issued();
        let a_export_key = format!("exports/alice/{export_id}.ndjson");
        let bob_export_key = format!("exports/bob/{bob_export_id}.ndjson");
        let a_quarantine_key = format!("quarantine/alice/{bad}.json");
        assert!(download_url.contains(&a_export_key), "{download_url}");
        for (kind, url) in [
            (
                "alice's export URL, user → bob",
                download_url.replace("/alice/", "/bob/"),
            ),
            (
                "alice's export URL, export id → another",
                download_url.replace(&export_id, &fresh),
            ),
            (
                "alice's export URL, key → bob's export",
                download_url.replace(&a_export_key, &bob_export_key),
            ),
            (
                "alice's export URL, key → her quarantined object",
                download_url.replace(&a_export_key, &a_quarantine_key),
            ),
            (
                "alice's export URL, expiry extended",
                extend_expiry(&download_url),
            ),
            (
                "alice's export URL, unsigned",
                download_url.split('?').next().unwrap().to_string(),
            ),
            (
                "bob's export URL, key → alice's export",
                bob_download.replace(&bob_export_key, &a_export_key),
            ),
            (
                "bob's export URL, key → alice's quarantined object",
                bob_download.replace(&bob_export_key, &a_quarantine_key),
            ),
            (
                "bob's export URL, user → alice",
                bob_download.replace("/bob/", "/alice/"),
            ),
        ] {
            m.send(
                "presigned download",
                kind,
                get.clone(),
                &url,
                None,
                Who::Nobody,
                &[400, 403],
            )
            .await;
        }
        let a_key = format!("incoming/alice/{pending}.json");
        let b_key = format!("incoming/bob/{bob_pending}.json");
        for (kind, t, url) in [
            (
                "alice's upload URL, user → bob",
                &ticket,
                ticket_url.replace("/alice/", "/bob/"),
            ),
            (
                "alice's upload URL, key → bob's pending upload",
                &ticket,
                ticket_url.replace(&a_key, &b_key),
            ),
            (
                "alice's upload URL, expiry extended",
                &ticket,
                extend_expiry(&ticket_url),
            ),
            (
                "alice's upload URL, signature forged",
                &ticket,
                forge_signature(&ticket_url),
            ),
            (
                "bob's upload URL, key → alice's pending upload",
                &bob_ticket,
                bob_ticket_url.replace(&b_key, &a_key),
            ),
            (
                "bob's upload URL, user → alice",
                &bob_ticket,
                bob_ticket_url.replace("/bob/", "/alice/"),
            ),
            (
                "bob's upload URL, key → alice's quarantined upload",
                &bob_ticket,
                bob_ticket_url.replace(&b_key, &q_key),
            ),
        ] {
            m.put("presigned upload", kind, t, &url, FORBIDDEN).await;
        }
    }
    // Replayed once the first object was processed: locally refused (the upload is final);
    // S3 checks `If-None-Match: *` against the process bucket, where the object no longer is.
    let late = put_ticket(
        &http,
        &used,
        &used_url,
        serde_json::to_vec(&ev("bob-through-a-url", "EUR", "bob-src")).unwrap(),
    )
    .await;
    if aws && (200..300).contains(&late.status) {
        // S3 compares `If-None-Match: *` with what the process bucket holds now, and the
        // processor removed the first object from it: until it expires the URL takes
        // another object, under alice's key. The processor files that one in the operator's
        // space (ARCHITECTURE.md, "One upload id, one outcome"), so alice's upload keeps
        // its outcome and nobody's lists change (compared below). Waited for, so that the
        // comparison sees it processed.
        capability_uses.push(format!(
            "alice's used upload URL replayed after processing (S3): {}",
            late.status
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.log_lines().iter().any(|l| {
            let l = l.to_string();
            l.contains("a second object under the key of a final upload") && l.contains(&used_id)
        }) {
            assert!(
                Instant::now() < deadline,
                "the replayed object was never processed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        m.judge(
            "presigned upload (replayed)",
            "alice's used upload URL, after processing",
            "PUT (replayed late)",
            &used_url,
            false,
            !aws,
            &late,
            &[409, 412],
        );
    }

    // ---- 4. Alice's data is as it was. ----
    let after = alices.snapshot(&http, b, &a_tok).await;
    for (k, v) in &before {
        if after.get(k) != Some(v) {
            m.failures
                .push(format!("alice's {k} changed: {v} → {:?}", after.get(k)));
        }
    }
    // Her subscriptions still deliver (at the deliverer, not only in the table): her next
    // notification reaches her endpoint, and only hers.
    let late_bad = upload_and_wait(
        &alice,
        serde_json::to_vec(&ev("ord-a-late", "eur", "alice-src")).unwrap(),
    )
    .await;
    assert_eq!(late_bad.status, UploadState::Quarantined);
    let late_id = late_bad.upload_id.to_string();
    for msg in inbox.messages(&alice_inboxes[0], &[&late_id]).await {
        assert!(
            !msg.contains(&bob_bad) && !msg.contains("userId=bob"),
            "{msg}"
        );
    }
    for msg in inbox.messages(&bob_inbox, &[]).await {
        assert!(
            !msg.contains(&late_id),
            "alice's notification reached bob: {msg}"
        );
    }

    eprintln!("BOLA matrix coverage ({backend:?}):");
    for (pair, n) in &m.covered {
        eprintln!("  {pair}: {n}");
    }
    // Bob's lists did not change either.
    for (list, n) in [
        ("/v1/events", 1),
        ("/v1/quarantine", 1),
        ("/v1/notifications", 2),
    ] {
        let items = all_items(&http, b, &bob_tok, list).await;
        assert_eq!(items.len(), n, "bob's {list}: {items:?}");
    }

    eprintln!(
        "BOLA matrix: {} requests, {} cross-tenant 2xx",
        m.requests,
        m.cross_2xx.len()
    );
    eprintln!(
        "BOLA matrix: capability uses of alice's presigned URLs as issued (2xx by design, not counted): {}",
        capability_uses.join("; ")
    );
    assert!(
        m.cross_2xx.is_empty(),
        "{} cross-tenant 2xx:\n{}",
        m.cross_2xx.len(),
        m.cross_2xx.join("\n")
    );
    assert!(
        m.failures.is_empty(),
        "{} of {} requests answered wrongly:\n{}",
        m.failures.len(),
        m.requests,
        m.failures.join("\n")
    );
}
