//! In-process state for a single instance: small maps behind short-lived mutexes, each entry
//! with an expiry, purged by the sweeper.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{RateDecision, gcra};
use crate::clock::{ms, now_ms};
use crate::config::Rate;
use crate::db::models::AuthRow;

#[derive(Default, Clone)]
pub struct MemoryState {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// key → theoretical arrival time in µs (see `super::gcra`)
    rates: Mutex<HashMap<String, i64>>,
    /// token hash → (row, expires at)
    auth: Mutex<HashMap<String, (AuthRow, i64)>>,
    /// lock name → (owner, expires at)
    locks: Mutex<HashMap<String, (String, i64)>>,
}

/// A poisoned mutex only means another task panicked mid-update of a cache; the data is
/// still usable for what this store promises (best-effort ephemeral state).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryState {
    pub async fn rate(&self, key: &str, rate: Rate, charge: bool) -> anyhow::Result<RateDecision> {
        let now = super::now_us();
        let mut rates = lock(&self.inner.rates);
        let (decision, tat) = gcra(rates.get(key).copied(), now, rate, charge);
        if tat > now {
            rates.insert(key.to_owned(), tat);
        }
        Ok(decision)
    }

    pub async fn auth_get(&self, token_hash: &str) -> anyhow::Result<Option<AuthRow>> {
        let now = now_ms();
        Ok(lock(&self.inner.auth)
            .get(token_hash)
            .filter(|(_, exp)| *exp > now)
            .map(|(row, _)| row.clone()))
    }

    pub async fn auth_put(
        &self,
        token_hash: &str,
        row: &AuthRow,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        lock(&self.inner.auth).insert(token_hash.to_owned(), (row.clone(), now_ms() + ms(ttl)));
        Ok(())
    }

    pub async fn auth_invalidate(&self, token_hashes: &[String]) -> anyhow::Result<()> {
        let mut auth = lock(&self.inner.auth);
        for h in token_hashes {
            auth.remove(h);
        }
        Ok(())
    }

    pub async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> anyhow::Result<bool> {
        let now = now_ms();
        let mut locks = lock(&self.inner.locks);
        match locks.get(name) {
            Some((holder, exp)) if *exp > now && holder != owner => Ok(false),
            _ => {
                locks.insert(name.to_owned(), (owner.to_owned(), now + ms(ttl)));
                Ok(true)
            }
        }
    }

    pub async fn unlock(&self, name: &str, owner: &str) -> anyhow::Result<()> {
        let mut locks = lock(&self.inner.locks);
        if locks.get(name).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(name);
        }
        Ok(())
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    pub fn purge_expired(&self) {
        let now_us = super::now_us();
        lock(&self.inner.rates).retain(|_, tat| *tat > now_us);
        let now = now_ms();
        lock(&self.inner.auth).retain(|_, (_, exp)| *exp > now);
        lock(&self.inner.locks).retain(|_, (_, exp)| *exp > now);
    }

    /// Entries held, for tests of the purge.
    pub fn len(&self) -> usize {
        lock(&self.inner.rates).len() + lock(&self.inner.auth).len() + lock(&self.inner.locks).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
