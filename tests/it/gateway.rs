//! The third test stack: fixtures/fallback, a small LLM gateway (Python's
//! standard library only) that falls back from a primary deployment to a
//! secondary one, each behind one of ordeal's OpenAI mocks. Request chains
//! across both mocks (by X-Request-ID) show "failed on the primary, answered
//! by the secondary" per request; a mutant that retries the primary only
//! must fail the chain checks and the secondary's traffic floor; one whose
//! primary never cools down must fail the state-machine checks only; one
//! whose latency histogram leaves out the wait for the upstream must fail
//! the latency accounting only.

use crate::common::*;

fn run_gateway(mutant: &str) -> Run {
    run_scenario(&root().join("fixtures/fallback/fallback.yaml"), &[("GATEWAY_MUTANT", mutant)])
}

#[test]
fn the_gateway_falls_back_request_by_request() {
    let run = run_gateway("");
    assert_eq!(run.code, 0, "{}", run.summary());
    let fallback = run.expectation("a request that fails on the primary is answered by the secondary");
    let ev = &fallback["evidence"];
    assert!(ev["answered_by_to"].as_u64().unwrap_or(0) > 0, "{fallback}");
    assert_eq!(ev["answered_by_to"], ev["failed_on_from"], "{fallback}");
    let calls: Vec<&str> = ev["examples"][0]["calls"].as_array().unwrap().iter().filter_map(|c| c.as_str()).collect();
    assert!(calls.len() == 2 && calls[0].starts_with("primary 503 at ") && calls[1].starts_with("secondary 200 at "), "{calls:?}");
    let chained = run.expectation("one attempt per deployment at most");
    assert_eq!(chained["evidence"]["examples"][0]["mocks"], serde_json::json!(["primary", "secondary"]), "{chained}");
    let states = run.expectation("the primary cools down during the outage and recovers after it (log events)");
    assert_eq!(states["evidence"]["sequence"], serde_json::json!(["healthy", "degraded", "cooldown", "healthy"]), "{states}");
    let warned = run.expectation("failed calls are logged as warnings naming the error");
    assert_eq!(warned["verdict"], "pass", "{warned}");
}

#[test]
fn retrying_the_primary_only_fails_the_chain_checks_and_the_secondarys_floor() {
    let run = run_gateway("retry_primary_only");
    assert_eq!(run.code, 1, "{}", run.summary());
    let mut failed = run.failed();
    failed.sort();
    let mut want = vec![
        "a request that fails on the primary is answered by the secondary",
        "callers never see the primary fail",
        "one attempt per deployment at most",
        "the secondary takes the load during the outage",
    ];
    want.sort();
    assert_eq!(failed, want, "{}", run.summary());
    let fallback = run.expectation("a request that fails on the primary is answered by the secondary");
    assert_eq!(fallback["evidence"]["answered_by_to"], 0, "{fallback}");
    let stranded = fallback["evidence"]["not_answered"][0]["calls"].as_array().unwrap();
    assert_eq!(stranded.len(), 3, "three attempts on the primary: {fallback}");
    let floor = run.expectation("the secondary takes the load during the outage");
    assert!(floor["observed"].as_str().unwrap().contains("0 calls"), "{floor}");
}

#[test]
fn a_primary_that_never_cools_down_fails_the_state_checks_only() {
    let run = run_gateway("no_cooldown");
    run.assert_fails_exactly(&[
        "the primary cools down during the outage and recovers after it (log events)",
        "the primary's state gauge tells the same story",
    ]);
    let events = run.expectation("the primary cools down during the outage and recovers after it (log events)");
    assert_eq!(events["evidence"]["source"], "log events", "{events}");
    assert_eq!(events["evidence"]["sequence"], serde_json::json!(["healthy", "degraded", "healthy"]), "{events}");
}

#[test]
fn a_histogram_that_leaves_out_the_wait_fails_latency_accounting_only() {
    let run = run_gateway("latency_without_wait");
    assert_eq!(run.code, 1, "{}", run.summary());
    let name = "the primary's latency histogram is not below the time the mock took";
    assert_eq!(run.failed(), vec![name.to_string()], "{}", run.summary());
    let latency = run.expectation(name);
    let (claim, truth) = (&latency["evidence"]["claim"]["bucket_le_ms"], &latency["evidence"]["truth"]["quantile_ms"]);
    assert!(claim.as_f64().unwrap() < truth.as_f64().unwrap(), "{latency}");
}
