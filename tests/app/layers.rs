//! The layer check: reads every file under `src/`, resolves what it imports from the crate, and fails when
//! a domain module knows the HTTP layer or when modules import each other.
//!
//! Run `cargo test --test app layers -- --nocapture` to see the counts it measures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that hold models, SQL and operations: they may not know axum, askama, the app state or any
/// module of the HTTP layer.
const DOMAIN: &[&str] = &[
    "catalog",
    "access",
    "auth",
    "mail",
    "audit",
    "backup",
    "config",
    "db",
    "error",
    "validation",
    "format",
    "metrics",
];

/// The HTTP layer (and the command line above it): what the domain modules may never import.
const HTTP_LAYER: &[&str] = &["web", "pages", "admin", "api", "jobs", "cli"];

/// Words that betray knowledge of HTTP in a domain module.
const HTTP_WORDS: &[&str] = &["axum", "askama", "AppState", "IntoResponse"];

/// One source file and the crate modules it refers to.
struct SourceFile {
    /// The module path, e.g. `["catalog", "db"]`; empty for `lib.rs`.
    module: Vec<String>,
    /// The code with comments removed.
    code: String,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort_by(|a, b| a.module.cmp(&b.module));
    files
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under src/");
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            if relative == Path::new("main.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            files.push(SourceFile {
                module,
                code: strip_comments(&text),
            });
        }
    }
}

/// The code without `//` comments (string contents that hold `//`, such as URLs, are kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = '\0';
        let mut cut = line.len();
        for (index, character) in line.char_indices() {
            if character == '"' && previous != '\\' {
                in_string = !in_string;
            }
            if !in_string && character == '/' && previous == '/' {
                cut = index - 1;
                break;
            }
            previous = character;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Every crate path a file mentions, absolute (`crate::`, `super::` and `self::` resolved), split in
/// segments.
fn referenced_paths(file: &SourceFile) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let code = &file.code;
    // `use` declarations (at the start of a line), with their brace trees expanded.
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let declaration = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|start| trimmed.strip_prefix(start));
        if let Some(first) = declaration {
            let start = offset + (line.len() - first.len());
            if let Some(end) = code[start..].find(';') {
                let tree: String = code[start..start + end].split_whitespace().collect();
                paths.extend(expand_use_tree(&tree));
            }
        }
        offset += line.len();
    }
    // Inline paths such as `crate::mail::enqueue(...)` or `super::db::x`.
    for prefix in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(position) = rest.find(prefix) {
            let preceded_by_ident = rest[..position]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let tail = &rest[position..];
            let length = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !preceded_by_ident {
                let path: Vec<String> = tail[..length]
                    .split("::")
                    .filter(|part| !part.is_empty())
                    .map(str::to_owned)
                    .collect();
                paths.push(path);
            }
            rest = &rest[position + length.max(1)..];
        }
    }
    paths
        .into_iter()
        .filter_map(|path| absolute(&file.module, path))
        .collect()
}

/// `crate::a::{b, c::{d, e}}` → `crate::a::b`, `crate::a::c::d`, `crate::a::c::e`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if let Some(brace) = tree.find('{') {
            let head: Vec<String> = tree[..brace]
                .split("::")
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = &tree[brace + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut base = prefix.to_vec();
            base.extend(head);
            for part in split_top_level(inner) {
                expand(&base, part, out);
            }
        } else {
            let name = tree.split(" as ").next().unwrap_or(tree);
            let name = name.split("as").next().unwrap_or(name);
            let mut path = prefix.to_vec();
            path.extend(
                name.split("::")
                    .filter(|part| !part.is_empty() && *part != "self")
                    .map(str::to_owned),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|part| !part.is_empty()).collect()
}

/// Resolves a path seen in the file of `module` to an absolute crate path, or `None` for other crates.
fn absolute(module: &[String], path: Vec<String>) -> Option<Vec<String>> {
    let mut segments = path.into_iter().peekable();
    let mut resolved: Vec<String> = match segments.peek().map(String::as_str) {
        Some("crate") => {
            segments.next();
            Vec::new()
        }
        Some("super") => {
            let mut base = module.to_vec();
            while segments.peek().map(String::as_str) == Some("super") {
                segments.next();
                base.pop();
            }
            base
        }
        Some("self") => {
            segments.next();
            module.to_vec()
        }
        _ => return None,
    };
    resolved.extend(segments);
    Some(resolved)
}

/// The source file that a path lands in: its longest prefix that is a module.
fn owning_module<'a>(
    modules: &'a BTreeSet<Vec<String>>,
    path: &[String],
) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|length| modules.get(&path[..length]))
}

/// File-level import graph: module → the other modules it imports.
fn file_graph(files: &[SourceFile]) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|file| file.module.clone()).collect();
    let mut graph = BTreeMap::new();
    for file in files {
        let targets: BTreeSet<Vec<String>> = referenced_paths(file)
            .iter()
            .filter_map(|path| owning_module(&modules, path))
            .filter(|target| {
                // A parent module's `mod` declarations are not imports, and a module naming its own
                // children (or itself) is no dependency on another file.
                **target != file.module && !target.starts_with(&file.module)
            })
            .cloned()
            .collect();
        graph.insert(file.module.clone(), targets);
    }
    graph
}

/// Groups of nodes that reach each other (strongly connected components with more than one node).
fn cycles<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    let nodes: Vec<&N> = graph.keys().collect();
    let reach = |from: &N| -> BTreeSet<N> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&N, BTreeSet<N>> =
        nodes.iter().map(|node| (*node, reach(node))).collect();
    let mut done = BTreeSet::new();
    let mut groups = Vec::new();
    for node in &nodes {
        if done.contains(*node) {
            continue;
        }
        let group: Vec<N> = nodes
            .iter()
            .filter(|other| reaches[*node].contains(**other) && reaches[**other].contains(*node))
            .map(|other| (*other).clone())
            .collect();
        for member in &group {
            done.insert(member.clone());
        }
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

fn top(module: &[String]) -> &str {
    module.first().map(String::as_str).unwrap_or("lib")
}

fn is_domain(module: &[String]) -> bool {
    DOMAIN.contains(&top(module))
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "lib".to_owned()
    } else {
        module.join("::")
    }
}

/// Calls of the run-time-checked query functions (the macros `query!` and friends are checked when
/// the crate compiles).
fn runtime_sql_statements(files: &[SourceFile]) -> usize {
    files
        .iter()
        .map(|file| {
            [
                "query(",
                "query_as(",
                "query_scalar(",
                "query_as::<",
                "query_scalar::<",
            ]
            .iter()
            .map(|call| {
                file.code
                    .match_indices(call)
                    .filter(|(index, _)| {
                        let before = file.code[..*index].chars().last();
                        before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                    })
                    .count()
            })
            .sum::<usize>()
        })
        .sum()
}

#[test]
fn domain_modules_know_nothing_of_http_and_no_modules_import_each_other() {
    let files = source_files();
    let graph = file_graph(&files);

    let mut upward = Vec::new();
    for file in files.iter().filter(|file| is_domain(&file.module)) {
        for word in HTTP_WORDS {
            if find_identifier(&file.code, word) {
                upward.push(format!("{} mentions `{word}`", show(&file.module)));
            }
        }
        for target in &graph[&file.module] {
            if HTTP_LAYER.contains(&top(target)) || top(target) == "state" {
                upward.push(format!("{} imports {}", show(&file.module), show(target)));
            }
        }
    }

    let file_cycles = cycles(&graph);
    let mut top_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &graph {
        let entry = top_graph.entry(top(from).to_owned()).or_default();
        for target in targets {
            if top(target) != top(from) && top(from) != "lib" && top(from) != "cli" {
                entry.insert(top(target).to_owned());
            }
        }
    }
    let module_cycles = cycles(&top_graph);

    let runtime_sql = runtime_sql_statements(&files);
    println!(
        "layers: {} files, {} upward imports, {} file cycles, {} module cycles, {} run-time SQL statements",
        files.len(),
        upward.len(),
        file_cycles.len(),
        module_cycles.len(),
        runtime_sql
    );

    let mut problems = upward;
    for group in file_cycles {
        let names: Vec<String> = group.iter().map(|module| show(module)).collect();
        problems.push(format!("files import each other: {}", names.join(" ⇄ ")));
    }
    for group in module_cycles {
        problems.push(format!("modules import each other: {}", group.join(" ⇄ ")));
    }
    assert!(
        problems.is_empty(),
        "the layering is broken:\n  {}",
        problems.join("\n  ")
    );
}

fn find_identifier(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(index, _)| {
        let before = code[..index].chars().last();
        let after = code[index + word.len()..].chars().next();
        before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            && after.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn the_layer_check_sees_an_upward_import_and_a_cycle() {
    let files = vec![
        SourceFile {
            module: vec!["catalog".into(), "db".into()],
            code: "use crate::web::{self, Layout};\nfn f() { crate::catalog::model::x(); }\n"
                .into(),
        },
        SourceFile {
            module: vec!["catalog".into(), "model".into()],
            code: "use super::db::thing;\n".into(),
        },
        SourceFile {
            module: vec!["web".into()],
            code: "use axum::Router;\n".into(),
        },
    ];
    let graph = file_graph(&files);
    let catalog_db = vec!["catalog".to_owned(), "db".to_owned()];
    assert!(graph[&catalog_db].contains(&vec!["web".to_owned()]));
    assert_eq!(cycles(&graph).len(), 1, "catalog::db ⇄ catalog::model");
    assert!(find_identifier(&files[2].code, "axum"));
    assert!(!find_identifier("// axum\n", "axum") || strip_comments("// axum").trim().is_empty());
}
