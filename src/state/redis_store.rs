//! Redis state shared by every instance. One key prefix (`redis.key_prefix`), a TTL on every
//! key, atomic commands or scripts where two instances could race.

use std::time::Duration;

use anyhow::Context;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{RateDecision, gcra_params, wait_secs};
use crate::clock::ms;
use crate::config::{Rate, redact_url};
use crate::db::models::AuthRow;

#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
    /// Rate limits while Redis does not answer: counted in this process, so a limit holds per
    /// instance instead of across them until Redis is back, rather than refusing everything.
    fallback: super::MemoryState,
}

/// `super::gcra` in one atomic step shared by every instance: KEYS[1] holds the theoretical
/// arrival time; ARGV: now, emission interval, burst tolerance (µs), charge (1/0). Returns how
/// many µs to wait (0: allowed). The key lives until the bucket is full again. Lua numbers are
/// doubles, exact for µs since the epoch; they are written back with `%.0f`, since Lua's own
/// number formatting would round them.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local wait = tat - now - tonumber(ARGV[3])
if wait > 0 then return string.format('%.0f', wait) end
if ARGV[4] == '1' then
  tat = tat + tonumber(ARGV[2])
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return 0
";

/// Deletes a lock only if this owner still holds it.
const UNLOCK: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl RedisState {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisState> {
        let fail = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "cannot connect to Redis at {}: {e}; check redis.url and that Redis is running, or unset redis.url for in-process state",
                redact_url(url)
            )
        };
        let client = redis::Client::open(url).map_err(|e| fail(&e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|e| fail(&e))?
        .map_err(|e| fail(&e))?;
        Ok(RedisState {
            conn,
            prefix: prefix.to_owned(),
            fallback: super::MemoryState::default(),
        })
    }

    pub fn purge_fallback(&self) {
        self.fallback.purge_expired();
    }

    /// The shared connection, for other Redis-backed stores (presence).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }

    /// [`Self::shared_rate`], or this process's own count while Redis does not answer.
    pub async fn rate(&self, key: &str, rate: Rate, charge: bool) -> anyhow::Result<RateDecision> {
        match self.shared_rate(key, rate, charge).await {
            Ok(d) => Ok(d),
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "rate limit counted in this process while Redis is unavailable");
                self.fallback.rate(key, rate, charge).await
            }
        }
    }

    async fn shared_rate(
        &self,
        key: &str,
        rate: Rate,
        charge: bool,
    ) -> anyhow::Result<RateDecision> {
        let (interval, tolerance) = gcra_params(rate);
        let mut conn = self.conn.clone();
        let wait_us: i64 = redis::Script::new(GCRA)
            .key(self.key(&["rl", key]))
            .arg(super::now_us())
            .arg(interval)
            .arg(tolerance)
            .arg(i64::from(charge))
            .invoke_async(&mut conn)
            .await
            .context("redis rate limit")?;
        Ok(if wait_us > 0 {
            RateDecision::Limited {
                retry_after_secs: wait_secs(wait_us),
            }
        } else {
            RateDecision::Allowed
        })
    }

    pub async fn auth_get(&self, token_hash: &str) -> anyhow::Result<Option<AuthRow>> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = conn
            .get(self.key(&["auth", token_hash]))
            .await
            .context("redis token cache")?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    pub async fn auth_put(
        &self,
        token_hash: &str,
        row: &AuthRow,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let () = conn
            .pset_ex(
                self.key(&["auth", token_hash]),
                serde_json::to_string(row)?,
                ms(ttl).max(1) as u64,
            )
            .await
            .context("redis token cache")?;
        Ok(())
    }

    pub async fn auth_invalidate(&self, token_hashes: &[String]) -> anyhow::Result<()> {
        let keys: Vec<String> = token_hashes
            .iter()
            .map(|h| self.key(&["auth", h]))
            .collect();
        let mut conn = self.conn.clone();
        let _: u64 = conn.del(keys).await.context("redis token cache")?;
        Ok(())
    }

    pub async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> anyhow::Result<bool> {
        let k = self.key(&["lock", name]);
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&k)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl).max(1))
            .query_async(&mut conn)
            .await
            .context("redis lock")?;
        if set.is_some() {
            return Ok(true);
        }
        // Re-entrant for the same owner: extend.
        let holder: Option<String> = conn.get(&k).await.context("redis lock")?;
        if holder.as_deref() == Some(owner) {
            let _: bool = conn
                .pexpire(&k, ms(ttl).max(1))
                .await
                .context("redis lock")?;
            return Ok(true);
        }
        Ok(false)
    }

    pub async fn unlock(&self, name: &str, owner: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::Script::new(UNLOCK)
            .key(self.key(&["lock", name]))
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .context("redis unlock")?;
        Ok(())
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("redis did not answer PING")?;
        Ok(())
    }
}
