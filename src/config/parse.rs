//! Building the validated [`Config`] from the raw layers (defaults, file, environment, flags):
//! every key's parsing, ranges and cross-key checks, each error naming the key and where its
//! value came from.

use super::*;

impl Config {
    pub(super) fn from_raw(
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
                .unwrap_or_else(|| super::LETS_ENCRYPT.to_owned()),
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
            focus: FocusPolicy {
                mute_at_work_start: ro.focus_mute_at_work_start.unwrap_or(false),
                quiet_chat: ro.focus_quiet_chat.unwrap_or(false),
                break_banner: ro.focus_break_banner.unwrap_or(true),
            },
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
