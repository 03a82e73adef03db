//! `cargo xtask release`: freezes the current contract under `released/`.
//!
//! - Nothing released yet: freezes the current version (its major from `info.version`).
//! - Compatible changes since the latest release (`cargo xtask compat` passes): a minor
//!   release. `info.version` goes to the next minor and the latest major's files are frozen
//!   again; since every change passed the gate, they only widen what they accepted.
//! - Breaking changes: refused, unless `--major`. Then `info.version` becomes `{N+1}.0.0`, the
//!   schema `$id`s move from `/v{N}/` to `/v{N+1}/`, and version `N+1` is frozen next to `N`,
//!   which stays published (`GET /v1/schemas/event/{N}`).
//!
//! Every case regenerates (`cargo xtask codegen`) before and after freezing, so the frozen
//! files are exactly what the sources produce and `generated/` lists every released schema.

use crate::compat::{self, RELEASED_DIR};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// `info.version` of the openapi.yaml source text set to `version`.
pub fn set_info_version(source: &str, version: &str) -> Result<String> {
    let info = source
        .find("\ninfo:\n")
        .context("openapi.yaml has no top-level `info:`")?;
    let key = "\n  version: ";
    let at = source[info..]
        .find(key)
        .map(|i| i + info + key.len())
        .context("openapi.yaml has no `info.version`")?;
    let end = source[at..]
        .find('\n')
        .map(|i| i + at)
        .unwrap_or(source.len());
    Ok(format!("{}{version}{}", &source[..at], &source[end..]))
}

fn bump_schema_ids(dir: &Path, from: u64, to: u64) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            bump_schema_ids(&path, from, to)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            let bumped = text.replace(&format!("/schemas/v{from}/"), &format!("/schemas/v{to}/"));
            if bumped != text {
                std::fs::write(&path, bumped)?;
            }
        }
    }
    Ok(())
}

fn regenerate(root: &Path) -> Result<()> {
    let artifacts = crate::generate(root)?;
    crate::write(root, &artifacts)?;
    Ok(())
}

fn freeze(root: &Path, major: u64) -> Result<()> {
    let c = crate::contract(root)?;
    let dir = root.join(RELEASED_DIR);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(compat::bundle_file(major)), &c.bundle_text)?;
    std::fs::write(dir.join(compat::openapi_file(major)), &c.spec_text)?;
    regenerate(root)
}

fn set_version(root: &Path, version: &str) -> Result<()> {
    let path = root.join("openapi.yaml");
    let source = std::fs::read_to_string(&path).context("reading openapi.yaml")?;
    std::fs::write(&path, set_info_version(&source, version)?)?;
    Ok(())
}

/// Runs the release; returns what it did.
pub fn release(root: &Path, major: bool) -> Result<String> {
    regenerate(root)?;
    let verdict = compat::check(root)?;
    let Some(latest) = verdict.released else {
        let c = crate::contract(root)?;
        let n = compat::major_of(&c.spec)?;
        freeze(root, n)?;
        return Ok(format!(
            "released version {n} (the first) under {RELEASED_DIR}/"
        ));
    };
    if let Some(p) = verdict.problems.first() {
        bail!("{p}");
    }
    if major {
        let next = latest + 1;
        set_version(root, &format!("{next}.0.0"))?;
        bump_schema_ids(&root.join("schema"), latest, next)?;
        regenerate(root)?;
        freeze(root, next)?;
        let n = verdict.breaks.len();
        return Ok(format!(
            "released major version {next} ({n} breaking changes against {latest}); version {latest} stays published"
        ));
    }
    if !verdict.breaks.is_empty() {
        let lines: Vec<String> = verdict.breaks.iter().map(|b| b.to_string()).collect();
        bail!(
            "{}\n{} breaking changes against released version {latest}: if they are intended, run `cargo xtask release --major`",
            lines.join("\n"),
            lines.len()
        );
    }
    if verdict.unchanged {
        bail!("nothing to release: the sources produce released version {latest} exactly");
    }
    let c = crate::contract(root)?;
    let current = c
        .spec
        .pointer("/info/version")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let minor: u64 = current
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let version = format!("{latest}.{}.0", minor + 1);
    set_version(root, &version)?;
    regenerate(root)?;
    freeze(root, latest)?;
    Ok(format!(
        "released {version}: compatible changes, frozen again as version {latest}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_only_the_info_version() {
        let src =
            "openapi: 3.0.3\ninfo:\n  title: T\n  version: 1.0.0\n  x: y\npaths:\n  version: 9\n";
        let out = set_info_version(src, "2.0.0").unwrap();
        assert_eq!(
            out,
            "openapi: 3.0.3\ninfo:\n  title: T\n  version: 2.0.0\n  x: y\npaths:\n  version: 9\n"
        );
    }
}
