//! Ephemeral state behind one interface: in-process by default, Redis when `redis.url` is set
//! (shared by several instances). Nothing here is the truth — the database is — so losing it
//! costs a cache miss, a reset rate-limit window or a presence refresh, never data.
//!
//! Everything stored has a TTL; nothing depends on an eviction policy.

mod memory;
mod redis_store;

use std::time::Duration;

pub use memory::MemoryState;
pub use redis_store::RedisState;

use crate::config::{Rate, RedisConfig};
use crate::db::models::AuthRow;

/// Result of counting one hit against a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the window reopens in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

/// The state store in use.
#[derive(Clone)]
pub enum StateStore {
    Memory(MemoryState),
    Redis(RedisState),
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            StateStore::Memory($s) => $body,
            StateStore::Redis($s) => $body,
        }
    };
}

impl StateStore {
    /// Connects to Redis when configured, otherwise uses in-process state.
    pub async fn connect(cfg: &RedisConfig) -> anyhow::Result<StateStore> {
        match &cfg.url {
            None => Ok(StateStore::Memory(MemoryState::default())),
            Some(url) => Ok(StateStore::Redis(
                RedisState::connect(url.expose(), &cfg.key_prefix).await?,
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            StateStore::Memory(_) => "in-process",
            StateStore::Redis(_) => "redis",
        }
    }

    /// Counts a hit on `key` in a fixed window of `rate.per`.
    pub async fn rate_limit(&self, key: &str, rate: Rate) -> anyhow::Result<RateDecision> {
        dispatch!(self, s => s.rate_limit(key, rate).await)
    }

    /// A cached token lookup.
    pub async fn auth_get(&self, token_hash: &str) -> anyhow::Result<Option<AuthRow>> {
        dispatch!(self, s => s.auth_get(token_hash).await)
    }

    pub async fn auth_put(
        &self,
        token_hash: &str,
        row: &AuthRow,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        dispatch!(self, s => s.auth_put(token_hash, row, ttl).await)
    }

    /// Drops cached lookups of revoked tokens, on every instance sharing this store.
    pub async fn auth_invalidate(&self, token_hashes: &[String]) -> anyhow::Result<()> {
        if token_hashes.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.auth_invalidate(token_hashes).await)
    }

    /// Marks a participant present in a room until `ttl` from now (refresh to stay present).
    pub async fn presence_set(
        &self,
        room_id: &str,
        participant_id: &str,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        dispatch!(self, s => s.presence_set(room_id, participant_id, ttl).await)
    }

    pub async fn presence_remove(&self, room_id: &str, participant_id: &str) -> anyhow::Result<()> {
        dispatch!(self, s => s.presence_remove(room_id, participant_id).await)
    }

    /// Participants present in a room (entries past their TTL do not count).
    pub async fn presence_members(&self, room_id: &str) -> anyhow::Result<Vec<String>> {
        dispatch!(self, s => s.presence_members(room_id).await)
    }

    /// Takes the named lock for `ttl` if nobody holds it; returns whether this caller holds it.
    /// Used so singleton jobs (expiry sweeps) run once across instances.
    pub async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> anyhow::Result<bool> {
        dispatch!(self, s => s.try_lock(name, owner, ttl).await)
    }

    pub async fn unlock(&self, name: &str, owner: &str) -> anyhow::Result<()> {
        dispatch!(self, s => s.unlock(name, owner).await)
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        dispatch!(self, s => s.ping().await)
    }

    /// Drops expired in-process entries (Redis expires its own keys).
    pub fn purge_expired(&self) {
        if let StateStore::Memory(m) = self {
            m.purge_expired();
        }
    }
}

/// Position and end of the fixed window containing `now_ms`.
pub(crate) fn window(now_ms: i64, per: Duration) -> (i64, i64) {
    let len = crate::db::ms(per).max(1);
    let index = now_ms / len;
    (index, (index + 1) * len)
}

pub(crate) fn retry_after_secs(window_end_ms: i64, now_ms: i64) -> u64 {
    ((window_end_ms - now_ms).max(0) as u64)
        .div_ceil(1000)
        .max(1)
}
