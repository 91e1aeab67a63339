//! Which archives to keep: the newest `keep`, plus (optionally) the newest archive of each of
//! the last `keep_daily` days and `keep_weekly` ISO weeks that have one. Only files named like
//! FlowSync archives are ever considered; pruning runs after a new archive is complete.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub keep: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
}

const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// `20261126T101500Z`, the timestamp in archive names (UTC, sorts by time).
pub fn format_stamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(STAMP)
        .unwrap_or_else(|_| "00000000T000000Z".into())
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The creation time in an archive's name, or None when it is not an archive name:
/// `flowsync-<version>-<stamp>[-<n>].tar.gz[.age]`.
pub fn parse_name(name: &str) -> Option<OffsetDateTime> {
    let rest = name.strip_prefix("flowsync-")?;
    let rest = rest
        .strip_suffix(".tar.gz.age")
        .or_else(|| rest.strip_suffix(".tar.gz"))?;
    rest.split('-').find_map(|part| {
        time::PrimitiveDateTime::parse(part, STAMP)
            .ok()
            .map(|p| p.assume_utc())
    })
}

/// Archives in `dir` with their times (unsorted).
pub fn archives(dir: &Path) -> anyhow::Result<Vec<(String, OffsetDateTime)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(t) = parse_name(&name) {
            out.push((name, t));
        }
    }
    Ok(out)
}

/// The names to keep under `policy` (pure; `archives` in any order).
pub fn keep_set(archives: &[(String, OffsetDateTime)], policy: &Policy) -> BTreeSet<String> {
    let mut sorted: Vec<&(String, OffsetDateTime)> = archives.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut keep: BTreeSet<String> = sorted
        .iter()
        .take(policy.keep as usize)
        .map(|(n, _)| n.clone())
        .collect();
    let mut bucketed = |limit: u32, bucket: &dyn Fn(OffsetDateTime) -> (i32, u16)| {
        let mut seen = BTreeSet::new();
        for (name, t) in &sorted {
            if seen.len() >= limit as usize {
                break;
            }
            if seen.insert(bucket(*t)) {
                keep.insert(name.clone());
            }
        }
    };
    bucketed(policy.keep_daily, &|t| (t.year(), t.ordinal()));
    bucketed(policy.keep_weekly, &|t| {
        let (y, w, _) = t.to_iso_week_date();
        (y, u16::from(w))
    });
    keep
}

/// Deletes archives in `dir` that the policy does not keep; returns what was deleted.
pub fn prune(dir: &Path, policy: &Policy, _now: OffsetDateTime) -> anyhow::Result<Vec<PathBuf>> {
    let all = archives(dir)?;
    let keep = keep_set(&all, policy);
    let mut removed = Vec::new();
    for (name, _) in all {
        if keep.contains(&name) {
            continue;
        }
        let p = dir.join(&name);
        fs::remove_file(&p).with_context(|| format!("removing the old archive {}", p.display()))?;
        removed.push(p);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn named(ts: &[OffsetDateTime]) -> Vec<(String, OffsetDateTime)> {
        ts.iter()
            .map(|t| (format!("flowsync-0.1.0-{}.tar.gz", format_stamp(*t)), *t))
            .collect()
    }

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let t = datetime!(2026-11-26 10:15:00 UTC);
        let name = format!("flowsync-1.2.3-rc1-{}.tar.gz.age", format_stamp(t));
        assert_eq!(parse_name(&name), Some(t));
        assert_eq!(
            parse_name(&format!("flowsync-0.1.0-{}-2.tar.gz", format_stamp(t))),
            Some(t)
        );
        for other in [
            "notes.txt",
            "flowsync-0.1.0.tar.gz",
            "flowsync-0.1.0-yesterday.tar.gz",
            ".flowsync-0.1.0-20261126T101500Z.tar.gz.partial",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn keeps_the_newest_n() {
        let base = datetime!(2026-11-01 03:00:00 UTC);
        let ts: Vec<_> = (0..6).map(|i| base + time::Duration::hours(i)).collect();
        let all = named(&ts);
        let keep = keep_set(
            &all,
            &Policy {
                keep: 2,
                keep_daily: 0,
                keep_weekly: 0,
            },
        );
        assert_eq!(keep.len(), 2);
        assert!(keep.contains(&all[5].0) && keep.contains(&all[4].0));
    }

    #[test]
    fn daily_and_weekly_keep_one_per_bucket() {
        // Four a day for 21 days.
        let base = datetime!(2026-11-01 00:30:00 UTC);
        let ts: Vec<_> = (0..84)
            .map(|i| base + time::Duration::hours(6 * i))
            .collect();
        let all = named(&ts);
        let keep = keep_set(
            &all,
            &Policy {
                keep: 1,
                keep_daily: 3,
                keep_weekly: 3,
            },
        );
        let kept: Vec<OffsetDateTime> = all
            .iter()
            .filter(|(n, _)| keep.contains(n))
            .map(|(_, t)| *t)
            .collect();
        // Newest overall, newest of the 3 newest days (the first is the same file), newest of the
        // 3 newest ISO weeks (the first is again the same file).
        let days: BTreeSet<_> = kept.iter().map(|t| t.ordinal()).collect();
        assert!(days.len() >= 3);
        assert_eq!(kept.len(), 1 + 2 + 2, "{kept:?}");
        let newest = ts.last().copied().unwrap();
        assert!(kept.contains(&newest));
    }
}
