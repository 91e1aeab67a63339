//! Reading the configuration layers — file, `FLOWSYNC_*` environment, command-line flags — into
//! TOML tables, remembering where every value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::ConfigError;
use super::keys::{self, Kind};

/// Where an effective value came from, shown by `serve --print-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// The merged layers: one table in the shape of the config file, plus the source of each
/// dotted key that was set.
#[derive(Debug, Default)]
pub struct Layers {
    pub table: Table,
    pub sources: BTreeMap<String, Source>,
}

impl Layers {
    pub fn source_of(&self, dotted: &str) -> Source {
        self.sources.get(dotted).cloned().unwrap_or(Source::Default)
    }

    /// Merges `layer` over what is there; every key it sets is attributed to `source(key)`.
    fn merge(&mut self, layer: Table, source: impl Fn(&str) -> Source) {
        for (section, value) in layer {
            let Value::Table(keys) = value else { continue };
            let entry = self
                .table
                .entry(section.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(existing) = entry {
                for (key, v) in keys {
                    let dotted = format!("{section}.{key}");
                    self.sources.insert(dotted.clone(), source(&dotted));
                    existing.insert(key, v);
                }
            }
        }
    }
}

/// A value given on the command line, already named by its dotted key.
#[derive(Debug, Clone)]
pub struct FlagValue {
    pub dotted: &'static str,
    pub flag: &'static str,
    pub value: Value,
}

/// Why a config file cannot be read, with what to do when it is a matter of permissions.
pub fn unreadable_reason(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!(
            "{e}; it is readable by root and the {user} group: run the command with sudo, or add \
             yourself to the group (sudo adduser $USER {user})",
            user = crate::ownership::SERVICE_USER
        )
    } else {
        e.to_string()
    }
}

/// Reads a config file. Errors carry the file, line and column: TOML syntax, an unknown
/// section or key, and a value of the wrong kind for its key are all reported here.
pub fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: unreadable_reason(&e),
    })?;
    let at = |span: std::ops::Range<usize>, message: String| file_error(path, &text, span, message);
    let doc = toml::de::DeTable::parse(&text)
        .map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim().to_owned()))?;
    for (section, keys) in doc.get_ref().iter() {
        let Some(keys) = keys.get_ref().as_table() else {
            return Err(at(
                section.span(),
                format!("`{}` is not a section", section.get_ref()),
            ));
        };
        if !keys::KEYS.iter().any(|k| k.section == section.get_ref()) {
            return Err(at(
                section.span(),
                format!(
                    "unknown section [{}]; the sections are {}",
                    section.get_ref(),
                    sections()
                ),
            ));
        }
        for (key, value) in keys.iter() {
            let Some(def) = keys::find(section.get_ref(), key.get_ref()) else {
                let known = keys::KEYS.iter().filter(|k| k.section == section.get_ref());
                return Err(at(
                    key.span(),
                    format!(
                        "unknown key `{}` in [{}]{}",
                        key.get_ref(),
                        section.get_ref(),
                        did_you_mean(key.get_ref(), known.map(|k| k.key))
                    ),
                ));
            };
            let v = value.get_ref();
            let fits = match def.kind {
                Kind::Str => v.is_str(),
                Kind::Int => v.is_integer(),
                Kind::Bool => v.is_bool(),
                Kind::List => v
                    .as_array()
                    .is_some_and(|a| a.iter().all(|x| x.get_ref().is_str())),
            };
            if !fits {
                return Err(at(
                    value.span(),
                    format!(
                        "{}: expected {}, found {}",
                        def.dotted(),
                        match def.kind {
                            Kind::List => "a list of strings",
                            kind => kind_name(kind),
                        },
                        v.type_str()
                    ),
                ));
            }
        }
    }
    toml::from_str(&text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().trim().to_owned()))
}

/// `; did you mean `x`?` for the known name closest to a misspelt one, if one is close.
fn did_you_mean<S: AsRef<str>>(name: &str, known: impl Iterator<Item = S>) -> String {
    known
        .map(|k| (strsim::jaro_winkler(name, k.as_ref()), k))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("; did you mean `{}`?", k.as_ref()))
        .unwrap_or_default()
}

/// The sections of the configuration, for messages.
fn sections() -> String {
    let mut names: Vec<String> = Vec::new();
    for k in keys::KEYS {
        let name = format!("[{}]", k.section);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

fn file_error(
    path: &Path,
    text: &str,
    span: std::ops::Range<usize>,
    message: String,
) -> ConfigError {
    let before = text.get(..span.start.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let mut message = message.replace('\n', " ");
    // Quote the offending line, so every message also shows its key.
    if let Some(src) = text.lines().nth(line - 1).map(str::trim)
        && !src.is_empty()
    {
        message.push_str(&format!(" (in `{src}`)"));
    }
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        col,
        message,
    }
}

/// Collects `FLOWSYNC_<SECTION>__<KEY>` variables from `vars`. Unknown names are an error, so a
/// typo is not silently ignored. `FLOWSYNC_CONFIG` (the config path) is not a key.
pub fn read_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Layers, ConfigError> {
    let mut layers = Layers::default();
    let mut table = Table::new();
    let mut names = BTreeMap::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("FLOWSYNC_") else {
            continue;
        };
        if rest == "CONFIG" || rest.starts_with("TEST_") {
            continue;
        }
        let Some((section, key)) = rest.split_once("__") else {
            let hint = did_you_mean(&name, keys::KEYS.iter().map(|k| k.env_var()));
            return Err(ConfigError::UnknownEnv { name, hint });
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let Some(def) = keys::find(&section, &key) else {
            let hint = did_you_mean(&name, keys::KEYS.iter().map(|k| k.env_var()));
            return Err(ConfigError::UnknownEnv { name, hint });
        };
        let value = env_value(def.kind, &raw).ok_or_else(|| ConfigError::Invalid {
            key: def.dotted(),
            origin: Source::Env(name.clone()),
            reason: format!("expected {}", kind_name(def.kind)),
        })?;
        let section_table = table
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(t) = section_table {
            t.insert(key, value);
        }
        names.insert(def.dotted(), name);
    }
    layers.merge(table, |dotted| {
        Source::Env(names.get(dotted).cloned().unwrap_or_default())
    });
    Ok(layers)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Int => "an integer",
        Kind::Bool => "true or false",
        Kind::List => "a comma-separated list",
    }
}

fn env_value(kind: Kind, raw: &str) -> Option<Value> {
    match kind {
        Kind::Str => Some(Value::String(raw.to_owned())),
        Kind::Int => raw.trim().parse::<i64>().ok().map(Value::Integer),
        Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Some(Value::Boolean(false)),
            _ => None,
        },
        Kind::List => Some(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
    }
}

/// Builds the merged layers: file (if any) → env → flags.
pub fn layer(file: Option<(PathBuf, Table)>, env: Layers, flags: &[FlagValue]) -> Layers {
    let mut layers = Layers::default();
    if let Some((path, table)) = file {
        layers.merge(table, |_| Source::File(path.clone()));
    }
    let env_sources = env.sources;
    layers.merge(env.table, |dotted| {
        env_sources.get(dotted).cloned().unwrap_or(Source::Default)
    });
    for flag in flags {
        let (section, key) = flag.dotted.split_once('.').unwrap_or((flag.dotted, ""));
        let mut inner = Table::new();
        inner.insert(key.to_owned(), flag.value.clone());
        let mut t = Table::new();
        t.insert(section.to_owned(), Value::Table(inner));
        layers.merge(t, |_| Source::Flag(flag.flag.to_owned()));
    }
    layers
}
