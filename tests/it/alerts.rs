//! Alert checks fail on broken alerting, with a real Prometheus and
//! Alertmanager: a rule whose metric is misspelled never fires (and the
//! contract lint names the selector), a threshold that is too low fires in
//! steady state, a missing Prometheus is an infrastructure error naming the
//! Debian package, and external mode queries a Prometheus ordeal did not start.

use crate::common::*;

const RULES: &str = "fixtures/alerts/multiagent-rules.yaml";

/// The fixture rules with one edit, written next to the scenario variant.
fn rules_variant(dir: &std::path::Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(root().join(RULES)).unwrap();
    assert!(text.contains(from), "rules have no `{from}`");
    let path = dir.join("rules.yaml");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path.display().to_string()
}

fn with_rules(from: &str, to: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = compact_alerting_outage(&[]);
    let rules = rules_variant(dir.path(), from, to);
    let text = std::fs::read_to_string(&path).unwrap().replace(&root().join(RULES).display().to_string(), &rules);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `ordeal lint <path>` exits 1 (findings) and leaves nothing running; its stdout.
fn lint_finds_problems(path: &std::path::Path, report_dir: &std::path::Path) -> String {
    let marker = unique_marker();
    let out = ordeal().arg("lint").arg(path).arg("--report-dir").arg(report_dir).env("ORDEAL_TEST_MARKER", &marker).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_no_leftovers(&marker);
    stdout
}

#[test]
fn a_rule_whose_threshold_cannot_be_reached_is_caught() {
    // A ratio compared with 1.5 never fires, however bad the outage.
    let (_dir, path) = with_rules("1e-9) > 0.05", "1e-9) > 1.5");
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let alert = run.expectation("HighErrorRate fires during the outage and resolves after");
    assert_eq!(alert["verdict"], "fail", "{alert}");
    assert!(alert["observed"].as_str().unwrap().contains("never became pending or firing"), "{alert}");
}

#[test]
fn misspelled_rule_metric_never_fires_and_lint_names_the_selector() {
    let (dir, path) = with_rules(r#"multiagent_tasks_total{status="failed"}"#, r#"multiagent_task_total{status="failed"}"#);
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let failed = run.failed();
    for name in ["HighErrorRate fires during the outage and resolves after", "HighErrorRate pages the on-call receiver"] {
        assert!(failed.iter().any(|f| f == name), "`{name}` should fail; failed: {failed:?}");
    }
    let alert = run.expectation("HighErrorRate fires during the outage and resolves after");
    assert!(alert["observed"].as_str().unwrap().contains("never became pending or firing"), "{alert}");
    let contract = run.expectation("rules, dashboard and PromQL use only exported metrics; naming and cardinality clean");
    assert_eq!(contract["verdict"], "fail", "{contract}");
    assert!(contract["observed"].as_str().unwrap().contains("multiagent_task_total"), "{contract}");

    let stdout = lint_finds_problems(&path, &dir.path().join("lint"));
    assert!(stdout.contains(r#"`multiagent_task_total{status="failed"}[5s]`: no service exports `multiagent_task_total`"#), "{stdout}");
    assert!(stdout.contains("closest exported name: multiagent_tasks_total"), "{stdout}");
    assert!(dir.path().join("lint/lint.json").exists());
}

#[test]
fn threshold_too_low_fires_in_steady_state() {
    // `> 0` on the breaker state means "not closed"; `>= 0` is always true.
    let (_dir, path) = with_rules(
        r#"max(multiagent_circuit_breaker_state{dependency="llm"}) > 0"#,
        r#"max(multiagent_circuit_breaker_state{dependency="llm"}) >= 0"#,
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let e = run.expectation("no alert fires in steady state");
    assert_eq!(e["verdict"], "fail", "{e}");
    assert!(e["observed"].as_str().unwrap().contains("false alarm: LLMCircuitOpen firing"), "{e}");
}

#[test]
fn missing_prometheus_is_an_infrastructure_error_naming_the_package() {
    let (_dir, path) = outage_variant(&[("  interval: 1s\n", "  interval: 1s\n  prometheus_bin: /nonexistent/prometheus\n")]);
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 3, "{}", run.summary());
    assert!(run.stdout.contains("`/nonexistent/prometheus` not found"), "{}", run.stdout);
    assert!(run.stdout.contains("apt-get install -y prometheus"), "{}", run.stdout);
    assert_eq!(run.report["verdict"], "error");
}

#[test]
fn external_mode_queries_a_prometheus_it_did_not_start() {
    // Prometheus runs as one more service of the stack; ordeal is only told its URL.
    let rules = root().join(RULES).display().to_string();
    let prom = format!(
        r#"    prom:
      command: sh
      depends_on: [coordinator]
      args:
        - -c
        - |
          printf 'global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules}]\nscrape_configs: [{{job_name: coordinator, static_configs: [{{targets: ["127.0.0.1:{{{{services.coordinator.port}}}}"]}}]}}]\n' > {{{{run.dir}}}}/prom.yml
          exec prometheus --config.file={{{{run.dir}}}}/prom.yml --storage.tsdb.path={{{{run.dir}}}}/tsdb --web.listen-address=127.0.0.1:{{{{self.port}}}}
      ready: {{ path: /-/ready, timeout: 30s }}

mocks:"#
    );
    let (dir, path) = outage_variant(&[
        ("\nmocks:", &format!("\n{prom}")),
        ("  alertmanager: { config: ", "  external: { prometheus: \"{{services.prom.url}}\" }\n  #"),
    ]);
    // Keep only checks that need no Alertmanager; Prometheus applies its targets
    // after ~5s, so the PromQL check looks at the end of the run.
    let text = std::fs::read_to_string(&path).unwrap();
    let head = text.split("\nexpect:").next().unwrap();
    let expect = r#"
expect:
  - kind: alert
    name: HighErrorRate fires during the outage and resolves after
    alert: HighErrorRate
    labels: { severity: critical }
    fault: outage
    fires_within: 8s
    resolves_within: 12s
  - kind: promql
    name: tasks completed again at the end (PromQL)
    query: sum(increase(multiagent_tasks_total{status="completed"}[5s]))
    during: recovery
    mode: at_end
    value: "> 0"
"#;
    std::fs::write(&path, format!("{head}{expect}")).unwrap();
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    assert_eq!(run.report["alerting"]["mode"], "external");
    assert!(run.report["alerting"]["polls"].as_u64().unwrap() > 50);
    drop(dir);
}

#[test]
fn lint_flags_the_seed_rules_as_written() {
    // Seed 001's rules query metrics the stack never exports: they could never fire.
    let (dir, path) = outage_variant(&[("fixtures/alerts/multiagent-rules.yaml", "fixtures/alerts/seed-001-rules.yaml")]);
    let text = std::fs::read_to_string(&path).unwrap();
    // Alert names differ from the stack's rules: keep only what lint reads.
    std::fs::write(&path, format!("{}\nexpect: []\n", text.split("\nexpect:").next().unwrap())).unwrap();
    let stdout = lint_finds_problems(&path, &dir.path().join("lint"));
    for missing in ["`task_failures_total`", "`tasks_total`", "`agent_health_status`", "`request_duration_seconds_bucket`"] {
        assert!(stdout.contains(&format!("no service exports {missing}")), "{missing} not flagged:\n{stdout}");
    }
    assert!(stdout.contains("seed-001-rules.yaml:"), "findings name the file and line:\n{stdout}");
}

#[test]
fn a_rule_prometheus_cannot_parse_is_refused_before_the_run_at_its_line() {
    let (_dir, path) = with_rules("expr: up == 0", "expr: up == = 0");
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 2, "{}", run.summary());
    assert!(
        run.stderr.contains("rules.yaml:65:") && run.stderr.contains("alert TargetDown") && run.stderr.contains("invalid PromQL"),
        "{}",
        run.stderr
    );
}
