//! `App`: everything a request, a socket, a background job or `doctor` needs, built once from
//! the configuration and shared behind an `Arc`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::auth::PasswordHasherPool;
use crate::config::Config;
use crate::db::Db;
use crate::live::LiveHub;
use crate::metrics::Metrics;
use crate::state::StateStore;

pub struct App {
    /// The validated configuration this instance runs with; swapped on `SIGHUP` reload.
    config: crate::config::Handle,
    /// The database, the truth for rooms, participants, tokens and messages.
    pub db: Db,
    /// Ephemeral shared state: token cache, rate limits, presence, job locks.
    pub state: StateStore,
    /// Argon2id hashing with a global concurrency bound.
    pub passwords: PasswordHasherPool,
    /// Room events (room ended, message posted) for live connections.
    pub live: LiveHub,
    /// Where chat lines are stored: concurrent ones are written together (group commit).
    pub messages: crate::db::group_commit::MessageWriter,
    /// The group commit in front of joins (SQLite).
    pub joins: crate::db::group_commit::JoinWriter,
    pub metrics: Metrics,
    /// Key for HMAC-signed short-lived links (chat export); shared by instances via the database.
    pub link_key: Vec<u8>,
    /// Random id of this process, e.g. as the owner of job locks.
    pub instance_id: String,
    pub started_at: Instant,
    /// Serialises sweeps inside this process: the shared lock is re-entrant for one instance,
    /// so without this the timer's sweep and `POST /api/admin/sweep` could run side by side.
    pub sweeping: tokio::sync::Mutex<()>,
    /// Dependencies `/readyz` checks besides the database and the state store.
    pub readiness: crate::readiness::Readiness,
    /// When this process last extended each room's expiry (room id → ms); see
    /// [`App::activity_due`].
    touched: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

pub type SharedApp = Arc<App>;

impl App {
    /// Builds the app from an open, migrated database.
    pub async fn new(config: Config, db: Db) -> anyhow::Result<SharedApp> {
        let state = StateStore::connect(&config.redis).await?;
        let link_key = db
            .server_secret("link_signing_key")
            .await
            .context("the database is not migrated or not writable")?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let messages = crate::db::group_commit::MessageWriter::start(db.clone());
        let joins = crate::db::group_commit::JoinWriter::start(db.clone());
        Ok(Arc::new(App {
            config: crate::config::Handle::new(config),
            db,
            state,
            passwords: PasswordHasherPool::new(cores),
            live: LiveHub::new(),
            messages,
            joins,
            metrics: Metrics::default(),
            link_key,
            instance_id: crate::auth::new_id("i"),
            started_at: Instant::now(),
            sweeping: tokio::sync::Mutex::new(()),
            readiness: Default::default(),
            touched: Default::default(),
        }))
    }

    /// Stores a chat line (user or system) through the group commit, recording the room's
    /// activity when it is due; the caller tells the room.
    pub async fn store_message(
        &self,
        m: &crate::db::messages::NewMessage<'_>,
    ) -> anyhow::Result<crate::db::models::MessageRow> {
        let touch = self.activity_due(m.room_id, crate::clock::now_ms());
        self.messages.insert(m, touch).await
    }

    /// Activity in `room_id` at `now` (a message, a connection): the room's new expiry when it
    /// should be written now, `None` when this process wrote it recently. Once per tenth of
    /// the idle expiry (at most a minute) per room is enough: the expiry is never more than
    /// that short of exact, and a busy room costs one write a minute instead of one per
    /// message — and a room whose participants all come back after a restart, one write.
    pub fn activity_due(&self, room_id: &str, now: i64) -> Option<i64> {
        let expiry = crate::clock::ms(self.config().rooms.idle_expiry);
        let window = (expiry / 10).min(60_000);
        let due = Some(now + expiry);
        let Ok(mut touched) = self.touched.lock() else {
            return due;
        };
        if touched.get(room_id).is_some_and(|t| now - t < window) {
            return None;
        }
        if touched.len() >= 4096 {
            touched.retain(|_, t| now - *t < window);
        }
        touched.insert(room_id.to_owned(), now);
        due
    }
}

/// What a configuration reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new value is now in effect.
    pub applied: Vec<String>,
    /// Keys that changed in the file but need a restart; the running value is kept.
    pub needs_restart: Vec<String>,
}

impl App {
    /// The configuration in effect now (cheap: an `Arc` clone).
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// A handle that sees every reload, for tasks that outlive a request (the ACME loop).
    pub fn config_handle(&self) -> crate::config::Handle {
        self.config.clone()
    }

    /// Applies the keys of `new` that changed and are reloadable (those with an `apply` in
    /// `config::keys`) and reports the others that changed, which keep their running value
    /// until a restart. A test (`every_reloadable_key_takes_effect_on_reload`) changes every
    /// reloadable key in a running server and checks it is in effect.
    pub fn reload(&self, mut new: Config) -> ReloadReport {
        let old = self.config();
        // What the server derived at start where the file says nothing (the embedded TURN
        // server's secret and URLs) is not a change: without this every reload of an unchanged
        // file warned that those keys need a restart.
        if new.turn.shared_secret.is_none() {
            new.turn.shared_secret = old.turn.shared_secret.clone();
        }
        if new.turn.urls.is_empty() {
            new.turn.urls = old.turn.urls.clone();
        }
        let before = old.render();
        let after = new.render();
        let mut report = ReloadReport::default();
        let mut merged = (*old).clone();
        for ((key, was), (_, now)) in before.iter().zip(after.iter()) {
            if was == now {
                continue;
            }
            match key.apply {
                Some(apply) => {
                    apply(&new, &mut merged);
                    report.applied.push(key.dotted());
                }
                None => report.needs_restart.push(key.dotted()),
            }
        }
        // The certificate files themselves are re-read by the TLS listener's owner
        // (`server::Reloader`), which holds the certificate being served.
        self.config.set(merged);
        report
    }
}
