//! The fully commented config file `flowsync init` writes (and the example the package ships):
//! every key of the registry, in order, with its meaning, default, environment variable and
//! whether SIGHUP reloads it. Keys given a value are set; the rest stay commented out at their
//! defaults, so the file documents itself. Existing files are edited in place instead
//! ([`set_values`]), keeping the administrator's comments and keys.

use std::collections::BTreeMap;

use super::keys::{Fallback, KEYS, Kind};

/// Dotted key → TOML value.
pub type Values = BTreeMap<String, toml::Value>;

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A fixed default as the TOML a file would say (derived and unset defaults have none).
fn default_value(kind: Kind, fallback: Fallback) -> Option<String> {
    match (fallback, kind) {
        (Fallback::Value(text), Kind::Str) => {
            Some(toml::Value::String(text.to_owned()).to_string())
        }
        (Fallback::Value(text), _) => Some(text.to_owned()),
        _ => None,
    }
}

/// The whole file. `header` lines go first, as comments.
pub fn render(header: &[String], values: &Values) -> String {
    let mut out = String::new();
    for h in header {
        out.push_str(&format!("# {h}\n"));
    }
    out.push_str(
        "#\n# Every key can also be set by the environment variable shown (it beats this file).\n\
         # `systemctl reload flowsync` (SIGHUP) applies keys marked \"reload\"; the others need\n\
         # `systemctl restart flowsync`. `flowsync serve --print-config` shows effective values.\n",
    );
    let mut section = "";
    for k in KEYS {
        if k.section != section {
            section = k.section;
            out.push_str(&format!("\n[{section}]\n"));
        }
        out.push('\n');
        for l in wrap(k.doc, 92) {
            out.push_str(&format!("# {l}\n"));
        }
        out.push_str(&format!(
            "# default: {} · env: {} · {}{}\n",
            k.fallback.doc(),
            k.env_var(),
            if k.reloadable() { "reload" } else { "restart" },
            if k.secret { " · secret" } else { "" }
        ));
        match values.get(&k.dotted()) {
            Some(v) => out.push_str(&format!("{} = {v}\n", k.key)),
            None => {
                if let Some(d) = default_value(k.kind, k.fallback) {
                    out.push_str(&format!("# {} = {d}\n", k.key));
                }
            }
        }
    }
    out
}

/// Sets keys in an existing file, keeping everything else (comments, order, other keys).
pub fn set_values(text: &str, values: &Values) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    for (dotted, v) in values {
        let (section, key) = dotted
            .split_once('.')
            .ok_or_else(|| anyhow::anyhow!("bad key {dotted}"))?;
        let table = doc
            .entry(section)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("[{section}] is not a table"))?;
        let value: toml_edit::Value = v.to_string().parse()?;
        match table.get_mut(key).and_then(|i| i.as_value_mut()) {
            // Keep the key's own decoration (a trailing comment).
            Some(old) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            None => {
                table.insert(key, toml_edit::value(value));
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_documented_and_the_file_parses() {
        let mut v = Values::new();
        v.insert("tls.mode".into(), toml::Value::String("self-signed".into()));
        v.insert("server.max_connections".into(), toml::Value::Integer(500));
        let text = render(&["test".into()], &v);
        for k in KEYS {
            assert!(text.contains(&k.env_var()), "{} is documented", k.dotted());
        }
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["tls"]["mode"].as_str(), Some("self-signed"));
        assert_eq!(table["server"]["max_connections"].as_integer(), Some(500));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flowsync.toml");
        std::fs::write(&path, &text).unwrap();
        crate::config::sources::read_file(&path).expect("every key as the file says it");
    }

    #[test]
    fn editing_keeps_comments_and_other_keys() {
        let text = "# mine\n[server]\nhttp_listen = \"[::]:80\" # port 80\nmax_connections = 5\n";
        let mut v = Values::new();
        v.insert(
            "server.http_listen".into(),
            toml::Value::String("[::]:8080".into()),
        );
        v.insert("redis.url".into(), toml::Value::String("redis://x".into()));
        let out = set_values(text, &v).unwrap();
        assert!(out.contains("# mine"));
        assert!(
            out.contains("http_listen = \"[::]:8080\" # port 80"),
            "{out}"
        );
        assert!(out.contains("max_connections = 5"));
        assert!(out.contains("[redis]\nurl = \"redis://x\""), "{out}");
    }
}
