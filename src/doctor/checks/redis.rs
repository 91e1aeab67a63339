//! `redis`: when `redis.url` is set, Redis answers PING; reports its version and the median
//! round trip of five PINGs (presence and the cross-instance adapter are on every event's path).

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::doctor::{Context, Outcome};

/// Above this, signaling feels the Redis hop.
const SLOW: Duration = Duration::from_millis(10);

pub fn run(ctx: &Context) -> BoxFuture<'_, Outcome> {
    async move { check(ctx).await }.boxed()
}

/// A connection to the configured Redis, for the checks that read it.
pub async fn connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    Ok(client.get_multiplexed_async_connection().await?)
}

async fn check(ctx: &Context) -> Outcome {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(o) => return o,
    };
    let Some(url) = &config.redis.url else {
        return Outcome::skip("redis.url is not set: state is kept in-process (one instance)");
    };
    let shown = crate::config::redact_url(url.expose());
    let hint = "check redis.url and that Redis runs (systemctl status redis-server)";
    let mut conn = match connect(url.expose()).await {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("{shown}: {e}"), hint),
    };
    let mut rtts = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        if let Err(e) = redis::cmd("PING").query_async::<String>(&mut conn).await {
            return Outcome::fail(format!("{shown}: {e}"), hint);
        }
        rtts.push(t.elapsed());
    }
    rtts.sort();
    let median = rtts[2];
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    let detail = format!(
        "Redis {version} at {shown}, PING {:.2} ms (median of 5)",
        median.as_secs_f64() * 1000.0
    );
    if median > SLOW {
        Outcome::warn(
            detail,
            "Redis is slow to answer; keep it on the same host or network as FlowSync",
        )
    } else {
        Outcome::ok(detail)
    }
}
