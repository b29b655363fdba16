//! `transflow`: build and publish templates, run assemblies, serve the embedded stack, and
//! deploy, serve and work an AWS deployment.

mod cli;
mod commands;
mod progress;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::execute(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, filtered by `TRANSFLOW_LOG`, else `RUST_LOG`, else warnings and errors only
/// (`EnvFilter` syntax, e.g. `info` or `transflow_service=debug`). On a terminal they are coloured
/// text for people; anywhere else (a file, a pipe, a log collector) one JSON object per line,
/// without colour codes.
fn init_logging() {
    let filter = ["TRANSFLOW_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|variable| EnvFilter::try_from_env(variable).ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        logs.init();
    } else {
        logs.json().with_ansi(false).init();
    }
}
