//! `flowsync manpages DIR`: one man page for `flowsync` and one per subcommand
//! (`flowsync-serve.1`, `flowsync-rooms-list.1`, …), from the clap definitions.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::{Cli, CmdResult};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync manpages /usr/share/man/man1
  flowsync manpages ./man && man ./man/flowsync-serve.1")]
pub struct Opts {
    /// Directory to write the pages into (created if missing)
    dir: PathBuf,
}

pub fn run(opts: &Opts) -> CmdResult {
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("cannot create {}", opts.dir.display()))?;
    let cmd = Cli::command();
    let written = write_pages(&cmd, "flowsync", &opts.dir)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Writes the page of `cmd` (named `name`) and, recursively, of its subcommands.
fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cmd = cmd
        .clone()
        .name(name.to_owned())
        .display_name(name.to_owned());
    let mut out = Vec::new();
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .context("rendering a man page")?;
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    out.push(path);
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        out.extend(write_pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            dir,
        )?);
    }
    Ok(out)
}
