//! The published JSON Schemas: `ordeal schema scenario|report` print what
//! docs/ holds; every bundled scenario validates against the scenario schema
//! as written, and its merged document against the strict form; mistakes an
//! editor should flag are refused. Real reports are validated against the
//! report schema wherever a test reads one (`common::run_scenario`).

use crate::common::{assert_schema_valid, ordeal, root, schema_errors};

fn printed(of: &str) -> serde_json::Value {
    let out = ordeal().args(["schema", of]).output().expect("run ordeal schema");
    assert!(out.status.success(), "ordeal schema {of}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the schema is JSON")
}

fn published(file: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join(file)).expect("published schema")).expect("JSON")
}

#[test]
fn printed_schemas_are_the_published_ones() {
    for (of, file) in [("scenario", "docs/scenario.schema.json"), ("report", "docs/report.schema.json")] {
        assert!(printed(of) == published(file), "{file} is out of date: run `cargo run -- schema {of} > {file}` and commit it");
    }
}

/// YAML text -> the JSON value an editor's YAML language server validates
/// (merge keys applied).
fn yaml(text: &str) -> serde_json::Value {
    let mut v: serde_norway::Value = serde_norway::from_str(text).expect("YAML");
    v.apply_merge().expect("merge keys");
    serde_json::to_value(v).expect("as JSON")
}

fn bundled() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("scenarios")).unwrap().map(|e| e.unwrap().path()).collect();
    files.push(root().join("fixtures/pyshop/pyshop.yaml"));
    files.push(root().join("fixtures/fallback/fallback.yaml"));
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    files
}

#[test]
fn every_bundled_scenario_validates_as_written_and_merged() {
    let schema = published("docs/scenario.schema.json");
    let merged = ordeal::plan::schema::merged_scenario_schema();
    for file in bundled() {
        let text = std::fs::read_to_string(&file).unwrap();
        let line = text.lines().next().and_then(|l| l.strip_prefix("# yaml-language-server: $schema="));
        let named = line.map(|p| file.parent().unwrap().join(p).canonicalize().ok());
        assert_eq!(named, Some(root().join("docs/scenario.schema.json").canonicalize().ok()), "{}: first line", file.display());
        assert_schema_valid(&schema, &yaml(&text), &file.display().to_string());
        if file.file_name().is_some_and(|n| n.to_string_lossy().starts_with('_')) {
            continue; // a file to include, not a scenario of its own
        }
        let doc = ordeal::plan::merged_document(&file).unwrap_or_else(|d| panic!("{}: {d}", file.display()));
        assert_schema_valid(&merged, &serde_json::to_value(doc).unwrap(), &format!("{} (merged)", file.display()));
    }
}

#[test]
fn mistakes_are_refused_where_they_are() {
    let schema = published("docs/scenario.schema.json");
    let cases = [
        ("stack: { services: { w: { comand: x } } }", "/stack/services/w"),
        ("load: { target: w, rate: fast, requests: [] }", "/load/rate"),
        ("timeline: { phases: [{ name: a, duration: soon }] }", "/timeline/phases/0/duration"),
        ("expect: [{ kind: metric, servce: w, metric: m, increase: '> 0' }]", "/expect/0"),
        ("expect: [{ kind: metirc }]", "/expect/0/kind"),
        ("expect: [{ kind: health, service: w }]", "/expect/0"),
        ("expect: [{ name: no kind }]", "/expect/0"),
        ("mocks: { llm: { kind: openai, latency: { uniform: [1ms, 2ms], gauss: 1 } } }", "/mocks/llm"),
        ("stages: []", ""),
    ];
    for (text, at) in cases {
        let errors = schema_errors(&schema, &yaml(text));
        assert!(errors.iter().any(|(path, _)| path == at), "{text}: expected an error at `{at}`, got {errors:?}");
    }
    // What a partial file may do: leave required fields to an include, null a
    // field, fill a number from a template, use a merge key.
    let partial = "vars: { r: 5, d: 3 }\nx-env: &e { A: 1 }\nstack: { services: { w: { env: { <<: *e, B: null }, health: null } } }\n\
                   load: { rate: '{{vars.r}}' }\nmocks: { llm: { latency: { uniform: null, fixed: 5ms } } }\n\
                   timeline: { phases: [{ name: a, duration: '{{vars.d}}s' }] }\nexpect: null";
    assert_eq!(schema_errors(&schema, &yaml(partial)), vec![]);
}

#[test]
fn the_schema_knows_every_section_and_kind() {
    let schema = published("docs/scenario.schema.json");
    let sections: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = ordeal::plan::TOP_LEVEL.to_vec();
    expected.sort();
    assert_eq!(sections, expected);
    let merged = ordeal::plan::schema::merged_scenario_schema();
    let kinds = &merged["properties"]["expect"]["items"]["properties"]["kind"]["enum"];
    let kinds: Vec<&str> = kinds.as_array().map_or(vec![], |k| k.iter().filter_map(|k| k.as_str()).collect());
    assert_eq!(kinds, ordeal::expect::kinds::KINDS);
}
