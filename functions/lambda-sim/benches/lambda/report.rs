//! Figures and the table they are printed in.

use std::path::Path;
use std::time::Duration;

/// The `p`-th percentile (0–100) by nearest rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s.get(rank.saturating_sub(1)).copied().unwrap_or_default()
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// The binary's size as built, and that of a copy with every symbol stripped.
pub fn sizes(binary: &Path) -> Result<(u64, u64), String> {
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let copy = dir.path().join("stripped");
    std::fs::copy(binary, &copy).map_err(|e| format!("copying {}: {e}", binary.display()))?;
    let stripped = ["strip", "objcopy"].iter().any(|tool| {
        let mut c = std::process::Command::new(tool);
        if *tool == "objcopy" {
            c.arg("--strip-all");
        }
        c.arg(&copy).status().is_ok_and(|s| s.success())
    });
    if !stripped {
        return Err("neither strip nor objcopy could strip a copy".into());
    }
    Ok((size(binary)?, size(&copy)?))
}

/// CPU model and core count, from /proc/cpuinfo.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown CPU");
    let cores = info.lines().filter(|l| l.starts_with("processor")).count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

/// A markdown table: a header row, then rows of cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out += &line(header.iter().map(|_| "---".to_string()).collect());
    for r in rows {
        out += &line(r.clone());
    }
    out
}
