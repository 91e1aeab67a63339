//! With TLS on, the plain-HTTP listener (`server.http_listen`, port 80 after init) sends every
//! request to HTTPS with a 308 (method and body kept). The target origin is the configured
//! public URL, so a forged `Host` header cannot redirect anyone elsewhere. ACME HTTP-01
//! challenges are answered here from the files an issuer left (see `tls::acme`). It is held to the
//! same connection limits as the other listeners (`http::serve`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::serve::Connections;
use crate::tls::challenges::HttpChallenges;

#[derive(Clone)]
struct Target {
    origin: String,
    challenges: Option<HttpChallenges>,
}

/// Serves redirects to `origin` (e.g. `https://rooms.example.com`) until `stop` fires, and
/// ACME HTTP-01 answers from `challenges` (the files `cert issue` writes).
pub async fn serve(
    listener: TcpListener,
    origin: String,
    challenges: Option<HttpChallenges>,
    conns: Arc<Connections>,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/.well-known/acme-challenge/{token}", get(challenge))
        .fallback(redirect)
        .with_state(Target {
            origin: origin.trim_end_matches('/').to_owned(),
            challenges,
        });
    let result = super::serve::serve(listener, super::serve::Plain, app, conns, stop).await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the HTTP → HTTPS redirect listener stopped");
    }
}

async fn challenge(State(t): State<Target>, Path(token): Path<String>, req: Request) -> Response {
    match t.challenges.as_ref().and_then(|store| store.answer(&token)) {
        Some(answer) => {
            tracing::info!("answered an ACME HTTP-01 validation");
            ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response()
        }
        None => redirect(State(t), req).await,
    }
}

async fn redirect(State(t): State<Target>, req: Request) -> Response {
    let origin = t.origin;
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
