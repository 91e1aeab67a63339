//! With TLS on, the plain-HTTP listener (`server.http_listen`, port 80 after init) sends every
//! request to HTTPS with a 308 (method and body kept). The target origin is the configured
//! public URL, so a forged `Host` header cannot redirect anyone elsewhere. ACME HTTP-01
//! challenges will be answered here too once `cert issue` lands.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves redirects to `origin` (e.g. `https://rooms.example.com`) until `stop` fires.
pub async fn serve(listener: TcpListener, origin: String, stop: CancellationToken) {
    let app = Router::new()
        .fallback(redirect)
        .with_state(origin.trim_end_matches('/').to_owned());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the HTTP → HTTPS redirect listener stopped");
    }
}

async fn redirect(State(origin): State<String>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("{origin}{path}");
    match HeaderValue::from_str(&location) {
        Ok(v) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, v)],
            "This site is served over HTTPS.\n",
        )
            .into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad request target\n").into_response(),
    }
}
