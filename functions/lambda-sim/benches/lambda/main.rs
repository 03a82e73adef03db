//! The release function binaries under the Lambda Runtime API, against moto: size, init
//! time, first and warm invocation latency, peak RSS; and the same code in-process with
//! every SDK request timed, so that moto's share of the latency is visible.
//!
//! ```text
//! cargo build --release --bin eventpulse-processor --bin eventpulse-api
//! eval "$(bash scripts/moto.sh start)"
//! cargo bench -p eventpulse-lambda-sim --bench lambda [-- --processor PATH --api PATH --cold 10 --warm 100]
//! ```
//! A `harness = false` bench rather than a binary of the crate: `cargo bench` builds it
//! optimised like the functions (the in-process figures compare with theirs), its SDK and
//! function dependencies stay dev-dependencies, and `cargo test` never runs it.

mod inproc;
mod measure;
mod report;
mod timed;
mod workload;

use eventpulse_lambda_sim::moto::{self, Deployment};
use eventpulse_lambda_sim::process::Sandbox;
use inproc::InProcess;
use measure::{Bench, Cold, Warm};
use report::{mb, median, mib, ms, percentile, verdict};
use std::path::{Path, PathBuf};
use std::time::Duration;
use workload::Function;

struct Args {
    processor: PathBuf,
    api: PathBuf,
    cold: usize,
    warm: usize,
}

/// The release binaries next to this one: cargo puts benches in `target/release/deps`.
fn default_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let release = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    release.join(name)
}

fn args(raw: &[String]) -> Result<Args, String> {
    let mut a = Args {
        processor: default_binary("eventpulse-processor"),
        api: default_binary("eventpulse-api"),
        cold: 10,
        warm: 100,
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} takes a value"));
        let count = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--bench" => {}
            "--processor" => a.processor = value()?.into(),
            "--api" => a.api = value()?.into(),
            "--cold" => a.cold = count(value()?)?.max(1),
            "--warm" => a.warm = count(value()?)?.max(1),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

struct Figures {
    size: (u64, u64),
    cold: Cold,
    warm: Warm,
    inproc: InProcess,
}

async fn run(
    f: Function,
    binary: &Path,
    a: &Args,
    d: &Deployment,
    s: &Sandbox,
) -> Result<Figures, String> {
    eprintln!(
        "{}: {} cold starts, {} warm invocations ({})",
        f.name(),
        a.cold,
        a.warm,
        binary.display()
    );
    let bench = Bench {
        deployment: d,
        sandbox: s,
        function: f,
        binary,
    };
    let size = report::sizes(binary)?;
    let cold = bench.cold(a.cold).await?;
    let mut inproc = InProcess::new(f, d).await?;
    let warm = bench.warm(a.warm, &mut inproc).await?;
    Ok(Figures {
        size,
        cold,
        warm,
        inproc,
    })
}

fn rows(p: &Figures, api: &Figures, a: &Args) -> Vec<Vec<String>> {
    let both = |what: String, f: &dyn Fn(&Figures) -> String, target: String| {
        vec![what, f(p), f(api), target]
    };
    let init_ok = |f: &Figures| median(&f.cold.init) <= Duration::from_millis(12);
    let size_ok = |f: &Figures| f.size.1 <= 8_000_000;
    let rss_ok = |f: &Figures| f.warm.peak_rss_kib <= 20 * 1024;
    let p50 = |v: &[Duration]| median(v);
    let warm_p50 = p50(&p.warm.latency);
    let requests = |f: &Figures| {
        let r = &f.inproc.samples.requests;
        format!(
            "{:.1}",
            r.iter().sum::<u32>() as f64 / r.len().max(1) as f64
        )
    };
    vec![
        both(
            "binary, unstripped".into(),
            &|f| mb(f.size.0),
            String::new(),
        ),
        both(
            "binary, stripped".into(),
            &|f| mb(f.size.1),
            format!(
                "≤ 8 MB: {} / {}",
                verdict(size_ok(p)),
                verdict(size_ok(api))
            ),
        ),
        both(
            format!("init, spawn → first /next, median of {}", a.cold),
            &|f| ms(median(&f.cold.init)),
            format!(
                "≤ 12 ms: {} / {}",
                verdict(init_ok(p)),
                verdict(init_ok(api))
            ),
        ),
        both(
            "init, min – max".into(),
            &|f| {
                let min = f.cold.init.iter().min().copied().unwrap_or_default();
                let max = f.cold.init.iter().max().copied().unwrap_or_default();
                format!("{} – {}", ms(min), ms(max))
            },
            String::new(),
        ),
        both(
            format!("first invocation, median of {}", a.cold),
            &|f| ms(median(&f.cold.first)),
            String::new(),
        ),
        both(
            format!("warm p50, {} invocations", a.warm),
            &|f| ms(p50(&f.warm.latency)),
            format!(
                "processor ≤ 11 ms (43.8 ms / 4): {}",
                verdict(warm_p50 <= Duration::from_micros(10_950))
            ),
        ),
        both(
            "warm p90".into(),
            &|f| ms(percentile(&f.warm.latency, 90.0)),
            String::new(),
        ),
        both(
            "peak RSS (VmHWM) after them".into(),
            &|f| mib(f.warm.peak_rss_kib),
            format!(
                "≤ 20 MiB: {} / {}",
                verdict(rss_ok(p)),
                verdict(rss_ok(api))
            ),
        ),
        both(
            "in-process, same code: p50".into(),
            &|f| ms(p50(&f.inproc.samples.total)),
            String::new(),
        ),
        both(
            "… waiting on moto, p50".into(),
            &|f| ms(p50(&f.inproc.samples.moto)),
            String::new(),
        ),
        both(
            "… the rest (SDK + our code), p50".into(),
            &|f| ms(p50(&f.inproc.samples.own())),
            String::new(),
        ),
        both(
            "AWS requests per invocation".into(),
            &requests,
            String::new(),
        ),
        both(
            "binary's own time: warm p50 − moto p50".into(),
            &|f| ms(p50(&f.warm.latency).saturating_sub(p50(&f.inproc.samples.moto))),
            String::new(),
        ),
        both(
            "init: of which SSM GetParameter on moto".into(),
            &|f| f.inproc.init_moto.map_or("none".into(), ms),
            String::new(),
        ),
    ]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if !raw.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches without --bench: nothing to measure then.
        println!("lambda bench: run it with `cargo bench -p eventpulse-lambda-sim --bench lambda`");
        return Ok(());
    }
    let a = args(&raw)?;
    let endpoint = moto::endpoint()?;
    let d = Deployment::create(&endpoint)
        .await?
        .with_api_resources()
        .await?;
    let s = Sandbox::new(&endpoint).map_err(|e| e.to_string())?;
    // The processor first: what it stores is what the API then pages through.
    let p = run(Function::Processor, &a.processor, &a, &d, &s).await?;
    let api = run(Function::Api, &a.api, &a, &d, &s).await?;
    // After the EMF lines the in-process processor printed, as the function does.
    println!("\n## lambda bench\n\nmachine: {}", report::machine());
    println!("moto: {endpoint} (one request at a time)\n");
    let header = ["", "eventpulse-processor", "eventpulse-api", "target"];
    print!("{}", report::table(&header, &rows(&p, &api, &a)));
    Ok(())
}
