//! Compiler tests on whole documents: valid plans, and every error reported at once.

use std::path::Path;

use super::*;

const GOOD: &str = r#"
name: demo
seed: 7
stack:
  services:
    worker:
      command: ../bin/worker
      env: { LISTEN: "127.0.0.1:{{self.port}}", LLM: "{{mocks.llm.url}}/v1", RETRIES: 3 }
      ready: { path: /health/live }
      metrics: /metrics
      health: { live: /health/live, ready: /health/ready }
    coordinator:
      command: coord
      env: { WORKERS: "{{services.worker.url}}" }
      depends_on: [worker]
      health: { ready: /health/ready }
mocks:
  llm: { kind: openai }
load:
  target: coordinator
  rate: 10
  requests:
    - { name: task, method: POST, path: /v1/tasks, body: { type: analysis } }
timeline:
  phases:
    - { name: steady, duration: 2s }
    - { name: outage, duration: 3s }
    - { name: recovery, duration: 5s }
  faults:
    - { mock: llm, during: outage, fault: { error: { status: 503 } } }
expect:
  - kind: metric
    metric: tasks_total
    labels: { status: failed }
    increase: "> 0"
    during: outage
  - kind: breaker
    service: coordinator
    gauge: breaker_state
    fault: outage
    opens_within: 2s
  - kind: health
    service: coordinator
    endpoint: ready
    state: up
    after: recovery+3s
  - kind: load
    error_ratio: "== 0"
    during: steady
"#;

fn errors(text: &str) -> Vec<Diagnostic> {
    compile(text, Path::new("dir/s.yaml")).unwrap_err().0
}

#[test]
fn compiles_a_full_scenario() {
    let plan = compile(GOOD, Path::new("scenarios/demo.yaml")).unwrap();
    assert_eq!(plan.name, "demo");
    assert_eq!(plan.seed, 7);
    let order: Vec<&str> = plan.stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["worker", "coordinator"]);
    assert_eq!(plan.stack.services[0].command, "../bin/worker");
    assert_eq!(plan.stack.services[1].command, "coord");
    assert_eq!(plan.stack.services[0].env["RETRIES"], "3");
    assert_eq!(plan.duration().as_secs(), 10);
    assert_eq!(plan.expectations.len(), 4);
    assert_eq!(plan.expectations[1].kind(), "breaker");
    let load = plan.load.unwrap();
    assert_eq!(load.users, 100, "rate 10 x timeout 10s");
    assert_eq!(load.requests[0].body.as_deref(), Some(br#"{"type":"analysis"}"#.as_slice()));
}

#[test]
fn misspelled_field_names_line_field_and_suggestion() {
    let bad = GOOD.replace("      metrics: /metrics", "      metrcs: /metrics");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.line, 10);
    assert_eq!(e.path, "stack.services.worker.metrcs");
    assert_eq!(e.hint.as_deref(), Some("did you mean `metrics`?"));
    assert!(e.to_string().starts_with("dir/s.yaml:10:"), "{e}");
}

#[test]
fn reports_all_errors_at_once() {
    let bad = GOOD
        .replace("rate: 10", "rate: -1")
        .replace("during: outage\n  - kind: breaker", "during: outgae\n  - kind: breaker")
        .replace("endpoint: ready", "endpoint: live")
        .replace("{{mocks.llm.url}}", "{{mocks.lm.url}}")
        .replace("kind: load", "kind: lod");
    let errs = errors(&bad);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(errs.len(), 5, "{paths:?}");
    for (want, line) in [
        ("stack.services.worker.env.LLM", 8),
        ("load.rate", 21),
        ("expect[0].during", 36),
        ("expect[2].endpoint", 44),
        ("expect[3].kind", 47),
    ] {
        let e = errs.iter().find(|e| e.path == want).unwrap_or_else(|| panic!("no error for {want}: {paths:?}"));
        assert_eq!(e.line, line, "{e}");
    }
    let window = errs.iter().find(|e| e.path == "expect[0].during").unwrap();
    assert_eq!(window.hint.as_deref(), Some("did you mean `outage`?"));
}

#[test]
fn unknown_top_level_and_missing_sections() {
    let errs = errors("name: x\nstak: {}\n");
    assert!(errs.iter().any(|e| e.path == "stak" && e.hint.as_deref() == Some("did you mean `stack`?")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.message.contains("missing `timeline:`")));
}

#[test]
fn yaml_syntax_error_has_a_position() {
    let errs = errors("name: [unclosed\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].line >= 1 && errs[0].message.contains("not valid YAML"));
}

#[test]
fn dependency_cycle_is_an_error() {
    let bad = GOOD
        .replace("    worker:\n      command: ../bin/worker", "    worker:\n      depends_on: [coordinator]\n      command: ../bin/worker");
    assert!(errors(&bad).iter().any(|e| e.message.contains("dependency cycle")));
}

#[test]
fn metric_needs_exactly_one_check() {
    let bad = GOOD.replace("increase: \"> 0\"", "increase: \"> 0\"\n    rate: \"> 1\"");
    let errs = errors(&bad);
    assert!(errs[0].message.contains("several checks"), "{errs:#?}");
    let bad = GOOD.replace("increase: \"> 0\"", "increase: \"lots\"");
    assert_eq!(errors(&bad)[0].path, "expect[0].increase");
}
