//! FlowSync's configuration: one typed, validated value built from defaults → TOML file →
//! `FLOWSYNC_<SECTION>__<KEY>` environment → command-line flags, and passed down explicitly.

pub mod keys;
pub mod raw;
mod secret;
pub mod sources;
pub mod template;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use secret::Secret;
pub use sources::{FlagValue, Layers, Source};

use crate::rooms::TimerSettings;

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/flowsync/flowsync.toml";

/// Why a configuration could not be used. Each message names the key, file or variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}:{line}:{col}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error(
        "unknown environment variable {name}: FlowSync variables are FLOWSYNC_<SECTION>__<KEY> for a key listed in docs/reference/configuration.md"
    )]
    UnknownEnv { name: String },
    #[error("{key} (from {origin}): {reason}")]
    Invalid {
        key: String,
        origin: Source,
        reason: String,
    },
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub tls: TlsConfig,
    pub turn: TurnConfig,
    pub rooms: RoomsConfig,
    pub backup: BackupConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone)]
pub struct BackupConfig {
    pub dir: PathBuf,
    pub keep: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub include_secrets: bool,
    /// Not a key: back up a database with data before migrating it (`--no-backup` clears it).
    pub before_migrate: bool,
    /// Not a key: the config file in use, copied into archives (set by the command line).
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Explicit public URL, if configured; see [`Config::public_url`].
    pub public_url: Option<String>,
    pub http_listen: SocketAddr,
    /// Used when TLS is on; `http_listen` then only redirects to it.
    pub https_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub trusted_proxies: Vec<IpNet>,
    /// SHA-256 of the admin token; the token itself is never kept.
    pub admin_token_sha256: Option<Secret<[u8; 32]>>,
    pub max_connections: u32,
    /// IPv6 clients share per-address limits by this prefix (a /64 is one subscriber).
    pub rate_limit_ipv6_prefix: u8,
    /// See `http::serve` and docs/security.md.
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections_per_ip: u32,
    pub connection_cap_exempt: Vec<IpNet>,
    pub unauthenticated_sockets_per_ip: u32,
    pub max_unauthenticated_sockets: u32,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May carry a password, hence secret.
    pub url: Secret<String>,
    pub max_connections: u32,
    pub auto_migrate: bool,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: Option<Secret<String>>,
    pub key_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    Acme,
    SelfSigned,
    Files,
}

/// How the ACME CA checks that we control a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Http01,
    TlsAlpn01,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub mode: TlsMode,
    pub domains: Vec<String>,
    pub email: Option<String>,
    pub acme_directory: String,
    pub acme_ca_root: Option<PathBuf>,
    pub challenge: Challenge,
    pub cert_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnMode {
    Off,
    External,
    /// The STUN/TURN server inside `serve` (see `crate::turn`).
    Embedded,
}

#[derive(Debug, Clone)]
pub struct TurnConfig {
    pub mode: TurnMode,
    /// External: the coturn URLs. Embedded: derived at start unless set.
    pub urls: Vec<String>,
    /// External: coturn's static-auth-secret. Embedded: generated (and kept in the database)
    /// unless set.
    pub shared_secret: Option<Secret<String>>,
    pub credential_ttl: Duration,
    /// Embedded: UDP and TCP listen address.
    pub listen: SocketAddr,
    /// Embedded: the UDP ports relayed candidates use (inclusive).
    pub relay_ports: (u16, u16),
    /// Embedded: the public address advertised in relayed candidates (1:1 NAT).
    pub external_ip: Option<std::net::IpAddr>,
    /// Embedded: peers allowed although private or local (LAN installs, tests).
    pub allow_peers: Vec<IpNet>,
    /// Embedded: allocations in total, and per credential.
    pub max_allocations: u32,
    pub user_quota: u32,
    pub room_quota: u32,
}

/// A rate limit such as `10/hour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, unit) = s
            .split_once('/')
            .ok_or_else(|| "expected COUNT/UNIT, e.g. 10/hour".to_owned())?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a whole number"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86400),
            other => {
                return Err(format!(
                    "unknown unit {other:?}: use second, minute, hour or day"
                ));
            }
        };
        if count == 0 {
            return Err("count must be at least 1".into());
        }
        Ok(Rate { count, per })
    }
}

#[derive(Debug, Clone)]
pub struct RoomsConfig {
    pub max_participants: u8,
    pub idle_expiry: Duration,
    pub reconnect_grace: Duration,
    /// A seat taken over REST (create, join) whose socket never arrives lapses this soon.
    pub pending_seat_grace: Duration,
    pub tombstone_ttl: Duration,
    pub create_policy: CreatePolicy,
    pub create_rate_per_ip: Rate,
    pub join_rate_per_ip: Rate,
    pub lookup_rate_per_ip: Rate,
    pub message_rate_per_participant: Rate,
    pub password_failures_per_room: Rate,
    pub message_max_chars: usize,
    pub timer: TimerSettings,
}

/// Who may create rooms (`rooms.create_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePolicy {
    /// Anyone who reaches the server, rate-limited per address (the embedded default, on
    /// loopback).
    Open,
    /// Whoever has the team's create link (a secret the operator shares and can rotate).
    Link,
    /// Only the operator: `flowsync rooms create` and the admin API.
    Operator,
}

impl CreatePolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(CreatePolicy::Open),
            "link" => Some(CreatePolicy::Link),
            "operator" => Some(CreatePolicy::Operator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CreatePolicy::Open => "open",
            CreatePolicy::Link => "link",
            CreatePolicy::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

/// Where to look for the config file, and the values set on the command line.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--config PATH`; a missing explicit file is an error.
    pub path: Option<PathBuf>,
    pub flags: Vec<FlagValue>,
}

/// A loaded configuration together with the layers it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub layers: Layers,
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads from the real process environment.
    pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
        Self::load_with_env(opts, std::env::vars())
    }

    /// Loads with an explicit environment (tests pass their own).
    pub fn load_with_env(
        opts: &LoadOptions,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let explicit = opts.path.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "FLOWSYNC_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let path = match explicit {
            Some(p) => Some(p),
            // The installed configuration is used when it exists. One this user cannot even
            // look at (/etc/flowsync is root:flowsync 0750) is an error, never the defaults:
            // those would put a fresh SQLite database in the current directory.
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_PATH);
                match p.try_exists() {
                    Ok(true) => Some(p),
                    Ok(false) => None,
                    Err(e) => {
                        return Err(ConfigError::Unreadable {
                            reason: sources::unreadable_reason(&e),
                            path: p,
                        });
                    }
                }
            }
        };
        let file = match &path {
            Some(p) => Some((p.clone(), sources::read_file(p)?)),
            None => None,
        };
        let env_layers = sources::read_env(env)?;
        let layers = sources::layer(file, env_layers, &opts.flags);
        let raw: raw::RawConfig =
            layers
                .table
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    key: "configuration".into(),
                    origin: Source::Default,
                    reason: e.message().trim().to_owned(),
                })?;
        let config = Self::from_raw(raw, &layers, path.is_some())?;
        Ok(Loaded {
            config,
            layers,
            file: path,
        })
    }

    /// The URL people open, for invite links: explicit, or derived from the listener.
    pub fn public_url(&self) -> String {
        if let Some(url) = &self.server.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        if self.tls.mode != TlsMode::Off {
            let addr = self.server.https_listen;
            let host = match self.tls.domains.first() {
                Some(d) => d.clone(),
                None if addr.ip().is_unspecified() || addr.ip().is_loopback() => "localhost".into(),
                None => match addr.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                },
            };
            return if addr.port() == 443 {
                format!("https://{host}")
            } else {
                format!("https://{host}:{}", addr.port())
            };
        }
        let addr = self.server.http_listen;
        if addr.ip().is_unspecified() {
            format!("http://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    }

    fn from_raw(
        raw: raw::RawConfig,
        layers: &Layers,
        has_file: bool,
    ) -> Result<Config, ConfigError> {
        let v = Validator { layers };
        let s = raw.server;
        let data_dir = PathBuf::from(s.data_dir.unwrap_or_else(|| {
            if has_file {
                "/var/lib/flowsync"
            } else {
                "./flowsync-data"
            }
            .to_owned()
        }));
        let http_listen = v.parse(
            "server.http_listen",
            s.http_listen.unwrap_or_else(|| "127.0.0.1:8080".into()),
            |t| {
                t.parse::<SocketAddr>()
                    .map_err(|_| "expected ADDRESS:PORT, e.g. 127.0.0.1:8080 or [::]:80".into())
            },
        )?;
        let https_listen = v.parse(
            "server.https_listen",
            s.https_listen.unwrap_or_else(|| "[::]:443".into()),
            |t| {
                t.parse::<SocketAddr>()
                    .map_err(|_| "expected ADDRESS:PORT, e.g. [::]:443".into())
            },
        )?;
        let nets = |key: &str, list: Vec<String>| {
            list.into_iter()
                .map(|p| {
                    v.parse(key, p, |t| {
                        t.parse::<IpNet>()
                            .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
                            .map_err(|_| format!("{t:?} is not an IP address or CIDR"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let trusted_proxies = nets(
            "server.trusted_proxies",
            s.trusted_proxies.unwrap_or_default(),
        )?;
        let connection_cap_exempt = nets(
            "server.connection_cap_exempt",
            s.connection_cap_exempt
                .unwrap_or_else(|| vec!["127.0.0.0/8".into(), "::1/128".into()]),
        )?;
        let header_timeout = v.duration("server.header_timeout", s.header_timeout, "10s")?;
        let idle_timeout = v.duration("server.idle_timeout", s.idle_timeout, "60s")?;
        v.check(
            "server.header_timeout",
            header_timeout >= Duration::from_secs(1),
            "must be at least 1s",
        )?;
        v.check(
            "server.idle_timeout",
            idle_timeout >= Duration::from_secs(1),
            "must be at least 1s (and above 45s, Socket.IO's heartbeat, unless sockets should be cut)",
        )?;
        let admin_token_sha256 = s
            .admin_token
            .map(|t| v.parse("server.admin_token", t, |t| admin_token_hash(&t)))
            .transpose()?
            .flatten()
            .map(Secret::new);
        if let Some(url) = &s.public_url {
            v.check(
                "server.public_url",
                url.starts_with("http://") || url.starts_with("https://"),
                "must start with http:// or https://",
            )?;
        }
        let server = ServerConfig {
            public_url: s.public_url,
            http_listen,
            https_listen,
            max_connections: v.int_range(
                "server.max_connections",
                s.max_connections,
                10_000,
                1,
                10_000_000,
            )? as u32,
            data_dir: data_dir.clone(),
            trusted_proxies,
            admin_token_sha256,
            rate_limit_ipv6_prefix: v.int_range(
                "server.rate_limit_ipv6_prefix",
                s.rate_limit_ipv6_prefix,
                64,
                32,
                128,
            )? as u8,
            header_timeout,
            idle_timeout,
            max_connections_per_ip: v.int_range(
                "server.max_connections_per_ip",
                s.max_connections_per_ip,
                64,
                1,
                10_000_000,
            )? as u32,
            connection_cap_exempt,
            unauthenticated_sockets_per_ip: v.int_range(
                "server.unauthenticated_sockets_per_ip",
                s.unauthenticated_sockets_per_ip,
                16,
                1,
                10_000_000,
            )? as u32,
            max_unauthenticated_sockets: v.int_range(
                "server.max_unauthenticated_sockets",
                s.max_unauthenticated_sockets,
                1024,
                1,
                10_000_000,
            )? as u32,
        };

        let d = raw.database;
        let url = d
            .url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("flowsync.db").display()));
        v.check(
            "database.url",
            url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"),
            "must start with sqlite:// or postgres://",
        )?;
        let database = DatabaseConfig {
            url: Secret::new(url),
            max_connections: v.int_range(
                "database.max_connections",
                d.max_connections,
                8,
                1,
                1000,
            )? as u32,
            auto_migrate: d.auto_migrate.unwrap_or(true),
        };

        let r = raw.redis;
        if let Some(url) = &r.url {
            v.check(
                "redis.url",
                url.starts_with("redis://") || url.starts_with("rediss://"),
                "must start with redis:// or rediss://",
            )?;
        }
        let redis = RedisConfig {
            url: r.url.map(Secret::new),
            key_prefix: r.key_prefix.unwrap_or_else(|| "flowsync:".into()),
        };

        let t = raw.tls;
        let tls = TlsConfig {
            mode: match t.mode.as_deref().unwrap_or("off") {
                "off" => TlsMode::Off,
                "self-signed" => TlsMode::SelfSigned,
                "files" => TlsMode::Files,
                "acme" => TlsMode::Acme,
                other => {
                    return Err(v.invalid(
                        "tls.mode",
                        &format!("{other:?} is not one of off, acme, self-signed, files"),
                    ));
                }
            },
            domains: t.domains.unwrap_or_default(),
            email: t.email,
            acme_directory: t
                .acme_directory
                .unwrap_or_else(|| crate::tls::acme::LETS_ENCRYPT.to_owned()),
            acme_ca_root: t.acme_ca_root.map(PathBuf::from),
            challenge: match t.challenge.as_deref().unwrap_or("http-01") {
                "http-01" => Challenge::Http01,
                "tls-alpn-01" => Challenge::TlsAlpn01,
                other => {
                    return Err(v.invalid(
                        "tls.challenge",
                        &format!("{other:?} is not one of http-01, tls-alpn-01"),
                    ));
                }
            },
            cert_path: t.cert_path.map(PathBuf::from),
            key_path: t.key_path.map(PathBuf::from),
        };
        if tls.mode == TlsMode::Acme {
            v.check(
                "tls.domains",
                !tls.domains.is_empty(),
                "tls.mode = acme needs the domain name(s) to obtain a certificate for",
            )?;
            v.check(
                "tls.acme_directory",
                tls.acme_directory.starts_with("https://"),
                "must be an https:// URL",
            )?;
        }
        if tls.mode == TlsMode::Files {
            v.check(
                "tls.cert_path",
                tls.cert_path.is_some() && tls.key_path.is_some(),
                "tls.mode = files needs tls.cert_path and tls.key_path",
            )?;
        }

        let t = raw.turn;
        let mode = match t.mode.as_deref().unwrap_or("off") {
            "off" => TurnMode::Off,
            "external" => TurnMode::External,
            "embedded" => TurnMode::Embedded,
            other => {
                return Err(v.invalid(
                    "turn.mode",
                    &format!("{other:?} is not one of off, external, embedded"),
                ));
            }
        };
        let relay_ports = {
            let raw = t.relay_ports.as_deref().unwrap_or("49152-65535");
            let parsed = raw
                .split_once('-')
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                })
                .filter(|(a, b)| *a >= 1024 && a <= b);
            parsed.ok_or_else(|| {
                v.invalid(
                    "turn.relay_ports",
                    &format!(
                        "{raw:?} is not FIRST-LAST with 1024 <= FIRST <= LAST (e.g. 49152-65535)"
                    ),
                )
            })?
        };
        let listen = match t.listen.as_deref() {
            None => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], 3478)),
            Some(s) => s.parse().map_err(|_| {
                v.invalid(
                    "turn.listen",
                    &format!("{s:?} is not ADDRESS:PORT (e.g. [::]:3478)"),
                )
            })?,
        };
        let external_ip = match t.external_ip.as_deref() {
            None | Some("") => None,
            Some(s) => Some(s.parse().map_err(|_| {
                v.invalid("turn.external_ip", &format!("{s:?} is not an IP address"))
            })?),
        };
        let mut allow_peers = Vec::new();
        for c in t.allow_peers.unwrap_or_default() {
            let net = c
                .parse::<IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    v.invalid(
                        "turn.allow_peers",
                        &format!("{c:?} is not a CIDR or address"),
                    )
                })?;
            allow_peers.push(net);
        }
        let turn = TurnConfig {
            mode,
            urls: t.urls.unwrap_or_default(),
            shared_secret: t.shared_secret.map(Secret::new),
            // Embedded TURN keeps refreshing the allocations of participants still in the room
            // whatever their credential's age; coturn does not, so its credentials must
            // outlast a call.
            credential_ttl: v.duration(
                "turn.credential_ttl",
                t.credential_ttl,
                if mode == TurnMode::External {
                    "6h"
                } else {
                    "10m"
                },
            )?,
            listen,
            relay_ports,
            external_ip,
            allow_peers,
            max_allocations: v.int_range(
                "turn.max_allocations",
                t.max_allocations,
                1000,
                1,
                1_000_000,
            )? as u32,
            user_quota: v.int_range("turn.user_quota", t.user_quota, 10, 1, 1000)? as u32,
            room_quota: v.int_range("turn.room_quota", t.room_quota, 50, 1, 100_000)? as u32,
        };
        if turn.mode == TurnMode::External {
            v.check(
                "turn.urls",
                !turn.urls.is_empty(),
                "external mode needs at least one turn: URL",
            )?;
            v.check(
                "turn.shared_secret",
                turn.shared_secret.is_some(),
                "external mode needs the coturn shared secret",
            )?;
        }
        for u in &turn.urls {
            v.check(
                "turn.urls",
                u.starts_with("turn:") || u.starts_with("turns:") || u.starts_with("stun:"),
                "each URL must start with turn:, turns: or stun:",
            )?;
        }

        let ro = raw.rooms;
        let tombstone_ttl = v.duration("rooms.tombstone_ttl", ro.tombstone_ttl, "30d")?;
        v.check(
            "rooms.tombstone_ttl",
            tombstone_ttl >= Duration::from_secs(30 * 86400),
            "must be at least 30d so old invite links never open a stranger's room",
        )?;
        let create_policy = match ro.create_policy.as_deref() {
            None => CreatePolicy::Open,
            Some(p) => CreatePolicy::parse(p).ok_or_else(|| {
                v.invalid(
                    "rooms.create_policy",
                    &format!("{p:?} is not one of open, link, operator"),
                )
            })?,
        };
        let timer = TimerSettings {
            work_seconds: v.int_range(
                "rooms.timer_work_seconds",
                ro.timer_work_seconds,
                1500,
                1,
                14_400,
            )? as u32,
            short_break_seconds: v.int_range(
                "rooms.timer_short_break_seconds",
                ro.timer_short_break_seconds,
                300,
                1,
                14_400,
            )? as u32,
            long_break_seconds: v.int_range(
                "rooms.timer_long_break_seconds",
                ro.timer_long_break_seconds,
                900,
                1,
                14_400,
            )? as u32,
            long_break_every: v.int_range(
                "rooms.timer_long_break_every",
                ro.timer_long_break_every,
                4,
                1,
                100,
            )? as u32,
            auto_start: ro.timer_auto_start.unwrap_or(true),
        };
        let rooms = RoomsConfig {
            max_participants: v.int_range(
                "rooms.max_participants",
                ro.max_participants,
                10,
                2,
                10,
            )? as u8,
            idle_expiry: v.duration("rooms.idle_expiry", ro.idle_expiry, "24h")?,
            reconnect_grace: v.duration("rooms.reconnect_grace", ro.reconnect_grace, "60s")?,
            pending_seat_grace: v.duration(
                "rooms.pending_seat_grace",
                ro.pending_seat_grace,
                "15s",
            )?,
            tombstone_ttl,
            create_policy,
            create_rate_per_ip: v.rate(
                "rooms.create_rate_per_ip",
                ro.create_rate_per_ip,
                "10/hour",
            )?,
            join_rate_per_ip: v.rate("rooms.join_rate_per_ip", ro.join_rate_per_ip, "30/minute")?,
            lookup_rate_per_ip: v.rate(
                "rooms.lookup_rate_per_ip",
                ro.lookup_rate_per_ip,
                "60/minute",
            )?,
            message_rate_per_participant: v.rate(
                "rooms.message_rate_per_participant",
                ro.message_rate_per_participant,
                "30/minute",
            )?,
            password_failures_per_room: v.rate(
                "rooms.password_failures_per_room",
                ro.password_failures_per_room,
                "30/hour",
            )?,
            message_max_chars: v.int_range(
                "rooms.message_max_chars",
                ro.message_max_chars,
                2000,
                1,
                100_000,
            )? as usize,
            timer,
        };

        let b = raw.backup;
        let backup = BackupConfig {
            dir: b
                .dir
                .map(PathBuf::from)
                .unwrap_or_else(|| server.data_dir.join("backups")),
            keep: v.int_range("backup.keep", b.keep, 14, 1, 10_000)? as u32,
            keep_daily: v.int_range("backup.keep_daily", b.keep_daily, 0, 0, 10_000)? as u32,
            keep_weekly: v.int_range("backup.keep_weekly", b.keep_weekly, 0, 0, 10_000)? as u32,
            include_secrets: b.include_secrets.unwrap_or(false),
            before_migrate: true,
            config_file: None,
        };

        let l = raw.log;
        let level = l.level.unwrap_or_else(|| "info".into());
        v.check(
            "log.level",
            tracing_subscriber::EnvFilter::try_new(&level).is_ok(),
            "expected error, warn, info, debug, trace or a tracing filter",
        )?;
        let format = match l.format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(v.invalid("log.format", &format!("{other:?} is not one of text, json")));
            }
        };
        Ok(Config {
            server,
            database,
            redis,
            tls,
            turn,
            rooms,
            backup,
            log: LogConfig { level, format },
        })
    }

    /// The effective value of every key, rendered as TOML, secrets masked.
    pub fn render(&self) -> Vec<(&'static keys::KeyDef, Option<String>)> {
        use toml::Value as V;
        let s = |x: &str| Some(V::String(x.to_owned()).to_string());
        let d = |x: Duration| s(&humantime::format_duration(x).to_string());
        let list =
            |xs: Vec<String>| Some(V::Array(xs.into_iter().map(V::String).collect()).to_string());
        let masked = || s("********");
        keys::KEYS
            .iter()
            .map(|k| {
                let value = match (k.section, k.key) {
                    ("server", "public_url") => s(&self.public_url()),
                    ("server", "http_listen") => s(&self.server.http_listen.to_string()),
                    ("server", "https_listen") => s(&self.server.https_listen.to_string()),
                    ("tls", "mode") => s(match self.tls.mode {
                        TlsMode::Off => "off",
                        TlsMode::Acme => "acme",
                        TlsMode::SelfSigned => "self-signed",
                        TlsMode::Files => "files",
                    }),
                    ("tls", "domains") => list(self.tls.domains.clone()),
                    ("tls", "email") => self.tls.email.as_deref().and_then(s),
                    ("tls", "acme_directory") => s(&self.tls.acme_directory),
                    ("tls", "acme_ca_root") => self
                        .tls
                        .acme_ca_root
                        .as_ref()
                        .and_then(|p| s(&p.display().to_string())),
                    ("tls", "challenge") => s(match self.tls.challenge {
                        Challenge::Http01 => "http-01",
                        Challenge::TlsAlpn01 => "tls-alpn-01",
                    }),
                    ("tls", "cert_path") => self
                        .tls
                        .cert_path
                        .as_ref()
                        .and_then(|p| s(&p.display().to_string())),
                    ("tls", "key_path") => self
                        .tls
                        .key_path
                        .as_ref()
                        .and_then(|p| s(&p.display().to_string())),
                    ("server", "data_dir") => s(&self.server.data_dir.display().to_string()),
                    ("server", "trusted_proxies") => list(
                        self.server
                            .trusted_proxies
                            .iter()
                            .map(|p| p.to_string())
                            .collect(),
                    ),
                    ("server", "admin_token") => self
                        .server
                        .admin_token_sha256
                        .as_ref()
                        .and_then(|_| masked()),
                    ("server", "max_connections") => Some(self.server.max_connections.to_string()),
                    ("server", "rate_limit_ipv6_prefix") => {
                        Some(self.server.rate_limit_ipv6_prefix.to_string())
                    }
                    ("server", "header_timeout") => d(self.server.header_timeout),
                    ("server", "idle_timeout") => d(self.server.idle_timeout),
                    ("server", "max_connections_per_ip") => {
                        Some(self.server.max_connections_per_ip.to_string())
                    }
                    ("server", "connection_cap_exempt") => list(
                        self.server
                            .connection_cap_exempt
                            .iter()
                            .map(|p| p.to_string())
                            .collect(),
                    ),
                    ("server", "unauthenticated_sockets_per_ip") => {
                        Some(self.server.unauthenticated_sockets_per_ip.to_string())
                    }
                    ("server", "max_unauthenticated_sockets") => {
                        Some(self.server.max_unauthenticated_sockets.to_string())
                    }
                    ("database", "url") => s(&redact_url(self.database.url.expose())),
                    ("database", "max_connections") => {
                        Some(self.database.max_connections.to_string())
                    }
                    ("database", "auto_migrate") => Some(self.database.auto_migrate.to_string()),
                    ("redis", "url") => self
                        .redis
                        .url
                        .as_ref()
                        .and_then(|u| s(&redact_url(u.expose()))),
                    ("redis", "key_prefix") => s(&self.redis.key_prefix),
                    ("turn", "mode") => s(match self.turn.mode {
                        TurnMode::Off => "off",
                        TurnMode::External => "external",
                        TurnMode::Embedded => "embedded",
                    }),
                    ("turn", "urls") => list(self.turn.urls.clone()),
                    ("turn", "shared_secret") => {
                        self.turn.shared_secret.as_ref().and_then(|_| masked())
                    }
                    ("turn", "credential_ttl") => d(self.turn.credential_ttl),
                    ("turn", "listen") => s(&self.turn.listen.to_string()),
                    ("turn", "relay_ports") => s(&format!(
                        "{}-{}",
                        self.turn.relay_ports.0, self.turn.relay_ports.1
                    )),
                    ("turn", "external_ip") => {
                        self.turn.external_ip.and_then(|ip| s(&ip.to_string()))
                    }
                    ("turn", "allow_peers") => list(
                        self.turn
                            .allow_peers
                            .iter()
                            .map(|n| n.to_string())
                            .collect(),
                    ),
                    ("turn", "max_allocations") => Some(self.turn.max_allocations.to_string()),
                    ("turn", "user_quota") => Some(self.turn.user_quota.to_string()),
                    ("turn", "room_quota") => Some(self.turn.room_quota.to_string()),
                    ("rooms", "max_participants") => Some(self.rooms.max_participants.to_string()),
                    ("rooms", "idle_expiry") => d(self.rooms.idle_expiry),
                    ("rooms", "reconnect_grace") => d(self.rooms.reconnect_grace),
                    ("rooms", "pending_seat_grace") => d(self.rooms.pending_seat_grace),
                    ("rooms", "tombstone_ttl") => d(self.rooms.tombstone_ttl),
                    ("rooms", "create_policy") => s(self.rooms.create_policy.as_str()),
                    ("rooms", "create_rate_per_ip") => {
                        s(&rate_string(self.rooms.create_rate_per_ip))
                    }
                    ("rooms", "join_rate_per_ip") => s(&rate_string(self.rooms.join_rate_per_ip)),
                    ("rooms", "lookup_rate_per_ip") => {
                        s(&rate_string(self.rooms.lookup_rate_per_ip))
                    }
                    ("rooms", "message_rate_per_participant") => {
                        s(&rate_string(self.rooms.message_rate_per_participant))
                    }
                    ("rooms", "password_failures_per_room") => {
                        s(&rate_string(self.rooms.password_failures_per_room))
                    }
                    ("rooms", "message_max_chars") => {
                        Some(self.rooms.message_max_chars.to_string())
                    }
                    ("rooms", "timer_work_seconds") => {
                        Some(self.rooms.timer.work_seconds.to_string())
                    }
                    ("rooms", "timer_short_break_seconds") => {
                        Some(self.rooms.timer.short_break_seconds.to_string())
                    }
                    ("rooms", "timer_long_break_seconds") => {
                        Some(self.rooms.timer.long_break_seconds.to_string())
                    }
                    ("rooms", "timer_long_break_every") => {
                        Some(self.rooms.timer.long_break_every.to_string())
                    }
                    ("rooms", "timer_auto_start") => Some(self.rooms.timer.auto_start.to_string()),
                    ("backup", "dir") => s(&self.backup.dir.display().to_string()),
                    ("backup", "keep") => Some(self.backup.keep.to_string()),
                    ("backup", "keep_daily") => Some(self.backup.keep_daily.to_string()),
                    ("backup", "keep_weekly") => Some(self.backup.keep_weekly.to_string()),
                    ("backup", "include_secrets") => Some(self.backup.include_secrets.to_string()),
                    ("log", "level") => s(&self.log.level),
                    ("log", "format") => s(match self.log.format {
                        LogFormat::Text => "text",
                        LogFormat::Json => "json",
                    }),
                    _ => None,
                };
                (k, value)
            })
            .collect()
    }

    /// The SQLite database file, when the backend is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.database.url.expose();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

fn rate_string(r: Rate) -> String {
    let unit = match r.per.as_secs() {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        _ => "day",
    };
    format!("{}/{unit}", r.count)
}

/// Hides the password of a `scheme://user:pass@host` URL, and `password=` query parameters.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let main = match main.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:********@{host}"),
            None => main.to_owned(),
        },
        None => main.to_owned(),
    };
    match query {
        None => format!("{scheme}://{main}"),
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=********"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{scheme}://{main}?{}", q.join("&"))
        }
    }
}

/// `sha256:<hex>` is taken as the hash; any other value is a plain token, hashed here.
fn admin_token_hash(value: &str) -> Result<Option<[u8; 32]>, String> {
    use sha2::Digest;
    if value.is_empty() {
        return Ok(None);
    }
    if let Some(hex_hash) = value.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_hash)
            .map_err(|_| "sha256: must be followed by 64 hex digits".to_owned())?;
        return bytes
            .try_into()
            .map(Some)
            .map_err(|_| "sha256: must be followed by 64 hex digits".to_owned());
    }
    if value.len() < 16 {
        return Err("too short: use at least 16 random characters".into());
    }
    Ok(Some(sha2::Sha256::digest(value.as_bytes()).into()))
}

/// Validation helpers that name the key and the source of a bad value.
struct Validator<'a> {
    layers: &'a Layers,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            origin: self.layers.source_of(key),
            reason: reason.to_owned(),
        }
    }

    fn check(&self, key: &str, ok: bool, reason: &str) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(self.invalid(key, reason))
        }
    }

    fn parse<T>(
        &self,
        key: &str,
        raw: String,
        f: impl FnOnce(String) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        f(raw).map_err(|reason| self.invalid(key, &reason))
    }

    fn int_range(
        &self,
        key: &str,
        value: Option<i64>,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let v = value.unwrap_or(default);
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(key, &format!("{v} is out of range {min}..={max}")))
        }
    }

    fn duration(
        &self,
        key: &str,
        value: Option<String>,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        let raw = value.unwrap_or_else(|| default.to_owned());
        humantime::parse_duration(&raw).map_err(|e| {
            self.invalid(
                key,
                &format!("{raw:?} is not a duration ({e}); write e.g. 90s, 10m, 24h, 30d"),
            )
        })
    }

    fn rate(&self, key: &str, value: Option<String>, default: &str) -> Result<Rate, ConfigError> {
        let raw = value.unwrap_or_else(|| default.to_owned());
        raw.parse::<Rate>()
            .map_err(|e| self.invalid(key, &format!("{raw:?}: {e}")))
    }
}

/// True when `path` is the default config location (used in messages).
pub fn is_default_path(path: &Path) -> bool {
    path == Path::new(DEFAULT_CONFIG_PATH)
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_are_masked_in_userinfo_and_query() {
        let r = super::redact_url;
        assert_eq!(
            r("postgres://fs:p@ss@db.example/fs"),
            "postgres://fs:********@db.example/fs",
            "a password containing @"
        );
        assert_eq!(
            r("postgres://db.example/fs?user=fs&password=hunter2&sslmode=require"),
            "postgres://db.example/fs?user=fs&password=********&sslmode=require"
        );
        assert_eq!(r("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(
            r("sqlite:///var/lib/flowsync/flowsync.db"),
            "sqlite:///var/lib/flowsync/flowsync.db"
        );
    }
}
