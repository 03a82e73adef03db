//! Memory figures of `eventpulse local`: the real binary on loopback and a temp data dir,
//! driven over HTTP with the generated client. A benchmark that prints figures, not a test:
//! nothing here asserts on memory or time, but every step is checked (every upload stored,
//! every download complete) so that no figure is reported for a broken run.
//!
//! ```sh
//! cargo bench -p eventpulse-cli --bench memory
//! EP_MEM_OBJECTS=120 EP_MEM_DOWNLOADS=40 cargo bench -p eventpulse-cli --bench memory
//! ```
//!
//! The server's memory is read from `/proc/{pid}/status`: `VmRSS` now and `VmHWM`, the peak,
//! which writing `5` to `/proc/{pid}/clear_refs` resets (Linux ≥ 4.0), so each part measures
//! its own peak:
//!
//! 1. **ingest**: `EP_MEM_OBJECTS` (60) objects of 1000 ~0.8 KB order events (about 50 MB),
//!    8 uploads at a time, until every upload is stored: the peak from start-up on;
//! 2. **one big object**: a ~4.5 MB object of 1000 page views with long URLs, processed
//!    alone: the peak above the RSS before it, and that as a multiple of the object's size;
//! 3. **export**: one export of everything (a ~55 MB NDJSON result), its peak;
//! 4. **downloads**: `EP_MEM_DOWNLOADS` (20) concurrent downloads of that export, each read
//!    to the end and counted: the peak above the RSS before them.
//!
//! Run without `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run.

#[path = "../tests/support/mod.rs"]
mod support;

use eventpulse_client::EventPulse;
use eventpulse_client::types::{self, ExportState, UploadState};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Server, server_pid};

const USER: &str = "mem";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (`VmHWM`) to the current RSS.
fn reset_peak(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("cannot reset the peak RSS of {pid}: {e}");
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn order(obj: usize, i: usize) -> Value {
    let items: Vec<Value> = (0..14)
        .map(|k| json!({"sku": format!("SKU-{obj:05}{i:04}-{k:02}-XL"), "quantity": 1 + k % 5}))
        .collect();
    json!({"eventId": format!("mem-{obj:05}-{i:04}"), "type": "order.placed",
           "occurredAt": format!("2026-11-27T{:02}:{:02}:{:02}Z", i % 24, obj % 60, i % 60),
           "source": "checkout-service.eu-west-1",
           "data": {"orderId": format!("A-{obj:05}-{i:04}"), "currency": "EUR",
                    "amountMinor": 1000 + i, "items": items}})
}

fn page_view(i: usize) -> Value {
    let long = |what: &str| {
        let mut s = format!("https://shop.example.com/{what}/{i:04}?q=");
        while s.len() < 2040 {
            s.push_str("espresso+");
        }
        s.truncate(2040);
        s
    };
    json!({"eventId": format!("big-{i:04}"), "type": "page.view",
           "occurredAt": "2026-11-28T10:00:00Z", "source": "web-frontend.shop.example.com",
           "data": {"url": long("products"), "referrer": long("search"), "durationMs": i}})
}

async fn stored(ep: &EventPulse, body: Vec<u8>) -> Result<(), String> {
    let ticket = ep.upload(body).await.map_err(|e| e.to_string())?;
    let s = ep
        .wait_final(&ticket.upload_id, Duration::from_secs(300))
        .await
        .map_err(|e| e.to_string())?;
    if s.status != UploadState::Stored {
        return Err(format!("upload {} ended {:?}", *ticket.upload_id, s.status));
    }
    Ok(())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (objects, downloads) = if bench {
        (
            env_num("EP_MEM_OBJECTS", 60),
            env_num("EP_MEM_DOWNLOADS", 20),
        )
    } else {
        (2, 2)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path());
    let Some(pid) = server_pid(dir.path()) else {
        eprintln!("memory bench: cannot find the server's pid");
        std::process::exit(1);
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(e) = rt.block_on(run(&server, pid, objects, downloads)) {
        eprintln!("memory bench: {e}");
        std::process::exit(1);
    }
}

async fn run(server: &Server, pid: u32, objects: usize, downloads: usize) -> Result<(), String> {
    let ep = Arc::new(server.client(USER));
    let (start_rss, _) = memory(pid);
    println!(
        "eventpulse local (pid {pid}) after start: RSS {:.1} MiB",
        mib(start_rss)
    );

    // 1. Ingest.
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    for obj in 0..objects {
        let body = serde_json::to_vec(&(0..1000).map(|i| order(obj, i)).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
        bytes += body.len();
        let ep = ep.clone();
        tasks.spawn(async move { stored(&ep, body).await });
        while tasks.len() >= 8 {
            tasks
                .join_next()
                .await
                .ok_or("no task")?
                .map_err(|e| e.to_string())??;
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    let (rss, peak) = memory(pid);
    println!(
        "1. ingest: {objects} objects x 1000 events ({:.1} MB) stored in {:.1} s; peak RSS {:.1} MiB (now {:.1} MiB)",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        mib(peak),
        mib(rss)
    );

    // 2. One big object, alone.
    let big = serde_json::to_vec(&(0..1000).map(page_view).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    reset_peak(pid);
    let (before, _) = memory(pid);
    stored(&ep, big.clone()).await?;
    let (_, peak) = memory(pid);
    let extra = peak.saturating_sub(before);
    println!(
        "2. one {:.2} MB object (1000 page views): peak {:.1} MiB, {:.1} MiB above the RSS before it = {:.2}x the object",
        big.len() as f64 / 1e6,
        mib(peak),
        mib(extra),
        (extra * 1024) as f64 / big.len() as f64
    );

    // 3. An export of everything.
    reset_peak(pid);
    let (before, _) = memory(pid);
    let started = Instant::now();
    let created = ep
        .api()
        .create_export()
        .body(types::ExportRequest {
            from: None,
            to: None,
            type_: None,
        })
        .send()
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let export = loop {
        let x = ep
            .api()
            .get_export()
            .export_id(created.export_id.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if x.status != ExportState::Running {
            break x;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if export.status != ExportState::Done {
        return Err(format!("the export ended {:?}", export.status));
    }
    let url = export
        .download_url
        .clone()
        .ok_or("a done export without a URL")?;
    let (_, peak) = memory(pid);
    println!(
        "3. export of {} events: done in {:.1} s; peak {:.1} MiB, {:.1} MiB above the RSS before it",
        export.event_count.unwrap_or(0),
        started.elapsed().as_secs_f64(),
        mib(peak),
        mib(peak.saturating_sub(before))
    );

    // 4. Concurrent downloads, each read to the end.
    let http = reqwest::Client::new();
    let size = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?
        .len();
    reset_peak(pid);
    let (before, _) = memory(pid);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..downloads {
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move {
            let mut r = http
                .get(&url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| e.to_string())?;
            let mut n = 0usize;
            while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
                n += chunk.len();
            }
            Ok::<usize, String>(n)
        });
    }
    while let Some(r) = tasks.join_next().await {
        let n = r.map_err(|e| e.to_string())??;
        if n != size {
            return Err(format!("a download got {n} of {size} bytes"));
        }
    }
    let (_, peak) = memory(pid);
    println!(
        "4. {downloads} concurrent downloads of the {:.1} MB export in {:.1} s: peak {:.1} MiB, {:.1} MiB above the RSS before them ({:.2} MiB each)",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        mib(peak),
        mib(peak.saturating_sub(before)),
        mib(peak.saturating_sub(before)) / downloads as f64
    );
    Ok(())
}
