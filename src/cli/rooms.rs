//! `flowsync rooms list|show|end|create|standing|host-link|create-link`: the operator view.
//! Reads go to the database (the truth); `end` goes through the running server's admin API so
//! live participants are told, and falls back to the database when no server is running.
//! Creating rooms, making them standing and the links are database writes the running server
//! reads as it goes (a room the operator creates has no participant yet: its first arrival
//! becomes host).

use clap::{Args, Subcommand};

use super::{Cli, CmdResult, Failure, exit};
use crate::clock::{ms, now_ms};
use crate::config::Config;
use crate::db::{self, Db};
use crate::http::{AdminRoom, AdminRoomDetail};

mod end;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flowsync rooms list                  # open rooms, with participants and expiry
  flowsync rooms list --all --json     # also ended/expired tombstones, for scripts
  flowsync rooms show K7QX2M           # with the host link of a standing room
  flowsync rooms end K7QX2M            # everyone in the room is told it ended
  flowsync rooms create --standing --name \"Design team\" --slug design
  flowsync rooms standing K7QX2M --retention-days 90
  flowsync rooms host-link design --rotate   # the old host link stops working
  flowsync rooms create-link           # the link that lets people create rooms (policy link)")]
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
    /// Show one room and its participants, or with --today its record of the day
    Show {
        code: String,
        /// The room's record of today: work blocks, goals and check-ins, streaks
        #[arg(long)]
        today: bool,
        /// The record of this day instead (YYYY-MM-DD)
        #[arg(long, value_name = "DATE", conflicts_with = "today")]
        date: Option<String>,
        /// The day's time zone as an offset from UTC (+02:00, -05:00; default UTC)
        #[arg(
            long,
            value_name = "OFFSET",
            default_value = "+00:00",
            allow_hyphen_values = true
        )]
        utc_offset: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a room (no participant yet: the first to arrive becomes host)
    Create {
        /// The room's name
        #[arg(long)]
        name: Option<String>,
        /// A standing room: never expires by idleness, readable link /r/SLUG, a host link
        #[arg(long)]
        standing: bool,
        /// The readable link's slug (standing rooms; default: made from the name)
        #[arg(long, requires = "standing")]
        slug: Option<String>,
        /// Days a standing room keeps its chat (default 30)
        #[arg(long, value_name = "DAYS", requires = "standing")]
        retention_days: Option<i64>,
        /// Seats (default and upper bound: rooms.max_participants)
        #[arg(long, value_name = "N")]
        max_participants: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Make an open room standing, or change its slug or chat retention
    Standing {
        /// The room's code or slug
        room: String,
        #[arg(long)]
        slug: Option<String>,
        #[arg(long, value_name = "DAYS")]
        retention_days: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Show a standing room's host link (whoever opens it becomes host)
    HostLink {
        /// The room's code or slug
        room: String,
        /// Make a new host link; the old one stops working
        #[arg(long)]
        rotate: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show the team's create link (rooms.create_policy = "link")
    CreateLink {
        /// Make a new create link; the old one stops working
        #[arg(long)]
        rotate: bool,
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
        RoomsCmd::Show {
            code,
            today,
            date,
            utc_offset,
            json,
        } => {
            if *today || date.is_some() {
                show_day(&config, &db, code, date.as_deref(), utc_offset, *json).await
            } else {
                show(&config, &db, code, *json).await
            }
        }
        RoomsCmd::End { code, server, json } => {
            end::end(&config, &db, code, server.as_deref(), *json).await
        }
        RoomsCmd::Create {
            name,
            standing,
            slug,
            retention_days,
            max_participants,
            json,
        } => {
            let req = crate::rooms::service::CreateRoom {
                name: name.clone(),
                password: None,
                max_participants: *max_participants,
                display_name: String::new(),
                device_id: None,
                timer: None,
                standing: *standing,
                slug: slug.clone(),
                retention_days: *retention_days,
                create_key: None,
            };
            create(&config, &db, &req, *json).await
        }
        RoomsCmd::Standing {
            room,
            slug,
            retention_days,
            json,
        } => make_standing(&config, &db, room, slug.as_deref(), *retention_days, *json).await,
        RoomsCmd::HostLink { room, rotate, json } => {
            host_link(&config, &db, room, *rotate, *json).await
        }
        RoomsCmd::CreateLink { rotate, json } => create_link(&config, &db, *rotate, *json).await,
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
    // Standing rooms first, apart: the team's own rooms, which never expire by idleness.
    let (standing, ordinary): (Vec<_>, Vec<_>) = rooms
        .iter()
        .partition(|r| r.standing && r.status == "active");
    if !standing.is_empty() {
        println!("standing rooms");
        let rows = standing
            .iter()
            .map(|r| (*r, format!("/r/{}", r.slug.as_deref().unwrap_or(""))));
        print_rooms("LINK", rows);
        if !ordinary.is_empty() {
            println!("\nrooms");
        }
    }
    if ordinary.is_empty() {
        return Ok(());
    }
    let rows = ordinary.iter().map(|r| {
        let when = r.closed_at.as_deref().or(r.expires_at.as_deref());
        (*r, short_time(when.unwrap_or("")))
    });
    print_rooms("EXPIRES (UTC)", rows);
    Ok(())
}

/// One table of rooms; `last` names the column before NAME (a link, or when it expires).
fn print_rooms<'a>(last: &str, rows: impl Iterator<Item = (&'a AdminRoom, String)>) {
    println!(
        "{:<7} {:<9} {:>6}  {:<4} {:<21} NAME",
        "CODE", "STATUS", "PEOPLE", "PASS", last
    );
    for (r, value) in rows {
        println!(
            "{:<7} {:<9} {:>6}  {:<4} {:<21} {}",
            r.code,
            r.status,
            format!("{}/{}", r.participant_count, r.max_participants),
            if r.has_password { "yes" } else { "no" },
            value,
            r.name
        );
    }
}

fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

pub(super) async fn detail(
    config: &Config,
    db: &Db,
    name: &str,
) -> Result<AdminRoomDetail, Failure> {
    let room = find(config, db, name).await?;
    let participants = db::rooms::participants(db, &room.id)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let active = room.state(now_ms()) == crate::db::models::RoomState::Active;
    let host_link = if active {
        links(config, db, &room).await?.host_link
    } else {
        None
    };
    Ok(AdminRoomDetail {
        room: AdminRoom::from_row(&room),
        participants: participants
            .iter()
            .map(crate::http::AdminParticipant::from_row)
            .collect(),
        host_link,
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
    if let Some(slug) = r.slug.as_deref().filter(|_| r.standing) {
        println!(
            "link      {}/r/{slug}",
            config.public_url().trim_end_matches('/')
        );
    }
    if let Some(h) = &d.host_link {
        println!("host link {h}");
    }
    println!("created   {}", short_time(&r.created_at));
    println!("activity  {}", short_time(&r.last_activity_at));
    match &r.closed_at {
        Some(c) => println!(
            "closed    {} (code reserved until {})",
            short_time(c),
            short_time(r.tombstone_until.as_deref().unwrap_or(""))
        ),
        None => match &r.expires_at {
            Some(e) => println!("expires   {}", short_time(e)),
            None => println!(
                "standing  never expires by idleness; chat kept {} days",
                r.retention_days
                    .unwrap_or(crate::rooms::DEFAULT_RETENTION_DAYS)
            ),
        },
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

/// `rooms show CODE --today|--date DATE`: the room's record of one day.
async fn show_day(
    config: &Config,
    db: &Db,
    code: &str,
    date: Option<&str>,
    utc_offset: &str,
    json: bool,
) -> CmdResult {
    let offset =
        crate::rooms::record::parse_offset(utc_offset).map_err(|e| Failure::new(exit::USAGE, e))?;
    let day = crate::rooms::record::Day::parse(date, offset, now_ms())
        .map_err(|e| Failure::new(exit::USAGE, e))?;
    let room = find(config, db, code).await?;
    let record = crate::rooms::record::day_record(db, &room, day)
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&record).map_err(anyhow::Error::from)?
        );
    } else {
        print!("{}", crate::rooms::record::table(&room.name, &record));
    }
    Ok(())
}

/// A room named by its code or its slug (any state, for the operator).
async fn find(config: &Config, db: &Db, name: &str) -> Result<crate::db::models::RoomRow, Failure> {
    let not_found = || {
        Failure::new(
            exit::FAILED,
            anyhow::anyhow!(
                "no room has the code or slug {name:?}; see `flowsync rooms list --all`"
            ),
        )
    };
    let unreachable = |e| Failure::new(exit::UNREACHABLE, e);
    let code = match crate::rooms::normalize_code(name) {
        Some(code) => Some(code),
        None => match crate::rooms::slug(name) {
            Ok(slug) => db::rooms::code_by_slug(db, &slug)
                .await
                .map_err(unreachable)?,
            Err(_) => None,
        },
    };
    let cutoff = now_ms() - ms(config.rooms.reconnect_grace);
    match code {
        Some(code) => db::rooms::by_code(db, &code, cutoff)
            .await
            .map_err(unreachable)?
            .ok_or_else(not_found),
        None => Err(not_found()),
    }
}

/// An API error (bad input, a taken slug, an ended room) as a command failure.
fn refused(e: crate::errors::ApiError) -> Failure {
    let code = match e.code {
        crate::errors::ErrorCode::Unavailable | crate::errors::ErrorCode::Internal => {
            exit::UNREACHABLE
        }
        _ => exit::REFUSED,
    };
    Failure::new(code, anyhow::anyhow!("{}", e.message))
}

/// The server's link key, from which host links are derived.
async fn link_key(db: &Db) -> Result<Vec<u8>, Failure> {
    db.server_secret("link_signing_key")
        .await
        .map_err(|e| Failure::new(exit::UNREACHABLE, e))
}

/// What the operator is shown of a room they created or changed.
#[derive(serde::Serialize)]
struct RoomLinks {
    code: String,
    name: String,
    standing: bool,
    slug: Option<String>,
    retention_days: Option<i64>,
    link: String,
    /// Whoever opens it becomes host (standing rooms).
    host_link: Option<String>,
}

async fn links(
    config: &Config,
    db: &Db,
    room: &crate::db::models::RoomRow,
) -> Result<RoomLinks, Failure> {
    let base = config.public_url();
    let key = crate::rooms::team::current_host_key(&link_key(db).await?, room);
    Ok(RoomLinks {
        code: room.code.clone(),
        name: room.name.clone(),
        standing: room.is_standing(),
        slug: room.slug.clone().filter(|_| room.is_standing()),
        retention_days: room.retention_days.filter(|_| room.is_standing()),
        link: format!(
            "{}{}",
            base.trim_end_matches('/'),
            crate::rooms::team::room_path(room)
        ),
        host_link: key.map(|k| crate::rooms::team::host_link(&base, room, &k)),
    })
}

fn print_links(l: &RoomLinks, json: bool, what: &str) -> CmdResult {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(l).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    println!("room {} ({}) {what}", l.code, l.name);
    println!("link       {}", l.link);
    if let Some(h) = &l.host_link {
        println!("host link  {h}");
        println!(
            "           whoever opens the host link becomes host; keep it to the team's hosts"
        );
    }
    if let Some(d) = l.retention_days {
        println!("standing   never expires by idleness; chat is kept {d} days");
    }
    Ok(())
}

async fn create(
    config: &Config,
    db: &Db,
    req: &crate::rooms::service::CreateRoom,
    json: bool,
) -> CmdResult {
    use crate::rooms::create::{insert_room, plan_room};
    let expires_at = now_ms() + ms(config.rooms.idle_expiry);
    let plan = plan_room(config, req, expires_at, None).map_err(refused)?;
    let room = insert_room(db, plan, None).await.map_err(refused)?;
    print_links(&links(config, db, &room).await?, json, "created")
}

async fn make_standing(
    config: &Config,
    db: &Db,
    name: &str,
    slug: Option<&str>,
    retention_days: Option<i64>,
    json: bool,
) -> CmdResult {
    let room = find(config, db, name).await?;
    let room = crate::rooms::create::make_standing(db, &room.id, slug, retention_days)
        .await
        .map_err(refused)?;
    print_links(&links(config, db, &room).await?, json, "is standing")
}

async fn host_link(config: &Config, db: &Db, name: &str, rotate: bool, json: bool) -> CmdResult {
    let mut room = find(config, db, name).await?;
    if !room.is_standing() || room.state(now_ms()) != crate::db::models::RoomState::Active {
        return Err(Failure::new(
            exit::REFUSED,
            anyhow::anyhow!(
                "room {} has no host link: only open standing rooms have one (`flowsync rooms standing {}`)",
                room.code,
                room.code
            ),
        ));
    }
    if rotate {
        room.host_link_generation = db::rooms::rotate_host_link(db, &room.id)
            .await
            .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    }
    let what = if rotate {
        "has a new host link (the old one no longer works)"
    } else {
        ""
    };
    print_links(&links(config, db, &room).await?, json, what)
}

async fn create_link(config: &Config, db: &Db, rotate: bool, json: bool) -> CmdResult {
    let secret = if rotate {
        crate::rooms::team::rotate_create_secret(db).await
    } else {
        crate::rooms::team::create_secret(db).await
    }
    .map_err(|e| Failure::new(exit::UNREACHABLE, e))?;
    let link = crate::rooms::team::create_link(&config.public_url(), &secret);
    let policy = config.rooms.create_policy.as_str();
    if json {
        println!(
            "{}",
            serde_json::json!({ "create_link": link, "rotated": rotate, "create_policy": policy })
        );
        return Ok(());
    }
    println!("{link}");
    if rotate {
        println!("the previous create link no longer works");
    }
    match config.rooms.create_policy {
        crate::config::CreatePolicy::Link => {
            println!(
                "whoever opens this link in their browser may create rooms (rooms.create_policy = \"link\")"
            )
        }
        _ => println!(
            "note: rooms.create_policy is \"{policy}\", so this link is not needed to create rooms; set it to \"link\" to require it"
        ),
    }
    Ok(())
}
