//! The second test stack: fixtures/pyshop, a Python service built on pybreaker,
//! prometheus_client and the OpenTelemetry SDK, with its own metric names and
//! breaker state encoding, verified by its scenario alone. Its breaker's
//! half-open lasts one trial call (a few milliseconds), which only its log
//! events show; its failure counter has no series until the first failure.
//! Three mutants of it must fail where they break it.

use crate::common::*;

fn run_pyshop(mutant: &str) -> Run {
    let python = python::PYTHON.python();
    let scenario = root().join("fixtures/pyshop/pyshop.yaml");
    run_scenario(&scenario, &[("ORDEAL_PYTHON", python.to_str().expect("UTF-8 path")), ("SHOP_MUTANT", mutant)])
}

#[test]
fn the_python_stack_passes_its_scenario_with_the_half_open_seen_in_its_logs() {
    let run = run_pyshop("");
    assert_eq!(run.code, 0, "{}", run.summary());
    let breaker = run.expectation("pybreaker opens, half-opens for one call, closes (from its log events)");
    assert_eq!(breaker["evidence"]["source"], "log events", "{breaker}");
    let transitions: Vec<&str> = breaker["evidence"]["transitions"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert!(transitions.iter().any(|t| t.ends_with("half_open -> closed")), "{transitions:?}");
    let absent = run.expectation("no pricing failure in steady state (the counter has no series yet)");
    assert_eq!(absent["verdict"], "pass", "{absent}");
}

#[test]
fn a_bypassed_breaker_is_caught() {
    let run = run_pyshop("no_breaker");
    assert_eq!(run.code, 1, "{}", run.summary());
    let failed = run.failed();
    for name in [
        "pybreaker opens, half-opens for one call, closes (from its log events)",
        "the open breaker spares pricing",
        "pricing failures are counted during the outage",
    ] {
        assert!(failed.iter().any(|f| f == name), "expected `{name}` to fail; failed: {failed:?}");
    }
}

#[test]
fn uncounted_failures_are_caught() {
    let run = run_pyshop("uncounted_failures");
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec!["pricing failures are counted during the outage".to_string()], "{}", run.summary());
}

#[test]
fn a_dropped_traceparent_is_caught_though_its_logs_look_correlated() {
    let run = run_pyshop("no_propagation");
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec!["every quote has a server span with its pricing call".to_string()], "{}", run.summary());
    let traces = run.expectation("every quote has a server span with its pricing call");
    assert!(traces["evidence"]["problems"]["no trace"]["traces"].as_u64().unwrap_or(0) > 0, "{traces}");
}
