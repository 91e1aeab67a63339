//! The certificate store shared by every instance (PostgreSQL only, table `tls_store`): the ACME
//! account, key and certificate, and pending challenge answers, so whichever instance the CA
//! reaches can answer; plus the advisory lock that lets one instance issue at a time. With
//! SQLite there is one instance and the files under `<data_dir>/tls` are the whole store.

use anyhow::Context;
use sqlx::PgPool;
use sqlx::pool::PoolConnection;

use super::{Db, now_ms};

/// Advisory-lock key for certificate issuance ("FSACME" in ASCII).
const ADVISORY_KEY: i64 = 0x4653_4143_4d45;

#[derive(Clone, Debug)]
pub struct CertStore {
    pool: PgPool,
}

/// The cluster-wide issuance lock, held on one connection until [`IssuanceLock::release`].
pub struct IssuanceLock {
    conn: PoolConnection<sqlx::Postgres>,
}

impl CertStore {
    /// The store of a shared (PostgreSQL) database; None for SQLite.
    pub fn of(db: &Db) -> Option<CertStore> {
        match db {
            Db::Postgres(pool) => Some(CertStore { pool: pool.clone() }),
            Db::Sqlite { .. } => None,
        }
    }

    pub async fn put(&self, name: &str, value: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO tls_store (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .with_context(|| format!("storing {name} in the database"))?;
        Ok(())
    }

    pub async fn get(&self, name: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM tls_store WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("reading {name} from the database"))
    }

    /// Best effort: a challenge answer left behind expires with its order anyway.
    pub async fn delete(&self, name: &str) {
        let _ = sqlx::query("DELETE FROM tls_store WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await;
    }

    /// The pending challenge answers (`challenge/<kind>/<token>`, value).
    pub async fn challenges(&self) -> anyhow::Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT name, value FROM tls_store WHERE name LIKE 'challenge/%'")
            .fetch_all(&self.pool)
            .await
            .context("reading challenge answers from the database")
    }

    /// Takes the issuance lock (a session advisory lock on one connection); None when another
    /// instance holds it.
    pub async fn try_lock_issuance(&self) -> anyhow::Result<Option<IssuanceLock>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("locking certificate issuance in the database")?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(ADVISORY_KEY)
            .fetch_one(&mut *conn)
            .await
            .context("locking certificate issuance in the database")?;
        Ok(got.then_some(IssuanceLock { conn }))
    }
}

impl IssuanceLock {
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(ADVISORY_KEY)
            .execute(&mut *self.conn)
            .await;
    }
}
