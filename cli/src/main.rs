//! `eventpulse`: the command-line entry point.

mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "eventpulse", version, about = "Schema-driven ingestion of JSON events", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate upload objects offline against the published schema.
    ///
    /// Exit status: 0 when every file is valid, 1 when any is not (every error is printed on
    /// stderr as FILE:POINTER: [KEYWORD] MESSAGE), 2 when a file cannot be read.
    Validate(validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
    }
}
