//! The core is layered (ARCHITECTURE.md, "Layers"): every module of `src/` belongs to one
//! component of [`LAYERS`], a component imports only from its own layer or the ones below, and
//! the components import each other without a cycle; inside a module, its files import each
//! other without a cycle too. A new module must be placed in the table; a test here fails
//! until it is.

use std::collections::{BTreeMap, BTreeSet};

/// A part of a layer: its name and the module prefixes it holds.
type Component = (&'static str, &'static [&'static str]);

/// The layers, lowest first: (layer, [(component, module prefixes)]). A module belongs to the
/// component with the longest matching prefix (`rooms/service` before `rooms`).
const LAYERS: &[(&str, &[Component])] = &[
    (
        "leaves",
        &[
            ("clock", &["clock"]),
            ("timefmt", &["timefmt"]),
            ("errors", &["errors"]),
            ("auth", &["auth"]),
            ("metrics", &["metrics"]),
            ("notify", &["notify"]),
            ("readiness", &["readiness"]),
            ("ownership", &["ownership"]),
            // System facts (addresses, ports, the service user's processes).
            ("doctor/system", &["doctor/system"]),
            // The directory ACME HTTP-01 answers are left in, read by the port-80 listener.
            ("tls/challenges", &["tls/challenges"]),
            // Pure room rules: codes, names, the timer, goals. Config and db use their types.
            (
                "room rules",
                &["rooms", "rooms/timer", "rooms/text", "rooms/rituals"],
            ),
        ],
    ),
    (
        "config",
        &[
            ("config", &["config"]),
            // Logging, set up from `log.*`.
            ("telemetry", &["telemetry"]),
        ],
    ),
    ("storage", &[("db", &["db"]), ("state", &["state"])]),
    (
        "domain",
        &[
            ("live", &["live"]),
            ("ice", &["ice"]),
            ("app", &["app"]),
            (
                "room services",
                &[
                    "rooms/service",
                    "rooms/create",
                    "rooms/record",
                    "rooms/team",
                ],
            ),
            ("sweeper", &["sweeper"]),
            ("backup", &["backup"]),
        ],
    ),
    (
        "transports",
        &[
            ("http", &["http"]),
            ("tls", &["tls"]),
            ("turn", &["turn"]),
            ("signaling", &["signaling"]),
        ],
    ),
    (
        "commands",
        &[
            ("server", &["server"]),
            ("reload", &["reload"]),
            ("doctor", &["doctor"]),
            ("init", &["init"]),
            ("bench", &["bench"]),
            ("cli", &["cli"]),
            ("crate root", &["lib", "main"]),
        ],
    ),
];

/// (layer index, component) of a module path such as `tls/listener`.
fn place(module: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (layer, (_, components)) in LAYERS.iter().enumerate() {
        for (component, prefixes) in components.iter() {
            for prefix in prefixes.iter() {
                let matches = module == *prefix || module.starts_with(&format!("{prefix}/"));
                if matches && best.is_none_or(|(len, _, _)| prefix.len() > len) {
                    best = Some((prefix.len(), layer, component));
                }
            }
        }
    }
    best.map(|(_, layer, component)| (layer, component))
}

/// Every module of `src/` (`tls/listener`, `rooms` for rooms/mod.rs) with its code: comments
/// and the unit tests at the end of a file left out.
fn modules() -> BTreeMap<String, String> {
    crate::architecture::sources()
        .into_iter()
        .map(|(path, text)| {
            let rel = path.strip_prefix("src/").unwrap_or(&path);
            let rel = rel.strip_suffix(".rs").unwrap_or(rel);
            let module = rel.strip_suffix("/mod").unwrap_or(rel).to_owned();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| l.split(" // ").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            (module, code)
        })
        .collect()
}

/// The paths `code` names through `crate::` (or `$crate::`) and `super::`, as module-relative
/// segment lists: `crate::{db, rooms::Timer}` gives `db` and `rooms/Timer`.
fn imports(module: &str, code: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| ident(c) || c == ':') {
                continue; // `self::super::`, `foo_crate::` and the like
            }
            let mut heads = Vec::new();
            if let Some(group) = rest.strip_prefix('{') {
                // One level of `{a, b::c}`: each item's path.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => heads.push(std::mem::take(&mut item)),
                        _ => item.push(c),
                    }
                }
                heads.push(item);
            } else {
                heads.push(
                    rest.chars()
                        .take_while(|c| ident(*c) || *c == ':')
                        .collect(),
                );
            }
            for head in heads {
                let mut path = base.clone();
                let head = head.trim();
                if head.is_empty() || head == "self" {
                    continue;
                }
                for segment in head
                    .split("::")
                    .map(str::trim)
                    .take_while(|s| !s.is_empty() && s.chars().all(ident))
                {
                    if segment == "super" {
                        path.pop();
                    } else {
                        path.push(segment.to_owned());
                    }
                }
                found.push(path);
            }
        }
    }
    found
}

/// The module `module`'s `super::` refers to: `tls/listener` → `tls`, `tls` (tls/mod.rs) → the
/// crate root.
fn parent(module: &str) -> Vec<String> {
    let mut parts: Vec<String> = module.split('/').map(str::to_owned).collect();
    parts.pop();
    parts
}

/// The longest prefix of `path` that is a module of `src/`, if any.
fn resolve(path: &[String], known: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("/"))
        .find(|m| known.contains_key(m))
}

/// Component → the components it imports, with one example (file, path) per arrow.
type Arrows = BTreeMap<&'static str, BTreeMap<&'static str, (String, String)>>;

#[test]
fn the_core_is_layered() {
    let modules = modules();
    let unplaced: Vec<&String> = modules.keys().filter(|m| place(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place these modules in a layer of tests/it/layers.rs (and ARCHITECTURE.md): {unplaced:?}"
    );
    let mut arrows = Arrows::new();
    let mut upward = Vec::new();
    for (module, code) in &modules {
        let (layer, component) = place(module).unwrap();
        for path in imports(module, code) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            let (to_layer, to) = place(&target).unwrap();
            if to == component {
                continue;
            }
            if to_layer > layer {
                upward.push(format!(
                    "src/{module} ({}) imports {} ({})",
                    LAYERS[layer].0,
                    path.join("::"),
                    LAYERS[to_layer].0
                ));
            }
            arrows
                .entry(component)
                .or_default()
                .entry(to)
                .or_insert_with(|| (module.clone(), path.join("::")));
        }
    }
    assert!(
        upward.is_empty(),
        "a module imports from a layer above its own (pass what it needs down instead):\n{}",
        upward.join("\n")
    );
    if let Some(cycle) = find_cycle(&arrows) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let (file, path) = &arrows[w[0]][w[1]];
                format!("{} → {} (src/{file}: {path})", w[0], w[1])
            })
            .collect();
        panic!(
            "the components import each other in a cycle:\n{}",
            steps.join("\n")
        );
    }
}

/// A cycle among the arrows as a closed walk (first = last), if there is one.
fn find_cycle<T: Ord + Clone>(
    arrows: &BTreeMap<T, BTreeMap<T, (String, String)>>,
) -> Option<Vec<T>> {
    fn visit<T: Ord + Clone>(
        node: &T,
        arrows: &BTreeMap<T, BTreeMap<T, (String, String)>>,
        stack: &mut Vec<T>,
        done: &mut BTreeSet<T>,
    ) -> Option<Vec<T>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in arrows.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(cycle) = visit(next, arrows, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    arrows
        .keys()
        .find_map(|node| visit(node, arrows, &mut Vec::new(), &mut done))
}

/// File → the files it imports, with one example (file, path) per arrow.
type FileArrows = BTreeMap<String, BTreeMap<String, (String, String)>>;

/// Inside a module, its files import each other without a cycle (a file and its own
/// submodules aside: `tls/acme.rs` and `tls/acme/shared.rs` share one concern). The crate's
/// top level is the components' business (`the_core_is_layered`).
#[test]
fn the_files_of_a_module_import_each_other_without_a_cycle() {
    let modules = modules();
    // parent module → (child → child it imports, with an example).
    let mut siblings: BTreeMap<String, FileArrows> = BTreeMap::new();
    for (module, code) in &modules {
        for path in imports(module, code) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            let (a, b): (Vec<&str>, Vec<&str>) =
                (module.split('/').collect(), target.split('/').collect());
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            if common == 0 || common == a.len() || common == b.len() {
                continue; // the top level, or a module and its own ancestor or descendant
            }
            siblings
                .entry(a[..common].join("/"))
                .or_default()
                .entry(a[..=common].join("/"))
                .or_default()
                .entry(b[..=common].join("/"))
                .or_insert_with(|| (module.clone(), path.join("::")));
        }
    }
    let cycles: Vec<String> = siblings
        .values()
        .filter_map(|arrows| {
            let cycle = find_cycle(arrows)?;
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let (file, path) = &arrows[&w[0]][&w[1]];
                    format!("{} → {} (src/{file}: {path})", w[0], w[1])
                })
                .collect();
            Some(steps.join(", "))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "files of one module import each other in a cycle (move what both need into its own \
         file):\n{}",
        cycles.join("\n")
    );
}

/// The checker itself: an upward import and a cycle are seen, a comment is not.
#[test]
fn the_layer_check_sees_imports() {
    let mut known = BTreeMap::new();
    for m in ["db", "db/models", "rooms", "tls", "tls/listener", "turn"] {
        known.insert(m.to_owned(), String::new());
    }
    let code = "use crate::{db::models::Row, rooms};\n\
                let x = crate::tls::listener::accept();\n\
                use super::Prefixed;";
    let found: Vec<Option<String>> = imports("tls/listener", code)
        .iter()
        .map(|p| resolve(p, &known))
        .collect();
    assert_eq!(
        found,
        [
            Some("db/models".to_owned()),
            Some("rooms".to_owned()),
            Some("tls/listener".to_owned()),
            Some("tls".to_owned()),
        ]
    );
    assert_eq!(place("rooms/service"), Some((3, "room services")));
    assert_eq!(place("rooms/timer"), Some((0, "room rules")));
    assert_eq!(place("tls/acme"), Some((4, "tls")));
    let mut arrows = Arrows::new();
    let arrow = || (String::new(), String::new());
    arrows.entry("tls").or_default().insert("turn", arrow());
    arrows.entry("turn").or_default().insert("http", arrow());
    assert_eq!(find_cycle(&arrows), None);
    arrows.entry("http").or_default().insert("tls", arrow());
    assert_eq!(
        find_cycle(&arrows),
        Some(vec!["http", "tls", "turn", "http"])
    );
}
