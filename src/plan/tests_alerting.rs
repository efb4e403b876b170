//! Compiler tests for `alerting:` and the alert expectation kinds.

use std::path::PathBuf;

use super::*;
use crate::expect::Check;
use crate::scenario::AlertingMode;

/// A file in the repo's scenarios/ dir, so `../fixtures/...` resolves.
fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/test.yaml")
}

fn doc(alerting: &str, expect: &str) -> String {
    format!(
        r#"
stack:
  services:
    app: {{ command: app, metrics: /metrics }}
timeline:
  phases:
    - {{ name: steady, duration: 5s }}
    - {{ name: outage, duration: 5s }}
    - {{ name: recovery, duration: 10s }}
{alerting}
expect:
{expect}
"#
    )
}

const ALERTING: &str =
    "alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  alertmanager: { config: ../fixtures/alertmanager.yml }";

fn errors(text: &str) -> Vec<String> {
    compile(text, &file())
        .unwrap_err()
        .0
        .iter()
        .map(|d| format!("{}: {} ({})", d.path, d.message, d.hint.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn compiles_alerting_and_reads_receivers_and_alert_names() {
    let text = doc(
        ALERTING,
        "  - { kind: alert, alert: HighErrorRate, fault: outage, fires_within: 5s, resolves_within: 10s }\n  - { kind: alert_delivered, alert: HighErrorRate, receiver: pager }\n  - { kind: no_alert, during: steady }\n  - { kind: promql, query: 'sum(up)', value: '> 0' }\n  - { kind: contract }",
    );
    let plan = compile(&text, &file()).unwrap();
    let a = plan.alerting.unwrap();
    assert!(a.alert_names.contains(&"HighErrorRate".to_string()));
    assert_eq!(a.interval, std::time::Duration::from_secs(1));
    let m = a.managed().unwrap();
    assert_eq!(m.receivers, ["default", "pager", "chat"]);
    assert_eq!(m.prometheus_bin, "prometheus");
    let Check::Contract(c) = &plan.expectations[4].check else { panic!() };
    assert_eq!(c.spec.queries.len(), 1, "the promql query is linted too");
    assert_eq!(c.spec.rules.len(), 1);
}

#[test]
fn unknown_alert_receiver_and_unobservable_resolution_are_errors() {
    let text = doc(
        ALERTING,
        "  - { kind: alert, alert: HighErorRate, fault: outage, fires_within: 5s, resolves_within: 15s }\n  - { kind: alert_delivered, alert: HighErrorRate, receiver: pagr }",
    );
    let e = errors(&text).join("\n");
    assert!(e.contains("no alert named `HighErorRate` in the rule files (did you mean `HighErrorRate`?)"), "{e}");
    assert!(e.contains("resolution within 15s cannot be observed"), "{e}");
    assert!(e.contains("no receiver named `pagr`") && e.contains("did you mean `pager`?"), "{e}");
}

#[test]
fn alert_kinds_need_an_alerting_section_and_bad_files_are_named() {
    let e = errors(&doc("", "  - { kind: no_alert }")).join("\n");
    assert!(e.contains("needs an `alerting:` section"), "{e}");
    let e = errors(&doc("alerting:\n  rules: [nope.yaml]\n  dashboards: [nope.json]", "  - { kind: no_alert }")).join("\n");
    assert!(e.contains("alerting.rules[0]: cannot read rule file `nope.yaml`"), "{e}");
    assert!(e.contains("alerting.dashboards[0]: cannot read dashboard `nope.json`"), "{e}");
    let e = errors(&doc("alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  external: { prometheus: 'prom:9090' }\n  alertmanager: { route: { receiver: x } }", "  - { kind: no_alert }")).join("\n");
    assert!(e.contains("applies to managed mode only"), "{e}");
}

#[test]
fn external_mode_takes_templated_urls() {
    let text = doc(
        "alerting:\n  rules: [../fixtures/alerts/multiagent-rules.yaml]\n  external: { prometheus: '{{services.app.url}}' }",
        "  - { kind: no_alert }",
    );
    let plan = compile(&text, &file()).unwrap();
    assert!(matches!(plan.alerting.unwrap().mode, AlertingMode::External { .. }));
    let e = errors(&doc("alerting:\n  external: { prometheus: '{{services.nope.url}}' }", "  - { kind: no_alert }")).join("\n");
    assert!(e.contains("alerting.external.prometheus"), "{e}");
}
