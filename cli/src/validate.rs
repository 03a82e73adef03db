//! `eventpulse validate FILE|DIR...`: the processor's intake, run offline.

use eventpulse_contract_rt::json::DEFAULT_MAX_BYTES;
use eventpulse_generated::types::ReasonCode;
use eventpulse_handlers::intake::{Intake, Rejected, Verdict};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Files to validate; a directory means every *.json file under it.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// Largest accepted object, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES, value_name = "BYTES")]
    max_bytes: usize,
    /// How many errors to list per file (all are counted).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_errors: usize,
    /// Print one JSON document with a verdict per file on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Print nothing for valid files.
    #[arg(long, short)]
    quiet: bool,
}

enum Outcome {
    Valid { events: usize },
    Invalid(Rejected),
    Unreadable(String),
}

pub fn run(args: &Args) -> ExitCode {
    let intake = match Intake::new(args.max_bytes, args.max_errors) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("eventpulse: internal error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::new();
    for p in &args.paths {
        expand(p, &mut files);
    }
    let (mut invalid, mut unreadable) = (0, 0);
    let mut verdicts = Vec::new();
    for file in &files {
        let outcome = check_file(&intake, file);
        let shown = file.display();
        match &outcome {
            Outcome::Valid { events } => {
                if !args.json && !args.quiet {
                    println!(
                        "ok {shown} ({events} event{})",
                        if *events == 1 { "" } else { "s" }
                    );
                }
            }
            Outcome::Invalid(r) => {
                invalid += 1;
                if !args.json {
                    print_rejection(&shown.to_string(), r);
                }
            }
            Outcome::Unreadable(msg) => {
                unreadable += 1;
                eprintln!("{shown}: cannot read: {msg}");
            }
        }
        if args.json {
            verdicts.push(verdict_json(file, &outcome));
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "files": verdicts })).unwrap_or_default()
        );
    }
    let total = files.len();
    if !args.json && (invalid > 0 || unreadable > 0 || !args.quiet) {
        eprintln!(
            "{} of {total} file{} valid",
            total - invalid - unreadable,
            if total == 1 { "" } else { "s" }
        );
    }
    if unreadable > 0 {
        ExitCode::from(2)
    } else if invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A directory stands for its `*.json` files, recursively, in name order.
fn expand(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => {
                out.push(path.to_path_buf());
                return;
            }
        };
        entries.sort();
        for p in entries {
            if p.is_dir() || p.extension().is_some_and(|e| e == "json") {
                expand(&p, out);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn check_file(intake: &Intake, path: &Path) -> Outcome {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let mut announced = 0;
    if let Ok(meta) = file.metadata() {
        if meta.is_dir() {
            return Outcome::Unreadable("is a directory".into());
        }
        if let Some(r) = intake.check_size(meta.len()) {
            return Outcome::Invalid(r);
        }
        announced = meta.len() as usize;
    }
    // Never hold more than the limit (+1 byte, to notice a file that grew) in memory; the
    // size the file announced (within the limit, checked above) is read in one piece.
    let mut bytes = Vec::with_capacity(announced + 1);
    if let Err(e) = file
        .take(intake.max_bytes() as u64 + 1)
        .read_to_end(&mut bytes)
    {
        return Outcome::Unreadable(e.to_string());
    }
    match intake.check(&bytes) {
        Verdict::Accepted(events) => Outcome::Valid {
            events: events.len(),
        },
        Verdict::Rejected(r) => Outcome::Invalid(r),
    }
}

fn reason_str(r: ReasonCode) -> String {
    r.to_string()
}

fn print_rejection(file: &str, r: &Rejected) {
    eprintln!("{file}: invalid ({}): {}", reason_str(r.reason), r.message);
    for e in &r.errors {
        let pointer = if e.pointer.is_empty() {
            "(document)"
        } else {
            e.pointer.as_str()
        };
        eprintln!("{file}:{pointer}: [{}] {}", e.keyword, e.message);
    }
    let listed = r.errors.len() as u64;
    if r.error_count > listed {
        eprintln!(
            "{file}: ... and {} more error(s) (raise --max-errors to list them)",
            r.error_count - listed
        );
    }
}

fn verdict_json(file: &Path, o: &Outcome) -> serde_json::Value {
    let name = file.display().to_string();
    match o {
        Outcome::Valid { events } => json!({ "file": name, "valid": true, "eventCount": events }),
        Outcome::Invalid(r) => json!({
            "file": name,
            "valid": false,
            "reasonCode": reason_str(r.reason),
            "message": r.message,
            "eventCount": r.event_count,
            "errorCount": r.error_count,
            "errors": r.errors,
        }),
        Outcome::Unreadable(msg) => json!({ "file": name, "valid": false, "unreadable": msg }),
    }
}
