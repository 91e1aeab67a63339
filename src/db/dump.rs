//! A whole database read or written in one transaction, for backups: a consistent snapshot
//! whose tables are dumped as JSON lines ([`super::tables`]), and a restore's load (drop the
//! schema, migrate to the archive's version, batched inserts or PostgreSQL's `COPY`, sequences
//! after). SQL here is built only from the static table and column names of
//! [`super::tables::TABLES`] (hence `AssertSqlSafe`); values are always bound.

use std::io::{BufRead, Write};

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::Row;

use super::tables::{Bound, Kind, TABLES, Table, bound, bounded_lines, parse_row, resolve_columns};

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
