//! `flowsync rooms list|show|end`: the operator view. Reads go to the database (the truth);
//! `end` goes through the running server's admin API so live participants are told, and falls
//! back to the database when no server is running.

use clap::{Args, Subcommand};

use super::{Cli, CmdResult, Failure, exit};
use crate::config::Config;
use crate::db::{self, Db, ms, now_ms};
use crate::http::{AdminRoom, AdminRoomDetail};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync rooms list                  # open rooms, with participants and expiry
  flowsync rooms list --all --json     # also ended/expired tombstones, for scripts
  flowsync rooms show K7QX2M
  flowsync rooms end K7QX2M            # everyone in the room is told it ended")]
pub struct Opts {
    #[command(subcommand)]
    cmd: RoomsCmd,
}

#[derive(Debug, Subcommand)]
enum RoomsCmd {
    /// List rooms
    List {
        /// Include ended and expired rooms (tombstones)
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one room and its participants
    Show {
        code: String,
        #[arg(long)]
        json: bool,
    },
    /// End a room for everyone in it
    End {
        code: String,
        /// Base URL of the running server, reached with FLOWSYNC_ADMIN_TOKEN (default: the
        /// admin socket in server.data_dir, then server.http_listen)
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cli: &Cli, opts: &Opts) -> CmdResult {
    let config = cli.load_config(Vec::new())?.config;
    let db = Db::connect(&config.database)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let result = match &opts.cmd {
        RoomsCmd::List { all, json } => list(&config, &db, *all, *json).await,
        RoomsCmd::Show { code, json } => show(&config, &db, code, *json).await,
        RoomsCmd::End { code, server, json } => {
            end(&config, &db, code, server.as_deref(), *json).await
        }
    };
    db.close().await;
    result
}

async fn list(config: &Config, db: &Db, all: bool, json: bool) -> CmdResult {
    let rooms = crate::http::list_rooms(db, ms(config.rooms.reconnect_grace), all)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rooms).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    if rooms.is_empty() {
        println!("no rooms");
        return Ok(());
    }
    println!(
        "{:<7} {:<9} {:>6}  {:<4} {:<21} NAME",
        "CODE", "STATUS", "PEOPLE", "PASS", "EXPIRES (UTC)"
    );
    for r in &rooms {
        println!(
            "{:<7} {:<9} {:>6}  {:<4} {:<21} {}",
            r.code,
            r.status,
            format!("{}/{}", r.participant_count, r.max_participants),
            if r.has_password { "yes" } else { "no" },
            short_time(r.closed_at.as_deref().unwrap_or(&r.expires_at)),
            r.name
        );
    }
    Ok(())
}

fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

async fn detail(config: &Config, db: &Db, code: &str) -> Result<AdminRoomDetail, Failure> {
    let not_found = || {
        Failure::new(
            exit::FAILED,
            anyhow::anyhow!("no room has code {code:?}; see `flowsync rooms list --all`"),
        )
    };
    let code = crate::rooms::normalize_code(code).ok_or_else(not_found)?;
    let cutoff = now_ms() - ms(config.rooms.reconnect_grace);
    let room = db::rooms::by_code(db, &code, cutoff)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?
        .ok_or_else(not_found)?;
    let participants = db::rooms::participants(db, &room.id)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    Ok(AdminRoomDetail {
        room: AdminRoom::from_row(&room),
        participants: participants
            .iter()
            .map(crate::http::AdminParticipant::from_row)
            .collect(),
    })
}

async fn show(config: &Config, db: &Db, code: &str, json: bool) -> CmdResult {
    let d = detail(config, db, code).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    let r = &d.room;
    println!("room      {} ({})", r.code, r.name);
    println!("status    {}", r.status);
    println!("people    {}/{}", r.participant_count, r.max_participants);
    println!("password  {}", if r.has_password { "yes" } else { "no" });
    println!("created   {}", short_time(&r.created_at));
    println!("activity  {}", short_time(&r.last_activity_at));
    match &r.closed_at {
        Some(c) => println!(
            "closed    {} (code reserved until {})",
            short_time(c),
            short_time(r.tombstone_until.as_deref().unwrap_or(""))
        ),
        None => println!("expires   {}", short_time(&r.expires_at)),
    }
    if !d.participants.is_empty() {
        println!("\n{:<20} {:<6} {:<9} NAME", "PARTICIPANT", "ROLE", "STATE");
        for p in &d.participants {
            let state = if let Some(r) = &p.revoked {
                r.clone()
            } else if p.left_at.is_some() {
                "left".into()
            } else if p.connected {
                "online".into()
            } else {
                "offline".into()
            };
            println!(
                "{:<20} {:<6} {:<9} {}",
                p.participant_id, p.role, state, p.display_name
            );
        }
    }
    Ok(())
}

async fn end(config: &Config, db: &Db, code: &str, server: Option<&str>, json: bool) -> CmdResult {
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
                Some(r) => db::rooms::close(db, &r.id, "ended", until)
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
