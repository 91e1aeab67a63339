//! Detaches Socket.IO request heads from hyper's read buffer.
//!
//! hyper parses a request head in place: the URI and every header value are slices of the
//! buffer the request was read into (8 KiB, of which a Socket.IO handshake uses about 400
//! bytes). engineioxide keeps the head of the request that opened a session (`req_parts`: a
//! WebSocket upgrade, or the first long-polling request) for the session's whole life, so each
//! idle socket kept that buffer allocated. Copying the URI and the header values before
//! engineioxide sees the request lets the buffer go as soon as the connection is upgraded (or
//! has moved on to its next request). The request's extensions are kept for the session's life
//! as well, and by the time a request reaches Socket.IO the router and the middleware have
//! filled them (`OriginalUri`, a second copy of the URI; matched path and URL parameters;
//! about 400 bytes a socket, heaptrack): FlowSync's Socket.IO handlers read none of them, so
//! only what the engine needs (hyper's upgrade handle) and the peer address are kept. Measured
//! with heaptrack and `scripts/bench.sh idle` (docs/performance.md).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderValue, Request, Uri};
use hyper::upgrade::OnUpgrade;
use tower::util::MapRequestLayer;

/// Where Socket.IO is served (socketioxide's default, which FlowSync keeps).
const SOCKET_IO_PATH: &str = "/socket.io/";

/// Rebuilds the head of a Socket.IO request (WebSocket upgrades and long-polling alike: which
/// of them opens a session is the engine's business) so that nothing in it points into hyper's
/// read buffer; every other request passes through untouched. Of the extensions only hyper's
/// upgrade handle (the engine upgrades the connection with it) and the peer address are kept.
pub fn detach<B>(req: Request<B>) -> Request<B> {
    if !req.uri().path().starts_with(SOCKET_IO_PATH) {
        return req;
    }
    let (mut parts, body) = req.into_parts();
    // `Uri::from_str` would slice its own copy; going through `String` makes the copy explicit.
    if let Ok(uri) = Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    let mut kept = Extensions::new();
    if let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() {
        kept.insert(upgrade);
    }
    if let Some(peer) = parts.extensions.remove::<ConnectInfo<SocketAddr>>() {
        kept.insert(peer);
    }
    parts.extensions = kept;
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // A value hyper accepted is a valid value, so the copy cannot fail; keep the
        // original (and its buffer) if it ever did.
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        // Header names hyper does not know are copied by the http crate already; the known
        // ones are constants.
        headers.append(name.clone(), owned);
    }
    parts.headers = headers;
    Request::from_parts(parts, body)
}

/// [`detach`] as a layer, to go outside (before) the Socket.IO layer.
pub fn layer() -> MapRequestLayer<fn(Request<Body>) -> Request<Body>> {
    MapRequestLayer::new(detach::<Body>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::extract::OriginalUri;

    /// A head built the way hyper builds one: every part a slice of one shared buffer.
    fn sliced_request(uri: &str, upgrade: &str) -> (Request<()>, Bytes) {
        let text = format!("{uri}{upgrade}secret");
        let buf = Bytes::from(text);
        let (up_at, token_at) = (uri.len(), uri.len() + upgrade.len());
        let mut req = Request::builder()
            .uri(Uri::from_maybe_shared(buf.slice(..up_at)).expect("uri"))
            .body(())
            .expect("request");
        if !upgrade.is_empty() {
            let up = HeaderValue::from_maybe_shared(buf.slice(up_at..token_at)).expect("upgrade");
            req.headers_mut().insert(axum::http::header::UPGRADE, up);
        }
        let mut token = HeaderValue::from_maybe_shared(buf.slice(token_at..)).expect("token");
        token.set_sensitive(true);
        req.headers_mut().insert("x-token", token);
        req.extensions_mut().insert(7u32);
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
        req.extensions_mut().insert(peer);
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        (req, buf)
    }

    fn points_into(buf: &Bytes, bytes: &[u8]) -> bool {
        let range = buf.as_ptr_range();
        range.contains(&bytes.as_ptr())
    }

    #[test]
    fn websocket_heads_are_copied_out_of_the_buffer() {
        let (req, buf) = sliced_request("/socket.io/?EIO=4&transport=websocket", "websocket");
        assert!(points_into(&buf, req.uri().path().as_bytes()));
        let req = detach(req);
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert!(!points_into(&buf, req.uri().path().as_bytes()));
        for (_, value) in req.headers() {
            assert!(!points_into(&buf, value.as_bytes()));
        }
        assert_eq!(req.headers()["x-token"], "secret");
        assert!(req.headers()["x-token"].is_sensitive());
        // The peer address stays; what the router and middleware added (here a number and
        // axum's copy of the URI) goes.
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
        assert_eq!(peer.map(|c| c.0.port()), Some(40000));
        assert_eq!(req.extensions().get::<u32>(), None);
        assert!(req.extensions().get::<OriginalUri>().is_none());
    }

    #[test]
    fn polling_heads_are_copied_too() {
        let (req, buf) = sliced_request("/socket.io/?EIO=4&transport=polling", "");
        let req = detach(req);
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=polling");
        assert!(!points_into(&buf, req.uri().path().as_bytes()));
        assert!(!points_into(&buf, req.headers()["x-token"].as_bytes()));
    }

    #[test]
    fn other_requests_pass_untouched() {
        let (req, buf) = sliced_request("/api/rooms/abc-defg-hij", "websocket");
        let req = detach(req);
        assert!(points_into(&buf, req.uri().path().as_bytes()));
    }
}
