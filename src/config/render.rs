//! The effective value of every key as TOML, secrets masked: `serve --print-config`, the
//! reload report and the generated example configuration read it. Each key in `keys` names
//! its field and is rendered by that field's type ([`Render`]); the few values that are derived
//! or masked have their own function here.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// How a value of a configuration field is written in TOML; `None` when unset.
pub trait Render {
    fn render(&self) -> Option<String>;
}

/// A TOML string.
fn quoted(x: &str) -> Option<String> {
    Some(toml::Value::String(x.to_owned()).to_string())
}

const MASKED: &str = "********";

macro_rules! render_plain {
    ($($t:ty),*) => {$(
        impl Render for $t {
            fn render(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
render_plain!(bool, u8, u16, u32, u64, usize);

macro_rules! render_quoted {
    ($($t:ty),*) => {$(
        impl Render for $t {
            fn render(&self) -> Option<String> {
                quoted(&self.to_string())
            }
        }
    )*};
}
render_quoted!(String, SocketAddr, IpAddr);

impl Render for PathBuf {
    fn render(&self) -> Option<String> {
        quoted(&self.display().to_string())
    }
}

impl Render for Duration {
    fn render(&self) -> Option<String> {
        quoted(&humantime::format_duration(*self).to_string())
    }
}

impl Render for Rate {
    fn render(&self) -> Option<String> {
        let unit = match self.per.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        quoted(&format!("{}/{unit}", self.count))
    }
}

impl<T: Render> Render for Option<T> {
    fn render(&self) -> Option<String> {
        self.as_ref().and_then(Render::render)
    }
}

/// A list of strings (`["a", "b"]`); networks and names alike.
impl<T: std::fmt::Display> Render for Vec<T> {
    fn render(&self) -> Option<String> {
        let items = self
            .iter()
            .map(|x| toml::Value::String(x.to_string()))
            .collect();
        Some(toml::Value::Array(items).to_string())
    }
}

/// `server.public_url`: as set, or derived from the listeners.
pub(super) fn public_url(c: &Config) -> Option<String> {
    quoted(&c.public_url())
}

/// `server.admin_token`: stored as a hash, shown masked.
pub(super) fn admin_token(c: &Config) -> Option<String> {
    c.server
        .admin_token_sha256
        .as_ref()
        .and_then(|_| quoted(MASKED))
}

/// `database.url`, its password masked.
pub(super) fn database_url(c: &Config) -> Option<String> {
    quoted(&redact_url(c.database.url.expose()))
}

/// `redis.url`, its password masked.
pub(super) fn redis_url(c: &Config) -> Option<String> {
    c.redis
        .url
        .as_ref()
        .and_then(|u| quoted(&redact_url(u.expose())))
}

/// `turn.shared_secret`, masked.
pub(super) fn turn_secret(c: &Config) -> Option<String> {
    c.turn.shared_secret.as_ref().and_then(|_| quoted(MASKED))
}

/// `turn.relay_ports` as `"LOW-HIGH"`.
pub(super) fn relay_ports(c: &Config) -> Option<String> {
    quoted(&format!(
        "{}-{}",
        c.turn.relay_ports.0, c.turn.relay_ports.1
    ))
}
