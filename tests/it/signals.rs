//! Every expectation declares the signals it reads (what reports draw and a
//! coverage report counts): checked on the bundled scenarios, compiled as a
//! user would.

use std::collections::BTreeSet;

use ordeal::expect::Check;
use ordeal::expect::kind::Signals;

fn plan(name: &str) -> ordeal::plan::Plan {
    ordeal::plan::load(&crate::common::root().join("scenarios").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn signals(plan: &ordeal::plan::Plan, name: &str) -> Signals {
    plan.expectations.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("no expectation `{name}`")).check.signals()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_bundled_expectation_reads_some_signal() {
    for file in ["llm-outage.yaml", "steady-state.yaml", "backend-latency.yaml", "flaky-backend.yaml", "worker-crash.yaml"] {
        for e in &plan(file).expectations {
            // A contract lints what the others use; it reads no signal of its own.
            if matches!(e.check, Check::Contract(_)) {
                continue;
            }
            assert_ne!(e.check.signals(), Signals::default(), "{file}: `{}` ({}) declares no signal", e.name, e.kind());
        }
    }
}

#[test]
fn the_outage_scenario_names_its_metrics_spans_alerts_and_mocks() {
    let p = plan("llm-outage.yaml");
    let s = signals(&p, "tasks complete in steady state");
    assert_eq!(s.metrics, set(&[r#"multiagent_tasks_total{status="completed"}"#]));
    assert_eq!(s.services, set(&["coordinator"]));
    let s = signals(&p, "coordinator LLM breaker opens, half-opens, closes");
    assert!(s.metrics.contains(r#"multiagent_circuit_breaker_state{dependency="llm"}"#), "{s:?}");
    assert!(s.metrics.contains("multiagent_circuit_breaker_transitions_total"), "{s:?}");
    assert_eq!(signals(&p, "open breaker fails fast (provider barely called)").mocks, set(&["llm"]));
    assert_eq!(signals(&p, "HighErrorRate fires during the outage and resolves after").alerts, set(&["HighErrorRate"]));
    assert!(signals(&p, "no alert fires in steady state").alerts_any);
    let s = signals(&p, "failed LLM calls are error spans with an exception event");
    assert_eq!(s.spans, set(&["LLMCall"]));
    let promql = signals(&p, "p95 task latency under 1s in steady state (PromQL, evaluated by Prometheus)").promql;
    assert_eq!(promql.len(), 1);
    // The contract was linked to the scenario's PromQL queries.
    let contract = p.expectations.iter().find_map(|e| if let Check::Contract(c) = &e.check { Some(c) } else { None }).unwrap();
    assert_eq!(contract.spec.queries.iter().map(|(_, q)| q.clone()).collect::<BTreeSet<_>>(), promql);
}
