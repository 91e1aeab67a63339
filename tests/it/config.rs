//! Configuration layering (file → env → flags), validation errors that name the key, file and
//! line, and secrets that never print.

use flowsync::config::{Config, FlagValue, LoadOptions, Source};
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The `FLOWSYNC_*` variables that set each dotted key to its value.
fn key_vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(dotted, v)| {
            let key = flowsync::config::keys::KEYS
                .iter()
                .find(|k| k.dotted() == *dotted)
                .unwrap_or_else(|| panic!("no key {dotted} in the registry"));
            (key.env_var(), v.to_string())
        })
        .collect()
}

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("flowsync.toml");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn defaults_without_a_file_are_the_embedded_default() {
    let (_d, path) = file("");
    let c = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[]),
    )
    .expect("valid")
    .config;
    assert_eq!(c.server.http_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.rooms.max_participants, 10);
    assert_eq!(c.rooms.reconnect_grace.as_secs(), 60);
    assert_eq!(c.rooms.idle_expiry.as_secs(), 86_400);
    assert!(c.redis.url.is_none());
    assert!(c.database.url.expose().starts_with("sqlite://"));
}

#[test]
fn flags_beat_env_beat_file() {
    let (_d, path) = file(
        "[server]\nhttp_listen = \"127.0.0.1:1111\"\ndata_dir = \"/tmp/from-file\"\n[rooms]\nmessage_max_chars = 10\n",
    );
    let flags = vec![FlagValue {
        dotted: "server.http_listen",
        flag: "--listen",
        value: toml::Value::String("127.0.0.1:3333".into()),
    }];
    let loaded = Config::load_with_env(
        &LoadOptions {
            path: Some(path.clone()),
            flags,
        },
        env(&[
            ("FLOWSYNC_SERVER__HTTP_LISTEN", "127.0.0.1:2222"),
            ("FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS", "20"),
            ("FLOWSYNC_ROOMS__TIMER_AUTO_START", "false"),
        ]),
    )
    .expect("valid");
    let c = &loaded.config;
    assert_eq!(c.server.http_listen.port(), 3333);
    assert_eq!(c.rooms.message_max_chars, 20);
    assert!(!c.rooms.timer.auto_start);
    assert_eq!(c.server.data_dir.display().to_string(), "/tmp/from-file");
    assert_eq!(
        loaded.layers.source_of("server.http_listen"),
        Source::Flag("--listen".into())
    );
    assert_eq!(
        loaded.layers.source_of("rooms.message_max_chars"),
        Source::Env("FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS".into())
    );
    assert_eq!(
        loaded.layers.source_of("server.data_dir"),
        Source::File(path)
    );
    assert_eq!(loaded.layers.source_of("log.level"), Source::Default);
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let (_d, path) = file("[server]\nhttp_listen = \"127.0.0.1:8080\"\nhttp_lisen = \"oops\"\n");
    let err = Config::load_with_env(
        &LoadOptions {
            path: Some(path.clone()),
            flags: vec![],
        },
        env(&[]),
    )
    .expect_err("unknown key");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}:3:", path.display())), "{msg}");
    assert!(msg.contains("http_lisen"), "{msg}");
    assert!(msg.contains("did you mean `http_listen`?"), "{msg}");
    assert!(!msg.contains('\n'));

    let (_d, path) = file("[surprise]\nx = 1\n");
    let msg = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[]),
    )
    .expect_err("unknown section")
    .to_string();
    assert!(msg.contains(":1:") && msg.contains("surprise"), "{msg}");

    let (_d, path) = file("[server\n");
    let msg = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[]),
    )
    .expect_err("syntax")
    .to_string();
    assert!(msg.contains(":1:"), "{msg}");

    let (_d, path) = file("");
    let msg = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[("FLOWSYNC_SERVER__HTTP_LISTN", "x")]),
    )
    .expect_err("unknown env")
    .to_string();
    assert!(msg.contains("FLOWSYNC_SERVER__HTTP_LISTN"), "{msg}");
    assert!(
        msg.contains("did you mean `FLOWSYNC_SERVER__HTTP_LISTEN`?"),
        "{msg}"
    );
}

#[test]
fn bad_values_name_key_and_source() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[server]\nhttp_listen = \"nowhere\"\n",
            "server.http_listen",
            "file",
        ),
        (
            "[rooms]\nmax_participants = 11\n",
            "rooms.max_participants",
            "out of range",
        ),
        (
            "[rooms]\nidle_expiry = \"soon\"\n",
            "rooms.idle_expiry",
            "duration",
        ),
        (
            "[rooms]\ncreate_rate_per_ip = \"10/fortnight\"\n",
            "rooms.create_rate_per_ip",
            "unit",
        ),
        (
            "[rooms]\ntombstone_ttl = \"1d\"\n",
            "rooms.tombstone_ttl",
            "30d",
        ),
        (
            "[database]\nurl = \"mysql://x\"\n",
            "database.url",
            "postgres",
        ),
        ("[turn]\nmode = \"external\"\n", "turn.urls", "external"),
        ("[log]\nformat = \"xml\"\n", "log.format", "text, json"),
        (
            "[rooms]\nmax_participants = \"ten\"\n",
            "max_participants",
            ":2:",
        ),
    ];
    for (text, key, hint) in cases {
        let (_d, path) = file(text);
        let msg = Config::load_with_env(
            &LoadOptions {
                path: Some(path),
                flags: vec![],
            },
            env(&[]),
        )
        .expect_err(text)
        .to_string();
        assert!(msg.contains(key) && msg.contains(hint), "{text:?} → {msg}");
    }
    let (_d, path) = file("");
    let msg = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[("FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS", "many")]),
    )
    .expect_err("bad env")
    .to_string();
    assert!(
        msg.contains("rooms.message_max_chars")
            && msg.contains("FLOWSYNC_ROOMS__MESSAGE_MAX_CHARS"),
        "{msg}"
    );
}

#[test]
fn missing_explicit_file_is_an_error() {
    let msg = Config::load_with_env(
        &LoadOptions {
            path: Some("/nonexistent/flowsync.toml".into()),
            flags: vec![],
        },
        env(&[]),
    )
    .expect_err("missing")
    .to_string();
    assert!(msg.contains("/nonexistent/flowsync.toml"), "{msg}");
}

#[test]
fn secrets_never_print() {
    let (_d, path) = file(
        "[database]\nurl = \"postgres://flowsync:pg-pass-123@db/flowsync\"\n[server]\nadmin_token = \"admin-secret-value-1234\"\n\
         [turn]\nmode = \"external\"\nurls = [\"turn:t.example:3478\"]\nshared_secret = \"turn-secret-456\"\n",
    );
    let c = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        env(&[]),
    )
    .expect("valid")
    .config;
    let debug = format!("{c:?}");
    let rendered = format!("{:?}", c.render());
    for secret in ["pg-pass-123", "admin-secret-value-1234", "turn-secret-456"] {
        assert!(!debug.contains(secret), "Debug leaks {secret}");
        assert!(!rendered.contains(secret), "render leaks {secret}");
    }
    assert!(
        rendered.contains("postgres://flowsync:********@db/flowsync"),
        "{rendered}"
    );
}

#[test]
fn the_reference_documents_every_key_and_error_code() {
    let doc = |rel: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    // The key table is generated from the registry; FLOWSYNC_BLESS=1 rewrites it in place.
    let rel = "docs/reference/configuration.md";
    let config = doc(rel);
    let table = flowsync::config::keys::markdown_reference();
    if !config.contains(&table) {
        let start = config
            .find("| key |")
            .expect("the reference has a key table");
        let end = config[start..]
            .find("\n\n")
            .map_or(config.len(), |i| start + i + 1);
        let fixed = format!("{}{table}{}", &config[..start], &config[end..]);
        if std::env::var_os("FLOWSYNC_BLESS").is_some() {
            std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel), fixed).unwrap();
        } else {
            panic!(
                "{rel}'s key table is not the registry's; rerun this test with FLOWSYNC_BLESS=1 \
                 to rewrite it:\n{table}"
            );
        }
    }
    let api = doc("docs/reference/http-api.md");
    for c in flowsync::errors::ErrorCode::ALL {
        assert!(
            api.contains(&format!("| `{}` | ", c.as_str())),
            "docs/reference/http-api.md lacks error code {c}"
        );
    }
}

/// Every key the registry marks as applied on SIGHUP is in effect after a reload: the running
/// configuration shows the new value (the ACME loop, the rooms service, the sweeper and the
/// backup command all read it from there). Keys that need a restart keep their running value.
/// A new reloadable key must get a value here, so the test covers it from the start.
/// A valid value, other than the default, for every reloadable key.
const RELOADABLE_CHANGES: &[(&str, &str)] = &[
    ("tls.email", "ops@example.org"),
    ("tls.acme_directory", "https://acme.example.org/directory"),
    ("tls.acme_ca_root", "/etc/ssl/certs/ca-certificates.crt"),
    ("tls.challenge", "tls-alpn-01"),
    ("tls.cert_path", "/etc/flowsync/cert.pem"),
    ("tls.key_path", "/etc/flowsync/key.pem"),
    ("turn.credential_ttl", "20m"),
    ("rooms.max_participants", "6"),
    ("rooms.idle_expiry", "48h"),
    ("rooms.reconnect_grace", "90s"),
    ("rooms.pending_seat_grace", "20s"),
    ("rooms.tombstone_ttl", "60d"),
    ("rooms.create_policy", "link"),
    ("rooms.create_rate_per_ip", "5/hour"),
    ("rooms.join_rate_per_ip", "10/minute"),
    ("rooms.lookup_rate_per_ip", "20/minute"),
    ("rooms.message_rate_per_participant", "10/minute"),
    ("rooms.password_failures_per_room", "10/hour"),
    ("rooms.message_max_chars", "500"),
    ("rooms.timer_work_seconds", "3000"),
    ("rooms.timer_short_break_seconds", "600"),
    ("rooms.timer_long_break_seconds", "1200"),
    ("rooms.timer_long_break_every", "3"),
    ("rooms.timer_auto_start", "false"),
    ("rooms.focus_mute_at_work_start", "true"),
    ("rooms.focus_quiet_chat", "true"),
    ("rooms.focus_break_banner", "false"),
    ("backup.dir", "/var/tmp/flowsync-reload-test-backups"),
    ("backup.keep", "3"),
    ("backup.keep_daily", "7"),
    ("backup.keep_weekly", "4"),
    ("backup.include_secrets", "true"),
    ("log.level", "debug"),
];

/// A valid value, other than the default, for every key that needs a restart.
const RESTART_CHANGES: &[(&str, &str)] = &[
    ("server.public_url", "https://rooms.example.org"),
    ("server.http_listen", "127.0.0.1:18081"),
    ("server.https_listen", "127.0.0.1:18443"),
    ("server.data_dir", "/var/tmp/flowsync-keys-test"),
    ("server.trusted_proxies", "10.0.0.0/8"),
    (
        "server.admin_token",
        "an-admin-token-long-enough-to-be-accepted-0123456789",
    ),
    ("server.max_connections", "5000"),
    ("server.rate_limit_ipv6_prefix", "56"),
    ("server.header_timeout", "5s"),
    ("server.idle_timeout", "90s"),
    ("server.max_connections_per_ip", "32"),
    ("server.connection_cap_exempt", "10.9.0.0/16"),
    ("server.unauthenticated_sockets_per_ip", "8"),
    ("server.max_unauthenticated_sockets", "512"),
    (
        "database.url",
        "postgres://flowsync@127.0.0.1:5432/flowsync_keys",
    ),
    ("database.max_connections", "4"),
    ("database.auto_migrate", "false"),
    ("redis.url", "redis://127.0.0.1:6379/3"),
    ("redis.key_prefix", "fs-keys:"),
    ("tls.mode", "files"),
    ("tls.domains", "rooms.example.org"),
    ("turn.mode", "external"),
    ("turn.urls", "turn:turn.example.org:3478"),
    ("turn.shared_secret", "a-turn-secret-long-enough-0123456789"),
    ("turn.listen", "127.0.0.1:13478"),
    ("turn.relay_ports", "50000-50100"),
    ("turn.external_ip", "203.0.113.9"),
    ("turn.allow_peers", "10.2.0.0/16"),
    ("turn.max_allocations", "500"),
    ("turn.user_quota", "5"),
    ("turn.room_quota", "20"),
    ("log.format", "json"),
];

/// Parsing reaches every key of the registry: each one set (through its `FLOWSYNC_*`
/// variable) to a value other than its default shows that value in the rendered
/// configuration. A key the registry lists but parsing forgets fails here.
#[test]
fn every_key_reaches_its_field() {
    let all: Vec<(&str, &str)> = RELOADABLE_CHANGES
        .iter()
        .chain(RESTART_CHANGES)
        .copied()
        .collect();
    let mut listed: Vec<String> = all.iter().map(|(k, _)| k.to_string()).collect();
    listed.sort();
    let mut keys: Vec<String> = flowsync::config::keys::KEYS
        .iter()
        .map(|k| k.dotted())
        .collect();
    keys.sort();
    assert_eq!(listed, keys, "give every key a changed value here");
    let (_d, path) = file("");
    let load = |vars: Vec<(String, String)>| {
        Config::load_with_env(
            &LoadOptions {
                path: Some(path.clone()),
                flags: vec![],
            },
            vars,
        )
        .expect("valid values")
        .config
        .render()
    };
    let defaults = load(Vec::new());
    let changed = load(key_vars(&all));
    for ((key, was), (_, now)) in defaults.iter().zip(&changed) {
        assert_ne!(was, now, "{} did not reach its field", key.dotted());
    }
}

#[tokio::test]
async fn every_reloadable_key_takes_effect_on_reload() {
    use crate::helpers::{Backend, Setup, StateKind};
    let changed = RELOADABLE_CHANGES;
    let reloadable: Vec<String> = flowsync::config::keys::KEYS
        .iter()
        .filter(|k| k.reloadable())
        .map(|k| k.dotted())
        .collect();
    let listed: Vec<String> = changed.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(
        listed, reloadable,
        "give every reloadable key a changed value here"
    );

    let app = Setup::new(Backend::Sqlite, StateKind::Memory)
        .await
        .spawn()
        .await;
    let before = app.app().config().render();
    let vars = key_vars(changed);
    let (_d, path) = file("");
    let new = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        vars,
    )
    .expect("the changed values are valid")
    .config;
    let wanted = new.render();
    let report = app.app().reload(new);
    let running = app.app().config().render();
    for (((key, was), (_, want)), (_, now)) in before.iter().zip(&wanted).zip(&running) {
        if key.reloadable() {
            assert_ne!(was, want, "{} was not changed by the test", key.dotted());
            assert_eq!(
                now,
                want,
                "{} is not in effect after the reload",
                key.dotted()
            );
            assert!(
                report.applied.contains(&key.dotted()),
                "{} not reported as applied: {report:?}",
                key.dotted()
            );
        } else {
            assert_eq!(now, was, "{} changed without a restart", key.dotted());
        }
    }
    app.stop().await;
}

/// The registry's own consistency: an integer key says its range, and only an integer key.
#[test]
fn every_integer_key_has_a_range() {
    use flowsync::config::keys::{KEYS, Kind};
    for k in KEYS {
        assert_eq!(
            k.range.is_some(),
            k.kind == Kind::Int,
            "{}: a range belongs to integer keys",
            k.dotted()
        );
    }
}

/// The commented example file with every default line uncommented reads as the defaults
/// do: the defaults the file shows are the ones in effect.
#[test]
fn the_example_files_defaults_are_the_defaults() {
    let values = flowsync::config::template::Values::new();
    let example = flowsync::config::template::render(&[], &values);
    let uncommented: String = example
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with("default:") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.lines().filter(|l| l.contains(" = ")).count() > 40);
    let load = |text: &str| {
        let (_d, path) = file(text);
        Config::load_with_env(
            &LoadOptions {
                path: Some(path),
                flags: vec![],
            },
            env(&[]),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .render()
        .into_iter()
        .map(|(k, v)| (k.dotted(), v))
        .collect::<Vec<_>>()
    };
    assert_eq!(load(&uncommented), load(""));
}

/// An optional key set to an empty string (as an environment variable can only unset it by)
/// is unset, not an invalid value.
#[test]
fn an_empty_optional_key_is_unset() {
    let (_d, path) = file("");
    let c = Config::load_with_env(
        &LoadOptions {
            path: Some(path),
            flags: vec![],
        },
        key_vars(&[
            ("redis.url", ""),
            ("tls.email", ""),
            ("server.public_url", ""),
        ]),
    )
    .expect("empty optional keys are valid")
    .config;
    assert!(c.redis.url.is_none());
    assert!(c.tls.email.is_none());
    assert!(c.server.public_url.is_none());
}
