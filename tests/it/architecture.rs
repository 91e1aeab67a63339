//! ARCHITECTURE.md kept honest: its code map names every file and directory of `src/`, and the
//! invariants it marks as tested hold (stdout only from `cli/`, SQL only in `db/`, every
//! configuration key and error code in the reference, the browser's event
//! names the server's).

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `.rs` file under `dir`, as paths relative to the crate root.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root()).unwrap().to_path_buf());
        }
    }
}

/// Every `.rs` file of `src/` and its text, as (`src/…` path, text), in path order.
pub(crate) fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root().join(&p)).unwrap();
            (p.to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn the_code_map_names_every_part_of_src() {
    let map = read("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.path().is_dir();
        let top = if is_dir {
            format!("src/{name}/")
        } else {
            format!("src/{name}")
        };
        if !map.contains(&top) {
            missing.push(top.clone());
        }
        if !is_dir {
            continue;
        }
        // One level down: each file (by name) and directory (name/) is mentioned.
        for inner in std::fs::read_dir(entry.path()).unwrap() {
            let inner = inner.unwrap();
            let n = inner.file_name().to_string_lossy().into_owned();
            let named = if inner.path().is_dir() {
                map.contains(&format!("{n}/"))
            } else {
                n == "mod.rs" || map.contains(&n) || map.contains(n.trim_end_matches(".rs"))
            };
            if !named {
                missing.push(format!("{top}{n}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not mention: {missing:?}"
    );
}

#[test]
fn only_cli_prints_to_stdout() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !path.starts_with("src/cli/") && path != "src/main.rs")
        .filter(|(_, text)| text.contains("println!(") || text.contains("print!("))
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "stdout belongs to cli/ (log with tracing instead): {offenders:?}"
    );
}

/// The clock is a leaf everything may use: it uses nothing of FlowSync, and nobody outside
/// `db/` takes the time from `db`.
#[test]
fn the_clock_is_a_leaf() {
    assert!(
        !read("src/clock.rs").contains("crate::"),
        "src/clock.rs must not import FlowSync modules"
    );
    let through_db: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !path.starts_with("src/db/"))
        .filter(|(_, text)| {
            text.contains("db::now_ms")
                || text.contains("db::ms(")
                || text.contains("db::{")
                    && text
                        .split("db::{")
                        .skip(1)
                        .any(|rest| rest.split('}').next().is_some_and(|l| l.contains("now_ms")))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        through_db.is_empty(),
        "take the time from crate::clock, not db: {through_db:?}"
    );
}

#[test]
fn sql_stays_in_db() {
    let sql = [
        "sqlx::query",
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "UPDATE ",
        "CREATE TABLE",
    ];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !path.starts_with("src/db/"))
        .filter(|(_, text)| sql.iter().any(|s| text.contains(s)))
        .map(|(path, _)| path)
        .collect();
    assert!(
        found.is_empty(),
        "SQL outside db/ (move it behind a Db method): {found:?}"
    );
}

/// `NAME: 'value'` pairs of one `export const <block> = Object.freeze({ … })` in events.js.
fn js_block(text: &str, block: &str) -> Vec<(String, String)> {
    let start = text
        .find(&format!("export const {block} = Object.freeze({{"))
        .unwrap_or_else(|| panic!("assets/events.js has no {block} block"));
    let body = &text[start..];
    let body = &body[..body.find("});").expect("the block closes")];
    body.lines()
        .skip(1)
        .filter_map(|l| {
            let (name, value) = l.trim().trim_end_matches(',').split_once(": ")?;
            Some((name.to_owned(), value.trim_matches('\'').to_owned()))
        })
        .collect()
}

/// `pub const NAME: &str = "value";` pairs of `pub mod <module> { … }` in protocol.rs.
fn rust_block(text: &str, module: &str) -> Vec<(String, String)> {
    let start = text
        .find(&format!("pub mod {module} {{"))
        .unwrap_or_else(|| panic!("protocol.rs has no {module} module"));
    let body = &text[start..];
    let body = &body[..body.find("\n}").expect("the module closes")];
    body.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, value) = rest.split_once(": &str = ")?;
            Some((
                name.to_owned(),
                value.trim_end_matches(';').trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

#[test]
fn the_page_names_events_as_the_server_does() {
    use flowsync::signaling::protocol::{client, server};
    let js = read("assets/events.js");
    let rust = read("src/signaling/protocol.rs");
    for (block, module, all) in [
        ("CLIENT", "client", client::ALL),
        ("SERVER", "server", server::ALL),
    ] {
        let mut page = js_block(&js, block);
        let mut defined = rust_block(&rust, module);
        page.sort();
        defined.sort();
        assert_eq!(
            page, defined,
            "assets/events.js {block} must match protocol.rs {module}"
        );
        let mut listed: Vec<&str> = all.to_vec();
        listed.sort_unstable();
        let mut values: Vec<&str> = defined.iter().map(|(_, v)| v.as_str()).collect();
        values.sort_unstable();
        assert_eq!(
            listed, values,
            "protocol.rs {module}::ALL lists every {module} event"
        );
    }
    // The page and the mesh use the constants: no event name spelled out where one is sent or
    // listened for.
    let names: Vec<String> = js_block(&js, "CLIENT")
        .into_iter()
        .chain(js_block(&js, "SERVER"))
        .map(|(_, v)| v)
        .collect();
    let mut files = vec![
        "assets/room.js".to_owned(),
        "assets/mesh.js".into(),
        "assets/timer.js".into(),
    ];
    for entry in std::fs::read_dir(root().join("assets/room")).unwrap() {
        let path = entry.unwrap().path();
        files.push(
            path.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    let calls = [
        "request(",
        "socket.on(",
        ".emit(",
        "signal(",
        "timerCommand(",
    ];
    for file in files {
        let text = read(&file);
        for call in calls {
            for name in &names {
                for quote in ['\'', '"'] {
                    let spelled = format!("{call}{quote}{name}{quote}");
                    assert!(
                        !text.contains(&spelled),
                        "{file} spells {spelled}: use events.js"
                    );
                }
            }
        }
    }
}
