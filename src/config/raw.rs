//! The configuration exactly as written (serde shape, unknown keys rejected), before validation.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub redis: RawRedis,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub turn: RawTurn,
    #[serde(default)]
    pub rooms: RawRooms,
    #[serde(default)]
    pub backup: RawBackup,
    #[serde(default)]
    pub log: RawLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    pub dir: Option<String>,
    pub keep: Option<i64>,
    pub keep_daily: Option<i64>,
    pub keep_weekly: Option<i64>,
    pub include_secrets: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub public_url: Option<String>,
    pub http_listen: Option<String>,
    pub https_listen: Option<String>,
    pub data_dir: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub admin_token: Option<String>,
    pub max_connections: Option<i64>,
    pub rate_limit_ipv6_prefix: Option<i64>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections_per_ip: Option<i64>,
    pub connection_cap_exempt: Option<Vec<String>>,
    pub unauthenticated_sockets_per_ip: Option<i64>,
    pub max_unauthenticated_sockets: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub max_connections: Option<i64>,
    pub auto_migrate: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: Option<String>,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub mode: Option<String>,
    pub domains: Option<Vec<String>>,
    pub email: Option<String>,
    pub acme_directory: Option<String>,
    pub acme_ca_root: Option<String>,
    pub challenge: Option<String>,
    pub cert_path: Option<String>,
    pub key_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTurn {
    pub mode: Option<String>,
    pub urls: Option<Vec<String>>,
    pub shared_secret: Option<String>,
    pub credential_ttl: Option<String>,
    pub listen: Option<String>,
    pub relay_ports: Option<String>,
    pub external_ip: Option<String>,
    pub allow_peers: Option<Vec<String>>,
    pub max_allocations: Option<i64>,
    pub user_quota: Option<i64>,
    pub room_quota: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRooms {
    pub max_participants: Option<i64>,
    pub idle_expiry: Option<String>,
    pub reconnect_grace: Option<String>,
    pub pending_seat_grace: Option<String>,
    pub tombstone_ttl: Option<String>,
    pub create_policy: Option<String>,
    pub create_rate_per_ip: Option<String>,
    pub join_rate_per_ip: Option<String>,
    pub lookup_rate_per_ip: Option<String>,
    pub message_rate_per_participant: Option<String>,
    pub password_failures_per_room: Option<String>,
    pub message_max_chars: Option<i64>,
    pub timer_work_seconds: Option<i64>,
    pub timer_short_break_seconds: Option<i64>,
    pub timer_long_break_seconds: Option<i64>,
    pub timer_long_break_every: Option<i64>,
    pub timer_auto_start: Option<bool>,
    pub focus_mute_at_work_start: Option<bool>,
    pub focus_quiet_chat: Option<bool>,
    pub focus_break_banner: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}
