//! Secrets on the wire and at rest: random tokens (stored as SHA-256), Argon2id room passwords
//! under a global concurrency bound, and HMAC-signed short-lived links.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::errors::{ApiError, ErrorCode};

/// Fills `buf` from the operating system's CSPRNG. The OS RNG failing is not recoverable.
pub fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("operating system random number generator failed");
}

/// A new bearer token: 256 random bits, URL-safe.
pub fn new_token() -> String {
    let mut buf = [0u8; 32];
    fill_random(&mut buf);
    format!("fst_{}", URL_SAFE_NO_PAD.encode(buf))
}

/// A new opaque id with a readable prefix, e.g. `p_3k…` for participants.
pub fn new_id(prefix: &str) -> String {
    let mut buf = [0u8; 12];
    fill_random(&mut buf);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(buf))
}

/// What is stored for a token: its SHA-256, hex. Tokens carry 256 bits of entropy, so a fast
/// hash is enough; Argon2 is for low-entropy secrets people choose.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two byte strings in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id hashing with a global bound on concurrent work, so guesses from many addresses
/// queue instead of exhausting CPU and memory.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> Self {
        PasswordHasherPool {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // Waiting longer than this means the server is saturated by hashing; say so.
        let permit = tokio::time::timeout(
            Duration::from_secs(10),
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::Unavailable,
                "the server is busy checking passwords; try again in a few seconds",
            )
        })?
        .map_err(ApiError::internal)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(out)
    }

    /// Hashes a room password to a PHC string (`$argon2id$…`).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || {
            argon2::Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Checks a password against a stored PHC string.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Signs `payload` with `key`; URL-safe.
pub fn sign(key: &[u8], payload: &str) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Verifies a signature made by [`sign`] in constant time.
pub fn verify_signature(key: &[u8], payload: &str, sig: &str) -> bool {
    constant_time_eq(sign(key, payload).as_bytes(), sig.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.len() >= 4 + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn signatures_verify_only_unchanged_payloads() {
        let key = b"k";
        let s = sign(key, "ROOM|p_1|100");
        assert!(verify_signature(key, "ROOM|p_1|100", &s));
        assert!(!verify_signature(key, "ROOM|p_1|101", &s));
        assert!(!verify_signature(b"other", "ROOM|p_1|100", &s));
    }

    #[tokio::test]
    async fn argon2id_round_trip() {
        let pool = PasswordHasherPool::new(1);
        let phc = pool.hash("correct horse".into()).await.unwrap_or_default();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(
            pool.verify("correct horse".into(), phc.clone())
                .await
                .unwrap_or(false)
        );
        assert!(!pool.verify("wrong".into(), phc).await.unwrap_or(true));
    }
}
