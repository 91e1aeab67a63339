//! The `flowsync` binary: parse the command line, dispatch, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowsync::cli::Cli::parse();
    flowsync::cli::run(cli)
}
