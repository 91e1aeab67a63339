//! The registry of every configuration key: one table drives environment-variable parsing,
//! rendering (`serve --print-config`, the reload report), what a reload applies, and the
//! configuration reference (docs/reference/configuration.md). Each key names the `Config`
//! field that holds it, so rendering and reloading it cannot reach another field.

/// How a key's value is written, so an environment variable can be turned into the right
/// TOML type before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// A list of strings; in an environment variable, comma-separated.
    List,
}

/// One configuration key.
#[derive(Debug)]
pub struct KeyDef {
    pub section: &'static str,
    pub key: &'static str,
    pub kind: Kind,
    /// The default, as shown in documentation.
    pub default: &'static str,
    /// Masked in `--print-config`, `Debug` and logs.
    pub secret: bool,
    /// For a key that takes effect on `SIGHUP` without a restart: copies its value from the
    /// first configuration into the second. `App::reload` applies exactly these, so a key is
    /// reloadable by construction when it has one (`None`: the key needs a restart).
    pub apply: Option<fn(&super::Config, &mut super::Config)>,
    /// The key's effective value as TOML (secrets masked); `None` when unset.
    pub render: fn(&super::Config) -> Option<String>,
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
}

macro_rules! key {
    // `at: [rooms.idle_expiry]`: the field of `Config` that holds the key's value; it is
    // rendered with `render::Render`, and with `reload: true` a reload copies it.
    ($section:literal, $key:literal, $kind:ident, $default:literal, secret: $secret:literal, reload: false, at: [$($field:ident).+], $doc:literal) => {
        key!(@def $section, $key, $kind, $default, $secret, None,
            |c| super::render::Render::render(&c.$($field).+), $doc)
    };
    ($section:literal, $key:literal, $kind:ident, $default:literal, secret: $secret:literal, reload: true, at: [$($field:ident).+], $doc:literal) => {
        key!(@def $section, $key, $kind, $default, $secret,
            Some(|from, to| to.$($field).+.clone_from(&from.$($field).+)),
            |c| super::render::Render::render(&c.$($field).+), $doc)
    };
    // A value derived or masked when shown: its own render function; never reloadable.
    ($section:literal, $key:literal, $kind:ident, $default:literal, secret: $secret:literal, reload: false, render: $render:path, $doc:literal) => {
        key!(@def $section, $key, $kind, $default, $secret, None, $render, $doc)
    };
    (@def $section:literal, $key:literal, $kind:ident, $default:literal, $secret:literal, $apply:expr, $render:expr, $doc:literal) => {
        KeyDef {
            section: $section,
            key: $key,
            kind: Kind::$kind,
            default: $default,
            secret: $secret,
            apply: $apply,
            render: $render,
            doc: $doc,
        }
    };
}

/// Every key FlowSync understands. Rates are token buckets: `30/minute` allows 30 at once,
/// then one every 2 s. Anything else in a file or a `FLOWSYNC_*` variable is an error.
pub const KEYS: &[KeyDef] = &[
    key!("server", "public_url", Str, "derived from http_listen", secret: false, reload: false, render: super::render::public_url,
        "URL people open; used in invite links"),
    key!("server", "http_listen", Str, "127.0.0.1:8080", secret: false, reload: false, at: [server.http_listen],
        "address:port of the HTTP listener (port 0 picks a free port)"),
    key!("server", "https_listen", Str, "[::]:443", secret: false, reload: false, at: [server.https_listen],
        "address:port of the HTTPS listener when tls.mode is not off (http_listen then redirects to it)"),
    key!("server", "data_dir", Str, "./flowsync-data", secret: false, reload: false, at: [server.data_dir],
        "directory for the SQLite database and other state; created on first run"),
    key!("server", "trusted_proxies", List, "[]", secret: false, reload: false, at: [server.trusted_proxies],
        "CIDRs of reverse proxies whose X-Forwarded-For is believed"),
    key!("server", "admin_token", Str, "unset", secret: true, reload: false, render: super::render::admin_token,
        "token for /api/admin over TCP and /metrics from other hosts (the CLI uses the admin socket); store it as \"sha256:<hex>\""),
    key!("server", "max_connections", Int, "10000", secret: false, reload: false, at: [server.max_connections],
        "most connections open at once; at the cap the quietest is closed to make room (doctor checks limits against it)"),
    key!("server", "rate_limit_ipv6_prefix", Int, "64", secret: false, reload: false, at: [server.rate_limit_ipv6_prefix],
        "IPv6 clients count against per-address limits by this prefix length (32-128; one subscriber usually has a /64)"),
    key!("server", "header_timeout", Str, "10s", secret: false, reload: false, at: [server.header_timeout],
        "time a client has to send a request's headers, and an idle keep-alive connection waits for its next request"),
    key!("server", "idle_timeout", Str, "60s", secret: false, reload: false, at: [server.idle_timeout],
        "a connection (WebSockets included) that moves no byte for this long is closed; keep it above 45s, Socket.IO's heartbeat"),
    key!("server", "max_connections_per_ip", Int, "64", secret: false, reload: false, at: [server.max_connections_per_ip],
        "concurrent connections one address (an IPv6 network of rate_limit_ipv6_prefix) may hold"),
    key!("server", "connection_cap_exempt", List, "[\"127.0.0.0/8\", \"::1/128\"]", secret: false, reload: false, at: [server.connection_cap_exempt],
        "CIDRs not held to max_connections_per_ip or the per-address socket caps (trusted_proxies never are)"),
    key!("server", "unauthenticated_sockets_per_ip", Int, "16", secret: false, reload: false, at: [server.unauthenticated_sockets_per_ip],
        "Socket.IO sessions one client address may have open before they authenticate"),
    key!("server", "max_unauthenticated_sockets", Int, "1024", secret: false, reload: false, at: [server.max_unauthenticated_sockets],
        "Socket.IO sessions all clients together may have open before they authenticate"),
    key!("database", "url", Str, "sqlite://<data_dir>/flowsync.db", secret: true, reload: false, render: super::render::database_url,
        "sqlite://PATH or postgres://USER:PASS@HOST/DB"),
    key!("database", "max_connections", Int, "8", secret: false, reload: false, at: [database.max_connections],
        "connection pool size"),
    key!("database", "auto_migrate", Bool, "true", secret: false, reload: false, at: [database.auto_migrate],
        "apply pending migrations when serve starts; when false serve refuses to start with pending migrations"),
    key!("redis", "url", Str, "unset (in-process state)", secret: true, reload: false, render: super::render::redis_url,
        "redis://HOST:PORT/?protocol=resp3; shared state for several instances"),
    key!("redis", "key_prefix", Str, "flowsync:", secret: false, reload: false, at: [redis.key_prefix],
        "prefix of every Redis key FlowSync writes"),
    key!("tls", "mode", Str, "off", secret: false, reload: false, at: [tls.mode],
        "off, acme (obtained and renewed automatically), self-signed (for a LAN or testing) or files (tls.cert_path/key_path)"),
    key!("tls", "domains", List, "[]", secret: false, reload: false, at: [tls.domains],
        "names the certificate is for; the first is used in public URLs (self-signed default: localhost, 127.0.0.1, ::1)"),
    key!("tls", "email", Str, "unset", secret: false, reload: true, at: [tls.email],
        "contact address for the ACME account (expiry warnings from the CA)"),
    key!("tls", "acme_directory", Str, "https://acme-v02.api.letsencrypt.org/directory", secret: false, reload: true, at: [tls.acme_directory],
        "ACME directory URL (Let's Encrypt production; `cert issue --staging` uses its staging directory)"),
    key!("tls", "acme_ca_root", Str, "unset", secret: false, reload: true, at: [tls.acme_ca_root],
        "PEM file of an extra root to trust for a private ACME directory's HTTPS"),
    key!("tls", "challenge", Str, "http-01", secret: false, reload: true, at: [tls.challenge],
        "http-01 (answered on port 80, server.http_listen) or tls-alpn-01 (on port 443)"),
    key!("tls", "cert_path", Str, "unset", secret: false, reload: true, at: [tls.cert_path],
        "files mode: PEM certificate chain, re-read on SIGHUP"),
    key!("tls", "key_path", Str, "unset", secret: false, reload: true, at: [tls.key_path],
        "files mode: PEM private key, re-read on SIGHUP"),
    key!("turn", "mode", Str, "off", secret: false, reload: false, at: [turn.mode],
        "off, embedded (the STUN/TURN server inside serve) or external (a coturn with use-auth-secret sharing turn.shared_secret)"),
    key!("turn", "urls", List, "[]", secret: false, reload: false, at: [turn.urls],
        "turn:/turns:/stun: URLs handed to browsers (external mode; embedded derives them from the domain, turn.listen and the HTTPS port)"),
    key!("turn", "shared_secret", Str, "unset", secret: true, reload: false, render: super::render::turn_secret,
        "the TURN REST shared secret (coturn static-auth-secret); embedded mode generates one and keeps it in the database"),
    key!("turn", "credential_ttl", Str, "10m", secret: false, reload: true, at: [turn.credential_ttl],
        "lifetime of the TURN credentials handed out (browsers fetch fresh ones before; embedded keeps refreshing allocations of participants still in the room); external mode defaults to 6h, since coturn refuses refreshes with an expired credential"),
    key!("turn", "listen", Str, "[::]:3478", secret: false, reload: false, at: [turn.listen],
        "embedded: UDP and TCP address of the STUN/TURN server (TURN over TLS shares server.https_listen)"),
    key!("turn", "relay_ports", Str, "49152-65535", secret: false, reload: false, render: super::render::relay_ports,
        "embedded: UDP port range of relayed candidates (open it in the firewall)"),
    key!("turn", "external_ip", Str, "unset", secret: false, reload: false, at: [turn.external_ip],
        "embedded: public address to advertise behind 1:1 NAT (default: this host's public address, if it has exactly one)"),
    key!("turn", "allow_peers", List, "[]", secret: false, reload: false, at: [turn.allow_peers],
        "embedded: CIDRs the relay may send to although private or local (LAN installs); loopback and this host are refused otherwise"),
    key!("turn", "max_allocations", Int, "1000", secret: false, reload: false, at: [turn.max_allocations],
        "embedded: relayed allocations in total"),
    key!("turn", "user_quota", Int, "10", secret: false, reload: false, at: [turn.user_quota],
        "embedded: relayed allocations per credential (one participant)"),
    key!("turn", "room_quota", Int, "50", secret: false, reload: false, at: [turn.room_quota],
        "embedded: relayed allocations all participants of one room may hold together"),
    key!("rooms", "max_participants", Int, "10", secret: false, reload: true, at: [rooms.max_participants],
        "default and upper bound of a room's capacity (hard cap 10)"),
    key!("rooms", "idle_expiry", Str, "24h", secret: false, reload: true, at: [rooms.idle_expiry],
        "a room without joins, messages or live connections for this long expires"),
    key!("rooms", "reconnect_grace", Str, "60s", secret: false, reload: true, at: [rooms.reconnect_grace],
        "a disconnected participant keeps its seat this long"),
    key!("rooms", "pending_seat_grace", Str, "15s", secret: false, reload: true, at: [rooms.pending_seat_grace],
        "a seat taken over REST (create or join) whose live connection never arrives lapses after this long"),
    key!("rooms", "tombstone_ttl", Str, "30d", secret: false, reload: true, at: [rooms.tombstone_ttl],
        "how long an ended or expired room's code answers 410 and is not reused (at least 30d)"),
    key!("rooms", "create_policy", Str, "open", secret: false, reload: true, at: [rooms.create_policy],
        "who may create rooms: open (anyone, rate-limited), link (whoever has the team's create link: `flowsync rooms create-link`) or operator (only `flowsync rooms create` and the admin API)"),
    key!("rooms", "create_rate_per_ip", Str, "10/hour", secret: false, reload: true, at: [rooms.create_rate_per_ip],
        "rooms one address may create, as COUNT/second|minute|hour|day"),
    key!("rooms", "join_rate_per_ip", Str, "30/minute", secret: false, reload: true, at: [rooms.join_rate_per_ip],
        "join attempts (and so password guesses) one address may make"),
    key!("rooms", "lookup_rate_per_ip", Str, "60/minute", secret: false, reload: true, at: [rooms.lookup_rate_per_ip],
        "room lookups (GET /api/rooms/CODE) one address may make: bounds guessing codes"),
    key!("rooms", "message_rate_per_participant", Str, "30/minute", secret: false, reload: true, at: [rooms.message_rate_per_participant],
        "chat messages one participant may send (REST and Socket.io together)"),
    key!("rooms", "password_failures_per_room", Str, "30/hour", secret: false, reload: true, at: [rooms.password_failures_per_room],
        "wrong passwords a room accepts from all addresses together; past it every attempt waits (Retry-After)"),
    key!("rooms", "message_max_chars", Int, "2000", secret: false, reload: true, at: [rooms.message_max_chars],
        "longest chat message, in characters"),
    key!("rooms", "timer_work_seconds", Int, "1500", secret: false, reload: true, at: [rooms.timer.work_seconds],
        "default work phase"),
    key!("rooms", "timer_short_break_seconds", Int, "300", secret: false, reload: true, at: [rooms.timer.short_break_seconds],
        "default short break"),
    key!("rooms", "timer_long_break_seconds", Int, "900", secret: false, reload: true, at: [rooms.timer.long_break_seconds],
        "default long break"),
    key!("rooms", "timer_long_break_every", Int, "4", secret: false, reload: true, at: [rooms.timer.long_break_every],
        "a long break follows every Nth completed work phase"),
    key!("rooms", "timer_auto_start", Bool, "true", secret: false, reload: true, at: [rooms.timer.auto_start],
        "start the next phase automatically when one ends"),
    key!("rooms", "focus_mute_at_work_start", Bool, "false", secret: false, reload: true, at: [rooms.timer.focus.mute_at_work_start],
        "new rooms' focus rule: everyone's microphone is muted when a work block starts (hosts change it per room)"),
    key!("rooms", "focus_quiet_chat", Bool, "false", secret: false, reload: true, at: [rooms.timer.focus.quiet_chat],
        "new rooms' focus rule: no chat sounds or notifications during work blocks; a count waits for the break"),
    key!("rooms", "focus_break_banner", Bool, "true", secret: false, reload: true, at: [rooms.timer.focus.break_banner],
        "new rooms' focus rule: a banner over the stage during breaks with the time left"),
    key!("backup", "dir", Str, "<data_dir>/backups", secret: false, reload: true, at: [backup.dir],
        "where `flowsync backup` writes archives (init sets /var/backups/flowsync)"),
    key!("backup", "keep", Int, "14", secret: false, reload: true, at: [backup.keep],
        "newest archives kept in backup.dir; older ones are pruned after a successful backup"),
    key!("backup", "keep_daily", Int, "0", secret: false, reload: true, at: [backup.keep_daily],
        "also keep the newest archive of each of this many recent days"),
    key!("backup", "keep_weekly", Int, "0", secret: false, reload: true, at: [backup.keep_weekly],
        "also keep the newest archive of each of this many recent weeks"),
    key!("backup", "include_secrets", Bool, "false", secret: false, reload: true, at: [backup.include_secrets],
        "put generated secrets, secret config keys and private keys in archives"),
    key!("log", "level", Str, "info", secret: false, reload: true, at: [log.level],
        "error, warn, info, debug, trace, or a tracing filter such as flowsync=debug"),
    key!("log", "format", Str, "text", secret: false, reload: false, at: [log.format], "text or json"),
];

pub fn find(section: &str, key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.section == section && k.key == key)
}

/// The configuration reference as a Markdown table (docs/reference/configuration.md, `--help` text).
pub fn markdown_reference() -> String {
    let mut out =
        String::from("| key | env | default | reload | meaning |\n|---|---|---|---|---|\n");
    for k in KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {} |\n",
            k.dotted(),
            k.env_var(),
            k.default,
            if k.reloadable() { "SIGHUP" } else { "restart" },
            k.doc
        ));
    }
    out
}
