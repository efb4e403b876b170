//! House rules the code keeps, checked on the source tree: every module opens
//! with a `//!` saying what it owns; no file over 600 lines; no function over
//! 80 lines outside tests (the listed exceptions say why); every `#[allow]`
//! says why; every registered expectation kind is documented in the README's
//! table, and only those.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Functions allowed to be longer, with the reason.
const LONG_FNS: &[(&str, &str, &str)] = &[
    (
        "crates/multiagent/src/metrics/registry.rs",
        "build",
        "registers every metric family of the reference stack in one declarative list; split, the list is harder to check against the seed documents",
    ),
    (
        "crates/multiagent/src/config/mod.rs",
        "from_lookup",
        "one line per environment variable of the reference stack, in the order the README documents them",
    ),
];

fn rust_files() -> Vec<PathBuf> {
    let root = crate::common::root();
    let mut out = Vec::new();
    let mut dirs = vec![root.join("src"), root.join("crates/multiagent/src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(crate::common::root()).unwrap().display().to_string()
}

#[test]
fn every_module_opens_with_a_doc_comment_and_stays_under_600_lines() {
    let mut problems = Vec::new();
    for f in rust_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not open with a `//!` comment saying what it owns", rel(&f)));
        }
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            problems.push(format!("{}: {n} lines (at most {MAX_FILE_LINES}: split it by concern)", rel(&f)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `(name, first line, length)` of every function with a body before the file's tests.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| l.trim_start().starts_with("#[cfg(test)]")).unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, l) in lines[..end].iter().enumerate() {
        let t = l.trim_start();
        let indent = &l[..l.len() - t.len()];
        let t = ["pub(crate) ", "pub(super) ", "pub "].iter().fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        let t = t.strip_prefix("async ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // The signature ends at a line ending with `{` (a body) or `;` (none).
        let Some(open) = (i..end).find(|&j| lines[j].ends_with('{') || lines[j].ends_with(';') || lines[j].ends_with('}')) else {
            continue;
        };
        if !lines[open].ends_with('{') {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(last) = (open + 1..end).find(|&j| lines[j] == close) {
            out.push((name, i + 1, last - i + 1));
        }
    }
    out
}

#[test]
fn functions_stay_under_80_lines() {
    let mut problems = Vec::new();
    for f in rust_files() {
        let file = rel(&f);
        for (name, line, len) in functions(&std::fs::read_to_string(&f).unwrap()) {
            if len > MAX_FN_LINES && !LONG_FNS.iter().any(|(p, n, _)| *p == file && *n == name) {
                problems
                    .push(format!("{file}:{line}: fn {name} is {len} lines (at most {MAX_FN_LINES}, or add it to LONG_FNS with a reason)"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_allow_says_why() {
    let mut problems = Vec::new();
    let root = crate::common::root();
    let mut files = rust_files();
    files.extend(
        std::fs::read_dir(root.join("tests/it")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "rs")),
    );
    files.extend(["tests/it/common/mod.rs", "tests/it/common/python.rs"].map(|f| root.join(f)));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if (t.starts_with("#[allow(") || t.starts_with("#![allow(")) && !(i > 0 && lines[i - 1].trim_start().starts_with("//")) {
                problems.push(format!("{}:{}: `{t}` without a comment above it saying why", rel(&f), i + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_documents_exactly_the_registered_kinds() {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).unwrap();
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(k, _)| k)
        .filter(|k| !k.contains(' '))
        .collect();
    for kind in ordeal::expect::KINDS {
        assert!(documented.contains(kind), "`kind: {kind}` is registered but has no row in the README's expectation table");
    }
    for kind in &documented {
        assert!(ordeal::expect::KINDS.contains(kind), "the README documents `kind: {kind}`, which is not registered");
    }
    assert_eq!(ordeal::expect::KINDS.len(), 22);
}
