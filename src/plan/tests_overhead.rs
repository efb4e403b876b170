//! The `overhead:` section and `kind: overhead` budgets: valid plans and errors.

use std::path::Path;

use super::*;
use crate::expect::Check;
use crate::scenario::{Decide, OverheadMetric};

const GOOD: &str = r#"
name: cost
stack:
  services:
    api:
      command: ../bin/api
load:
  target: api
  rate: 10
  requests:
    - { name: task, method: GET, path: / }
overhead:
  baseline: bare
  rounds: 6
  measure: 3s
  variants:
    bare: { env: { LOGS: "off" } }
    logs: { env: { LOGS: "on" }, pillar: logging, service_env: { api: { LEVEL: info } } }
  claims:
    - { variant: logs, source: design, cpu: "< 1%", memory: "< 10MB" }
expect:
  - kind: overhead
    variant: logs
    cpu: "< 5%"
    memory: "< 10MiB"
    p99: "< 2ms"
    throughput: "> -5%"
    decide: point
"#;

fn errors(text: &str) -> Vec<Diagnostic> {
    compile(text, Path::new("dir/s.yaml")).unwrap_err().0
}

fn paths(errs: &[Diagnostic]) -> Vec<String> {
    errs.iter().map(|e| format!("{}: {}", e.path, e.message)).collect()
}

#[test]
fn compiles_an_overhead_scenario() {
    let plan = compile(GOOD, Path::new("s.yaml")).unwrap();
    assert!(plan.phases.is_empty());
    let o = plan.overhead.unwrap();
    assert_eq!(o.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["bare", "logs"]);
    assert_eq!((o.rounds, o.measure, o.warmup), (6, std::time::Duration::from_secs(3), std::time::Duration::from_secs(2)));
    assert_eq!(o.variants[1].env_for("api").get("LEVEL").map(String::as_str), Some("info"));
    assert_eq!(o.claims[0].budgets.len(), 2);
    let Check::Overhead(c) = &plan.expectations[0].check else { panic!() };
    assert_eq!(c.decide, Decide::Point);
    let b: Vec<(OverheadMetric, bool, f64)> = c.budgets.iter().map(|b| (b.metric, b.relative, b.cmp.value)).collect();
    assert_eq!(b[0], (OverheadMetric::Cpu, true, 0.05));
    assert_eq!(b[1], (OverheadMetric::Memory, false, 10.0 * 1024.0 * 1024.0));
    assert_eq!(b[2], (OverheadMetric::P99, false, 0.002));
    assert_eq!(b[3], (OverheadMetric::Throughput, true, -0.05));
    assert_eq!(plan.expectations[0].name, "logs overhead: cpu < 5.0%, memory < 10.49 MB, p99 < 2.00 ms, throughput > -5.0%");
}

#[test]
fn every_overhead_mistake_is_reported_with_its_field() {
    let bad = GOOD
        .replace("baseline: bare", "baseline: bar")
        .replace("rounds: 6", "rounds: 5")
        .replace("api: { LEVEL: info }", "apu: { LEVEL: info }")
        .replace(r#"memory: "< 10MiB""#, r#"memory: "< 10 parsecs""#)
        .replace(r#"throughput: "> -5%""#, r#"throughput: "== 0""#)
        .replace("decide: point", "decide: maybe")
        .replace("- { variant: logs, source", "- { variant: log, source");
    let errs = errors(&bad);
    let p = paths(&errs);
    for want in [
        "overhead.baseline: no variant named `bar`",
        "overhead.rounds: 5 rounds cannot support a 95% confidence interval: without assuming how the rounds are distributed, 5 paired rounds bound a delta with at most 93.8% confidence (the chance that it lies within their range)",
        "overhead.variants.logs.service_env.apu: no service named `apu`",
        "overhead.claims[0].variant: no variant named `log`",
    ] {
        assert!(p.iter().any(|e| e == want), "no `{want}` in {p:#?}");
    }
    let hint = errs.iter().find(|e| e.path == "overhead.baseline").unwrap().hint.clone();
    assert_eq!(hint.as_deref(), Some("did you mean `bare`?"));
    assert!(errs.iter().all(|e| e.line > 0), "every error has a line: {p:#?}");
}

#[test]
fn enough_rounds_for_the_confidence() {
    use crate::scenario::min_rounds;
    assert_eq!((min_rounds(0.5), min_rounds(0.9), min_rounds(0.95), min_rounds(0.99)), (3, 5, 6, 8));
    let p = paths(&errors(&GOOD.replace("  rounds: 6\n", "  rounds: 6\n  confidence: 0.99\n")));
    assert!(p.iter().any(|e| e.starts_with("overhead.rounds: 6 rounds cannot support a 99% confidence interval")), "{p:#?}");
    let plan = compile(&GOOD.replace("  rounds: 6\n", "  confidence: 0.99\n"), Path::new("s.yaml")).unwrap();
    assert_eq!(plan.overhead.unwrap().rounds, 8, "the default follows the confidence");
}

#[test]
fn budgets_are_checked_even_when_the_section_is_fine() {
    let bad = GOOD
        .replace(r#"memory: "< 10MiB""#, r#"memory: "< 10 parsecs""#)
        .replace(r#"throughput: "> -5%""#, r#"throughput: "== 0""#)
        .replace("decide: point", "decide: maybe");
    let p = paths(&errors(&bad));
    assert!(p.iter().any(|e| e.starts_with("expect[0].memory: unknown memory unit `parsecs`")), "{p:#?}");
    assert!(p.iter().any(|e| e.starts_with("expect[0].throughput: `== 0`: a budget is a bound")), "{p:#?}");
    assert!(p.iter().any(|e| e.starts_with("expect[0].decide: unknown decision rule `maybe`")), "{p:#?}");
    let p = paths(&errors(&GOOD.replace("    variant: logs\n    cpu", "    variant: bare\n    cpu")));
    assert!(p.iter().any(|e| e.contains("`bare` is the baseline")), "{p:#?}");
}

#[test]
fn overhead_and_timelines_do_not_mix() {
    let with_timeline = format!("{GOOD}timeline:\n  phases: [{{ name: steady, duration: 1s }}]\n");
    let p = paths(&errors(&with_timeline));
    assert!(p.iter().any(|e| e == "timeline: an overhead scenario has no timeline"), "{p:#?}");
    let other_kind =
        GOOD.replace("  - kind: overhead\n    variant: logs", "  - kind: load\n    p95: \"< 1s\"\n  - kind: overhead\n    variant: logs");
    let p = paths(&errors(&other_kind));
    assert!(p.iter().any(|e| e.starts_with("expect[0].kind: `kind: load` needs a timeline")), "{p:#?}");
    // A budget without an overhead section.
    let no_section = "name: x\nstack: { services: { api: { command: a } } }\ntimeline: { phases: [{ name: s, duration: 1s }] }\nexpect:\n  - { kind: overhead, variant: logs, cpu: \"< 5%\" }\n";
    let p = paths(&errors(no_section));
    assert!(p.iter().any(|e| e == "expect[0]: `kind: overhead` needs an `overhead:` section"), "{p:#?}");
    let no_load = GOOD.replace("load:\n  target: api\n  rate: 10\n  requests:\n    - { name: task, method: GET, path: / }\n", "");
    let p = paths(&errors(&no_load));
    assert!(p.iter().any(|e| e.contains("needs a `load:` section")), "{p:#?}");
}
