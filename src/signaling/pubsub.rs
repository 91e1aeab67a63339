//! The Redis connection behind the Socket.io adapter (broadcasts and relays between instances).
//!
//! socketioxide-redis's own driver opens one connection at start and never opens another: after
//! Redis restarted, every broadcast failed and nothing from other instances arrived until
//! `serve` was restarted. This driver keeps the same contract over redis-rs's
//! `ConnectionManager`, which reconnects by itself and, with automatic resubscription, takes
//! its channel subscriptions along to the new connection. A watchdog pings it every second, so
//! an instance that only receives also notices a lost connection and reconnects, and records
//! whether the link is up for `/readyz`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a publish may take before the broadcast counts as not having reached the other
/// instances (local sockets get it regardless, see [`super::broadcast`]).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(1500);
/// How often the watchdog checks the connection.
const WATCHDOG_EVERY: Duration = Duration::from_secs(1);

/// Why a publish or subscription did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A [`Driver`] for socketioxide-redis that survives Redis restarts; cheap to clone.
#[derive(Clone)]
pub struct PubSub {
    conn: ConnectionManager,
    handlers: Handlers,
    up: Arc<AtomicBool>,
}

impl PubSub {
    /// Connects (Redis must answer now: `serve` does not start against a Redis it cannot
    /// reach) and starts the watchdog, which ends with `stop`.
    pub async fn connect(url: &str, stop: CancellationToken) -> anyhow::Result<PubSub> {
        let client = redis::Client::open(url)?;
        let handlers: Handlers = Arc::default();
        let route = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |msg: PushInfo| {
                deliver(msg, &route);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(PUBLISH_TIMEOUT))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within 10 s"))??;
        let pubsub = PubSub {
            conn,
            handlers,
            up: Arc::new(AtomicBool::new(true)),
        };
        tokio::spawn(pubsub.clone().watchdog(stop));
        Ok(pubsub)
    }

    /// One round trip on the adapter's connection (readiness).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: redis::Value =
            tokio::time::timeout(PUBLISH_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| PubSubError::Timeout(PUBLISH_TIMEOUT))?
                .map_err(PubSubError::from)?;
        Ok(())
    }

    async fn watchdog(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(WATCHDOG_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let up = self.ping().await.is_ok();
            let was = self.up.swap(up, Ordering::Relaxed);
            match (was, up) {
                (true, false) => tracing::warn!(
                    "lost the Redis connection between instances; broadcasts reach only this instance's sockets until it is back"
                ),
                (false, true) => tracing::info!("the Redis connection between instances is back"),
                _ => {}
            }
        }
    }
}

/// Hands a message pushed by Redis to the adapter's stream for its channel.
fn deliver(msg: PushInfo, handlers: &Handlers) {
    if !matches!(
        msg.kind,
        redis::PushKind::Message | redis::PushKind::SMessage
    ) || msg.data.len() < 2
    {
        return;
    }
    let mut data = msg.data.into_iter();
    let (Some(chan), Some(body)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(chan), Ok(body)) = (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(body),
    ) else {
        tracing::warn!("unreadable message from Redis pub/sub");
        return;
    };
    let handlers = handlers.read().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = handlers.get(&chan)
        && let Err(e) = tx.try_send((chan, body))
    {
        tracing::warn!("a message from another instance was dropped: {e}");
    }
}

impl Driver for PubSub {
    type Error = PubSubError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let mut conn = self.conn.clone();
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(chan)
                .arg(val)
                .query_async::<redis::Value>(&mut conn),
        )
        .await;
        match sent {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.up.store(false, Ordering::Relaxed);
                Err(e.into())
            }
            Err(_) => Err(PubSubError::Timeout(PUBLISH_TIMEOUT)),
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        self.conn.clone().subscribe(chan.as_str()).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(chan)
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| PubSubError::Timeout(PUBLISH_TIMEOUT))??;
        Ok(count)
    }
}

impl crate::readiness::Probe for PubSub {
    fn check(&self) -> crate::readiness::ProbeFuture<'_> {
        Box::pin(self.ping())
    }
}
