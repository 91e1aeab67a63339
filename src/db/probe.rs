//! What `doctor` asks the database itself: its product and version, and its clock (to measure
//! how far this host's clock is from the database server's).

use super::Db;

/// "SQLite 3.45.1" or "PostgreSQL 16.4".
pub async fn version(db: &Db) -> anyhow::Result<String> {
    Ok(match db {
        Db::Sqlite { read, .. } => {
            let v: String = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(read)
                .await?;
            format!("SQLite {v}")
        }
        Db::Postgres(pool) => {
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(pool)
                .await?;
            format!("PostgreSQL {v}")
        }
    })
}

/// The database server's clock in unix seconds (PostgreSQL's `clock_timestamp()`); None for
/// SQLite, whose clock is this host's.
pub async fn clock_secs(db: &Db) -> anyhow::Result<Option<f64>> {
    let Db::Postgres(pool) = db else {
        return Ok(None);
    };
    let secs: f64 = sqlx::query_scalar("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
        .fetch_one(pool)
        .await?;
    Ok(Some(secs))
}
