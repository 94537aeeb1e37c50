//! The shape of the source tree, as `docs/architecture.md` states it: inside each host crate
//! no circle of imports between its top-level modules, and no product source file much over
//! 600 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `path` (relative to its crate's source directory) holds tests only.
fn is_test_file(relative: &Path) -> bool {
    relative
        .file_stem()
        .is_some_and(|s| s == "tests" || s.to_string_lossy().ends_with("_tests"))
}

/// The product code of a file: without its `#[cfg(test)]` part and without comments.
fn product_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's product code names through `crate::<module>`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// The host crates' source directories.
fn crate_sources() -> Vec<(String, PathBuf)> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(repo().join("host")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let src = if dir.join("src").is_dir() {
            dir.join("src")
        } else {
            dir.clone()
        };
        if src.is_dir() {
            crates.push((name, src));
        }
    }
    crates.sort();
    crates
}

/// Every product source file of the host crates: (crate, path relative to its source
/// directory, path), test files left out.
fn product_files() -> Vec<(String, PathBuf, PathBuf)> {
    let mut found = Vec::new();
    for (name, src) in crate_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let relative = file.strip_prefix(&src).unwrap().to_path_buf();
            if !is_test_file(&relative) {
                found.push((name.clone(), relative, file));
            }
        }
    }
    found
}

/// A circle in `edges`, if there is one: the modules along it.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, edges, &mut Vec::new(), &mut done) {
            return Some(circle);
        }
    }
    None
}

#[test]
fn no_host_crate_has_a_circle_of_imports_between_its_modules() {
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (name, relative, file) in product_files() {
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let code = product_code(&std::fs::read_to_string(&file).unwrap());
        let crate_edges = edges.entry(name).or_default();
        for named in named_modules(&code) {
            if named != module {
                crate_edges.entry(module.clone()).or_default().insert(named);
            }
        }
    }
    let circles: Vec<String> = edges
        .iter()
        .filter_map(|(name, edges)| {
            find_circle(edges).map(|circle| format!("host/{name}: {}", circle.join(" → ")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "circles of imports:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_finder_finds_a_circle_and_only_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_circle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_circle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        named_modules("use crate::host::{A, B};\nlet x = crate::error::Error::X;"),
        BTreeSet::from(["host".to_string(), "error".to_string()])
    );
}

/// The longest product source file a host crate may have before it is split by concept.
const MAX_LINES: usize = 620;

#[test]
fn no_product_source_file_is_over_about_600_lines() {
    let long: Vec<String> = product_files()
        .into_iter()
        .filter_map(|(name, relative, file)| {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            (lines > MAX_LINES)
                .then(|| format!("host/{name}/{}: {lines} lines", relative.display()))
        })
        .collect();
    assert!(long.is_empty(), "files to split:\n{}", long.join("\n"));
}
