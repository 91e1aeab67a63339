//! Test harness: `Setup` picks a backend (SQLite or a fresh PostgreSQL database) and a state
//! store (in-process or Redis with its own key prefix), `spawn()` starts the real server on
//! 127.0.0.1:0 with its own temp data dir, and `TestApp` has typed request helpers.

use std::sync::Arc;

use flowsync::config::{Config, LoadOptions};
use flowsync::server::Server;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Something a test needs from outside its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The PostgreSQL server of [`pg_admin_url`].
    Postgres,
    /// The Redis server of [`redis_url`].
    Redis,
    /// A program on the PATH.
    Tool(&'static str),
}

impl Need {
    fn available(self) -> bool {
        match self {
            Need::Postgres => reachable(&pg_admin_url(), 5432),
            Need::Redis => reachable(&redis_url(), 6379),
            Need::Tool(name) => std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
            }),
        }
    }

    fn name(self) -> String {
        match self {
            Need::Postgres => format!("PostgreSQL at {}", pg_admin_url()),
            Need::Redis => format!("Redis at {}", redis_url()),
            Need::Tool(name) => format!("`{name}`"),
        }
    }
}

/// Whether a server named by `url` (scheme://[user@]host[:port]/...) accepts connections.
fn reachable(url: &str, default_port: u16) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    };
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs().ok().into_iter().flatten().any(|a| {
        std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok()
    })
}

/// Whether the test at `place` must stop because something it needs is missing. A plain
/// `cargo test` skips such tests and says so on the terminal (past the harness's capture),
/// with how to run them; with `FLOWSYNC_TEST_ALL` (set by `scripts/test.sh`) or `CI` set,
/// nothing may be skipped and a missing part fails the test.
pub fn skip(place: &str, needs: &[Need]) -> bool {
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !n.available())
        .map(|n| n.name())
        .collect();
    if missing.is_empty() {
        return false;
    }
    let what = format!("{place} needs {}", missing.join(", "));
    if std::env::var_os("FLOWSYNC_TEST_ALL").is_some() || std::env::var_os("CI").is_some() {
        panic!("{what}; every test must run here (FLOWSYNC_TEST_ALL or CI is set)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what} (`bash scripts/test.sh` starts or installs everything and runs it)"
    );
    true
}

/// `needs!(Need::Postgres, Need::Tool("tmux"))` at the top of a test: returns early, after
/// saying so, when one is missing and the run allows skipping (see [`skip`]).
macro_rules! needs {
    ($($need:expr),+ $(,)?) => {
        if $crate::helpers::skip(concat!(module_path!(), ":", line!()), &[$($need),+]) {
            return;
        }
    };
}
pub(crate) use needs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    Memory,
    Redis,
}

/// PostgreSQL server for tests (trust auth on these machines); override with FLOWSYNC_TEST_PG_URL.
pub fn pg_admin_url() -> String {
    std::env::var("FLOWSYNC_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("FLOWSYNC_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/?protocol=resp3".into())
}

/// A port on 127.0.0.1 free for both TCP and UDP, for a process that must be told its port
/// before it starts (pebble, `flowsync init`; everything else binds port 0). A port `bind(0)`
/// picks can be handed to a concurrent test's `bind(0)` or outgoing connection before the
/// process binds it; these come from the 12,000 ports below the kernel's ephemeral range,
/// which neither ever uses, and each call in this process gets a different one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    const SPAN: u32 = 12_000;
    if ephemeral_start >= 1024 + SPAN {
        let first = ephemeral_start - SPAN;
        // Test processes running side by side start at different places.
        let offset = std::process::id().wrapping_mul(7919) % SPAN;
        for _ in 0..SPAN {
            let port = (first + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn random_suffix() -> String {
    flowsync::auth::new_id("t")
        .trim_start_matches("t_")
        .to_ascii_lowercase()
        .replace(['-', '_'], "x")
}

/// Creates an empty PostgreSQL database named `fst_<random>` and returns its URL. The test
/// script drops leftovers (`fst_%`) before each run.
pub async fn fresh_pg_database() -> String {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let name = format!("fst_{}", random_suffix());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL for tests is not reachable; run scripts/test.sh, which starts it");
    let sql = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

/// A test configuration before the server starts.
pub struct Setup {
    pub backend: Backend,
    pub state: StateKind,
    pub config: Config,
    pub dir: Arc<tempfile::TempDir>,
}

impl Setup {
    pub async fn new(backend: Backend, state: StateKind) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_file = dir.path().join("flowsync.toml");
        std::fs::write(
            &config_file,
            "# test config: values come from the environment below\n",
        )
        .expect("write config");
        let mut env = vec![
            (
                "FLOWSYNC_SERVER__HTTP_LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            (
                "FLOWSYNC_SERVER__DATA_DIR".to_owned(),
                dir.path().join("data").display().to_string(),
            ),
            ("FLOWSYNC_LOG__LEVEL".to_owned(), "warn".to_owned()),
        ];
        if backend == Backend::Postgres {
            env.push((
                "FLOWSYNC_DATABASE__URL".to_owned(),
                fresh_pg_database().await,
            ));
        }
        if state == StateKind::Redis {
            env.push(("FLOWSYNC_REDIS__URL".to_owned(), redis_url()));
            env.push((
                "FLOWSYNC_REDIS__KEY_PREFIX".to_owned(),
                format!("fstest:{}:", random_suffix()),
            ));
        }
        let loaded = Config::load_with_env(
            &LoadOptions {
                path: Some(config_file),
                flags: vec![],
            },
            env,
        )
        .expect("test config is valid");
        Setup {
            backend,
            state,
            config: loaded.config,
            dir: Arc::new(dir),
        }
    }

    /// Adjusts the configuration before starting.
    pub fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    pub async fn spawn(self) -> TestApp {
        let server = flowsync::server::start(self.config)
            .await
            .expect("server starts");
        let base = format!("http://{}", server.addr);
        TestApp {
            base,
            client: reqwest::Client::new(),
            server: Some(server),
            _dir: self.dir,
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub server: Option<Server>,
    /// Keeps the temp data dir alive as long as the server.
    _dir: Arc<tempfile::TempDir>,
}

/// A created or joined room, as the API answered.
#[derive(Debug, Clone)]
pub struct Seat {
    pub code: String,
    pub token: String,
    pub participant_id: String,
    pub body: Value,
}

impl TestApp {
    pub fn app(&self) -> &flowsync::app::App {
        &self.server.as_ref().expect("server running").app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the status and the JSON body (Null when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), token).await
    }

    pub async fn create_room(&self, body: Value) -> Seat {
        let (status, b) = self.post("/api/rooms", body, None).await;
        assert_eq!(status, StatusCode::CREATED, "create room: {b}");
        seat(b)
    }

    pub async fn create_simple(&self) -> Seat {
        self.create_room(json!({ "display_name": "Host", "name": "Focus" }))
            .await
    }

    pub async fn join(&self, code: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/rooms/{code}/join"), body, None)
            .await
    }

    pub async fn join_ok(&self, code: &str, name: &str) -> Seat {
        let (status, b) = self.join(code, json!({ "display_name": name })).await;
        assert_eq!(status, StatusCode::OK, "join: {b}");
        seat(b)
    }

    /// Opens a live connection (Socket.io) for a seat, as the room page does right after
    /// joining: until then a seat taken over REST is pending and cannot read or post the chat.
    /// Keep the connection while the seat is used; it answers no pings, which is fine for the
    /// half minute before the server would miss them.
    /// Returns once the snapshot (`room-joined`) has arrived, so the arrival's "joined" line
    /// is stored before anything the test does next.
    pub async fn connect(&self, seat: &Seat) -> flowsync::bench::sio::Conn {
        self.connect_snapshot(seat).await.0
    }

    /// [`Self::connect`], with the `room-joined` snapshot.
    pub async fn connect_snapshot(&self, seat: &Seat) -> (flowsync::bench::sio::Conn, Value) {
        let target = flowsync::bench::sio::Target::from_url(&self.base)
            .await
            .expect("target");
        let mut conn = flowsync::bench::sio::Conn::connect(&target, None, &seat.token)
            .await
            .expect("the socket connects");
        let snapshot = next_event(&mut conn, "room-joined").await;
        (conn, snapshot)
    }

    /// An operator request over the server's admin socket (`http::local`), as `flowsync rooms`
    /// makes it: status and JSON body.
    pub async fn admin(&self, method: &str, path: &str) -> (StatusCode, Value) {
        let dir = self.app().config().server.data_dir.clone();
        let (status, body) = flowsync::http::local::request(&dir, method, path)
            .await
            .expect("the admin socket answers");
        (
            StatusCode::from_u16(status).expect("status"),
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    }

    /// Runs a statement against the server's own database (to age rows in time-based tests).
    pub async fn sql(&self, sql: &'static str, arg: &str) {
        match self.app().db.write() {
            flowsync::db::PoolRef::Sqlite(p) => {
                sqlx::query(sql).bind(arg).execute(p).await.expect("sql");
            }
            flowsync::db::PoolRef::Postgres(p) => {
                sqlx::query(sql).bind(arg).execute(p).await.expect("sql");
            }
        }
    }

    /// The id of the room with this code (it must exist).
    pub async fn room_id(&self, code: &str) -> String {
        self.sql_string("SELECT id FROM rooms WHERE code = $1", code)
            .await
            .expect("the room exists")
    }

    pub async fn sql_string(&self, sql: &'static str, arg: &str) -> Option<String> {
        match self.app().db.write() {
            flowsync::db::PoolRef::Sqlite(p) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(p)
                .await
                .expect("sql"),
            flowsync::db::PoolRef::Postgres(p) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_optional(p)
                .await
                .expect("sql"),
        }
    }

    pub async fn sql_count(&self, sql: &'static str, arg: &str) -> i64 {
        match self.app().db.write() {
            flowsync::db::PoolRef::Sqlite(p) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_one(p)
                .await
                .expect("sql"),
            flowsync::db::PoolRef::Postgres(p) => sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_one(p)
                .await
                .expect("sql"),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }
}

pub fn seat(b: Value) -> Seat {
    Seat {
        code: b["room_code"].as_str().expect("room_code").to_owned(),
        token: b["token"].as_str().expect("token").to_owned(),
        participant_id: b["participant_id"]
            .as_str()
            .expect("participant_id")
            .to_owned(),
        body: b,
    }
}

/// Waits (up to 10 s) for the event `name` on a live connection and returns its payload;
/// events before it are skipped. Acknowledgements come back as the event `ack:<id>`.
pub async fn next_event(conn: &mut flowsync::bench::sio::Conn, name: &str) -> Value {
    use flowsync::bench::sio::Incoming;
    let wait = async {
        loop {
            match conn.next().await.expect("socket") {
                Incoming::Event(n, v) if n == name => return v,
                Incoming::Ack(id, v) if name == format!("ack:{id}") => return v,
                Incoming::Closed => panic!("the socket closed while waiting for {name}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} within 10 s"))
}

/// Emits `event` asking for an acknowledgement with this `id`, and returns the acknowledgement.
pub async fn ack(
    conn: &mut flowsync::bench::sio::Conn,
    event: &str,
    data: Value,
    id: u64,
) -> Value {
    conn.emit_with_ack(event, &data, id).await.expect("emit");
    next_event(conn, &format!("ack:{id}")).await
}

/// Polls `check` every 50 ms until it returns `Some` (up to `within`), for conditions that
/// become true by the passing of configured time (a grace running out).
pub async fn eventually<T, F, Fut>(within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition did not hold within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The error code of an error envelope.
pub fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Runs an `async fn(Setup)` against every backend × state-store combination.
macro_rules! each_backend {
    ($name:ident) => {
        mod $name {
            use $crate::helpers::{Backend, Need, Setup, StateKind};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                super::$name(Setup::new(Backend::Sqlite, StateKind::Memory).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_redis() {
                $crate::helpers::needs!(Need::Redis);
                super::$name(Setup::new(Backend::Sqlite, StateKind::Redis).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_memory() {
                $crate::helpers::needs!(Need::Postgres);
                super::$name(Setup::new(Backend::Postgres, StateKind::Memory).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                $crate::helpers::needs!(Need::Postgres, Need::Redis);
                super::$name(Setup::new(Backend::Postgres, StateKind::Redis).await).await
            }
        }
    };
}
pub(crate) use each_backend;

/// Runs `systemd-analyze verify` on units from `systemd/` (ExecStart pointed at `bin`; a timer
/// is verified together with its service) and returns the exposure score of the first one.
pub fn check_units(bin: &str, units: &[&str]) -> f64 {
    use std::process::Command;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tmp");
    let mut copies = Vec::new();
    for u in units {
        let text = std::fs::read_to_string(root.join("systemd").join(u)).expect("unit");
        let copy = dir.path().join(u);
        std::fs::write(&copy, text.replace("/usr/bin/flowsync", bin)).expect("write");
        copies.push(copy);
    }
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&copies)
        .output()
        .expect("systemd-analyze runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && out.trim().is_empty(),
        "systemd-analyze verify {units:?}: {out}"
    );
    let sec = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(root.join("systemd").join(units[0]))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&sec.stdout);
    let marker = format!("Overall exposure level for {}:", units[0]);
    text.lines()
        .find_map(|l| l.split(marker.as_str()).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score for {}:\n{text}", units[0]))
}
