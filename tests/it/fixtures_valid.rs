//! The alerting fixtures stay valid for the real tools: `promtool check rules`
//! and `amtool check-config` from Debian's prometheus packages (installed by
//! .ci/run). A missing tool is a failure, not a skip.

use std::process::Command;

use crate::common::root;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name).args(args).current_dir(root().join("fixtures")).output().unwrap_or_else(|e| {
        panic!("cannot run `{name}` ({e}); install Debian's `prometheus` and `prometheus-alertmanager` packages (.ci/run does)")
    });
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool() {
    let out = tool("promtool", &["check", "rules", "alerts/multiagent-rules.yaml", "alerts/seed-001-rules.yaml"]);
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
}

#[test]
fn alertmanager_config_passes_amtool() {
    let out = tool("amtool", &["check-config", "alertmanager.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn dashboards_are_grafana_json_with_queries() {
    for name in ["multiagent-overview.json", "seed-001-system-overview.json"] {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("fixtures/dashboards").join(name)).unwrap()).unwrap();
        let exprs: Vec<&str> = v["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().iter().filter_map(|t| t["expr"].as_str()))
            .collect();
        assert!(!exprs.is_empty(), "{name} has no queries");
    }
}
