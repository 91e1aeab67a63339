//! Where an ACME issuer leaves its HTTP-01 answers (`<data_dir>/tls/challenges/http-01/<token>`)
//! and where the port-80 listener (`http::redirect`) finds them. The directory is the whole
//! interface: the issuer may be another process (`flowsync cert issue`), and with PostgreSQL
//! the ACME loop copies answers published by other instances into it (`tls::acme::Shared`).

use std::path::{Path, PathBuf};

/// A directory of HTTP-01 answers, one file per token.
#[derive(Debug, Clone)]
pub struct HttpChallenges {
    dir: PathBuf,
}

impl HttpChallenges {
    pub fn new(dir: PathBuf) -> HttpChallenges {
        HttpChallenges { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `token`'s answer; `None` for a token that is not base64url, so no
    /// request can name a path outside the directory.
    pub fn file(&self, token: &str) -> Option<PathBuf> {
        token_ok(token).then(|| self.dir.join(token))
    }

    /// The key authorisation to answer `GET /.well-known/acme-challenge/<token>` with, when an
    /// issuer left one.
    pub fn answer(&self, token: &str) -> Option<String> {
        std::fs::read_to_string(self.file(token)?).ok()
    }
}

/// ACME tokens are base64url: nothing else may become a file name.
fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_base64url_tokens_name_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::HttpChallenges::new(dir.path().to_owned());
        std::fs::write(dir.path().join("abc-_9"), "abc-_9.key").unwrap();
        assert_eq!(store.answer("abc-_9").as_deref(), Some("abc-_9.key"));
        assert_eq!(store.answer("missing"), None);
        for bad in ["", "../etc", "a/b", "a.b", &"x".repeat(257)] {
            assert_eq!(store.file(bad), None, "{bad:?}");
        }
    }
}
