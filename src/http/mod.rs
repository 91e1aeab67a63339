//! The HTTP surface: one router for pages, the REST API, health and metrics, with body limits,
//! security headers and request counting applied to every response.

mod admin;
mod assets;
use tower_http::compression::CompressionLayer;
pub mod error;
pub mod extract;
mod health;
pub mod local;
mod messages;
mod record;
pub mod redirect;
mod rooms;
pub mod serve;

pub use admin::{AdminParticipant, AdminRoom, AdminRoomDetail, list_rooms};
pub use messages::transcript_text;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::app::SharedApp;
use crate::metrics::Metrics;

/// Largest accepted request body; room and chat requests are far smaller.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The content security policy: only this origin's scripts, styles and connections; camera,
/// microphone and screen capture need no CSP source beyond blob:/mediastream: for media.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const PERMISSIONS: &str = "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), \
picture-in-picture=(self), autoplay=(self), geolocation=(), payment=(), usb=(), interest-cohort=()";

pub fn router(app: SharedApp) -> Router {
    Router::new()
        .route("/api/rooms", post(rooms::create))
        .route("/api/rooms/{code}", get(rooms::get).delete(rooms::delete))
        .route("/api/rooms/{code}/join", post(rooms::join))
        .route("/api/slugs/{slug}", get(rooms::by_slug))
        .route(
            "/api/rooms/{code}/messages",
            get(messages::list).post(messages::post),
        )
        .route("/api/rooms/{code}/messages/export", get(messages::export))
        .route(
            "/api/rooms/{code}/messages/export-link",
            post(messages::export_link),
        )
        .route("/api/rooms/{code}/record", get(record::day))
        .route("/api/ice-servers", get(rooms::ice))
        .route("/api/admin/rooms", get(admin::list))
        .route(
            "/api/admin/rooms/{code}",
            get(admin::show).delete(admin::end),
        )
        .route("/api/admin/sweep", post(admin::sweep))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        // Pages and modules are gzip-compressed on the way out (the room is ~48 KB instead of
        // ~175 KB); the API's small JSON answers are not worth the CPU.
        .route("/", get(assets::index).layer(CompressionLayer::new()))
        .route(
            "/room/{code}",
            get(assets::room).layer(CompressionLayer::new()),
        )
        .route(
            "/r/{slug}",
            get(assets::room).layer(CompressionLayer::new()),
        )
        .route(
            "/assets/{*path}",
            get(assets::file).layer(CompressionLayer::new()),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(reject_oversized))
        .layer(middleware::from_fn_with_state(app.clone(), common_headers))
        .with_state(app)
}

/// Bodies declared larger than [`BODY_LIMIT`] get 413 before any handler runs. Up to 1 MiB of
/// the body is read and discarded first: closing a connection with unread data makes the
/// kernel send a reset, and the client could lose the 413 and see only a broken connection.
async fn reject_oversized(req: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    const DRAIN_MAX: u64 = 1024 * 1024;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|l| *l > BODY_LIMIT as u64) else {
        return next.run(req).await;
    };
    if len <= DRAIN_MAX {
        let body = req.into_body();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), body.collect()).await;
    }
    let mut res = crate::errors::ApiError::new(
        crate::errors::ErrorCode::PayloadTooLarge,
        format!("request body too large (limit {} KiB)", BODY_LIMIT / 1024),
    )
    .into_response();
    if len > DRAIN_MAX {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Security headers on every response, `no-store` on the API, and request counters.
async fn common_headers(State(app): State<SharedApp>, req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    Metrics::inc(&app.metrics.http_requests);
    match res.status().as_u16() {
        400..=499 => Metrics::inc(&app.metrics.http_errors_4xx),
        500..=599 => Metrics::inc(&app.metrics.http_errors_5xx),
        _ => {}
    }
    set_security_headers(res.headers_mut());
    if is_api {
        res.headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    res
}

/// The same security headers on Socket.IO's answers (`/socket.io/`), which the Socket.IO layer
/// gives before the router (and so [`common_headers`]) sees the request. Long-polling answers
/// are live data: never stored.
pub async fn socket_io_headers(mut res: Response) -> Response {
    set_security_headers(res.headers_mut());
    res.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// CSP, framing, sniffing, referrer, permissions and opener policies; a handler that set one
/// itself keeps its own.
fn set_security_headers(h: &mut axum::http::HeaderMap) {
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Room codes live in URLs: never leak them to other sites.
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS,
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
}
