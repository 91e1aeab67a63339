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

    /// Counts a hit on `key` against `rate` (a token bucket, see [`gcra`]), shared by every
    /// instance using this store.
    pub async fn rate_limit(&self, key: &str, rate: Rate) -> anyhow::Result<RateDecision> {
        dispatch!(self, s => s.rate(key, rate, true).await)
    }

    /// Whether a hit on `key` would be refused now, without counting one (a cap that only
    /// failures charge, such as a room's wrong passwords).
    pub async fn rate_peek(&self, key: &str, rate: Rate) -> anyhow::Result<RateDecision> {
        dispatch!(self, s => s.rate(key, rate, false).await)
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

    /// Drops expired in-process entries (Redis expires its own keys; its in-process fallback
    /// does not).
    pub fn purge_expired(&self) {
        match self {
            StateStore::Memory(m) => m.purge_expired(),
            StateStore::Redis(r) => r.purge_fallback(),
        }
    }
}

/// One decision of the generic cell rate algorithm (GCRA, a token bucket kept as one number):
/// `tat` is the key's "theoretical arrival time", when the bucket would be full again. A rate
/// of `count/per` lets `count` hits through at once and then one every `per / count`; unlike a
/// fixed window it never lets twice the count through across a window's boundary, and a
/// refusal says exactly when the next hit would pass. `charge = false` only asks.
///
/// Times are in microseconds. Returns the decision and the new `tat` to store (the same one
/// when refused or not charged).
pub(crate) fn gcra(
    stored_tat: Option<i64>,
    now: i64,
    rate: Rate,
    charge: bool,
) -> (RateDecision, i64) {
    let (interval, tolerance) = gcra_params(rate);
    let tat = stored_tat.unwrap_or(now).max(now);
    if tat - now > tolerance {
        let wait = tat - now - tolerance;
        return (
            RateDecision::Limited {
                retry_after_secs: wait_secs(wait),
            },
            tat,
        );
    }
    let next = if charge { tat + interval } else { tat };
    (RateDecision::Allowed, next)
}

/// A rate's emission interval (µs between hits at the steady rate) and burst tolerance (µs).
/// Microseconds, so that a rate faster than one hit per millisecond (the benchmark settings
/// raise limits to a million a second) is the rate it says rather than a thousand a second.
pub(crate) fn gcra_params(rate: Rate) -> (i64, i64) {
    let per = i64::try_from(rate.per.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    let interval = (per / i64::from(rate.count.max(1))).max(1);
    (interval, per - interval)
}

/// Microseconds to wait as a `Retry-After` in whole seconds, at least one.
pub(crate) fn wait_secs(wait_us: i64) -> u64 {
    (wait_us.max(0) as u64).div_ceil(1_000_000).max(1)
}

/// Now, in microseconds since the Unix epoch (the rate limiters' clock).
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_the_steady_rate() {
        let rate: Rate = "3/minute".parse().expect("rate");
        let mut tat = None;
        for _ in 0..3 {
            let (d, t) = gcra(tat, 0, rate, true);
            assert_eq!(d, RateDecision::Allowed);
            tat = Some(t);
        }
        let (d, _) = gcra(tat, 0, rate, true);
        assert_eq!(
            d,
            RateDecision::Limited {
                retry_after_secs: 20
            }
        );
        // One hit per 20 s after the burst, never a fresh burst at a window boundary.
        assert_eq!(
            gcra(tat, 19_000_000, rate, true).0,
            RateDecision::Limited {
                retry_after_secs: 1
            }
        );
        let (d, t) = gcra(tat, 20_000_000, rate, true);
        assert_eq!(d, RateDecision::Allowed);
        assert!(matches!(
            gcra(Some(t), 20_000_000, rate, true).0,
            RateDecision::Limited { .. }
        ));
        // Asking does not charge.
        let (d, t2) = gcra(Some(t), 60_000_000, rate, false);
        assert_eq!((d, t2), (RateDecision::Allowed, t.max(60_000_000)));
    }

    #[test]
    fn gcra_keeps_rates_faster_than_one_per_millisecond() {
        let rate: Rate = "1000000/second".parse().expect("rate");
        let mut tat = None;
        // 100,000 hits within the same 10 ms are within a million a second's burst.
        for i in 0..100_000 {
            let (d, t) = gcra(tat, i / 10_000, rate, true);
            assert_eq!(d, RateDecision::Allowed, "hit {i}");
            tat = Some(t);
        }
    }
}
