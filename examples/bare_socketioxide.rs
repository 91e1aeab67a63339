//! The baseline for FlowSync's Socket.io benchmarks: a bare socketioxide server built with the
//! same crate versions and the same engine settings as `flowsync serve`, speaking just enough of
//! FlowSync's protocol for `flowsync bench` to drive it. Whatever FlowSync costs above this
//! server (memory per socket, CPU per relayed message) is FlowSync's own; what this server
//! costs is socketioxide's, hyper's and tungstenite's.
//!
//! What it does, and nothing more:
//! - `POST /api/rooms` and `POST /api/rooms/{code}/join` hand out a participant id and a token
//!   (kept in memory; no database, no rate limits, no validation);
//! - a socket connecting with `auth: {token}` joins Socket.io rooms `r:<room>` and
//!   `p:<participant>` and gets `room-joined` with the room's participants;
//! - `offer`, `answer` and `ice-candidate` are relayed to `p:<to>` with `from` added, as
//!   FlowSync does, and acknowledged with `{ok: true}`.
//!
//! With `BARE_DETACH_HEAD=1` it also applies FlowSync's one memory fix that is not FlowSync's
//! own work (`flowsync::signaling::head::detach`: Socket.IO request heads copied out of hyper's
//! read buffer), so both columns can be compared with and without it.
//!
//! Run: `cargo run --release --example bare_socketioxide -- 127.0.0.1:18081`, then e.g.
//! `flowsync bench --url http://127.0.0.1:18081 --rooms 3800 --per-room 5 --idle`
//! (`scripts/bench.sh` does this with `BENCH_SERVER=bare`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Data, SocketRef, State as SioState, TryData};
use socketioxide::{SocketIo, TransportType};

/// The same engine limits as FlowSync (`src/signaling/mod.rs`).
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Default)]
struct Rooms {
    /// token → (room code, participant id)
    tokens: HashMap<String, (String, String)>,
    /// room code → participant ids
    members: HashMap<String, Vec<String>>,
    next: u64,
}

type Shared = Arc<Mutex<Rooms>>;

fn seat(rooms: &Shared, code: &str) -> Value {
    let mut r = rooms.lock().unwrap_or_else(|e| e.into_inner());
    r.next += 1;
    let pid = format!("p{}", r.next);
    let token = format!("t{}-{code}", r.next);
    r.tokens
        .insert(token.clone(), (code.to_owned(), pid.clone()));
    r.members
        .entry(code.to_owned())
        .or_default()
        .push(pid.clone());
    json!({ "room_code": code, "participant_id": pid, "token": token })
}

async fn create(State(rooms): State<Shared>) -> Json<Value> {
    let code = {
        let mut r = rooms.lock().unwrap_or_else(|e| e.into_inner());
        r.next += 1;
        format!("room{}", r.next)
    };
    Json(seat(&rooms, &code))
}

async fn join(State(rooms): State<Shared>, Path(code): Path<String>) -> Json<Value> {
    Json(seat(&rooms, &code))
}

async fn relay(s: SocketRef, event: &'static str, mut data: Value, ack: AckSender) {
    let from = s.extensions.get::<String>().unwrap_or_default();
    let to = data["to"].as_str().unwrap_or_default().to_owned();
    if let Value::Object(body) = &mut data {
        body.insert("from".into(), Value::String(from));
    }
    let _ = s.within(format!("p:{to}")).emit(event, &data).await;
    let _ = ack.send(&json!({ "ok": true }));
}

async fn on_connect(s: SocketRef, Data(auth): Data<Value>, SioState(rooms): SioState<Shared>) {
    let token = auth["token"].as_str().unwrap_or_default();
    let (code, pid, participants) = {
        let r = rooms.lock().unwrap_or_else(|e| e.into_inner());
        let Some((code, pid)) = r.tokens.get(token).cloned() else {
            let _ = s.disconnect();
            return;
        };
        let members = r.members.get(&code).cloned().unwrap_or_default();
        (code, pid, members)
    };
    s.join([format!("r:{code}"), format!("p:{pid}")]);
    s.extensions.insert(pid);
    let list: Vec<Value> = participants
        .iter()
        .map(|p| json!({ "participant_id": p }))
        .collect();
    let _ = s.emit("room-joined", &json!({ "participants": list }));
    for event in ["offer", "answer", "ice-candidate"] {
        s.on(
            event,
            async move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender| {
                relay(s, event, data.unwrap_or(Value::Null), ack).await
            },
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let rooms: Shared = Arc::default();
    let (layer, io) = SocketIo::builder()
        .with_state(rooms.clone())
        .max_payload(MAX_MESSAGE as u64)
        .ws_max_message_size(MAX_MESSAGE)
        .ws_max_frame_size(MAX_MESSAGE)
        .ws_read_buffer_size(flowsync::signaling::WS_READ_BUFFER)
        .transports([TransportType::Polling, TransportType::Websocket])
        .build_layer();
    io.ns("/", on_connect);
    let api = Router::new()
        .route("/api/rooms", post(create))
        .route("/api/rooms/{code}/join", post(join))
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .with_state(rooms);
    let app = Router::new().fallback_service(api).layer(layer);
    let app = if std::env::var_os("BARE_DETACH_HEAD").is_some_and(|v| v == "1") {
        eprintln!("Socket.IO request heads are detached from hyper's read buffer");
        app.layer(flowsync::signaling::head::layer())
    } else {
        app
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("bare socketioxide listening on http://{listen}");
    // As `flowsync serve` does for plain HTTP: TCP_NODELAY on every accepted connection.
    use axum::serve::ListenerExt;
    axum::serve(
        listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        app,
    )
    .await?;
    Ok(())
}
