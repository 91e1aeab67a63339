//! ICE servers handed to browsers. In `external` and `embedded` mode they carry TURN REST
//! credentials (username `expiry:participant`, password base64(HMAC-SHA1(secret, username))),
//! the scheme coturn's `use-auth-secret` checks and `crate::turn` checks. No static passwords,
//! no third-party STUN by default. In embedded mode `serve` fills in the URLs and the secret
//! at start (`crate::turn::resolve`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;

use crate::config::{TurnConfig, TurnMode};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Fresh, time-limited ICE servers for one participant.
pub fn ice_servers(cfg: &TurnConfig, participant_id: &str, now_secs: u64) -> Vec<IceServer> {
    match cfg.mode {
        TurnMode::Off => Vec::new(),
        TurnMode::External | TurnMode::Embedded => {
            let Some(secret) = &cfg.shared_secret else {
                return Vec::new();
            };
            let (username, credential) = rest_credential(
                secret.expose().as_bytes(),
                participant_id,
                now_secs + cfg.credential_ttl.as_secs(),
            );
            vec![IceServer {
                urls: cfg.urls.clone(),
                username: Some(username),
                credential: Some(credential),
            }]
        }
    }
}

/// A TURN REST username (`expiry:participant`) and its password.
pub fn rest_credential(secret: &[u8], participant_id: &str, expiry: u64) -> (String, String) {
    let username = format!("{expiry}:{participant_id}");
    let password = rest_password(secret, &username);
    (username, password)
}

/// The TURN REST password of a username: base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &[u8], username: &str) -> String {
    #[allow(clippy::expect_used)]
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::time::Duration;

    fn turn(mode: TurnMode) -> TurnConfig {
        TurnConfig {
            mode,
            urls: vec![],
            shared_secret: None,
            credential_ttl: Duration::from_secs(60),
            listen: "[::]:3478".parse().unwrap(),
            relay_ports: (49152, 65535),
            external_ip: None,
            allow_peers: vec![],
            max_allocations: 10,
            user_quota: 2,
            room_quota: 4,
        }
    }

    #[test]
    fn external_credentials_follow_the_turn_rest_scheme() {
        let cfg = TurnConfig {
            urls: vec!["turn:turn.example.org:3478".into()],
            shared_secret: Some(Secret::new("s3cret".into())),
            credential_ttl: Duration::from_secs(3600),
            ..turn(TurnMode::External)
        };
        let s = ice_servers(&cfg, "p_1", 1000);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].username.as_deref(), Some("4600:p_1"));
        // Known answer: printf '4600:p_1' | openssl dgst -sha1 -hmac s3cret -binary | base64
        assert_eq!(
            s[0].credential.as_deref(),
            Some("rdE9n0qlC6yI4dL9FxdSdfd0Hz0=")
        );
    }

    #[test]
    fn off_hands_out_nothing() {
        let cfg = turn(TurnMode::Off);
        assert!(ice_servers(&cfg, "p", 0).is_empty());
    }
}
