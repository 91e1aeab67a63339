//! Set-up of a bench run (not timed): the REST client, and the rooms and participants created
//! over `POST /api/rooms` and `POST /api/rooms/{code}/join`, so every simulated participant holds
//! a token before the first connection.

use super::*;

/// The REST client of a run (set-up, `--rest-rate` load, the `--reconnect` chat check). Like
/// the WebSocket connections, it does not verify the server's certificate.
pub(super) fn rest_client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Setup(format!("HTTP client: {e}")))
}

/// POSTs JSON during set-up or a background join; rate limiting and refusals are set-up errors.
pub(super) async fn post(
    http: &reqwest::Client,
    url: String,
    body: Value,
) -> Result<Value, BenchError> {
    let res = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| BenchError::Setup(format!("POST {url}: {e} (is the server running?)")))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.as_u16() == 429 {
        return Err(BenchError::Setup(format!(
            "POST {url}: rate limited (429: {body}). Run the server with the benchmark settings \
             (docs/performance.md, \"Benchmark settings\"): rooms.create_rate_per_ip, rooms.join_rate_per_ip, \
             rooms.lookup_rate_per_ip and rooms.message_rate_per_participant raised"
        )));
    }
    if !status.is_success() {
        return Err(BenchError::Setup(format!("POST {url}: {status} {body}")));
    }
    Ok(body)
}

impl Seat {
    /// The participant a create or join reply names.
    pub(super) fn from_reply(b: &Value) -> Result<Seat, BenchError> {
        let field = |name: &str| {
            b[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| BenchError::Setup(format!("no {name} in {b}")))
        };
        Ok(Seat {
            slow: false,
            participant_id: field("participant_id")?,
            token: field("token")?,
        })
    }
}

/// Creates the rooms and their participants over REST.
pub(super) async fn set_up(
    s: &Scenario,
    http: &reqwest::Client,
    progress: &dyn Progress,
) -> Result<Vec<Arc<Room>>, BenchError> {
    let base = s.url.trim_end_matches('/').to_owned();
    progress.phase("creating rooms", (s.rooms * s.per_room) as u64);
    let done = Arc::new(AtomicU64::new(0));
    let per_room = s.per_room;
    let slow_percent = s.slow_percent;
    let rooms = futures_util::stream::iter(0..s.rooms)
        .map(|i| {
            let (http, base, done) = (http.clone(), base.clone(), done.clone());
            async move {
                let send = |path: String, body: Value| post(&http, format!("{base}{path}"), body);
                let created = send(
                    "/api/rooms".into(),
                    json!({
                        "name": format!("bench {i}"),
                        "display_name": "bench 0",
                        "max_participants": per_room.clamp(2, 10),
                    }),
                )
                .await?;
                let code = created["room_code"]
                    .as_str()
                    .ok_or_else(|| BenchError::Setup(format!("no room_code in {created}")))?
                    .to_owned();
                let mut seats = vec![Seat::from_reply(&created)?];
                done.fetch_add(1, Ordering::Relaxed);
                for k in 1..per_room {
                    let joined = send(
                        format!("/api/rooms/{code}/join"),
                        json!({ "display_name": format!("bench {k}") }),
                    )
                    .await?;
                    seats.push(Seat::from_reply(&joined)?);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                // Slow consumers: spread evenly over all participants, never a room's host
                // (it drives the timer).
                for (k, seat) in seats.iter_mut().enumerate().skip(1) {
                    let n = (i * per_room + k) as f64;
                    seat.slow = slow_percent > 0.0
                        && ((n + 1.0) * slow_percent / 100.0).floor()
                            > (n * slow_percent / 100.0).floor();
                }
                let readers = seats.iter().filter(|x| !x.slow).count();
                Ok::<_, BenchError>(Arc::new(Room {
                    code,
                    seats,
                    readers,
                    timer_arrivals: Mutex::new(HashMap::new()),
                    acked_chat: Mutex::new(Vec::new()),
                }))
            }
        })
        .buffer_unordered(16);
    let mut rooms = std::pin::pin!(rooms);
    let mut out = Vec::with_capacity(s.rooms);
    while let Some(r) = rooms.next().await {
        out.push(r?);
        progress.update(done.load(Ordering::Relaxed), "");
    }
    Ok(out)
}
