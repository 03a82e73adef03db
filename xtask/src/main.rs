use anyhow::{Result, bail};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check] | compat | release [--major]\n\
  codegen          regenerate every derived file from schema/ and openapi.yaml\n\
  codegen --check  fail if a checked-in derived file is stale (writes nothing)\n\
  compat           compare the current contract with the latest released version; one line\n\
                   per breaking change (BACKWARD: uploads, requests; FORWARD: responses)\n\
  release          freeze the current contract under released/ (a minor release of the\n\
                   latest major version, or the first release)\n\
  release --major  freeze it as a new major version, when breaking changes are intended";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = xtask::workspace_root();
    match args.as_slice() {
        ["codegen"] => {
            let artifacts = xtask::generate(&root)?;
            let written = xtask::write(&root, &artifacts)?;
            for p in &written {
                println!("updated {}", p.display());
            }
            println!(
                "{} of {} generated files changed",
                written.len(),
                artifacts.len()
            );
        }
        ["codegen", "--check"] => {
            let stale = xtask::stale(&root, &xtask::generate(&root)?);
            if !stale.is_empty() {
                for p in &stale {
                    eprintln!("stale: {}", p.display());
                }
                bail!("{}", xtask::stale_message(&stale));
            }
            println!("all generated files are fresh");
        }
        ["compat"] => {
            let v = xtask::compat::check(&root)?;
            for p in &v.problems {
                println!("{p}");
            }
            for b in &v.breaks {
                println!("{b}");
            }
            let Some(n) = v.released else {
                bail!("no released version to compare with");
            };
            if !v.breaks.is_empty() || !v.problems.is_empty() {
                bail!(
                    "{} breaking changes against released version {n}; if they are intended, `cargo xtask release --major` freezes a new major version",
                    v.breaks.len() + v.problems.len()
                );
            }
            if v.unchanged {
                println!("compatible: the sources produce released version {n} exactly");
            } else {
                println!(
                    "compatible with released version {n} (BACKWARD for uploads and requests, FORWARD for responses); the additive changes are not released yet: `cargo xtask release` freezes them"
                );
            }
        }
        ["release"] => println!("{}", xtask::release::release(&root, false)?),
        ["release", "--major"] => println!("{}", xtask::release::release(&root, true)?),
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
