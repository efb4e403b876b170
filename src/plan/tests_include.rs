//! Compiler tests for `include:` and merge keys on files in a temporary
//! directory: merged plans, and errors reported in the file that wrote them.

use std::path::{Path, PathBuf};

use super::compile;
use super::tests::GOOD;
use crate::scenario::Diagnostic;

/// GOOD's `stack:` and `mocks:` in `shared.yaml`; the scenario keeps the rest
/// and includes it (the path the scenario is compiled from is returned).
fn split(dir: &Path, shared_extra: &str, scenario_extra: &str) -> (PathBuf, String) {
    let (head, rest) = GOOD.split_once("stack:").unwrap();
    let (stack_and_mocks, tail) = rest.split_once("load:").unwrap();
    std::fs::write(dir.join("shared.yaml"), format!("stack:{stack_and_mocks}{shared_extra}")).unwrap();
    let scenario = format!("include: shared.yaml\n{head}{scenario_extra}load:{tail}");
    (dir.join("s.yaml"), scenario)
}

fn errors(file: &Path, text: &str) -> Vec<Diagnostic> {
    compile(text, file).unwrap_err().0
}

#[test]
fn an_included_stack_merges_under_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = "stack:\n  services:\n    worker:\n      env: { RETRIES: 5 }\n";
    let (file, text) = split(dir.path(), "", overrides);
    let plan = compile(&text, &file).unwrap_or_else(|e| panic!("{e}"));
    let worker = &plan.stack.services[0];
    assert_eq!((worker.name.as_str(), worker.command.as_str()), ("worker", "../bin/worker"));
    assert_eq!(worker.env["RETRIES"], "5", "the including file wins");
    assert!(worker.env.contains_key("LLM"), "maps merge deeply: {:?}", worker.env);
    assert!(plan.mocks.contains_key("llm"));
}

#[test]
fn an_error_in_an_included_file_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (file, text) = split(dir.path(), "", "");
    let shared = dir.path().join("shared.yaml");
    let broken = std::fs::read_to_string(&shared).unwrap().replace("      metrics: /metrics", "      metrix: /metrics");
    std::fs::write(&shared, &broken).unwrap();
    let errs = errors(&file, &text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let line = broken.lines().position(|l| l.contains("metrix")).unwrap() + 1;
    assert_eq!((errs[0].file.as_path(), errs[0].line), (shared.as_path(), line), "{}", errs[0]);
    assert_eq!(errs[0].path, "stack.services.worker.metrix");
    // A field the scenario overrides is the scenario's: reported there.
    let (file, text) = split(dir.path(), "", "stack:\n  services:\n    worker:\n      ready: { paht: /x }\n");
    let errs = errors(&file, &text);
    assert!(errs.iter().any(|e| e.file == file && e.line == text.lines().position(|l| l.contains("paht")).unwrap() + 1), "{errs:?}");
}

#[test]
fn a_field_merged_from_an_anchor_is_reported_where_the_anchor_defines_it() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = "x-probe: &probe\n  timeout: 30s\n  paht: /health/live\n";
    let (file, text) = split(dir.path(), "", "");
    let text = format!("{anchors}{}", text.replace("include: shared.yaml\n", "include: shared.yaml\nx-unused: 1\n"));
    let text = text.replacen("load:", "stack:\n  services:\n    coordinator:\n      ready: { <<: *probe, path: /r }\nload:", 1);
    let errs = errors(&file, &text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].file.as_path(), errs[0].line, errs[0].path.as_str()), (file.as_path(), 3, "stack.services.coordinator.ready.paht"));
}

#[test]
fn missing_cyclic_and_malformed_includes_are_errors_at_the_include() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    let first = |text: &str| errors(&file, text).remove(0);
    let e = first(&format!("name: x\ninclude: nope.yaml\n{}", GOOD.replace("name: demo\n", "")));
    assert_eq!((e.line, e.path.as_str()), (2, "include"), "{e}");
    assert!(e.message.contains("cannot read included file") && e.message.contains("nope.yaml"), "{e}");
    std::fs::write(dir.path().join("a.yaml"), "include: [b.yaml]\n").unwrap();
    std::fs::write(dir.path().join("b.yaml"), "include: a.yaml\n").unwrap();
    let e = first(&format!("include: a.yaml\n{GOOD}"));
    assert!(e.message.contains("cycle") && e.file.ends_with("b.yaml"), "{e}");
    assert!(e.message.contains("included via"), "{e}");
    let e = first(&format!("include: {{ file: a.yaml }}\n{GOOD}"));
    assert_eq!(e.path, "include", "{e}");
    std::fs::write(dir.path().join("bad.yaml"), "stack:\n  services: [\n").unwrap();
    let e = first(&format!("include: [bad.yaml]\n{GOOD}"));
    assert!(e.file.ends_with("bad.yaml") && e.message.contains("not valid YAML"), "{e}");
}
