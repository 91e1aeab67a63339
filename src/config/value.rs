//! How a value written for a key (in a file, a variable or a flag) becomes the type of the
//! field that holds it, and the error that says what was expected.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use toml::Value;

use super::{Config, Rate, Secret};

/// Reads a written value as this type.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "expected a string".to_owned())
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        string(value).map(str::to_owned)
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        value
            .as_bool()
            .ok_or_else(|| "expected true or false".to_owned())
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, String> {
                let n = value
                    .as_integer()
                    .ok_or_else(|| "expected an integer".to_owned())?;
                <$t>::try_from(n).map_err(|_| format!("{n} is out of range"))
            }
        }
    )*};
}
from_integer!(u8, u32, usize);

impl FromValue for PathBuf {
    fn from_value(value: &Value) -> Result<Self, String> {
        string(value).map(PathBuf::from)
    }
}

impl FromValue for SocketAddr {
    fn from_value(value: &Value) -> Result<Self, String> {
        let s = string(value)?;
        s.parse().map_err(|_| {
            format!("{s:?} is not ADDRESS:PORT, e.g. 127.0.0.1:8080, [::]:443 or [::]:3478")
        })
    }
}

impl FromValue for IpAddr {
    fn from_value(value: &Value) -> Result<Self, String> {
        let s = string(value)?;
        s.parse().map_err(|_| format!("{s:?} is not an IP address"))
    }
}

/// A network; a single address is its own /32 or /128.
impl FromValue for IpNet {
    fn from_value(value: &Value) -> Result<Self, String> {
        let s = string(value)?;
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
    }
}

impl FromValue for Duration {
    fn from_value(value: &Value) -> Result<Self, String> {
        let s = string(value)?;
        humantime::parse_duration(s)
            .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 90s, 10m, 24h, 30d"))
    }
}

impl FromValue for Rate {
    fn from_value(value: &Value) -> Result<Self, String> {
        let s = string(value)?;
        s.parse::<Rate>().map_err(|e| format!("{s:?}: {e}"))
    }
}

impl<T: FromValue> FromValue for Secret<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        T::from_value(value).map(Secret::new)
    }
}

/// An optional key written as an empty string is left unset.
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value.as_str() {
            Some("") => Ok(None),
            _ => T::from_value(value).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        value
            .as_array()
            .ok_or_else(|| "expected a list of strings".to_owned())?
            .iter()
            .map(T::from_value)
            .collect()
    }
}

/// `server.admin_token`: `sha256:<hex>` is taken as the hash; any other value is a plain token,
/// hashed here. The token itself is never kept.
pub(super) fn admin_token(value: &Value, config: &mut Config) -> Result<(), String> {
    use sha2::Digest;
    let value = string(value)?;
    config.server.admin_token_sha256 = if value.is_empty() {
        None
    } else if let Some(hex_hash) = value.strip_prefix("sha256:") {
        let hash = hex::decode(hex_hash)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| "sha256: must be followed by 64 hex digits".to_owned())?;
        Some(Secret::new(hash))
    } else if value.len() < 16 {
        return Err("too short: use at least 16 random characters".into());
    } else {
        Some(Secret::new(sha2::Sha256::digest(value.as_bytes()).into()))
    };
    Ok(())
}

/// `turn.relay_ports`: `FIRST-LAST`, unprivileged.
pub(super) fn relay_ports(value: &Value, config: &mut Config) -> Result<(), String> {
    let text = string(value)?;
    config.turn.relay_ports = text
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
        .filter(|(a, b)| *a >= 1024 && a <= b)
        .ok_or_else(|| {
            format!("{text:?} is not FIRST-LAST with 1024 <= FIRST <= LAST (e.g. 49152-65535)")
        })?;
    Ok(())
}
