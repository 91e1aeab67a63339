//! Request extractors: JSON and query strings with our error envelope, the client address
//! (trusted-proxy aware), bearer-token participants, and operator access.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::SharedApp;
use crate::db::models::AuthRow;
use crate::errors::{ApiError, ErrorCode};

/// `Json<T>` whose rejections are answered as `VALIDATION` (400 unparsable, 422 wrong shape)
/// or `PAYLOAD_TOO_LARGE` (413).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            ApiError::validation(format!("invalid request body: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::validation(format!("malformed JSON: {}", e.body_text())).with_status(400)
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::validation("send the body as JSON with Content-Type: application/json")
                .with_status(415)
        }
        other if other.status().as_u16() == 413 => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "request body too large (limit 16 KiB)",
        ),
        other => ApiError::validation(other.body_text()).with_status(400),
    }
}

/// `Query<T>` with our error envelope.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::validation(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// The client's address: the TCP peer, or — when the peer is a trusted proxy — the nearest
/// untrusted address in `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp {
    pub ip: IpAddr,
    /// Whether the request was forwarded by any proxy (trusted or not).
    pub forwarded: bool,
}

impl FromRequestParts<SharedApp> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("connection info missing"))?;
        let forwarded = parts.headers.contains_key("x-forwarded-for")
            || parts.headers.contains_key(header::FORWARDED);
        Ok(ClientIp {
            ip: client_ip(peer, &parts.headers, &app.config().server.trusted_proxies),
            forwarded,
        })
    }
}

/// Walks `X-Forwarded-For` from the right while hops are trusted proxies.
pub fn client_ip(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut ip = peer;
    for hop in hops.into_iter().rev() {
        ip = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    ip
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A participant authenticated by `Authorization: Bearer <token>`.
pub struct Participant(pub AuthRow);

impl FromRequestParts<SharedApp> for Participant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "send the room token as Authorization: Bearer <token>",
            )
        })?;
        app.authenticate(token).await.map(Participant)
    }
}

/// Optional participant: `None` without an Authorization header, an error for a bad one (a
/// wrong token is never silently treated as anonymous).
pub struct MaybeParticipant(pub Option<AuthRow>);

impl FromRequestParts<SharedApp> for MaybeParticipant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        match bearer(parts) {
            None if !parts.headers.contains_key(header::AUTHORIZATION) => {
                Ok(MaybeParticipant(None))
            }
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the Authorization header must be Bearer <token>",
            )),
            Some(token) => app
                .authenticate(token)
                .await
                .map(|a| MaybeParticipant(Some(a))),
        }
    }
}

/// Operator access for `/api/admin`: a request over the local channel (`http::local`, the
/// socket `flowsync rooms end` uses), or `Authorization: Bearer <server.admin_token>`. A
/// loopback TCP connection is not enough: a local proxy that adds no `X-Forwarded-For`, or a
/// DNS-rebinding page in a browser on the server, would pass for the operator.
pub struct Operator;

/// Checks the bearer token, if one was sent: Some(result), or None without one.
fn admin_token(parts: &Parts, app: &SharedApp) -> Option<Result<(), ApiError>> {
    let token = bearer(parts)?;
    use sha2::Digest;
    let given: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    Some(match &app.config().server.admin_token_sha256 {
        Some(want) if crate::auth::constant_time_eq(&given, want.expose()) => Ok(()),
        _ => Err(ApiError::new(ErrorCode::Forbidden, "wrong admin token")),
    })
}

/// The operator's own credentials, if the request has any: the local channel, or a bearer
/// token (Err when it is the wrong one). None: the request claims nothing.
fn operator(parts: &Parts, app: &SharedApp) -> Option<Result<(), ApiError>> {
    if parts
        .extensions
        .get::<super::local::LocalChannel>()
        .is_some()
    {
        return Some(Ok(()));
    }
    admin_token(parts, app)
}

impl FromRequestParts<SharedApp> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        match operator(parts, app) {
            Some(r) => r.map(|_| Operator),
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the admin API needs Authorization: Bearer <server.admin_token>, or the local socket (run `flowsync rooms` on the server as root or the service user)",
            )),
        }
    }
}

/// Whether the request comes from the operator (the local channel or the admin token), for
/// endpoints open to everyone that let the operator do more (create rooms under any
/// `rooms.create_policy`, without the rate limit). A wrong admin token is refused.
pub struct MaybeOperator(pub bool);

impl FromRequestParts<SharedApp> for MaybeOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        match operator(parts, app) {
            Some(r) => r.map(|_| MaybeOperator(true)),
            None => Ok(MaybeOperator(false)),
        }
    }
}

/// Read access to `/metrics` (counters, no room data): the operator, or a direct loopback
/// connection (not forwarded by a proxy) whose `Host` names this server, so a local Prometheus
/// scrapes without a token while a DNS-rebinding page (its own host name) does not.
pub struct MetricsReader;

impl FromRequestParts<SharedApp> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, ApiError> {
        if let Some(r) = operator(parts, app) {
            return r.map(|_| MetricsReader);
        }
        let client = ClientIp::from_request_parts(parts, app).await?;
        if client.ip.is_loopback()
            && !client.forwarded
            && host_is_ours(&parts.headers, &app.config())
        {
            return Ok(MetricsReader);
        }
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "/metrics needs a loopback connection addressed to this server, or Authorization: Bearer <server.admin_token>",
        ))
    }
}

/// Whether the `Host` header names this server: `localhost`, a loopback address, the host of
/// the public URL, a `tls.domains` name, or a listen address.
pub fn host_is_ours(headers: &axum::http::HeaderMap, config: &crate::config::Config) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(h, _)| h)
            .to_owned(),
    };
    if name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    let public = reqwest::Url::parse(&config.public_url())
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        });
    public.as_deref() == Some(name.as_str())
        || config
            .tls
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&name))
        || [config.server.http_listen, config.server.https_listen]
            .iter()
            .any(|a| a.ip().to_string() == name)
}
