//! `flowsync rooms end ROOM`: through the running server when there is one, so the people in
//! the room are told (its admin socket in the data directory, else its admin API over HTTP with
//! `FLOWSYNC_ADMIN_TOKEN`), else in the database, where nobody is connected to tell.

use super::detail;
use crate::cli::{CmdResult, Failure, exit};
use crate::clock::{ms, now_ms};
use crate::config::Config;
use crate::db::{self, Db};

/// Ends the room `code` (a code or a slug); exit `REFUSED` when it had already ended.
pub(super) async fn end(
    config: &Config,
    db: &Db,
    code: &str,
    server: Option<&str>,
    json: bool,
) -> CmdResult {
    let d = detail(config, db, code).await?;
    let code = d.room.code.clone();
    let base = server
        .map(str::to_owned)
        .unwrap_or_else(|| local_url(config));
    // The local server first, over its admin socket (no token needed); else over TCP, which
    // needs FLOWSYNC_ADMIN_TOKEN.
    let local = match server {
        Some(_) => Err(EndError::NotRunning),
        None => end_via_socket(config, &code).await,
    };
    let outcome = match local {
        Err(EndError::NotRunning) => end_via_server(&base, &code).await,
        other => other,
    };
    let via_server = match outcome {
        Ok(outcome) => Some(outcome),
        Err(EndError::NotRunning) => None,
        Err(EndError::Failed(e)) => return Err(Failure::new(exit::UNREACHABLE, e)),
    };
    let (ended, how) = match via_server {
        Some(ended) => (ended, "live participants were told"),
        None => {
            // No server: end it in the database; nobody is connected to tell.
            let until = now_ms() + ms(config.rooms.tombstone_ttl);
            let room = db::rooms::by_code(db, &code, 0)
                .await
                .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
            let ended = match room {
                Some(r) => db::lifecycle::close(db, &r.id, "ended", until)
                    .await
                    .map_err(|e| Failure::new(exit::UNREACHABLE, e))?
                    .is_some(),
                None => false,
            };
            (ended, "no server was running")
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "code": code, "ended": ended, "via_server": via_server.is_some() })
        );
    } else if ended {
        println!("room {code} ended ({how})");
    }
    if ended {
        Ok(())
    } else {
        Err(Failure::new(
            exit::REFUSED,
            anyhow::anyhow!("room {code} had already ended or expired"),
        ))
    }
}

/// The loopback URL of the local server's listener.
fn local_url(config: &Config) -> String {
    let addr = config.server.http_listen;
    let host = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            "127.0.0.1".to_owned()
        } else {
            "[::1]".to_owned()
        }
    } else {
        addr.to_string()
            .rsplit_once(':')
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default()
    };
    format!("http://{host}:{}", addr.port())
}

enum EndError {
    NotRunning,
    Failed(anyhow::Error),
}

/// [`end_via_server`] over the admin socket in the data directory (`http::local`).
async fn end_via_socket(config: &Config, code: &str) -> Result<bool, EndError> {
    let path = format!("/api/admin/rooms/{code}");
    match crate::http::local::request(&config.server.data_dir, "DELETE", &path).await {
        Ok((200, _)) => Ok(true),
        Ok((410, _)) => Ok(false),
        Ok((s, body)) => Err(EndError::Failed(anyhow::anyhow!(
            "the server answered {s} on its admin socket: {body}"
        ))),
        // No socket (no server, or one without it), or not ours to open: try TCP.
        Err(_) => Err(EndError::NotRunning),
    }
}

/// `Ok(true)` ended, `Ok(false)` was already closed.
async fn end_via_server(base: &str, code: &str) -> Result<bool, EndError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| EndError::Failed(e.into()))?;
    let mut req = client.delete(format!(
        "{}/api/admin/rooms/{code}",
        base.trim_end_matches('/')
    ));
    if let Ok(token) = std::env::var("FLOWSYNC_ADMIN_TOKEN") {
        req = req.bearer_auth(token);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(EndError::NotRunning),
        Err(e) => {
            return Err(EndError::Failed(anyhow::anyhow!(
                "the server at {base} did not answer: {e}"
            )));
        }
    };
    match res.status().as_u16() {
        200 => Ok(true),
        410 => Ok(false),
        401 | 403 => Err(EndError::Failed(anyhow::anyhow!(
            "the server at {base} refused the admin request; run this on the server host as root or the service user (it then uses the admin socket in server.data_dir), or set FLOWSYNC_ADMIN_TOKEN"
        ))),
        s => Err(EndError::Failed(anyhow::anyhow!(
            "the server at {base} answered {s}: {}",
            res.text().await.unwrap_or_default()
        ))),
    }
}
