//! The registry of every configuration key. One definition per key drives reading it (from a
//! file, a `FLOWSYNC_*` variable or a flag, or its default), checking it, rendering it
//! (`serve --print-config`, the reload report), what a reload applies, the commented example
//! file and the configuration reference (docs/reference/configuration.md). Each key names the
//! `Config` field that holds it, so reading, rendering and reloading it cannot reach another.

use std::time::Duration;

use super::{Config, TlsMode, TurnMode};

/// How a key's value is written, so an environment variable can be turned into the right
/// TOML type, and a file's value checked against it, before the key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// A list of strings; in an environment variable, comma-separated.
    List,
}

/// What a key is when nothing sets it.
#[derive(Debug, Clone, Copy)]
pub enum Fallback {
    /// This value, read exactly as if the file said it (a TOML literal; strings unquoted).
    Value(&'static str),
    /// Nothing: the field stays `None`. The text says what that means.
    Unset(&'static str),
    /// Computed from other keys once every key is read, in registry order; the text says how.
    Derived(&'static str, fn(&mut Config, &Context)),
}

impl Fallback {
    /// The default as the reference and the example file show it.
    pub fn doc(&self) -> &'static str {
        match self {
            Fallback::Value(text) | Fallback::Unset(text) | Fallback::Derived(text, _) => text,
        }
    }
}

/// What reading a configuration knows besides its keys.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The configuration comes from a file (an installed server), not from defaults alone.
    pub has_file: bool,
}

/// Why a configuration cannot be used, as far as one key can tell (see [`KeyDef::check`]).
pub type Check = fn(&Config) -> Result<(), String>;

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    pub section: &'static str,
    pub key: &'static str,
    pub kind: Kind,
    pub fallback: Fallback,
    /// For an integer: the values allowed, inclusive.
    pub range: Option<(i64, i64)>,
    /// Masked in `--print-config`, `Debug` and logs.
    pub secret: bool,
    /// Parses a value of the key into its field of the configuration being read.
    pub read: fn(&toml::Value, &mut Config) -> Result<(), String>,
    /// Checked once every key is read (and may look at the others): why the value cannot be
    /// used, naming what to change.
    pub check: Option<Check>,
    /// For a key that takes effect on `SIGHUP` without a restart: copies its value from the
    /// first configuration into the second. `App::reload` applies exactly these, so a key is
    /// reloadable by construction when it has one (`None`: the key needs a restart).
    pub apply: Option<fn(&Config, &mut Config)>,
    /// The key's effective value as TOML (secrets masked); `None` when unset.
    pub render: fn(&Config) -> Option<String>,
    pub doc: &'static str,
}

impl KeyDef {
    /// Whether the key takes effect on `SIGHUP` without a restart.
    pub fn reloadable(&self) -> bool {
        self.apply.is_some()
    }

    pub fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    pub fn env_var(&self) -> String {
        format!(
            "FLOWSYNC_{}__{}",
            self.section.to_ascii_uppercase(),
            self.key.to_ascii_uppercase()
        )
    }

    /// The integers the key allows (`min..=max`).
    const fn range(self, min: i64, max: i64) -> KeyDef {
        KeyDef {
            range: Some((min, max)),
            ..self
        }
    }

    /// A check of the key's value once every key is read.
    const fn check(self, check: Check) -> KeyDef {
        KeyDef {
            check: Some(check),
            ..self
        }
    }
}

const fn value(text: &'static str) -> Fallback {
    Fallback::Value(text)
}

const fn unset(text: &'static str) -> Fallback {
    Fallback::Unset(text)
}

const fn derived(text: &'static str, derive: fn(&mut Config, &Context)) -> Fallback {
    Fallback::Derived(text, derive)
}

macro_rules! key {
    // `at: [rooms.idle_expiry]`: the field of `Config` that holds the key's value. It is read
    // with `value::FromValue`, rendered with `render::Render`, and with `reload: true` a
    // reload copies it.
    ($section:literal, $key:literal, $kind:ident, $fallback:expr, secret: $secret:literal, reload: $reload:tt, at: [$($field:ident).+], $doc:literal) => {
        key!(@def $section, $key, $kind, $fallback, $secret, key!(@apply $reload $($field).+),
            |v, c| { c.$($field).+ = super::value::FromValue::from_value(v)?; Ok(()) },
            |c| super::render::Render::render(&c.$($field).+), $doc)
    };
    // A value derived or masked when shown: its own render function; never reloadable.
    ($section:literal, $key:literal, $kind:ident, $fallback:expr, secret: $secret:literal, reload: false, at: [$($field:ident).+], render: $render:path, $doc:literal) => {
        key!(@def $section, $key, $kind, $fallback, $secret, None,
            |v, c| { c.$($field).+ = super::value::FromValue::from_value(v)?; Ok(()) },
            $render, $doc)
    };
    // A value stored in another form than written: its own read and render functions.
    ($section:literal, $key:literal, $kind:ident, $fallback:expr, secret: $secret:literal, reload: false, read: $read:path, render: $render:path, $doc:literal) => {
        key!(@def $section, $key, $kind, $fallback, $secret, None, $read, $render, $doc)
    };
    (@apply false $($field:ident).+) => { None };
    (@apply true $($field:ident).+) => {
        Some(|from, to| to.$($field).+.clone_from(&from.$($field).+))
    };
    (@def $section:literal, $key:literal, $kind:ident, $fallback:expr, $secret:literal, $apply:expr, $read:expr, $render:expr, $doc:literal) => {
        KeyDef {
            section: $section,
            key: $key,
            kind: Kind::$kind,
            fallback: $fallback,
            range: None,
            secret: $secret,
            read: $read,
            check: None,
            apply: $apply,
            render: $render,
            doc: $doc,
        }
    };
}

/// Every key FlowSync understands. Rates are token buckets: `30/minute` allows 30 at once,
/// then one every 2 s. Anything else in a file or a `FLOWSYNC_*` variable is an error.
pub const KEYS: &[KeyDef] = &[
    key!("server", "public_url", Str, unset("derived from http_listen"), secret: false, reload: false, at: [server.public_url], render: super::render::public_url,
        "URL people open; used in invite links")
        .check(|c| match &c.server.public_url {
            Some(url) if !url.starts_with("http://") && !url.starts_with("https://") => {
                Err("must start with http:// or https://".into())
            }
            _ => Ok(()),
        }),
    key!("server", "http_listen", Str, value("127.0.0.1:8080"), secret: false, reload: false, at: [server.http_listen],
        "address:port of the HTTP listener (port 0 picks a free port)"),
    key!("server", "https_listen", Str, value("[::]:443"), secret: false, reload: false, at: [server.https_listen],
        "address:port of the HTTPS listener when tls.mode is not off (http_listen then redirects to it)"),
    key!("server", "data_dir", Str, derived("./flowsync-data; /var/lib/flowsync when read from a config file", derive::data_dir), secret: false, reload: false, at: [server.data_dir],
        "directory for the SQLite database and other state; created on first run"),
    key!("server", "trusted_proxies", List, value("[]"), secret: false, reload: false, at: [server.trusted_proxies],
        "CIDRs of reverse proxies whose X-Forwarded-For is believed"),
    key!("server", "admin_token", Str, unset("unset"), secret: true, reload: false, read: super::value::admin_token, render: super::render::admin_token,
        "token for /api/admin over TCP and /metrics from other hosts (the CLI uses the admin socket); store it as \"sha256:<hex>\""),
    key!("server", "max_connections", Int, value("10000"), secret: false, reload: false, at: [server.max_connections],
        "most connections open at once; at the cap the quietest is closed to make room (doctor checks limits against it)")
        .range(1, 10_000_000),
    key!("server", "rate_limit_ipv6_prefix", Int, value("64"), secret: false, reload: false, at: [server.rate_limit_ipv6_prefix],
        "IPv6 clients count against per-address limits by this prefix length (32-128; one subscriber usually has a /64)")
        .range(32, 128),
    key!("server", "header_timeout", Str, value("10s"), secret: false, reload: false, at: [server.header_timeout],
        "time a client has to send a request's headers, and an idle keep-alive connection waits for its next request")
        .check(|c| at_least(c.server.header_timeout, Duration::from_secs(1), "must be at least 1s")),
    key!("server", "idle_timeout", Str, value("60s"), secret: false, reload: false, at: [server.idle_timeout],
        "a connection (WebSockets included) that moves no byte for this long is closed; keep it above 45s, Socket.IO's heartbeat")
        .check(|c| {
            at_least(
                c.server.idle_timeout,
                Duration::from_secs(1),
                "must be at least 1s (and above 45s, Socket.IO's heartbeat, unless sockets should be cut)",
            )
        }),
    key!("server", "max_connections_per_ip", Int, value("64"), secret: false, reload: false, at: [server.max_connections_per_ip],
        "concurrent connections one address (an IPv6 network of rate_limit_ipv6_prefix) may hold")
        .range(1, 10_000_000),
    key!("server", "connection_cap_exempt", List, value("[\"127.0.0.0/8\", \"::1/128\"]"), secret: false, reload: false, at: [server.connection_cap_exempt],
        "CIDRs not held to max_connections_per_ip or the per-address socket caps (trusted_proxies never are)"),
    key!("server", "unauthenticated_sockets_per_ip", Int, value("16"), secret: false, reload: false, at: [server.unauthenticated_sockets_per_ip],
        "Socket.IO sessions one client address may have open before they authenticate")
        .range(1, 10_000_000),
    key!("server", "max_unauthenticated_sockets", Int, value("1024"), secret: false, reload: false, at: [server.max_unauthenticated_sockets],
        "Socket.IO sessions all clients together may have open before they authenticate")
        .range(1, 10_000_000),
    key!("database", "url", Str, derived("sqlite://<data_dir>/flowsync.db", derive::database_url), secret: true, reload: false, at: [database.url], render: super::render::database_url,
        "sqlite://PATH or postgres://USER:PASS@HOST/DB")
        .check(|c| {
            let url = c.database.url.expose();
            require(
                url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "must start with sqlite:// or postgres://",
            )
        }),
    key!("database", "max_connections", Int, value("8"), secret: false, reload: false, at: [database.max_connections],
        "connection pool size")
        .range(1, 1000),
    key!("database", "auto_migrate", Bool, value("true"), secret: false, reload: false, at: [database.auto_migrate],
        "apply pending migrations when serve starts; when false serve refuses to start with pending migrations"),
    key!("redis", "url", Str, unset("unset (in-process state)"), secret: true, reload: false, at: [redis.url], render: super::render::redis_url,
        "redis://HOST:PORT/?protocol=resp3; shared state for several instances")
        .check(|c| match &c.redis.url {
            Some(url) => require(
                url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"),
                "must start with redis:// or rediss://",
            ),
            None => Ok(()),
        }),
    key!("redis", "key_prefix", Str, value("flowsync:"), secret: false, reload: false, at: [redis.key_prefix],
        "prefix of every Redis key FlowSync writes"),
    key!("tls", "mode", Str, value("off"), secret: false, reload: false, at: [tls.mode],
        "off, acme (obtained and renewed automatically), self-signed (for a LAN or testing) or files (tls.cert_path/key_path)"),
    key!("tls", "domains", List, value("[]"), secret: false, reload: false, at: [tls.domains],
        "names the certificate is for; the first is used in public URLs (self-signed default: localhost, 127.0.0.1, ::1)")
        .check(|c| {
            require(
                c.tls.mode != TlsMode::Acme || !c.tls.domains.is_empty(),
                "tls.mode = acme needs the domain name(s) to obtain a certificate for",
            )
        }),
    key!("tls", "email", Str, unset("unset"), secret: false, reload: true, at: [tls.email],
        "contact address for the ACME account (expiry warnings from the CA)"),
    key!("tls", "acme_directory", Str, value("https://acme-v02.api.letsencrypt.org/directory"), secret: false, reload: true, at: [tls.acme_directory],
        "ACME directory URL (Let's Encrypt production; `cert issue --staging` uses its staging directory)")
        .check(|c| {
            require(
                c.tls.mode != TlsMode::Acme || c.tls.acme_directory.starts_with("https://"),
                "must be an https:// URL",
            )
        }),
    key!("tls", "acme_ca_root", Str, unset("unset"), secret: false, reload: true, at: [tls.acme_ca_root],
        "PEM file of an extra root to trust for a private ACME directory's HTTPS"),
    key!("tls", "challenge", Str, value("http-01"), secret: false, reload: true, at: [tls.challenge],
        "http-01 (answered on port 80, server.http_listen) or tls-alpn-01 (on port 443)"),
    key!("tls", "cert_path", Str, unset("unset"), secret: false, reload: true, at: [tls.cert_path],
        "files mode: PEM certificate chain, re-read on SIGHUP")
        .check(|c| {
            require(
                c.tls.mode != TlsMode::Files || (c.tls.cert_path.is_some() && c.tls.key_path.is_some()),
                "tls.mode = files needs tls.cert_path and tls.key_path",
            )
        }),
    key!("tls", "key_path", Str, unset("unset"), secret: false, reload: true, at: [tls.key_path],
        "files mode: PEM private key, re-read on SIGHUP"),
    key!("turn", "mode", Str, value("off"), secret: false, reload: false, at: [turn.mode],
        "off, embedded (the STUN/TURN server inside serve) or external (a coturn with use-auth-secret sharing turn.shared_secret)"),
    key!("turn", "urls", List, value("[]"), secret: false, reload: false, at: [turn.urls],
        "turn:/turns:/stun: URLs handed to browsers (external mode; embedded derives them from the domain, turn.listen and the HTTPS port)")
        .check(|c| {
            require(
                c.turn.mode != TurnMode::External || !c.turn.urls.is_empty(),
                "external mode needs at least one turn: URL",
            )?;
            require(
                c.turn.urls.iter().all(|u| ["turn:", "turns:", "stun:"].iter().any(|p| u.starts_with(p))),
                "each URL must start with turn:, turns: or stun:",
            )
        }),
    key!("turn", "shared_secret", Str, unset("unset"), secret: true, reload: false, at: [turn.shared_secret], render: super::render::turn_secret,
        "the TURN REST shared secret (coturn static-auth-secret); embedded mode generates one and keeps it in the database")
        .check(|c| {
            require(
                c.turn.mode != TurnMode::External || c.turn.shared_secret.is_some(),
                "external mode needs the coturn shared secret",
            )
        }),
    key!("turn", "credential_ttl", Str, derived("10m; 6h when turn.mode is external", derive::credential_ttl), secret: false, reload: true, at: [turn.credential_ttl],
        "lifetime of the TURN credentials handed out (browsers fetch fresh ones before; embedded keeps refreshing allocations of participants still in the room); external mode defaults to 6h, since coturn refuses refreshes with an expired credential"),
    key!("turn", "listen", Str, value("[::]:3478"), secret: false, reload: false, at: [turn.listen],
        "embedded: UDP and TCP address of the STUN/TURN server (TURN over TLS shares server.https_listen)"),
    key!("turn", "relay_ports", Str, value("49152-65535"), secret: false, reload: false, read: super::value::relay_ports, render: super::render::relay_ports,
        "embedded: UDP port range of relayed candidates (open it in the firewall)"),
    key!("turn", "external_ip", Str, unset("unset"), secret: false, reload: false, at: [turn.external_ip],
        "embedded: public address to advertise behind 1:1 NAT (default: this host's public address, if it has exactly one)"),
    key!("turn", "allow_peers", List, value("[]"), secret: false, reload: false, at: [turn.allow_peers],
        "embedded: CIDRs the relay may send to although private or local (LAN installs); loopback and this host are refused otherwise"),
    key!("turn", "max_allocations", Int, value("1000"), secret: false, reload: false, at: [turn.max_allocations],
        "embedded: relayed allocations in total")
        .range(1, 1_000_000),
    key!("turn", "user_quota", Int, value("10"), secret: false, reload: false, at: [turn.user_quota],
        "embedded: relayed allocations per credential (one participant)")
        .range(1, 1000),
    key!("turn", "room_quota", Int, value("50"), secret: false, reload: false, at: [turn.room_quota],
        "embedded: relayed allocations all participants of one room may hold together")
        .range(1, 100_000),
    key!("rooms", "max_participants", Int, value("10"), secret: false, reload: true, at: [rooms.max_participants],
        "default and upper bound of a room's capacity (hard cap 10)")
        .range(2, 10),
    key!("rooms", "idle_expiry", Str, value("24h"), secret: false, reload: true, at: [rooms.idle_expiry],
        "a room without joins, messages or live connections for this long expires"),
    key!("rooms", "reconnect_grace", Str, value("60s"), secret: false, reload: true, at: [rooms.reconnect_grace],
        "a disconnected participant keeps its seat this long"),
    key!("rooms", "pending_seat_grace", Str, value("15s"), secret: false, reload: true, at: [rooms.pending_seat_grace],
        "a seat taken over REST (create or join) whose live connection never arrives lapses after this long"),
    key!("rooms", "tombstone_ttl", Str, value("30d"), secret: false, reload: true, at: [rooms.tombstone_ttl],
        "how long an ended or expired room's code answers 410 and is not reused (at least 30d)")
        .check(|c| {
            at_least(
                c.rooms.tombstone_ttl,
                Duration::from_secs(30 * 86400),
                "must be at least 30d so old invite links never open a stranger's room",
            )
        }),
    key!("rooms", "create_policy", Str, value("open"), secret: false, reload: true, at: [rooms.create_policy],
        "who may create rooms: open (anyone, rate-limited), link (whoever has the team's create link: `flowsync rooms create-link`) or operator (only `flowsync rooms create` and the admin API)"),
    key!("rooms", "create_rate_per_ip", Str, value("10/hour"), secret: false, reload: true, at: [rooms.create_rate_per_ip],
        "rooms one address may create, as COUNT/second|minute|hour|day"),
    key!("rooms", "join_rate_per_ip", Str, value("30/minute"), secret: false, reload: true, at: [rooms.join_rate_per_ip],
        "join attempts (and so password guesses) one address may make"),
    key!("rooms", "lookup_rate_per_ip", Str, value("60/minute"), secret: false, reload: true, at: [rooms.lookup_rate_per_ip],
        "room lookups (GET /api/rooms/CODE) one address may make: bounds guessing codes"),
    key!("rooms", "message_rate_per_participant", Str, value("30/minute"), secret: false, reload: true, at: [rooms.message_rate_per_participant],
        "chat messages one participant may send (REST and Socket.io together)"),
    key!("rooms", "password_failures_per_room", Str, value("30/hour"), secret: false, reload: true, at: [rooms.password_failures_per_room],
        "wrong passwords a room accepts from all addresses together; past it every attempt waits (Retry-After)"),
    key!("rooms", "message_max_chars", Int, value("2000"), secret: false, reload: true, at: [rooms.message_max_chars],
        "longest chat message, in characters")
        .range(1, 100_000),
    key!("rooms", "timer_work_seconds", Int, value("1500"), secret: false, reload: true, at: [rooms.timer.work_seconds],
        "default work phase")
        .range(1, 14_400),
    key!("rooms", "timer_short_break_seconds", Int, value("300"), secret: false, reload: true, at: [rooms.timer.short_break_seconds],
        "default short break")
        .range(1, 14_400),
    key!("rooms", "timer_long_break_seconds", Int, value("900"), secret: false, reload: true, at: [rooms.timer.long_break_seconds],
        "default long break")
        .range(1, 14_400),
    key!("rooms", "timer_long_break_every", Int, value("4"), secret: false, reload: true, at: [rooms.timer.long_break_every],
        "a long break follows every Nth completed work phase")
        .range(1, 100),
    key!("rooms", "timer_auto_start", Bool, value("true"), secret: false, reload: true, at: [rooms.timer.auto_start],
        "start the next phase automatically when one ends"),
    key!("rooms", "focus_mute_at_work_start", Bool, value("false"), secret: false, reload: true, at: [rooms.timer.focus.mute_at_work_start],
        "new rooms' focus rule: everyone's microphone is muted when a work block starts (hosts change it per room)"),
    key!("rooms", "focus_quiet_chat", Bool, value("false"), secret: false, reload: true, at: [rooms.timer.focus.quiet_chat],
        "new rooms' focus rule: no chat sounds or notifications during work blocks; a count waits for the break"),
    key!("rooms", "focus_break_banner", Bool, value("true"), secret: false, reload: true, at: [rooms.timer.focus.break_banner],
        "new rooms' focus rule: a banner over the stage during breaks with the time left"),
    key!("backup", "dir", Str, derived("<data_dir>/backups", derive::backup_dir), secret: false, reload: true, at: [backup.dir],
        "where `flowsync backup` writes archives (init sets /var/backups/flowsync)"),
    key!("backup", "keep", Int, value("14"), secret: false, reload: true, at: [backup.keep],
        "newest archives kept in backup.dir; older ones are pruned after a successful backup")
        .range(1, 10_000),
    key!("backup", "keep_daily", Int, value("0"), secret: false, reload: true, at: [backup.keep_daily],
        "also keep the newest archive of each of this many recent days")
        .range(0, 10_000),
    key!("backup", "keep_weekly", Int, value("0"), secret: false, reload: true, at: [backup.keep_weekly],
        "also keep the newest archive of each of this many recent weeks")
        .range(0, 10_000),
    key!("backup", "include_secrets", Bool, value("false"), secret: false, reload: true, at: [backup.include_secrets],
        "put generated secrets, secret config keys and private keys in archives"),
    key!("log", "level", Str, value("info"), secret: false, reload: true, at: [log.level],
        "error, warn, info, debug, trace, or a tracing filter such as flowsync=debug")
        .check(|c| {
            require(
                tracing_subscriber::EnvFilter::try_new(&c.log.level).is_ok(),
                "expected error, warn, info, debug, trace or a tracing filter",
            )
        }),
    key!("log", "format", Str, value("text"), secret: false, reload: false, at: [log.format], "text or json"),
];

/// `Err(reason)` unless `ok`.
fn require(ok: bool, reason: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(reason.to_owned()) }
}

fn at_least(value: Duration, min: Duration, reason: &str) -> Result<(), String> {
    require(value >= min, reason)
}

/// The defaults computed from other keys.
mod derive {
    use std::time::Duration;

    use super::Context;
    use crate::config::{Config, Secret, TurnMode};

    pub fn data_dir(c: &mut Config, cx: &Context) {
        c.server.data_dir = if cx.has_file {
            "/var/lib/flowsync"
        } else {
            "./flowsync-data"
        }
        .into();
    }

    pub fn database_url(c: &mut Config, _: &Context) {
        let file = c.server.data_dir.join("flowsync.db");
        c.database.url = Secret::new(format!("sqlite://{}", file.display()));
    }

    /// Embedded TURN keeps refreshing the allocations of participants still in the room
    /// whatever their credential's age; coturn does not, so its credentials must outlast a
    /// call.
    pub fn credential_ttl(c: &mut Config, _: &Context) {
        let minutes = if c.turn.mode == TurnMode::External {
            360
        } else {
            10
        };
        c.turn.credential_ttl = Duration::from_secs(minutes * 60);
    }

    pub fn backup_dir(c: &mut Config, _: &Context) {
        c.backup.dir = c.server.data_dir.join("backups");
    }
}

impl Config {
    /// The effective value of every key, rendered as TOML, secrets masked.
    pub fn render(&self) -> Vec<(&'static KeyDef, Option<String>)> {
        KEYS.iter().map(|k| (k, (k.render)(self))).collect()
    }
}

pub fn find(section: &str, key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.section == section && k.key == key)
}

/// The table of docs/reference/configuration.md: every key, its variable, default, when it
/// takes effect and what it means (a test keeps the document in step with it).
pub fn markdown_reference() -> String {
    let mut out = String::from(
        "| key | environment variable | default | takes effect | meaning |\n|---|---|---|---|---|\n",
    );
    for k in KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {}{} |\n",
            k.dotted(),
            k.env_var(),
            k.fallback.doc(),
            if k.reloadable() { "SIGHUP" } else { "restart" },
            k.doc,
            if k.secret { " (secret)" } else { "" }
        ));
    }
    out
}
