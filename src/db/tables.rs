//! What a backup holds of the database: every FlowSync table, written as JSON lines (one object
//! per row, keyed by column name) from one read transaction, and loaded back with batched
//! inserts. SQL here is built only from the static table and column names below (hence
//! `AssertSqlSafe`); values are always bound. Both backends store only TEXT and BIGINT values, so each column's kind is known here
//! and a row written from SQLite loads into PostgreSQL unchanged (and back).

use std::io::{BufRead, Read, Write};

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::Row;

/// A column's storage kind (nullability is in the data: `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// One table: its columns in load order and the column rows are ordered by.
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

/// Rows per multi-row INSERT: 500 × 19 columns stays far below SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const BATCH_ROWS: usize = 500;

/// An open transaction on either backend (the snapshot for a dump, the load for a restore).
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

macro_rules! with_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl Tx {
    /// One consistent read snapshot of the whole database.
    pub async fn snapshot(db: &crate::db::Db) -> anyhow::Result<Tx> {
        use crate::db::Db;
        Ok(match db {
            Db::Sqlite { read, .. } => {
                Tx::Sqlite(read.begin().await.context("starting the snapshot")?)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.context("starting the snapshot")?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .context("starting the snapshot")?;
                Tx::Postgres(tx)
            }
        })
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    /// Which of a table's known columns this database has (empty: the table does not exist).
    pub async fn columns(&mut self, t: &Table) -> anyhow::Result<Vec<(&'static str, Kind)>> {
        let present: Vec<String> = match self {
            Tx::Sqlite(tx) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                    .bind(t.name)
                    .fetch_all(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                sqlx::query_scalar(
                    "SELECT column_name::TEXT FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(t.name)
                .fetch_all(&mut **tx)
                .await
            }
        }
        .with_context(|| format!("reading the columns of {}", t.name))?;
        Ok(t.columns
            .iter()
            .copied()
            .filter(|(c, _)| present.iter().any(|p| p == c))
            .collect())
    }

    pub async fn count(&mut self, table: &str) -> anyhow::Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = with_tx!(self, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_one(c)
        .await)
        .with_context(|| format!("counting {table}"))?;
        Ok(n.max(0) as u64)
    }

    /// Streams every row of a table as one JSON object per line into `out`.
    pub async fn dump(
        &mut self,
        t: &Table,
        columns: &[(&'static str, Kind)],
        out: &mut impl Write,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<u64> {
        let list: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            list.join(", "),
            t.name,
            t.order_by
        );
        let mut n = 0u64;
        let mut line = Vec::with_capacity(512);
        macro_rules! each_row {
            ($c:expr) => {{
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).fetch($c);
                while let Some(row) = rows
                    .try_next()
                    .await
                    .with_context(|| format!("reading {}", t.name))?
                {
                    let mut obj = Map::with_capacity(columns.len());
                    for (i, (name, kind)) in columns.iter().enumerate() {
                        let v = match kind {
                            Kind::Text => row
                                .try_get::<Option<String>, _>(i)
                                .map(|v| v.map_or(Value::Null, Value::String)),
                            Kind::Int => row
                                .try_get::<Option<i64>, _>(i)
                                .map(|v| v.map_or(Value::Null, |x| Value::Number(x.into()))),
                        }
                        .with_context(|| format!("reading {}.{name}", t.name))?;
                        obj.insert((*name).to_owned(), v);
                    }
                    line.clear();
                    serde_json::to_writer(&mut line, &obj)?;
                    line.push(b'\n');
                    out.write_all(&line)
                        .with_context(|| format!("writing {}", t.name))?;
                    n += 1;
                    if n % 4096 == 0 {
                        progress(n);
                    }
                }
            }};
        }
        match self {
            Tx::Sqlite(tx) => each_row!(&mut **tx),
            Tx::Postgres(tx) => each_row!(&mut **tx),
        }
        progress(n);
        Ok(n)
    }

    /// Deletes every row of every FlowSync table (children first).
    /// A write transaction on `db`, for a restore that changes everything or nothing.
    pub async fn write(db: &crate::db::Db) -> anyhow::Result<Tx> {
        use crate::db::Db;
        Ok(match db {
            Db::Sqlite { write, .. } => {
                Tx::Sqlite(write.begin().await.context("starting the restore")?)
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await.context("starting the restore")?),
        })
    }

    /// Drops FlowSync's tables and its migration history (inside this transaction: both
    /// backends change their schema transactionally, so a failed restore leaves them as they
    /// were).
    pub async fn drop_schema(&mut self) -> anyhow::Result<()> {
        let mut names: Vec<&str> = TABLES.iter().rev().map(|t| t.name).collect();
        names.push("_sqlx_migrations");
        for n in names {
            let sql = sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {n}"));
            match self {
                Tx::Sqlite(tx) => sqlx::query(sql).execute(&mut **tx).await.map(|_| ()),
                Tx::Postgres(tx) => sqlx::query(sql).execute(&mut **tx).await.map(|_| ()),
            }
            .with_context(|| format!("dropping {n}"))?;
        }
        Ok(())
    }

    /// Applies this binary's migrations up to `version` (all of them with `None`) inside this
    /// transaction.
    pub async fn migrate(&mut self, version: Option<i64>) -> anyhow::Result<()> {
        use crate::db::migrate::{POSTGRES, SQLITE};
        match self {
            Tx::Sqlite(tx) => SQLITE.run_direct(version, &mut **tx, false).await,
            Tx::Postgres(tx) => POSTGRES.run_direct(version, &mut **tx, false).await,
        }
        .with_context(|| match version {
            Some(v) => format!("building the schema at version {v}"),
            None => "migrating the restored data forward".to_owned(),
        })
    }

    pub async fn clear(&mut self) -> anyhow::Result<()> {
        for t in TABLES.iter().rev() {
            if self.columns(t).await?.is_empty() {
                continue;
            }
            let sql = format!("DELETE FROM {}", t.name);
            with_tx!(self, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(c)
                .await
                .map(|_| ()))
            .with_context(|| format!("emptying {}", t.name))?;
        }
        Ok(())
    }

    /// Loads JSON lines into a table with the given columns (those the archive recorded).
    pub async fn load(
        &mut self,
        t: &Table,
        columns: &[String],
        input: impl BufRead,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<u64> {
        let cols = resolve_columns(t, columns)?;
        if let Tx::Postgres(tx) = self {
            return copy_in(tx, t, &cols, input, progress).await;
        }
        let mut batch: Vec<Map<String, Value>> = Vec::with_capacity(BATCH_ROWS);
        let mut n = 0u64;
        for (lineno, line) in bounded_lines(input).enumerate() {
            let line = line.with_context(|| format!("reading {} from the archive", t.name))?;
            if line.is_empty() {
                continue;
            }
            batch.push(parse_row(t, lineno, &line)?);
            if batch.len() == BATCH_ROWS {
                self.insert(t, &cols, &batch).await?;
                n += batch.len() as u64;
                batch.clear();
                progress(n);
            }
        }
        if !batch.is_empty() {
            self.insert(t, &cols, &batch).await?;
            n += batch.len() as u64;
        }
        progress(n);
        Ok(n)
    }

    async fn insert(
        &mut self,
        t: &Table,
        cols: &[(&str, Kind)],
        rows: &[Map<String, Value>],
    ) -> anyhow::Result<()> {
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            t.name,
            cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
        );
        let mut p = 1;
        for (i, _) in rows.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..cols.len() {
                if j > 0 {
                    sql.push_str(", ");
                }
                // Positional `?` on SQLite: with `$N` every bind looks the name up among all
                // of the statement's parameters (quadratic in a 3,500-parameter batch).
                if matches!(self, Tx::Sqlite(_)) {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${p}"));
                }
                p += 1;
            }
            sql.push(')');
        }
        // Values are checked against the column kinds before anything is bound.
        let mut values: Vec<Bound> = Vec::with_capacity(rows.len() * cols.len());
        for row in rows {
            for (c, kind) in cols {
                values.push(bound(t, c, *kind, row)?);
            }
        }
        macro_rules! run {
            ($c:expr) => {{
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in values {
                    q = match v {
                        Bound::Text(s) => q.bind(s),
                        Bound::Int(i) => q.bind(i),
                        Bound::Null(Kind::Text) => q.bind(None::<String>),
                        Bound::Null(Kind::Int) => q.bind(None::<i64>),
                    };
                }
                q.execute($c).await.map(|_| ())
            }};
        }
        match self {
            Tx::Sqlite(tx) => run!(&mut **tx),
            Tx::Postgres(tx) => run!(&mut **tx),
        }
        .with_context(|| format!("inserting into {}", t.name))?;
        Ok(())
    }

    /// After loading explicit ids, PostgreSQL's identity sequences must continue above them.
    pub async fn fix_sequences(&mut self) -> anyhow::Result<()> {
        if let Tx::Postgres(tx) = self {
            for t in TABLES {
                if let Some(col) = t.identity {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), \
                         COALESCE((SELECT MAX({1}) FROM {0}), 0) + 1, false)",
                        t.name, col
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut **tx)
                        .await
                        .with_context(|| format!("resetting the id sequence of {}", t.name))?;
                }
            }
        }
        Ok(())
    }
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

enum Bound {
    Text(String),
    Int(i64),
    Null(Kind),
}

/// The archive's column list for a table, each with its kind; unknown columns are an error.
fn resolve_columns<'a>(t: &'a Table, columns: &[String]) -> anyhow::Result<Vec<(&'a str, Kind)>> {
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

fn parse_row(t: &Table, lineno: usize, line: &str) -> anyhow::Result<Map<String, Value>> {
    serde_json::from_str(line)
        .with_context(|| format!("{} line {}: not a JSON object", t.name, lineno + 1))
}

/// A row's value for a column, checked against the column's kind.
fn bound(t: &Table, c: &str, kind: Kind, row: &Map<String, Value>) -> anyhow::Result<Bound> {
    let v = row.get(c).unwrap_or(&Value::Null);
    Ok(match (kind, v) {
        (_, Value::Null) => Bound::Null(kind),
        (Kind::Text, Value::String(s)) => Bound::Text(s.clone()),
        (Kind::Int, Value::Number(x)) if x.is_i64() => Bound::Int(x.as_i64().unwrap_or_default()),
        _ => anyhow::bail!("{}.{c}: unexpected value {v} in the archive", t.name),
    })
}

/// PostgreSQL loads through `COPY … FROM STDIN (FORMAT csv)`: an unquoted empty field is
/// NULL, text is always quoted (so an empty string stays one), integers are bare.
async fn copy_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    t: &Table,
    cols: &[(&str, Kind)],
    input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<u64> {
    let list: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT csv)",
        t.name,
        list.join(", ")
    );
    let mut copy = tx
        .copy_in_raw(&sql)
        .await
        .with_context(|| format!("starting to load {}", t.name))?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut n = 0u64;
    let result: anyhow::Result<()> = async {
        for (lineno, line) in bounded_lines(input).enumerate() {
            let line = line.with_context(|| format!("reading {} from the archive", t.name))?;
            if line.is_empty() {
                continue;
            }
            let row = parse_row(t, lineno, &line)?;
            for (i, (c, kind)) in cols.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                match bound(t, c, *kind, &row)? {
                    Bound::Null(_) => {}
                    Bound::Int(x) => buf.extend_from_slice(x.to_string().as_bytes()),
                    Bound::Text(s) => {
                        if s.contains('\0') {
                            anyhow::bail!(
                                "{}.{c}: text with a NUL character cannot go into PostgreSQL",
                                t.name
                            );
                        }
                        buf.push(b'"');
                        buf.extend_from_slice(s.replace('"', "\"\"").as_bytes());
                        buf.push(b'"');
                    }
                }
            }
            buf.push(b'\n');
            n += 1;
            if buf.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut buf))
                    .await
                    .with_context(|| format!("loading {}", t.name))?;
                buf.reserve(1 << 20);
                progress(n);
            }
        }
        if !buf.is_empty() {
            copy.send(std::mem::take(&mut buf))
                .await
                .with_context(|| format!("loading {}", t.name))?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = copy.abort(format!("{e:#}")).await;
        return Err(e);
    }
    copy.finish()
        .await
        .with_context(|| format!("loading {}", t.name))?;
    progress(n);
    Ok(n)
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
                    assert!(
                        table(name).is_some(),
                        "{name} is not in backup::tables::TABLES"
                    );
                }
                for word in sql.split("ADD COLUMN ").skip(1) {
                    let col = word.split_whitespace().next().unwrap();
                    assert!(
                        TABLES
                            .iter()
                            .any(|t| t.columns.iter().any(|(c, _)| *c == col)),
                        "column {col} is not in backup::tables::TABLES"
                    );
                }
            }
        }
    }
}
