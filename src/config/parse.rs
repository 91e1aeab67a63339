//! Reading the merged layers into a validated [`Config`], driven by the key registry: every
//! key reads its value, or its fixed default, into its field; derived defaults follow; then each
//! key's check runs with the whole configuration in view. Every error names the key and where
//! its value came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Value;

use super::keys::{Context, Fallback, KEYS, KeyDef, Kind};
use super::*;

impl Config {
    pub(super) fn from_layers(layers: &Layers, has_file: bool) -> Result<Config, ConfigError> {
        let invalid = |k: &KeyDef, reason: String| ConfigError::Invalid {
            key: k.dotted(),
            origin: layers.source_of(&k.dotted()),
            reason,
        };
        let mut config = blank();
        let mut derived = Vec::new();
        for k in KEYS {
            let set = layers
                .table
                .get(k.section)
                .and_then(|s| s.get(k.key))
                .cloned();
            let value = match (set, k.fallback) {
                (Some(v), _) => v,
                (None, Fallback::Value(text)) => {
                    literal(k.kind, text).map_err(|e| invalid(k, format!("the default {e}")))?
                }
                (None, Fallback::Unset(_)) => continue,
                (None, Fallback::Derived(_, derive)) => {
                    derived.push(derive);
                    continue;
                }
            };
            if let Some((min, max)) = k.range {
                let n = value
                    .as_integer()
                    .ok_or_else(|| invalid(k, "expected an integer".into()))?;
                if !(min..=max).contains(&n) {
                    return Err(invalid(k, format!("{n} is out of range {min}..={max}")));
                }
            }
            (k.read)(&value, &mut config).map_err(|reason| invalid(k, reason))?;
        }
        let cx = Context { has_file };
        for derive in derived {
            derive(&mut config, &cx);
        }
        for k in KEYS {
            if let Some(check) = k.check {
                check(&config).map_err(|reason| invalid(k, reason))?;
            }
        }
        Ok(config)
    }
}

/// A fixed default as a TOML value: a string as written, anything else a TOML literal.
fn literal(kind: Kind, text: &str) -> Result<Value, String> {
    if kind == Kind::Str {
        return Ok(Value::String(text.to_owned()));
    }
    let table: toml::Table =
        toml::from_str(&format!("v = {text}")).map_err(|_| format!("{text:?} is not TOML"))?;
    table
        .get("v")
        .cloned()
        .ok_or_else(|| format!("{text:?} is not TOML"))
}

/// The configuration reading starts from: every field a key reads is overwritten by its value
/// or its default, and the keys whose default is unset stay `None` here. The two fields that
/// are not keys get their meaning here.
fn blank() -> Config {
    let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
    let never = Rate {
        count: 1,
        per: Duration::ZERO,
    };
    Config {
        server: ServerConfig {
            public_url: None,
            http_listen: nowhere,
            https_listen: nowhere,
            data_dir: PathBuf::new(),
            trusted_proxies: Vec::new(),
            admin_token_sha256: None,
            max_connections: 0,
            rate_limit_ipv6_prefix: 0,
            header_timeout: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            max_connections_per_ip: 0,
            connection_cap_exempt: Vec::new(),
            unauthenticated_sockets_per_ip: 0,
            max_unauthenticated_sockets: 0,
        },
        database: DatabaseConfig {
            url: Secret::new(String::new()),
            max_connections: 0,
            auto_migrate: false,
        },
        redis: RedisConfig {
            url: None,
            key_prefix: String::new(),
        },
        tls: TlsConfig {
            mode: TlsMode::Off,
            domains: Vec::new(),
            email: None,
            acme_directory: String::new(),
            acme_ca_root: None,
            challenge: Challenge::Http01,
            cert_path: None,
            key_path: None,
        },
        turn: TurnConfig {
            mode: TurnMode::Off,
            urls: Vec::new(),
            shared_secret: None,
            credential_ttl: Duration::ZERO,
            listen: nowhere,
            relay_ports: (0, 0),
            external_ip: None,
            allow_peers: Vec::new(),
            max_allocations: 0,
            user_quota: 0,
            room_quota: 0,
        },
        rooms: RoomsConfig {
            max_participants: 0,
            idle_expiry: Duration::ZERO,
            reconnect_grace: Duration::ZERO,
            pending_seat_grace: Duration::ZERO,
            tombstone_ttl: Duration::ZERO,
            create_policy: CreatePolicy::Operator,
            create_rate_per_ip: never,
            join_rate_per_ip: never,
            lookup_rate_per_ip: never,
            message_rate_per_participant: never,
            password_failures_per_room: never,
            message_max_chars: 0,
            timer: TimerSettings {
                work_seconds: 0,
                short_break_seconds: 0,
                long_break_seconds: 0,
                long_break_every: 0,
                auto_start: false,
                focus: FocusPolicy {
                    mute_at_work_start: false,
                    quiet_chat: false,
                    break_banner: false,
                },
            },
        },
        backup: BackupConfig {
            dir: PathBuf::new(),
            keep: 0,
            keep_daily: 0,
            keep_weekly: 0,
            include_secrets: false,
            before_migrate: true,
            config_file: None,
        },
        log: LogConfig {
            level: String::new(),
            format: LogFormat::Text,
        },
    }
}
