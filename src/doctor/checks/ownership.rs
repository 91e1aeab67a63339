//! `ownership`: every file and directory under `server.data_dir` belongs to the service user.
//! Root-run commands (`migrate`, `cert`, `backup`, `restore`, `init`) hand what they create to
//! `flowsync`; a file left owned by root means `serve` may fail to open its database, keys or
//! certificates. Fix: chown the strays (needs root).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

/// Enough for any real data dir; a bigger tree is reported as such rather than walked forever.
const MAX_ENTRIES: usize = 200_000;

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { repair(ctx).await }.boxed()
}

struct Walk {
    total: usize,
    strays: Vec<(PathBuf, u32)>,
    truncated: bool,
}

fn walk(root: &Path, uid: u32) -> std::io::Result<Walk> {
    let mut w = Walk {
        total: 0,
        strays: Vec::new(),
        truncated: false,
    };
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        w.total += 1;
        if meta.uid() != uid {
            w.strays.push((p.clone(), meta.uid()));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
        if w.total >= MAX_ENTRIES {
            w.truncated = true;
            break;
        }
    }
    Ok(w)
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let root = config.server.data_dir.clone();
    if !root.exists() {
        return Outcome::skip(format!("{} does not exist (see data-dir)", root.display()));
    }
    let uid = ctx.user.uid;
    let w = match tokio::task::spawn_blocking(move || walk(&root, uid)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            return Outcome::fail(
                format!("cannot read the data directory: {e}"),
                "run doctor as root, or fix the permissions (see data-dir)",
            );
        }
        Err(e) => return Outcome::fail(format!("walk failed: {e}"), ""),
    };
    let more = if w.truncated { "+" } else { "" };
    let whose = if ctx.user.system {
        format!("the {} user", ctx.user.name)
    } else {
        format!("{} (no flowsync user on this host)", ctx.user.name)
    };
    match w.strays.first() {
        None => Outcome::ok(format!("{}{more} entries, all owned by {whose}", w.total)),
        Some((path, owner)) => Outcome::fail(
            format!(
                "{} of {}{more} entries are not owned by {whose}, e.g. {} (owner {})",
                w.strays.len(),
                w.total,
                path.display(),
                super::data_dir::owner_name(*owner)
            ),
            format!(
                "`flowsync doctor --fix` as root (chown -R {0}:{0} {1})",
                ctx.user.name,
                config.server.data_dir.display()
            ),
        ),
    }
}

async fn repair(ctx: &Context) -> anyhow::Result<String> {
    let config = ctx.config.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("changing owners needs root");
    }
    let root = config.server.data_dir.clone();
    let (uid, gid) = (ctx.user.uid, ctx.user.gid);
    let n = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let w = walk(&root, uid)?;
        for (p, _) in &w.strays {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
        }
        Ok(w.strays.len())
    })
    .await??;
    Ok(format!("gave {n} entries to {}", ctx.user.name))
}
