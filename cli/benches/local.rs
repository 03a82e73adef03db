//! End-to-end figures of `eventpulse local`: the real binary on loopback, a temp data dir,
//! driven over HTTP with the generated client. A benchmark that prints figures, not a test:
//! nothing here asserts on time. It does check correctness (exact counts, nothing
//! quarantined, no request errors) so that no figure is reported for a broken run.
//!
//! ```sh
//! cargo bench -p eventpulse-cli --bench local
//! EP_BENCH_OBJECTS=500 EP_BENCH_EVENTS=200 EP_BENCH_CLIENTS=32 cargo bench -p eventpulse-cli --bench local
//! ```
//!
//! (b) End-to-end ingest: N objects × M events (a realistic mix of ~1 KB orders, page views
//!     and small sensor readings), presign + PUT with bounded concurrency, timed until every
//!     upload is final and all N×M events are listed through `GET /v1/events`.
//! (c) `GET /v1/events` under load: C closed-loop clients for a fixed time over (b)'s data,
//!     mixing first pages, pages filtered by type and next pages via the cursor (limit 50).
//!
//! Parameters (env): `EP_BENCH_OBJECTS` (200), `EP_BENCH_EVENTS` (100), `EP_BENCH_CONCURRENCY`
//! (16), `EP_BENCH_WORKERS` (16, the server's default, passed as `--workers`), `EP_BENCH_WARMUP_OBJECTS` (20),
//! `EP_BENCH_CLIENTS` (16), `EP_BENCH_SECONDS` (10), `EP_BENCH_MAX_REQUESTS` (1000000);
//! `TMPDIR` picks where the temp data dir goes (its filesystem is printed);
//! `EP_BENCH_SERVER_BIN` runs another `eventpulse` binary as the server (e.g. the previous
//! commit's release build), to compare two builds in one session.
//! Run without `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run instead.
//!
//! Client and server share the machine, so the CPU each used (and what other processes used
//! meanwhile) is printed with each part: figures are comparable only when "other" is ~0.

#[path = "../tests/support/mod.rs"]
mod support;

use eventpulse_client::EventPulse;
use eventpulse_client::types::{Cursor, Event, EventType, UploadId, UploadState};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::Server;

const BENCH_USER: &str = "bench";
const WARMUP_USER: &str = "warmup";
const PAGE_LIMIT: u64 = 50;
const LISTING_LIMIT: u64 = 100;
const TYPES: [EventType; 3] = [
    EventType::OrderPlaced,
    EventType::PageView,
    EventType::SensorReading,
];

#[derive(Debug, Clone)]
struct Params {
    objects: usize,
    events: usize,
    concurrency: usize,
    workers: usize,
    warmup_objects: usize,
    clients: usize,
    seconds: u64,
    max_requests: usize,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid number")),
        _ => Ok(default),
    }
}

impl Params {
    fn from_env(smoke: bool) -> Result<Self, String> {
        // The smoke run (no `--bench`) only proves the bench still works.
        let (objects, events, warmup, clients, seconds) = if smoke {
            (4, 10, 1, 2, 1)
        } else {
            (200, 100, 20, 16, 10)
        };
        let p = Params {
            objects: env_num("EP_BENCH_OBJECTS", objects)?,
            events: env_num("EP_BENCH_EVENTS", events)?,
            concurrency: env_num("EP_BENCH_CONCURRENCY", 16)?,
            workers: env_num("EP_BENCH_WORKERS", 16)?,
            warmup_objects: env_num("EP_BENCH_WARMUP_OBJECTS", warmup)?,
            clients: env_num("EP_BENCH_CLIENTS", clients)?,
            seconds: env_num("EP_BENCH_SECONDS", seconds)?,
            max_requests: env_num("EP_BENCH_MAX_REQUESTS", 1_000_000)?,
        };
        if p.objects == 0 || p.concurrency == 0 || p.workers == 0 || p.clients == 0 {
            return Err("EP_BENCH_OBJECTS, _CONCURRENCY, _WORKERS and _CLIENTS must be ≥ 1".into());
        }
        if !(1..=1000).contains(&p.events) {
            return Err("EP_BENCH_EVENTS must be 1..=1000 (the schema's batch limit)".into());
        }
        if p.seconds == 0 || p.seconds > 3600 || p.max_requests == 0 {
            return Err("EP_BENCH_SECONDS must be 1..=3600, EP_BENCH_MAX_REQUESTS ≥ 1".into());
        }
        Ok(p)
    }
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

/// Deterministic, spread-out numbers (so occurredAt order is not upload order).
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Event `i` of object `obj`: 60 % orders (14–40 items, ~0.8–1.8 KB), 30 % page views
/// (~0.5 KB), 10 % sensor readings (~0.25 KB), occurredAt spread over one day with mixed offsets.
fn event(prefix: &str, obj: usize, i: usize) -> Value {
    let r = mix((obj * 1000 + i) as u64);
    let pick = |shift: u32, n: u64| ((r >> shift) % n) as usize;
    let secs = r % 86_400;
    let (h, m, s, ms) = (secs / 3600, secs / 60 % 60, secs % 60, (r >> 20) % 1000);
    let offset = ["Z", "+01:00", "-05:00", "+09:00"][pick(40, 4)];
    let occurred_at = format!("2026-11-27T{h:02}:{m:02}:{s:02}.{ms:03}{offset}");
    let event_id = format!("{prefix}-{obj:05}-{i:04}");
    match pick(50, 10) {
        0..=5 => {
            let items: Vec<Value> = (0..14 + pick(24, 27) as u32)
                .map(|k| {
                    json!({"sku": format!("SKU-{:06}-{k:02}-XL", r % 1_000_000), "quantity": 1 + (r >> k) % 5})
                })
                .collect();
            let currency = ["EUR", "USD", "GBP"][pick(8, 3)];
            json!({"eventId": event_id, "type": "order.placed", "occurredAt": occurred_at,
                   "source": "checkout-service.eu-west-1",
                   "data": {"orderId": format!("A-{obj:05}-{i:04}"), "currency": currency,
                            "amountMinor": 1000 + r % 500_000, "items": items}})
        }
        6..=8 => {
            let url = format!(
                "https://shop.example.com/products/espresso-machines/item-{}?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday-2026&variant={}&gclid=Cj0KCQiA{r:016x}BhCnARIsAH2{:08x}",
                r % 100_000,
                r % 7,
                r >> 32
            );
            let referrer = format!(
                "https://www.search.example.org/search?q=espresso+machine+dual+boiler+{}&source=hp&ei={r:016x}",
                r % 977
            );
            json!({"eventId": event_id, "type": "page.view", "occurredAt": occurred_at,
                   "source": "web-frontend.shop.example.com",
                   "data": {"url": url, "referrer": referrer, "durationMs": r % 600_000}})
        }
        _ => {
            let side = ["north", "south", "east", "west"][pick(4, 4)];
            let value = (r % 4000) as f64 / 100.0 - 5.0;
            json!({"eventId": event_id, "type": "sensor.reading", "occurredAt": occurred_at,
                   "source": "greenhouse-gateway-07",
                   "data": {"sensorId": format!("gh{}-temp-{side}", r % 9), "metric": "temperature",
                            "value": value, "unit": "Cel"}})
        }
    }
}

struct Dataset {
    bodies: Vec<Vec<u8>>,
    events: usize,
    event_bytes: usize,
}

fn dataset(prefix: &str, objects: usize, events: usize) -> Dataset {
    let mut event_bytes = 0;
    let bodies = (0..objects)
        .map(|obj| {
            let batch: Vec<Value> = (0..events).map(|i| event(prefix, obj, i)).collect();
            event_bytes += batch
                .iter()
                .map(|e| serde_json::to_vec(e).unwrap().len())
                .sum::<usize>();
            serde_json::to_vec(&batch).unwrap()
        })
        .collect();
    Dataset {
        bodies,
        events: objects * events,
        event_bytes,
    }
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

/// Latency summary over microsecond samples.
struct Summary {
    n: usize,
    mean: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

fn summarize(mut v: Vec<u64>) -> Option<Summary> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let q = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(Summary {
        n: v.len(),
        mean: v.iter().sum::<u64>() as f64 / v.len() as f64,
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        max: *v.last().unwrap(),
    })
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn line(label: &str, s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "{label:<38} n={:<6} mean {:>8.2}  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  max {:>8.2}  (ms)",
            s.n,
            s.mean / 1000.0,
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max)
        ),
        None => format!("{label:<38} no samples"),
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Values of `field` (milliseconds, as logged) in the server's audit lines matching `pick`,
/// as microseconds.
fn server_ms(lines: &[Value], field: &str, pick: impl Fn(&Value) -> bool) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| pick(l))
        .filter_map(|l| l[field].as_f64())
        .map(|v| (v * 1000.0) as u64)
        .collect()
}

// ---------------------------------------------------------------------------------------
// (b) ingest
// ---------------------------------------------------------------------------------------

struct Ingest {
    /// Start → last PUT acknowledged.
    upload: Duration,
    /// Start → every upload final (stored or quarantined).
    all_final: Duration,
    /// Start → all events counted through the cursor loop.
    all_listed: Duration,
    listing_pages: usize,
    upload_latency: Vec<u64>,
    polls: usize,
}

/// An event's id and type; `None` for a type this client does not know.
fn event_meta(e: &Event) -> (String, Option<EventType>) {
    match e {
        Event::OrderPlacedEvent(x) => (x.event_id.to_string(), Some(EventType::OrderPlaced)),
        Event::PageViewEvent(x) => (x.event_id.to_string(), Some(EventType::PageView)),
        Event::SensorReadingEvent(x) => (x.event_id.to_string(), Some(EventType::SensorReading)),
        Event::UnknownEvent(x) => (x.event_id.to_string(), None),
    }
}

/// Uploads every body with `concurrency` uploaders, waits until each upload is final, then
/// lists every event; checks the outcome exactly and returns the timings.
async fn ingest(
    ep: &Arc<EventPulse>,
    data: Dataset,
    per_object: usize,
    concurrency: usize,
) -> Result<Ingest, String> {
    let n = data.bodies.len();
    let bodies = Arc::new(data.bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    // Upload phase: presign + PUT, `concurrency` at a time.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(n) {
        let (ep, bodies, next) = (ep.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut done: Vec<(Duration, UploadId, u64)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    return Ok::<_, String>(done);
                }
                let t = Instant::now();
                let ticket = ep
                    .upload(bodies[i].clone())
                    .await
                    .map_err(|e| format!("upload of object {i} failed: {e}"))?;
                done.push((started.elapsed(), ticket.upload_id, micros(t.elapsed())));
            }
        });
    }
    let mut acked = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        acked.extend(r.map_err(|e| format!("uploader panicked: {e}"))??);
    }
    let upload = started.elapsed();
    acked.sort_by_key(|(at, _, _)| *at);
    let upload_latency = acked.iter().map(|(_, _, us)| *us).collect();

    // Drain: walk the uploads in acknowledgement order (≈ processing order), polling the
    // first one not yet final, so the poller adds little load of its own.
    let mut polls = 0;
    let mut stored = 0;
    let mut problems = Vec::new();
    for (_, id, _) in &acked {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            polls += 1;
            let s = ep
                .api()
                .get_upload()
                .upload_id(id.clone())
                .send()
                .await
                .map_err(|e| format!("GET /v1/uploads/{}: {e}", **id))?
                .into_inner();
            match s.status {
                UploadState::Pending if Instant::now() > deadline => {
                    return Err(format!("upload {} still pending after 600 s", **id));
                }
                UploadState::Pending => tokio::time::sleep(Duration::from_millis(5)).await,
                UploadState::Stored if s.event_count == Some(per_object as u64) => {
                    stored += 1;
                    break;
                }
                other => {
                    problems.push(format!(
                        "upload {}: {other:?}, eventCount {:?}, reason {:?}",
                        **id, s.event_count, s.reason_code
                    ));
                    break;
                }
            }
        }
    }
    let all_final = started.elapsed();

    // Queryable: count every event through the cursor loop.
    let mut ids = HashSet::with_capacity(data.events);
    let mut listed = 0;
    let mut pages = 0;
    let mut cursor: Option<Cursor> = None;
    loop {
        let mut req = ep.api().list_events().limit(LISTING_LIMIT);
        if let Some(c) = cursor.take() {
            req = req.cursor(c);
        }
        let page = req
            .send()
            .await
            .map_err(|e| format!("GET /v1/events: {e}"))?
            .into_inner();
        pages += 1;
        listed += page.items.len();
        ids.extend(page.items.iter().map(|e| event_meta(&e.event).0));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let all_listed = started.elapsed();

    let quarantined = ep
        .api()
        .list_quarantine()
        .send()
        .await
        .map_err(|e| format!("GET /v1/quarantine: {e}"))?
        .into_inner()
        .items
        .len();
    if !problems.is_empty() {
        problems.truncate(5);
        return Err(format!(
            "{} of {n} uploads not stored as expected: {problems:?}",
            n - stored
        ));
    }
    if quarantined != 0 {
        return Err(format!("{quarantined} quarantined objects (expected 0)"));
    }
    if listed != data.events || ids.len() != data.events {
        return Err(format!(
            "listed {listed} events ({} distinct), expected exactly {}",
            ids.len(),
            data.events
        ));
    }
    Ok(Ingest {
        upload,
        all_final,
        all_listed,
        listing_pages: pages,
        upload_latency,
        polls,
    })
}

// ---------------------------------------------------------------------------------------
// (c) GET /v1/events under load
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    First,
    Typed,
    Next,
}

#[derive(Default)]
struct ClientStats {
    samples: Vec<(Kind, u64)>,
    items: usize,
    errors: Vec<String>,
}

/// One closed-loop client: 4 in 10 requests are first pages, 3 in 10 first pages filtered by
/// a type, 3 in 10 the next page of this client's own cursor walk (which restarts, with or
/// without a filter, when it reaches the end), so deep pages are read too.
async fn client_loop(
    ep: EventPulse,
    client: usize,
    deadline: Instant,
    budget: Arc<AtomicUsize>,
    max_requests: usize,
    total_events: usize,
) -> ClientStats {
    let mut st = ClientStats::default();
    let mut walk: Option<(Option<EventType>, Cursor)> = None;
    let mut k = client; // stagger the clients' mixes
    while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < max_requests {
        let kind = match k % 10 {
            0..=3 => Kind::First,
            4..=6 => Kind::Typed,
            // No walk under way (only before the first page): a first page starts one.
            _ if walk.is_none() => Kind::First,
            _ => Kind::Next,
        };
        let filter = match kind {
            Kind::First => None,
            Kind::Typed => Some(TYPES[(k / 10 + client) % TYPES.len()]),
            Kind::Next => walk.as_ref().and_then(|(f, _)| *f),
        };
        k += 1;
        let mut req = ep.api().list_events().limit(PAGE_LIMIT);
        if let Some(t) = filter {
            req = req.type_(t);
        }
        if kind == Kind::Next
            && let Some((_, c)) = walk.take()
        {
            req = req.cursor(c);
        }
        let t = Instant::now();
        let result = req.send().await;
        let us = micros(t.elapsed());
        match result {
            Ok(page) => {
                let page = page.into_inner();
                st.samples.push((kind, us));
                st.items += page.items.len();
                let wrong_type = filter
                    .is_some_and(|f| page.items.iter().any(|e| event_meta(&e.event).1 != Some(f)));
                let short_first = kind == Kind::First
                    && page.items.len() < (PAGE_LIMIT as usize).min(total_events);
                if wrong_type || short_first || page.items.len() > PAGE_LIMIT as usize {
                    st.errors.push(format!(
                        "{kind:?} page with {} items (filter {filter:?}) is wrong",
                        page.items.len()
                    ));
                }
                match page.next_cursor {
                    // Continue the walk from this page; a first page (re)starts it when idle.
                    Some(c) if kind == Kind::Next || walk.is_none() => walk = Some((filter, c)),
                    _ => {}
                }
            }
            Err(e) => st.errors.push(format!("{kind:?}: {e}")),
        }
    }
    st
}

struct Load {
    elapsed: Duration,
    stats: Vec<ClientStats>,
}

async fn query_load(base: &str, token: &str, p: &Params, total_events: usize) -> Load {
    let budget = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(p.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..p.clients {
        // One client (and connection pool) per simulated user agent.
        let ep = EventPulse::new(base, Some(token)).expect("client");
        tasks.spawn(client_loop(
            ep,
            c,
            deadline,
            budget.clone(),
            p.max_requests,
            total_events,
        ));
    }
    let mut stats = Vec::new();
    while let Some(r) = tasks.join_next().await {
        stats.push(r.expect("client task"));
    }
    Load {
        elapsed: started.elapsed(),
        stats,
    }
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(support::root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "? (not a git checkout)".into());
    format!("{cores} logical CPUs, {cpu}; git {commit}")
}

/// The filesystem type holding `path` (longest mount prefix in /proc/mounts).
fn filesystem(path: &std::path::Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && path.starts_with(f[1])).then(|| (f[1].len(), f[2].to_string()))
        })
        .max()
        .map_or_else(|| "unknown filesystem".into(), |(_, fs)| fs)
}

/// User + system CPU time of a process (`self` or a pid), from /proc/{pid}/stat.
fn cpu_time(pid: &str) -> Option<Duration> {
    const USER_HZ: u64 = 100; // the kernel's fixed unit for these fields on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3; utime/stime are 14/15.
    let rest: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// CPU used by the server and by this process over a window.
struct Cpu {
    server: Option<String>,
    at: Instant,
    s0: Option<Duration>,
    c0: Option<Duration>,
    m0: Option<Duration>,
}

/// CPU time every CPU of the machine spent busy (not idle or iowait), from /proc/stat.
fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq (steal, guest… left out: not this machine's work)
    let busy = f.iter().take(7).sum::<u64>() - f.get(3)? - f.get(4)?;
    Some(Duration::from_millis(busy * 10))
}

impl Cpu {
    fn start(server: &Option<String>) -> Self {
        Cpu {
            server: server.clone(),
            at: Instant::now(),
            s0: server.as_deref().and_then(cpu_time),
            c0: cpu_time("self"),
            m0: machine_busy(),
        }
    }

    fn report(&self) -> String {
        let wall = self.at.elapsed().as_secs_f64();
        let used =
            |before: Option<Duration>, pid: Option<&str>| match (before, pid.and_then(cpu_time)) {
                (Some(a), Some(b)) => {
                    let s = b.saturating_sub(a).as_secs_f64();
                    format!("{s:.2} s ({:.2} cores)", s / wall)
                }
                _ => "n/a".into(),
            };
        // What the rest of the machine did meanwhile: the figures are only clean when ~0.
        let others = match (
            self.m0,
            machine_busy(),
            self.s0,
            self.server.as_deref().and_then(cpu_time),
            self.c0,
            cpu_time("self"),
        ) {
            (Some(m0), Some(m1), Some(s0), Some(s1), Some(c0), Some(c1)) => {
                let o = (m1.saturating_sub(m0).as_secs_f64()
                    - s1.saturating_sub(s0).as_secs_f64()
                    - c1.saturating_sub(c0).as_secs_f64())
                .max(0.0);
                format!("{o:.2} s ({:.2} cores)", o / wall)
            }
            _ => "n/a".into(),
        };
        format!(
            "CPU over {wall:.2} s: server {}, bench client {}, other processes {others}",
            used(self.s0, self.server.as_deref()),
            used(self.c0, Some("self"))
        )
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// One timing row: label, seconds, and what follows.
fn row(label: &str, d: Duration, tail: &str) {
    println!("  {label:<52} {:>8.3} s{tail}", d.as_secs_f64());
}

fn throughput(objects: usize, events: usize, mb: f64, d: Duration) -> String {
    format!(
        "  → {:.1} objects/s, {:.0} events/s, {:.2} MB/s",
        rate(objects, d),
        rate(events, d),
        mb / d.as_secs_f64()
    )
}

fn main() {
    if let Err(e) = run() {
        eprintln!("\nBENCH FAILED, no figures are valid: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let p = Params::from_env(smoke)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Honours TMPDIR, so the data dir can be put on another disk.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let workers = p.workers.to_string();
    let mut server = Server::start_with(
        dir.path(),
        // The bench measures throughput, not the per-user limiter: one user sends it all.
        &["--workers", &workers, "--requests-per-user", "0"],
    );
    let pid = support::server_pid(dir.path()).map(|p| p.to_string());

    println!("== eventpulse local bench ==");
    if smoke {
        println!("(smoke run without --bench: tiny sizes, the figures mean nothing)");
    }
    println!("machine:  {}", machine());
    println!(
        "server:   {} local --workers {} (queue 256 = default), release build, JSON audit logs at info to a pipe",
        support::bin(),
        p.workers
    );
    println!(
        "          data dir {} on {} (temp, removed at the end)",
        dir.path().display(),
        filesystem(dir.path())
    );
    println!(
        "client:   the generated client (reqwest) in this process, same machine, over loopback"
    );

    let token = server.token(BENCH_USER);
    let bench = Arc::new(EventPulse::new(&server.base, Some(&token)).map_err(|e| e.to_string())?);
    let warm = Arc::new(server.client(WARMUP_USER));

    // ---- (b)
    let data = dataset("ev", p.objects, p.events);
    let (events, event_bytes) = (data.events, data.event_bytes);
    let object_bytes: usize = data.bodies.iter().map(Vec::len).sum();
    let warmup = dataset("wu", p.warmup_objects, p.events);
    let warm_t = Instant::now();
    if p.warmup_objects > 0 {
        rt.block_on(ingest(&warm, warmup, p.events, p.concurrency))
            .map_err(|e| format!("warm-up: {e}"))?;
    }
    let warm_t = warm_t.elapsed();
    let log_mark = server.log_lines().len();
    let cpu = Cpu::start(&pid);
    let b = rt.block_on(ingest(&bench, data, p.events, p.concurrency))?;
    let cpu_b = cpu.report();
    let logs = server.log_lines();
    let processing = server_ms(&logs[log_mark..], "duration_ms", |l| {
        l["kind"] == "object" && l["owner"] == BENCH_USER && l["outcome"] == "stored"
    });
    let occupied: u64 = processing.iter().sum();
    // The API calls of the ingest, as the server timed them: presigns and status polls share
    // the table with the workers' commits; the listing runs after the last commit.
    let api_ms = |op: &'static str| {
        server_ms(&logs[log_mark..], "latency_ms", move |l| {
            l["kind"] == "request" && l["operation"] == op && l["user"] == BENCH_USER
        })
    };
    let (presigns, polls, pages) = (
        api_ms("create_upload"),
        api_ms("get_upload"),
        api_ms("list_events"),
    );
    let mb = object_bytes as f64 / 1e6;

    println!();
    println!("(b) end-to-end local ingest");
    println!(
        "  parameters: EP_BENCH_OBJECTS={} EP_BENCH_EVENTS={} EP_BENCH_CONCURRENCY={} EP_BENCH_WORKERS={} EP_BENCH_WARMUP_OBJECTS={}",
        p.objects, p.events, p.concurrency, p.workers, p.warmup_objects
    );
    println!(
        "  data:       {} objects × {} events = {} events (60% order.placed, 30% page.view, 10% sensor.reading)",
        p.objects, p.events, events
    );
    println!(
        "              mean event {:.0} B, mean object {:.1} KB, {:.2} MB uploaded",
        event_bytes as f64 / events as f64,
        object_bytes as f64 / p.objects as f64 / 1e3,
        mb
    );
    println!(
        "  warm-up:    {} objects × {} events on user `{WARMUP_USER}` in {:.3} s (not counted)",
        p.warmup_objects,
        p.events,
        warm_t.as_secs_f64()
    );
    row(
        &format!("upload phase (presign + PUT, {} acknowledged)", p.objects),
        b.upload,
        "",
    );
    row(
        "drain (last ack → every upload final)",
        b.all_final - b.upload,
        &format!("  ({} status polls)", b.polls),
    );
    row(
        &format!(
            "listing ({} pages of {LISTING_LIMIT} via GET /v1/events)",
            b.listing_pages
        ),
        b.all_listed - b.all_final,
        "",
    );
    row(
        &format!("TOTAL: all {events} events final and listed"),
        b.all_listed,
        &throughput(p.objects, events, mb, b.all_listed),
    );
    row(
        "ingest only: start → every upload final",
        b.all_final,
        &throughput(p.objects, events, mb, b.all_final),
    );
    println!(
        "  {}",
        line("upload latency (presign+PUT)", &summarize(b.upload_latency))
    );
    println!(
        "  {}",
        line("server: per-object processing", &summarize(processing))
    );
    for (label, v) in [
        ("server: POST /v1/uploads (presign)", presigns),
        ("server: GET /v1/uploads/{id} (polls)", polls),
        ("server: GET /v1/events (listing)", pages),
    ] {
        println!("  {}", line(label, &summarize(v)));
    }
    println!(
        "  server: worker occupancy {:.1}% ({:.3} s inside process() over {} workers × {:.3} s to final)",
        100.0 * occupied as f64 / 1e6 / (p.workers as f64 * b.all_final.as_secs_f64()),
        occupied as f64 / 1e6,
        p.workers,
        b.all_final.as_secs_f64()
    );
    println!("  {cpu_b}");
    println!(
        "  correctness: {0}/{0} uploads stored with {1} events each, 0 quarantined, {2}/{2} events listed, {2} distinct eventIds",
        p.objects, p.events, events
    );

    // ---- (c)
    let log_mark = server.log_lines().len();
    let cpu = Cpu::start(&pid);
    let load = rt.block_on(query_load(&server.base, &token, &p, events));
    let cpu_c = cpu.report();
    let logs = server.log_lines();
    let server_lat = server_ms(&logs[log_mark..], "latency_ms", |l| {
        l["kind"] == "request" && l["operation"] == "list_events" && l["user"] == BENCH_USER
    });
    let errors: Vec<&String> = load.stats.iter().flat_map(|s| &s.errors).collect();
    let all: Vec<(Kind, u64)> = load
        .stats
        .iter()
        .flat_map(|s| s.samples.iter().copied())
        .collect();
    let items: usize = load.stats.iter().map(|s| s.items).sum();
    let of = |k: Option<Kind>| -> Vec<u64> {
        all.iter()
            .filter(|(kk, _)| k.is_none_or(|k| *kk == k))
            .map(|(_, us)| *us)
            .collect()
    };
    let requests = all.len() + errors.len();

    println!();
    println!("(c) GET /v1/events latency under concurrent load");
    println!(
        "  parameters: EP_BENCH_CLIENTS={} EP_BENCH_SECONDS={} EP_BENCH_MAX_REQUESTS={} limit={PAGE_LIMIT}, over (b)'s {} events",
        p.clients, p.seconds, p.max_requests, events
    );
    println!(
        "  mix:        40% first page, 30% first page filtered by type, 30% next page via cursor (closed loop, no think time)"
    );
    println!(
        "  requests:   {} in {:.3} s → {:.1} requests/s, {:.0} events returned/s",
        requests,
        load.elapsed.as_secs_f64(),
        rate(requests, load.elapsed),
        rate(items, load.elapsed)
    );
    for (label, kind) in [
        ("client latency, all", None),
        ("client latency, first page", Some(Kind::First)),
        ("client latency, filtered by type", Some(Kind::Typed)),
        ("client latency, next page (cursor)", Some(Kind::Next)),
    ] {
        println!("  {}", line(label, &summarize(of(kind))));
    }
    println!(
        "  {}",
        line("server-side latency (audit log)", &summarize(server_lat))
    );
    println!("  {cpu_c}");
    println!("  errors:     {}", errors.len());

    server.stop();
    drop(dir);
    if !errors.is_empty() {
        let sample: Vec<_> = errors.iter().take(5).collect();
        return Err(format!(
            "(c) had {} failed or wrong responses, e.g. {sample:?}",
            errors.len()
        ));
    }
    Ok(())
}
