//! `flowsync completions <shell>`: shell completion scripts, generated from the same clap
//! definitions as `--help`, so they never disagree with the binary.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CmdResult};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync completions bash > /etc/bash_completion.d/flowsync
  flowsync completions zsh > \"${fpath[1]}/_flowsync\"
  flowsync completions fish > ~/.config/fish/completions/flowsync.fish")]
pub struct Opts {
    /// bash, zsh, fish, elvish or powershell
    shell: Shell,
}

pub fn run(opts: &Opts) -> CmdResult {
    let mut cmd = Cli::command();
    clap_complete::generate(opts.shell, &mut cmd, "flowsync", &mut std::io::stdout());
    Ok(())
}
