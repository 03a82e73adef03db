//! The API commands (`upload`, `events`, `quarantine`, `notifications`, `exports`), on the
//! generated client. Human output by default, `--json` for scripts.

use anyhow::{Context, Result, bail};
use eventpulse_client::types::{self, UploadState};
use eventpulse_client::{ClientError, EventFilter, EventPulse};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Base URL of the API.
    #[arg(
        long,
        global = true,
        env = "EVENTPULSE_API",
        default_value = "http://127.0.0.1:8080"
    )]
    pub api: String,
    /// Bearer token (see `eventpulse token`).
    #[arg(long, global = true, env = "EVENTPULSE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Conn {
    pub(crate) fn client(&self) -> Result<EventPulse> {
        if self.token.is_none() {
            bail!(
                "no token: pass --token or set EVENTPULSE_TOKEN (get one with `eventpulse token --user NAME`)"
            );
        }
        Ok(EventPulse::new(&self.api, self.token.as_deref())?)
    }
}

/// Turns client errors into one line a person can act on.
pub(crate) fn explain(e: ClientError) -> anyhow::Error {
    match e.status() {
        Some(401) => anyhow::anyhow!(
            "{e}\nhint: the token is missing, expired or for another server; get a new one with `eventpulse token --user NAME`"
        ),
        _ => anyhow::anyhow!("{e}"),
    }
}

/// `println!` for results: a closed pipe (`eventpulse events list | head`) ends the command
/// quietly, as it does for every Unix tool, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(e.into());
        }
    }};
}

pub(crate) fn print_json(v: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// Files to upload; a directory means every *.json file in it.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Wait until each upload is stored or quarantined, and print the outcome.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

pub async fn upload(conn: &Conn, args: &UploadArgs) -> Result<bool> {
    let ep = conn.client()?;
    let mut files = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    let bar = (files.len() > 1 && !conn.json).then(|| {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut results = Vec::new();
    let mut all_ok = true;
    for file in &files {
        if let Some(b) = &bar {
            b.set_message(file.display().to_string());
        }
        let outcome = match ep.upload_file(file).await {
            Ok(ticket) => {
                let status = if args.wait {
                    Some(wait_for(&ep, &ticket.upload_id, args.timeout).await)
                } else {
                    None
                };
                Ok((ticket, status))
            }
            Err(e) => Err(explain(e)),
        };
        if let Some(b) = &bar {
            b.inc(1);
        }
        results.push((file.clone(), outcome));
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut out = Vec::new();
    for (file, r) in results {
        let name = file.display().to_string();
        match r {
            Ok((ticket, None)) => {
                out.push(serde_json::json!({"file": name, "uploadId": ticket.upload_id}));
                if !conn.json {
                    outln!("uploaded {name} as {}", *ticket.upload_id);
                }
            }
            Ok((ticket, Some(Ok(s)))) => {
                if s.status == UploadState::Quarantined {
                    all_ok = false;
                }
                if !conn.json {
                    match s.status {
                        UploadState::Stored => outln!(
                            "stored      {name}: {} event(s), upload {}",
                            s.event_count.unwrap_or(0),
                            *ticket.upload_id
                        ),
                        UploadState::Quarantined => outln!(
                            "quarantined {name}: {} (see `eventpulse quarantine show {}`)",
                            s.reason_code.map(|r| r.to_string()).unwrap_or_default(),
                            *ticket.upload_id
                        ),
                        UploadState::Pending => outln!(
                            "pending     {name}: still processing, upload {}",
                            *ticket.upload_id
                        ),
                    }
                }
                out.push(
                    serde_json::json!({"file": name, "uploadId": ticket.upload_id, "status": s}),
                );
            }
            Ok((ticket, Some(Err(e)))) => {
                all_ok = false;
                eprintln!("{name}: uploaded as {} but: {e}", *ticket.upload_id);
                out.push(serde_json::json!({"file": name, "uploadId": ticket.upload_id, "error": e.to_string()}));
            }
            Err(e) => {
                all_ok = false;
                eprintln!("{name}: {e}");
                out.push(serde_json::json!({"file": name, "error": e.to_string()}));
            }
        }
    }
    if conn.json {
        print_json(&out)?;
    }
    Ok(all_ok)
}

async fn wait_for(
    ep: &EventPulse,
    id: &types::UploadId,
    timeout: u64,
) -> Result<types::UploadStatus> {
    ep.wait_final(id, Duration::from_secs(timeout))
        .await
        .map_err(explain)
}

/// The filters of `GET /v1/events`, shared by `events list` and `exports create`.
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Only this type (page.view, order.placed, sensor.reading, ...).
    #[arg(long = "type")]
    type_: Option<String>,
    /// Only events at or after this RFC 3339 instant.
    #[arg(long)]
    from: Option<String>,
    /// Only events before this RFC 3339 instant.
    #[arg(long)]
    to: Option<String>,
}

impl FilterArgs {
    fn parse(&self) -> Result<EventFilter> {
        Ok(EventFilter {
            type_: self
                .type_
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--type: {e}"))?,
            from: instant(&self.from, "from")?,
            to: instant(&self.to, "to")?,
        })
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum EventsCmd {
    /// List your events, ordered by occurredAt then eventId.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Follow every page instead of printing the first.
        #[arg(long)]
        all: bool,
        /// Page size (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one event.
    Get { event_id: String },
}

fn instant(s: &Option<String>, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    s.as_deref()
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|d| d.with_timezone(&chrono::Utc))
                .with_context(|| {
                    format!("--{name} {v:?} is not an RFC 3339 date-time like 2026-11-27T10:00:00Z")
                })
        })
        .transpose()
}

fn print_events(items: &[types::StoredEvent]) -> Result<()> {
    for e in items {
        let v = serde_json::to_value(&e.event).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        outln!(
            "{:<32} {:<15} {:<40} upload {}",
            s("occurredAt"),
            s("type"),
            s("eventId"),
            *e.upload_id
        );
    }
    Ok(())
}

pub async fn events(conn: &Conn, cmd: &EventsCmd) -> Result<()> {
    let ep = conn.client()?;
    match cmd {
        EventsCmd::List { filter, all, limit } => {
            let filter = filter.parse()?;
            if *all {
                let items = ep.all_events(&filter).await.map_err(explain)?;
                if conn.json {
                    print_json(&items)?;
                } else {
                    print_events(&items)?;
                    eprintln!("{} event(s)", items.len());
                }
            } else {
                let mut req = ep.api().list_events().limit(*limit);
                if let Some(t) = filter.type_ {
                    req = req.type_(t);
                }
                if let Some(f) = filter.from {
                    req = req.from(f);
                }
                if let Some(t) = filter.to {
                    req = req.to(t);
                }
                let page = req
                    .send()
                    .await
                    .map_err(|e| explain(e.into()))?
                    .into_inner();
                if conn.json {
                    print_json(&page)?;
                } else {
                    print_events(&page.items)?;
                    if page.next_cursor.is_some() {
                        eprintln!("(more: use --all)");
                    }
                }
            }
        }
        EventsCmd::Get { event_id } => {
            let e = ep
                .api()
                .get_event()
                .event_id(event_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            print_json(&e)?;
        }
    }
    Ok(())
}

#[derive(clap::Subcommand, Debug)]
pub enum QuarantineCmd {
    /// List your quarantined uploads, newest first.
    List,
    /// Show the report of one quarantined upload.
    Show { upload_id: String },
    /// Download the quarantined object exactly as uploaded.
    Download {
        upload_id: String,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Process a quarantined upload again (after fixing what made it fail).
    Reprocess {
        upload_id: String,
        /// Wait for the new outcome and print it.
        #[arg(long)]
        wait: bool,
    },
    /// Delete a quarantined upload and its report.
    Delete { upload_id: String },
}

pub async fn quarantine(conn: &Conn, cmd: &QuarantineCmd) -> Result<()> {
    let ep = conn.client()?;
    let api = ep.api();
    match cmd {
        QuarantineCmd::List => {
            let mut items = Vec::new();
            let mut cursor: Option<types::Cursor> = None;
            loop {
                let mut req = api.list_quarantine().limit(100u64);
                if let Some(c) = cursor.take() {
                    req = req.cursor(c);
                }
                let page = req
                    .send()
                    .await
                    .map_err(|e| explain(e.into()))?
                    .into_inner();
                items.extend(page.items);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            if conn.json {
                print_json(&items)?;
            } else {
                for q in &items {
                    outln!(
                        "{}  {}  {:<18} {} error(s)  {} bytes",
                        q.quarantined_at.to_rfc3339(),
                        *q.upload_id,
                        q.reason_code.to_string(),
                        q.error_count,
                        q.size_bytes
                    );
                }
                eprintln!("{} quarantined upload(s)", items.len());
            }
        }
        QuarantineCmd::Show { upload_id } => {
            let r = api
                .get_quarantine()
                .upload_id(upload_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            if conn.json {
                print_json(&r)?;
            } else {
                outln!(
                    "upload {}: {} ({})\n{}",
                    *r.upload_id,
                    r.reason_code,
                    r.key,
                    r.message
                );
                for e in &r.errors {
                    let at = if e.pointer.is_empty() {
                        "(document)"
                    } else {
                        e.pointer.as_str()
                    };
                    outln!("  {at}: [{}] {}", e.keyword, e.message);
                }
                if r.truncated {
                    outln!("  ... {} error(s) in all", r.error_count);
                }
            }
        }
        QuarantineCmd::Download { upload_id, output } => {
            let body = api
                .get_quarantine_object()
                .upload_id(upload_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?;
            let bytes = eventpulse_client::read_all(body.into_inner())
                .await
                .map_err(explain)?;
            match output {
                Some(path) => std::fs::write(path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
        QuarantineCmd::Reprocess { upload_id, wait } => {
            let mut s = api
                .reprocess_quarantine()
                .upload_id(upload_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            if *wait {
                s = wait_for(&ep, &s.upload_id, 60).await?;
            }
            if conn.json {
                print_json(&s)?;
            } else {
                match (s.status, s.reason_code) {
                    (UploadState::Pending, _) => outln!(
                        "upload {} is being processed again (use --wait to see the outcome)",
                        *s.upload_id
                    ),
                    (UploadState::Stored, _) => outln!(
                        "upload {} is now stored: {} event(s)",
                        *s.upload_id,
                        s.event_count.unwrap_or(0)
                    ),
                    (UploadState::Quarantined, r) => outln!(
                        "upload {} was quarantined again: {}",
                        *s.upload_id,
                        r.map(|r| r.to_string()).unwrap_or_default()
                    ),
                }
            }
        }
        QuarantineCmd::Delete { upload_id } => {
            api.delete_quarantine()
                .upload_id(upload_id.as_str())
                .send()
                .await
                .map_err(|e| explain(e.into()))?;
            if !conn.json {
                outln!("deleted quarantined upload {upload_id}");
            }
        }
    }
    Ok(())
}

pub async fn notifications(conn: &Conn, limit: u64) -> Result<()> {
    let ep = conn.client()?;
    let page = ep
        .api()
        .list_notifications()
        .limit(limit)
        .send()
        .await
        .map_err(|e| explain(e.into()))?
        .into_inner();
    if conn.json {
        print_json(&page)?;
    } else {
        for n in &page.items {
            outln!(
                "{}  {:<18} {}",
                n.created_at.to_rfc3339(),
                n.kind.to_string(),
                n.message
            );
        }
        if page.items.is_empty() {
            eprintln!("no notifications");
        }
    }
    Ok(())
}

#[derive(clap::Subcommand, Debug)]
pub enum ExportsCmd {
    /// Export your matching events as NDJSON, in the background.
    Create {
        #[command(flatten)]
        filter: FilterArgs,
        /// Wait until it is done and print the download URL.
        #[arg(long)]
        wait: bool,
    },
    /// Status of one export (with its download URL when done).
    Get { export_id: String },
}

pub async fn exports(conn: &Conn, cmd: &ExportsCmd) -> Result<()> {
    let ep = conn.client()?;
    let status = match cmd {
        ExportsCmd::Create { filter, wait } => {
            let f = filter.parse()?;
            let body = types::ExportRequest {
                type_: f.type_,
                from: f.from,
                to: f.to,
            };
            let mut s = ep
                .api()
                .create_export()
                .body(body)
                .send()
                .await
                .map_err(|e| explain(e.into()))?
                .into_inner();
            let mut delay = Duration::from_millis(50);
            while *wait && s.status == types::ExportState::Running {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                s = ep
                    .api()
                    .get_export()
                    .export_id(s.export_id.clone())
                    .send()
                    .await
                    .map_err(|e| explain(e.into()))?
                    .into_inner();
            }
            s
        }
        ExportsCmd::Get { export_id } => ep
            .api()
            .get_export()
            .export_id(export_id.as_str())
            .send()
            .await
            .map_err(|e| explain(e.into()))?
            .into_inner(),
    };
    if conn.json {
        print_json(&status)?;
    } else {
        outln!("export {}: {}", *status.export_id, status.status);
        if let Some(n) = status.event_count {
            outln!("{n} event(s)");
        }
        if let Some(url) = &status.download_url {
            outln!("download: {url}");
        }
    }
    Ok(())
}
