//! The interactive side of `flowsync init`: one question at a time, each answer checked before
//! the next (a PostgreSQL URL is connected to, a Redis URL PINGed), with an existing config's
//! answers as the defaults.

use super::*;

pub(super) fn io(e: dialoguer::Error) -> Failure {
    Failure::new(exit::FAILED, anyhow::anyhow!("the wizard stopped: {e}"))
}

/// Whether a PostgreSQL server runs on this host (its Debian socket exists).
pub(super) fn local_postgres_present() -> bool {
    std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists()
}

pub(super) async fn postgres_answers(url: &str) -> Result<(), String> {
    let cfg = crate::config::DatabaseConfig {
        url: crate::config::Secret::new(url.to_owned()),
        max_connections: 1,
        auto_migrate: false,
    };
    match tokio::time::timeout(Duration::from_secs(10), crate::db::Db::connect(&cfg)).await {
        Ok(Ok(db)) => {
            db.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 10 s".into()),
    }
}

pub(super) async fn redis_answers(url: &str) -> Result<(), String> {
    let ping = async {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut c = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

/// The previous answers, read from an existing config, become the wizard's defaults.
pub(super) struct Previous(Option<toml::Table>);

impl Previous {
    fn str(&self, section: &str, key: &str) -> Option<String> {
        self.0
            .as_ref()?
            .get(section)?
            .get(key)?
            .as_str()
            .map(str::to_owned)
    }
    fn first(&self, section: &str, key: &str) -> Option<String> {
        self.0
            .as_ref()?
            .get(section)?
            .get(key)?
            .as_array()?
            .first()?
            .as_str()
            .map(str::to_owned)
    }
}

/// The interactive wizard: one question at a time, each answer checked before the next.
pub(super) async fn wizard(o: &Opts, layout: &Layout) -> Result<Answers, Failure> {
    let prev = Previous(
        std::fs::read_to_string(&layout.config)
            .ok()
            .and_then(|t| toml::from_str(&t).ok()),
    );
    if prev.0.is_some() {
        eprintln!(
            "{} exists: its answers are the defaults below, and its secrets are kept.",
            layout.config.display()
        );
    }
    let tls_items = [
        "acme (Let's Encrypt, automatic renewal)",
        "self-signed (LAN or testing)",
        "off (plain HTTP, behind your own proxy)",
    ];
    let tls_default = match prev.str("tls", "mode").as_deref() {
        Some("self-signed") => 1,
        Some("off") => 2,
        _ => 0,
    };
    let tls = match Select::new()
        .with_prompt("HTTPS")
        .items(tls_items)
        .default(tls_default)
        .interact()
        .map_err(io)?
    {
        0 => TlsChoice::Acme,
        1 => TlsChoice::SelfSigned,
        _ => TlsChoice::Off,
    };
    let mut domain_prompt = Input::<String>::new()
        .with_prompt("Domain people open (e.g. rooms.example.org)")
        .validate_with(|d: &String| valid_domain(d.trim()));
    if let Some(d) = prev.first("tls", "domains").or_else(|| o.domain.clone()) {
        domain_prompt = domain_prompt.default(d);
    }
    let domain = domain_prompt.interact_text().map_err(io)?.trim().to_owned();
    let email = if tls == TlsChoice::Acme {
        let mut p = Input::<String>::new()
            .with_prompt("Email for the certificate authority (expiry warnings)")
            .validate_with(|e: &String| valid_email(e.trim()));
        if let Some(e) = prev.str("tls", "email").or_else(|| o.email.clone()) {
            p = p.default(e);
        }
        Some(p.interact_text().map_err(io)?.trim().to_owned())
    } else {
        None
    };
    let mut db_items = vec![
        "SQLite (a file in /var/lib/flowsync; right for one server)".to_owned(),
        "PostgreSQL: enter a URL".to_owned(),
    ];
    let local = local_postgres_present();
    if local {
        db_items.push(format!(
            "PostgreSQL: create a local database \"{}\"",
            o.local_db_name
        ));
    }
    let prev_db = prev.str("database", "url");
    let db_default = match prev_db.as_deref() {
        Some(u) if u.starts_with("postgres") => 1,
        _ => 0,
    };
    let database = match Select::new()
        .with_prompt("Database")
        .items(&db_items)
        .default(db_default)
        .interact()
        .map_err(io)?
    {
        0 => DatabaseChoice::Sqlite,
        2 => DatabaseChoice::LocalPostgres(o.local_db_name.clone()),
        _ => loop {
            let mut p = Input::<String>::new()
                .with_prompt("PostgreSQL URL (postgres://USER:PASSWORD@HOST/DB)")
                .validate_with(|u: &String| {
                    if u.starts_with("postgres://") || u.starts_with("postgresql://") {
                        Ok(())
                    } else {
                        Err("starts with postgres://")
                    }
                });
            if let Some(u) = prev_db.clone().filter(|u| u.starts_with("postgres")) {
                p = p.default(u);
            }
            let url = p.interact_text().map_err(io)?;
            eprintln!("connecting to {} …", crate::config::redact_url(&url));
            match postgres_answers(&url).await {
                Ok(()) => break DatabaseChoice::Postgres(url),
                Err(e) => eprintln!("✗ {e}"),
            }
        },
    };
    let prev_redis = prev.str("redis", "url");
    let redis = match Select::new()
        .with_prompt("Redis (only needed for several FlowSync instances)")
        .items(["none (state in this process)", "Redis: enter a URL"])
        .default(usize::from(prev_redis.is_some()))
        .interact()
        .map_err(io)?
    {
        0 => None,
        _ => loop {
            let mut p = Input::<String>::new()
                .with_prompt("Redis URL (redis://HOST:PORT/)")
                .validate_with(|u: &String| redis_choice(u).map(|_| ()));
            p = p.default(
                prev_redis
                    .clone()
                    .unwrap_or_else(|| "redis://127.0.0.1:6379/".into()),
            );
            let url = p.interact_text().map_err(io)?;
            match redis_answers(&url).await {
                Ok(()) => break Some(url),
                Err(e) => eprintln!("✗ {e}"),
            }
        },
    };
    let turn = match Select::new()
        .with_prompt("TURN relay (calls through strict NATs and firewalls)")
        .items([
            "embedded (in FlowSync: UDP/TCP 3478, TLS on 443, relay ports 49152-65535)",
            "off",
            "external coturn (use-auth-secret)",
        ])
        .default(match prev.str("turn", "mode").as_deref() {
            Some("off") => 1,
            Some("external") => 2,
            _ => 0,
        })
        .interact()
        .map_err(io)?
    {
        0 => TurnChoice::Embedded,
        1 => TurnChoice::Off,
        _ => {
            let url: String = Input::new()
                .with_prompt("coturn URL")
                .default(format!("turn:{domain}:3478"))
                .validate_with(|u: &String| {
                    if u.starts_with("turn:") || u.starts_with("turns:") || u.starts_with("stun:") {
                        Ok(())
                    } else {
                        Err("a turn:, turns: or stun: URL")
                    }
                })
                .interact_text()
                .map_err(io)?;
            TurnChoice::External {
                urls: vec![url],
                secret: o.turn_secret.clone(),
            }
        }
    };
    let create_policy = match Select::new()
        .with_prompt("Who may create rooms")
        .items([
            "whoever has the team's create link (shown at the end)",
            "only the operator (`flowsync rooms create`)",
            "anyone who reaches this server (rate-limited)",
        ])
        .default(match prev.str("rooms", "create_policy").as_deref() {
            Some("operator") => 1,
            Some("open") => 2,
            _ => 0,
        })
        .interact()
        .map_err(io)?
    {
        0 => crate::config::CreatePolicy::Link,
        1 => crate::config::CreatePolicy::Operator,
        _ => crate::config::CreatePolicy::Open,
    };
    let listen = |prompt: &str, key: &str, default: SocketAddr| -> Result<SocketAddr, Failure> {
        let d = prev
            .str("server", key)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        Input::<SocketAddr>::new()
            .with_prompt(prompt)
            .default(d)
            .interact_text()
            .map_err(io)
    };
    let http_listen = listen("HTTP listen address", "http_listen", o.http_listen)?;
    let https_listen = if tls == TlsChoice::Off {
        o.https_listen
    } else {
        listen("HTTPS listen address", "https_listen", o.https_listen)?
    };
    Ok(Answers {
        domain: Some(domain),
        email,
        database,
        redis,
        tls,
        turn,
        http_listen,
        https_listen,
        acme_directory: o.acme_directory.clone(),
        acme_ca_root: o.acme_ca_root.clone(),
        create_policy,
    })
}
