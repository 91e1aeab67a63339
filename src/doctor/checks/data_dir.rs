//! `data-dir`: `server.data_dir` exists, is a directory the service user can enter, read and
//! write (judged from its mode bits, as that user would be, even when doctor runs as root), and
//! is not open to other users. Fix: create it, give it to the service user, mode 0750.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome, ServiceUser};

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx) }.boxed()
}

pub fn fix(ctx: &Context) -> BoxFuture<'_, anyhow::Result<String>> {
    async move { repair(ctx) }.boxed()
}

/// Whether `user` gets all of `want` (rwx bits, 0o7) on a file with this metadata.
pub fn user_may(meta: &std::fs::Metadata, user: &ServiceUser, want: u32) -> bool {
    let mode = meta.mode();
    let bits = if meta.uid() == user.uid {
        (mode >> 6) & 7
    } else if meta.gid() == user.gid || in_group(user, meta.gid()) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

fn in_group(user: &ServiceUser, gid: u32) -> bool {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .is_some_and(|g| g.mem.contains(&user.name))
}

fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let dir = &config.server.data_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::fail(
                format!("{} does not exist", dir.display()),
                "`flowsync doctor --fix` creates it (or run `flowsync init`)",
            );
        }
        Err(e) => {
            return Outcome::fail(
                format!("{}: {e}", dir.display()),
                "check the path and its parents",
            );
        }
    };
    if !meta.is_dir() {
        return Outcome::fail(
            format!("{} is not a directory", dir.display()),
            "point server.data_dir at a directory",
        );
    }
    let mode = meta.mode() & 0o7777;
    if !user_may(&meta, &ctx.user, 0o7) {
        return Outcome::fail(
            format!(
                "{} (mode {mode:04o}, owner uid {}) is not usable by {} (uid {})",
                dir.display(),
                meta.uid(),
                ctx.user.name,
                ctx.user.uid
            ),
            format!(
                "`flowsync doctor --fix` (chown {} and chmod 750 {})",
                ctx.user.name,
                dir.display()
            ),
        );
    }
    if mode & 0o007 != 0 {
        return Outcome::warn(
            format!("{} is open to every user (mode {mode:04o})", dir.display()),
            format!("chmod 750 {} (`flowsync doctor --fix`)", dir.display()),
        );
    }
    Outcome::ok(format!(
        "{} (mode {mode:04o}) belongs to {}",
        dir.display(),
        owner_name(meta.uid())
    ))
}

pub fn owner_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn repair(ctx: &Context) -> anyhow::Result<String> {
    let config = ctx.config.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = &config.server.data_dir;
    std::fs::create_dir_all(dir)?;
    let meta = std::fs::metadata(dir)?;
    let mode = (meta.mode() & 0o7777 & !0o007) | 0o750;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    if nix::unistd::geteuid().is_root() {
        nix::unistd::chown(
            dir,
            Some(nix::unistd::Uid::from_raw(ctx.user.uid)),
            Some(nix::unistd::Gid::from_raw(ctx.user.gid)),
        )?;
    }
    Ok(format!(
        "{} exists, mode {mode:04o}, owned by {}",
        dir.display(),
        ctx.user.name
    ))
}
