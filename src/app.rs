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
    /// The validated configuration this instance runs with.
    pub config: Config,
    /// The database, the truth for rooms, participants, tokens and messages.
    pub db: Db,
    /// Ephemeral shared state: token cache, rate limits, presence, job locks.
    pub state: StateStore,
    /// Argon2id hashing with a global concurrency bound.
    pub passwords: PasswordHasherPool,
    /// Room events (room ended, message posted) for live connections.
    pub live: LiveHub,
    pub metrics: Metrics,
    /// Key for HMAC-signed short-lived links (chat export); shared by instances via the database.
    pub link_key: Vec<u8>,
    /// Random id of this process, e.g. as the owner of job locks.
    pub instance_id: String,
    pub started_at: Instant,
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
        Ok(Arc::new(App {
            config,
            db,
            state,
            passwords: PasswordHasherPool::new(cores),
            live: LiveHub::new(),
            metrics: Metrics::default(),
            link_key,
            instance_id: crate::auth::new_id("i"),
            started_at: Instant::now(),
        }))
    }
}
