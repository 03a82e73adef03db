use anyhow::{Result, bail};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check]\n\
  codegen          regenerate every derived file from schema/ and openapi.yaml\n\
  codegen --check  fail if a checked-in derived file is stale (writes nothing)";

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
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
