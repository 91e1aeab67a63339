//! Every FlowSync table as a backup holds it: its columns and their kinds (the declarative
//! [`TABLES`]), and a row's form in an archive, one JSON object per line keyed by column name,
//! checked here without a database. Both backends store only TEXT and BIGINT values, so each
//! column's kind is known here and a row written from SQLite loads into PostgreSQL unchanged
//! (and back). Reading and writing the rows is [`super::dump`].

use std::io::{BufRead, Read};

use anyhow::Context;
use serde_json::{Map, Value};

/// A column's storage kind (nullability is in the data: `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// One table: its columns in load order and the columns its rows are ordered by.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub order_by: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Holds generated secrets: only in archives made with `--include-secrets`.
    pub secret: bool,
    /// An identity column whose sequence must follow restored ids (PostgreSQL).
    pub identity: Option<&'static str>,
}

use Kind::{Int, Text};

/// Every table, parents before children (the load order; deletes go in reverse). Columns that
/// later migrations add are listed too; a database at an older schema simply lacks them.
pub const TABLES: &[Table] = &[
    Table {
        name: "rooms",
        order_by: "id",
        columns: &[
            ("id", Text),
            ("code", Text),
            ("name", Text),
            ("password_hash", Text),
            ("max_participants", Int),
            ("timer_settings", Text),
            ("status", Text),
            ("created_at", Int),
            ("last_activity_at", Int),
            ("expires_at", Int),
            ("closed_at", Int),
            ("tombstone_until", Int),
            ("timer_state", Text),
            ("timer_ends_at", Int),
            ("timer_version", Int),
            ("standing", Int),
            ("slug", Text),
            ("host_link_generation", Int),
            ("retention_days", Int),
        ],
        secret: false,
        identity: None,
    },
    Table {
        name: "participants",
        order_by: "id",
        columns: &[
            ("id", Text),
            ("room_id", Text),
            ("display_name", Text),
            ("role", Text),
            ("device_id", Text),
            ("token_hash", Text),
            ("created_at", Int),
            ("last_seen_at", Int),
            ("connections", Int),
            ("left_at", Int),
            ("revoked_at", Int),
            ("revoked_reason", Text),
        ],
        secret: false,
        identity: None,
    },
    Table {
        name: "room_messages",
        order_by: "id",
        columns: &[
            ("id", Int),
            ("room_id", Text),
            ("participant_id", Text),
            ("sender_name", Text),
            ("type", Text),
            ("body", Text),
            ("created_at", Int),
            ("client_id", Text),
        ],
        secret: false,
        identity: Some("id"),
    },
    Table {
        name: "room_sessions",
        order_by: "id",
        columns: &[
            ("id", Int),
            ("room_id", Text),
            ("participant_id", Text),
            ("joined_at", Int),
            ("left_at", Int),
        ],
        secret: false,
        identity: Some("id"),
    },
    Table {
        name: "goals",
        order_by: "room_id, block, participant_id",
        columns: &[
            ("room_id", Text),
            ("block", Int),
            ("participant_id", Text),
            ("display_name", Text),
            ("body", Text),
            ("set_at", Int),
            ("ended_at", Int),
            ("outcome", Text),
            ("note", Text),
            ("checked_in_at", Int),
        ],
        secret: false,
        identity: None,
    },
    Table {
        name: "work_blocks",
        order_by: "room_id, block",
        columns: &[
            ("room_id", Text),
            ("block", Int),
            ("ended_at", Int),
            ("completed", Int),
            ("people", Text),
        ],
        secret: false,
        identity: None,
    },
    Table {
        name: "tls_store",
        order_by: "name",
        columns: &[("name", Text), ("value", Text), ("updated_at", Int)],
        secret: true,
        identity: None,
    },
    Table {
        name: "server_secrets",
        order_by: "name",
        columns: &[("name", Text), ("value", Text), ("created_at", Int)],
        secret: true,
        identity: None,
    },
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Longest row an archive may hold (a real one is at most a few KiB: a chat line of 2,000
/// characters, a certificate chain). A longer line is refused before it is held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// The lines of `input`, each read only up to [`MAX_LINE`] bytes.
pub fn bounded_lines<R: BufRead>(mut input: R) -> impl Iterator<Item = std::io::Result<String>> {
    let mut n = 0usize;
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        n += 1;
        match (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => None,
            Ok(_) if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') => {
                Some(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {n} is longer than {} KiB; not a FlowSync row",
                        MAX_LINE / 1024
                    ),
                )))
            }
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                Some(String::from_utf8(buf).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("line {n} is not UTF-8"),
                    )
                }))
            }
            Err(e) => Some(Err(e)),
        }
    })
}

pub(super) enum Bound {
    Text(String),
    Int(i64),
    Null(Kind),
}

/// The archive's column list for a table, each with its kind; unknown columns are an error.
pub(super) fn resolve_columns<'a>(
    t: &'a Table,
    columns: &[String],
) -> anyhow::Result<Vec<(&'a str, Kind)>> {
    columns
        .iter()
        .map(|c| {
            t.columns
                .iter()
                .find(|(n, _)| n == c)
                .map(|(n, k)| (*n, *k))
                .with_context(|| {
                    format!(
                        "the archive has a column {}.{c} this flowsync does not know",
                        t.name
                    )
                })
        })
        .collect()
}

/// Checks every row of a table's JSON lines against the column kinds without a database, so a
/// restore finds bad data before it drops anything. `postgres` also refuses NUL characters,
/// which PostgreSQL text cannot hold.
pub fn check_rows(
    t: &Table,
    columns: &[String],
    input: impl BufRead,
    postgres: bool,
) -> anyhow::Result<u64> {
    let cols = resolve_columns(t, columns)?;
    let mut n = 0u64;
    for (lineno, line) in bounded_lines(input).enumerate() {
        let line = line.with_context(|| format!("reading {} from the archive", t.name))?;
        if line.is_empty() {
            continue;
        }
        let row = parse_row(t, lineno, &line)?;
        for (c, kind) in &cols {
            if let Bound::Text(s) = bound(t, c, *kind, &row)?
                && postgres
                && s.contains('\0')
            {
                anyhow::bail!(
                    "{} line {}: {c} holds a NUL character, which PostgreSQL cannot store",
                    t.name,
                    lineno + 1
                );
            }
        }
        n += 1;
    }
    Ok(n)
}

pub(super) fn parse_row(
    t: &Table,
    lineno: usize,
    line: &str,
) -> anyhow::Result<Map<String, Value>> {
    serde_json::from_str(line)
        .with_context(|| format!("{} line {}: not a JSON object", t.name, lineno + 1))
}

/// A row's value for a column, checked against the column's kind.
pub(super) fn bound(
    t: &Table,
    c: &str,
    kind: Kind,
    row: &Map<String, Value>,
) -> anyhow::Result<Bound> {
    let v = row.get(c).unwrap_or(&Value::Null);
    Ok(match (kind, v) {
        (_, Value::Null) => Bound::Null(kind),
        (Kind::Text, Value::String(s)) => Bound::Text(s.clone()),
        (Kind::Int, Value::Number(x)) if x.is_i64() => Bound::Int(x.as_i64().unwrap_or_default()),
        _ => anyhow::bail!("{}.{c}: unexpected value {v} in the archive", t.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table list must cover every table the migrations create (a new table that is not
    /// listed here would silently be missing from backups).
    #[test]
    fn every_migrated_table_is_backed_up() {
        for dir in ["migrations/sqlite", "migrations/postgres"] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for word in sql.split("CREATE TABLE ").skip(1) {
                    let name = word.split_whitespace().next().unwrap();
                    assert!(table(name).is_some(), "{name} is not in db::tables::TABLES");
                }
                for word in sql.split("ADD COLUMN ").skip(1) {
                    let col = word.split_whitespace().next().unwrap();
                    assert!(
                        TABLES
                            .iter()
                            .any(|t| t.columns.iter().any(|(c, _)| *c == col)),
                        "column {col} is not in db::tables::TABLES"
                    );
                }
            }
        }
    }
}
