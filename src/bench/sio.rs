//! A lean Socket.IO v4 client for `flowsync bench`: Engine.IO over one WebSocket (no polling
//! phase), raw text frames, no per-connection threads. It authenticates with the handshake
//! `auth` payload as browsers do, answers every Engine.IO ping (socketioxide pings as soon as a
//! session opens), and hands events to the caller as `(name, payload)`.
//!
//! Buffers are kept small (4 KiB read buffer, no write buffering) so tens of thousands of
//! connections fit in one process.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Where to connect: resolved once for all connections.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// Host header / SNI.
    pub host: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// From a FlowSync URL (`http://…` or `https://…`).
    pub async fn from_url(url: &str) -> anyhow::Result<Target> {
        let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--url {url}: {e}"))?;
        let tls = match parsed.scheme() {
            "http" => None,
            "https" => Some(Arc::new(crate::tls::client::any_certificate()?)),
            other => anyhow::bail!("--url must be http:// or https://, not {other}://"),
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("--url {url} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| anyhow::anyhow!("--url {url} has no port"))?;
        // IPv4 first: `localhost` often resolves to ::1 first while servers listen on 127.0.0.1.
        let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| anyhow::anyhow!("{host} does not resolve: {e}"))?
            .collect();
        addrs.sort_by_key(|a| a.is_ipv6());
        let addr = *addrs
            .first()
            .ok_or_else(|| anyhow::anyhow!("{host} has no address"))?;
        Ok(Target { addr, host, tls })
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The rest of an event or acknowledgement packet, `<id?>[…]`: the id when there is one, and
/// the array's elements.
fn id_and_args(rest: &str) -> Option<(Option<u64>, std::vec::IntoIter<Value>)> {
    let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let id = rest[..rest.len() - json.len()].parse().ok();
    match serde_json::from_str(json) {
        Ok(Value::Array(parts)) => Some((id, parts.into_iter())),
        _ => None,
    }
}

/// The relayed events, whose payloads are read lean (see [`relay_marks`]).
const RELAYS: [&str; 3] = ["offer", "answer", "ice-candidate"];

/// What the bench reads of a relayed message's body: its send time and its kind.
#[derive(Deserialize)]
struct Marks {
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    bench: Option<String>,
}

/// A relayed `offer` / `answer` / `ice-candidate` as the bench reads it: the sender, and the
/// marks of whichever body it carries. The SDP or candidate text is skipped by serde, never
/// allocated or copied: relays are most of what the generator receives, and an offer's SDP is
/// a few KiB, so this keeps the generator's cost per message well below the server's.
#[derive(Deserialize)]
struct RelayIn {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    offer: Option<Marks>,
    #[serde(default)]
    answer: Option<Marks>,
    #[serde(default)]
    candidate: Option<Marks>,
}

/// A relay's payload reduced to `{from, <body>: {t, bench}}`; `None` when it does not have
/// that shape (the caller then parses it whole).
fn relay_marks(raw: &str) -> Option<Value> {
    let r: RelayIn = serde_json::from_str(raw).ok()?;
    let mut out = serde_json::Map::new();
    if let Some(from) = r.from {
        out.insert("from".into(), Value::String(from));
    }
    for (key, marks) in [
        ("offer", r.offer),
        ("answer", r.answer),
        ("candidate", r.candidate),
    ] {
        if let Some(m) = marks {
            let mut body = serde_json::Map::new();
            if let Some(t) = m.t {
                body.insert("t".into(), t.into());
            }
            if let Some(b) = m.bench {
                body.insert("bench".into(), Value::String(b));
            }
            out.insert(key.into(), Value::Object(body));
        }
    }
    Some(Value::Object(out))
}

/// An event packet's rest, `<id?>[name, arg, …]`, as its name and first argument. The common
/// shape `[name, arg]` is split without parsing the argument first, so a relay is read lean.
fn event(rest: &str) -> Option<(String, Value)> {
    let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    if let Ok((name, arg)) = serde_json::from_str::<(String, &RawValue)>(json) {
        let lean = RELAYS
            .contains(&name.as_str())
            .then(|| relay_marks(arg.get()));
        let v = match lean.flatten() {
            Some(v) => v,
            None => serde_json::from_str(arg.get()).ok()?,
        };
        return Some((name, v));
    }
    // Other shapes (a name alone, several arguments): the general path.
    let (_, mut args) = id_and_args(rest)?;
    let Some(Value::String(name)) = args.next() else {
        return None;
    };
    Some((name, args.next().unwrap_or(Value::Null)))
}

/// One Socket.IO connection to the default namespace.
pub struct Conn {
    ws: WebSocketStream<Box<dyn Io>>,
}

/// Something received.
#[derive(Debug)]
pub enum Incoming {
    /// An event: name and first argument. For `offer`, `answer` and `ice-candidate` the
    /// argument holds only `from` and the body's `t` and `bench` (see [`relay_marks`]).
    Event(String, Value),
    /// The server refused the namespace connection (`connect_error`).
    Refused(Value),
    /// The acknowledgement of an event sent with [`Conn::emit_with_ack`]: its id and payload.
    Ack(u64, Value),
    /// The server disconnected this socket (or closed the transport).
    Closed,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

impl Conn {
    /// Opens the WebSocket (from `source` when given) and joins the namespace with `token`.
    /// Returns once the server accepted the connection, with the first events that came with
    /// the acceptance still queued for [`Conn::next`].
    pub async fn connect(
        target: &Target,
        source: Option<IpAddr>,
        token: &str,
    ) -> anyhow::Result<Conn> {
        let socket = if target.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let tcp: TcpStream = socket.connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = match &target.tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())?;
                Box::new(
                    tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await?,
                )
            }
            None => Box::new(tcp),
        };
        let scheme = if target.tls.is_some() { "wss" } else { "ws" };
        let authority = match target.addr {
            SocketAddr::V6(_) if target.host.contains(':') => {
                format!("[{}]:{}", target.host, target.addr.port())
            }
            _ => format!("{}:{}", target.host, target.addr.port()),
        };
        let url = format!("{scheme}://{authority}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url, io, Some(ws_config())).await?;
        // Engine.IO open packet, then the namespace connect with the auth payload.
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
            other => anyhow::bail!("no Engine.IO open packet: {other:?}"),
        }
        let auth = serde_json::json!({ "token": token });
        ws.send(Message::text(format!("40{auth}"))).await?;
        let mut conn = Conn { ws };
        loop {
            match conn.ws.next().await {
                Some(Ok(Message::Text(t))) => match t.as_str() {
                    "2" => conn.ws.send(Message::text("3")).await?,
                    s if s.starts_with("40") => return Ok(conn),
                    s if s.starts_with("44") => {
                        anyhow::bail!("connection refused: {}", &s[2..])
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the server closed the connection during the handshake"),
            }
        }
    }

    /// Emits `event` with one argument (no acknowledgement).
    pub async fn emit(&mut self, event: &str, data: &Value) -> anyhow::Result<()> {
        let frame = format!("42{}", serde_json::json!([event, data]));
        self.ws.send(Message::text(frame)).await?;
        Ok(())
    }

    /// Emits `event` with one argument given as JSON text (the caller's: not checked), for the
    /// steady relays, whose SDP is escaped once per participant instead of once per message.
    /// Sends `frame` as one WebSocket text frame, as it is (protocol tests of malformed input).
    pub async fn send_raw(&mut self, frame: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(frame.to_owned())).await?;
        Ok(())
    }

    pub async fn emit_json(&mut self, event: &str, data_json: &str) -> anyhow::Result<()> {
        let mut frame = String::with_capacity(event.len() + data_json.len() + 8);
        frame.push_str("42[\"");
        frame.push_str(event);
        frame.push_str("\",");
        frame.push_str(data_json);
        frame.push(']');
        self.ws.send(Message::text(frame)).await?;
        Ok(())
    }

    /// Emits `event` with one argument and asks for an acknowledgement with this `id`; it
    /// arrives from [`Conn::next`] as [`Incoming::Ack`].
    pub async fn emit_with_ack(
        &mut self,
        event: &str,
        data: &Value,
        id: u64,
    ) -> anyhow::Result<()> {
        let frame = format!("42{id}{}", serde_json::json!([event, data]));
        self.ws.send(Message::text(frame)).await?;
        Ok(())
    }

    /// The next event, answering pings on the way.
    pub async fn next(&mut self) -> anyhow::Result<Incoming> {
        loop {
            let msg = match self.ws.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Incoming::Closed),
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Close(_) => return Ok(Incoming::Closed),
                _ => continue,
            };
            match text.as_bytes().first() {
                Some(b'2') => {
                    self.ws.send(Message::text("3")).await?;
                }
                Some(b'1') => return Ok(Incoming::Closed),
                Some(b'4') => {
                    let body = &text[1..];
                    if let Some(rest) = body.strip_prefix('2') {
                        // An event: an optional ack id, then [name, arg, …].
                        let Some((name, arg)) = event(rest) else {
                            continue;
                        };
                        return Ok(Incoming::Event(name, arg));
                    } else if let Some(rest) = body.strip_prefix('3') {
                        // An acknowledgement: its id, then [arg, …].
                        let Some((Some(id), mut args)) = id_and_args(rest) else {
                            continue;
                        };
                        return Ok(Incoming::Ack(id, args.next().unwrap_or(Value::Null)));
                    } else if body.starts_with('1') {
                        return Ok(Incoming::Closed);
                    } else if let Some(rest) = body.strip_prefix('4') {
                        return Ok(Incoming::Refused(
                            serde_json::from_str(rest).unwrap_or(Value::Null),
                        ));
                    }
                }
                _ => {}
            }
        }
    }

    /// Leaves the namespace and closes the WebSocket.
    pub async fn close(mut self) {
        let _ = self.ws.send(Message::text("41")).await;
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_read_lean_and_everything_else_whole() {
        let sdp = "v=0\\r\\na=candidate:1 1 udp 1 192.0.2.1 1 typ host\\r\\n";
        let (name, v) = event(&format!(
            r#"["offer",{{"from":"p_a","offer":{{"type":"offer","sdp":"{sdp}","t":42,"bench":"burst"}}}}]"#
        ))
        .unwrap();
        assert_eq!(name, "offer");
        assert_eq!(
            v,
            serde_json::json!({"from": "p_a", "offer": {"t": 42, "bench": "burst"}})
        );

        let (_, v) = event(
            r#"["ice-candidate",{"from":"p_b","candidate":{"candidate":"candidate:1","sdpMid":"0","t":7,"bench":"steady"}}]"#,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"from": "p_b", "candidate": {"t": 7, "bench": "steady"}})
        );

        // A browser's candidate (a string where the bench puts an object) is read whole.
        let (_, v) =
            event(r#"["ice-candidate",{"from":"p_c","candidate":"candidate:1"}]"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"from": "p_c", "candidate": "candidate:1"})
        );

        // Other events keep their whole payload; an ack id before the array is skipped.
        let (name, v) =
            event(r#"12["room-joined",{"participants":[{"participant_id":"p_a"}]}]"#).unwrap();
        assert_eq!(name, "room-joined");
        assert_eq!(v["participants"][0]["participant_id"], "p_a");

        // A name alone, or more than one argument: the general path.
        assert_eq!(
            event(r#"["kicked"]"#).unwrap(),
            ("kicked".to_owned(), Value::Null)
        );
        assert_eq!(
            event(r#"["x",1,2]"#).unwrap(),
            ("x".to_owned(), Value::from(1))
        );
        assert!(event("not json").is_none());
    }
}
