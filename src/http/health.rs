//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and `/metrics`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::MetricsReader;
use crate::app::SharedApp;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// One dependency's answer within a deadline.
async fn probe(f: impl Future<Output = anyhow::Result<()>>) -> serde_json::Value {
    match tokio::time::timeout(Duration::from_secs(2), f).await {
        Ok(Ok(())) => serde_json::json!({ "ok": true }),
        Ok(Err(e)) => serde_json::json!({ "ok": false, "error": format!("{e:#}") }),
        Err(_) => serde_json::json!({ "ok": false, "error": "no answer within 2 s" }),
    }
}

/// Ready when the database answers, the data directory takes writes and, with Redis, every
/// Redis connection the server depends on answers (state, the link between instances) and
/// presence is in step; 503 with details otherwise.
pub async fn readyz(State(app): State<SharedApp>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut db = probe(app.db.ping()).await;
    db["backend"] = serde_json::json!(app.db.backend());
    checks.insert("database".into(), db);
    let data_dir = app.config().server.data_dir.clone();
    checks.insert(
        "data_dir".into(),
        probe(crate::db::space::probe_writable(data_dir)).await,
    );
    if matches!(app.state, crate::state::StateStore::Redis(_)) {
        checks.insert("redis".into(), probe(app.state.ping()).await);
    }
    for (name, p) in app.readiness.probes() {
        checks.insert(name.into(), probe(p.check()).await);
    }
    let ready = checks.values().all(|c| c["ok"] == true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "state_store": app.state.kind(),
        "checks": checks,
    });
    (status, Json(body)).into_response()
}

/// Prometheus text format; see [`MetricsReader`] for who may read it.
pub async fn metrics(State(app): State<SharedApp>, _op: MetricsReader) -> Response {
    let active = crate::db::rooms::count_active(&app.db)
        .await
        .map(|n| n as f64)
        .unwrap_or(f64::NAN);
    let gauges = [
        ("flowsync_rooms_active", "rooms that are open now", active),
        (
            "flowsync_uptime_seconds",
            "seconds since this process started",
            app.started_at.elapsed().as_secs_f64(),
        ),
    ];
    let mut res = app.metrics.render(&gauges).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
