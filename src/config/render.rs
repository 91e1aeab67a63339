//! The effective value of every key as TOML, secrets masked: `serve --print-config`, the
//! reload report and the generated example configuration read it.

use super::*;

impl Config {
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
                    ("rooms", "focus_mute_at_work_start") => {
                        Some(self.rooms.timer.focus.mute_at_work_start.to_string())
                    }
                    ("rooms", "focus_quiet_chat") => {
                        Some(self.rooms.timer.focus.quiet_chat.to_string())
                    }
                    ("rooms", "focus_break_banner") => {
                        Some(self.rooms.timer.focus.break_banner.to_string())
                    }
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
