//! FlowSync's configuration: one typed, validated value built from defaults → TOML file →
//! `FLOWSYNC_<SECTION>__<KEY>` environment → command-line flags, and passed down explicitly.

mod choice;
pub mod keys;
mod parse;
mod render;
mod secret;
pub mod sources;
pub mod template;
mod value;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;

pub use secret::Secret;
pub use sources::{FlagValue, Layers, Source};

use crate::rooms::{FocusPolicy, TimerSettings};

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/flowsync/flowsync.toml";

/// `tls.acme_directory` when the file names none: Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`flowsync cert issue --staging`).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The configuration a running server uses now, shared by everything that must see a reload
/// (`App`, the ACME loop): `set` swaps it, `get` is an `Arc` clone.
#[derive(Debug, Clone)]
pub struct Handle(Arc<RwLock<Arc<Config>>>);

impl Handle {
    pub fn new(config: Config) -> Handle {
        Handle(Arc::new(RwLock::new(Arc::new(config))))
    }

    /// The configuration in effect now.
    pub fn get(&self) -> Arc<Config> {
        self.0
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Puts `config` in effect for every holder of this handle.
    pub fn set(&self, config: Config) {
        match self.0.write() {
            Ok(mut c) => *c = Arc::new(config),
            Err(e) => *e.into_inner() = Arc::new(config),
        }
    }
}

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
        "unknown environment variable {name}{hint}: FlowSync variables are FLOWSYNC_<SECTION>__<KEY> for a key listed in docs/reference/configuration.md"
    )]
    UnknownEnv { name: String, hint: String },
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
        let config = Self::from_layers(&layers, path.is_some())?;
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
