//! Every expectation kind can fail: the reference stack started with a
//! mutant switch makes the scenario exit 1 on the expectation that guards
//! the broken behaviour. The runs use the compact outage (`crate::common::compact_outage`,
//! 13 s, no Prometheus), except the mutant that silences an alert, which needs
//! the real Prometheus of the bundled scenario, and the retry without jitter,
//! which needs the many retries of `flaky-backend.yaml`.

use crate::common::*;

fn assert_caught(mutant: &str, must_fail: &[&str]) {
    assert_caught_with(&[("MULTIAGENT_MUTANT", mutant)], must_fail);
}

/// The stack started with `env` (a mutant, or a pillar switched off) fails exactly where it should.
fn assert_caught_with(env: &[(&str, &str)], must_fail: &[&str]) {
    let (_dir, path) = compact_outage();
    assert_caught_in(&path, env, must_fail);
}

/// `path` run with the stack started with `env` fails exactly where it should.
fn assert_caught_in(path: &std::path::Path, env: &[(&str, &str)], must_fail: &[&str]) {
    let mutant = format!("{env:?}");
    let run = run_scenario(path, env);
    assert_eq!(run.code, 1, "mutant {mutant} was not caught:\n{}", run.summary());
    assert_eq!(run.report["verdict"], "fail");
    let failed = run.failed();
    for name in must_fail {
        assert!(failed.iter().any(|f| f == name), "mutant {mutant}: expected `{name}` to fail; failed: {failed:?}");
    }
    let junit = std::fs::read_to_string(run.dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
}

#[test]
fn compact_outage_passes_on_the_healthy_stack() {
    let (_dir, path) = compact_outage();
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    assert_eq!(run.report["expectations"].as_array().unwrap().len(), 28, "{}", run.summary());
}

#[test]
fn breaker_never_opens_is_caught_by_breaker_and_fail_fast() {
    assert_caught(
        "breaker_never_opens",
        &["coordinator LLM breaker opens, half-opens, closes", "open breaker fails fast (provider barely called)"],
    );
}

#[test]
fn breaker_never_closes_is_caught_by_breaker_and_health() {
    assert_caught(
        "breaker_never_closes",
        &[
            "coordinator LLM breaker opens, half-opens, closes",
            "coordinator ready again after recovery",
            "requests succeed again after recovery",
        ],
    );
}

#[test]
fn rename_metric_is_caught_by_metric_expectations() {
    assert_caught("rename_metric", &["tasks complete in steady state", "failed tasks counted during the outage"]);
}

#[test]
fn drop_failed_metric_silences_the_alert_and_is_caught() {
    // The rule HighErrorRate needs `multiagent_tasks_total{status="failed"}`:
    // this one runs with the real Prometheus and Alertmanager.
    let (_dir, path) = compact_alerting_outage(&[]);
    assert_caught_in(
        &path,
        &[("MULTIAGENT_MUTANT", "drop_failed_metric")],
        &[
            "HighErrorRate fires during the outage and resolves after",
            "HighErrorRate pages the on-call receiver",
            "failed tasks counted during the outage",
        ],
    );
}

#[test]
fn ready_stuck_is_caught_by_health() {
    assert_caught("ready_stuck", &["coordinator not ready while the LLM is down"]);
}

#[test]
fn retry_no_backoff_is_caught_by_retries() {
    assert_caught("retry_no_backoff", &["failed LLM calls are retried with backoff"]);
}

#[test]
fn retry_no_jitter_is_caught_by_retries_on_a_flaky_backend() {
    // The outage opens the breaker after a few calls: too few retries to show
    // jitter. The flaky backend keeps it closed and retries ~50 reads.
    assert_caught_in(
        &scenario("flaky-backend.yaml"),
        &[("MULTIAGENT_MUTANT", "retry_no_jitter")],
        &["failed reads are retried with growing, jittered backoff"],
    );
}

#[test]
fn leak_secret_is_caught_by_no_leaks_with_the_canary_masked() {
    let (_dir, path) = compact_outage();
    let run = run_scenario(&path, &[("MULTIAGENT_MUTANT", "leak_secret")]);
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec!["the canary secret never leaks".to_string()]);
    let e = run.expectation("the canary secret never leaks");
    let line = e["evidence"]["found"][0]["line"].as_str().unwrap();
    assert!(line.contains("[CANARY]") && !line.contains("ordeal-canary-"), "{line}");
}

#[test]
fn drop_span_is_caught_by_trace_completeness() {
    assert_caught("drop_span", &["every successful request has a complete trace across both services"]);
}

#[test]
fn no_propagation_is_caught_by_trace_completeness() {
    let (_dir, path) = compact_outage();
    let run = run_scenario(&path, &[("MULTIAGENT_MUTANT", "no_propagation")]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let e = run.expectation("every successful request has a complete trace across both services");
    assert_eq!(e["verdict"], "fail");
    // Evidence names example traces for the failure.
    let problems = e["evidence"]["problems"].as_object().unwrap();
    assert!(problems.values().any(|p| !p["examples"].as_array().unwrap().is_empty()), "{e}");
}

#[test]
fn no_error_status_is_caught_by_span_status() {
    assert_caught("no_error_status", &["failed LLM calls are error spans with an exception event"]);
}

#[test]
fn logs_switched_off_is_caught_by_every_log_expectation() {
    assert_caught_with(
        &[("MULTIAGENT_LOGS", "off")],
        &[
            "every stdout line is a JSON object",
            "error logs carry request and trace ids",
            "task failures are logged during the outage",
            "request logs point at received traces (trace/log correlation)",
        ],
    );
}

#[test]
fn traces_switched_off_is_caught_by_trace_and_correlation_expectations() {
    assert_caught_with(
        &[("MULTIAGENT_TRACES", "off")],
        &[
            "every successful request has a complete trace across both services",
            "every request is traced (sampling ratio 1.0)",
            "LLM spans carry model and token counts",
            "request logs point at received traces (trace/log correlation)",
        ],
    );
}

#[test]
fn ready_ignores_llm_is_caught_by_health() {
    assert_caught("ready_ignores_llm", &["coordinator not ready while the LLM is down"]);
}

#[test]
fn no_request_id_forward_is_caught_by_request_log_correlation() {
    // The worker makes up its own X-Request-ID: its log lines join no request.
    assert_caught("no_request_id_forward", &["both services log the caller's request id (request/log correlation)"]);
}

#[test]
fn request_id_label_is_caught_by_the_cardinality_contract() {
    assert_caught("request_id_label", &["rules, dashboard and PromQL use only exported metrics; naming and cardinality clean"]);
}

#[test]
fn live_follows_llm_is_caught_by_health() {
    // Liveness tied to a dependency: an orchestrator would restart the coordinator in a loop.
    assert_caught("live_follows_llm", &["coordinator stays live"]);
}

/// An accounting mutant: the compact outage (every other kind of bundled
/// expectation) does not notice it, and `accounting.yaml` fails on exactly
/// `expectation`, with both sides of the count in the evidence.
fn caught_by_accounting_alone(mutant: &str, expectation: &str) {
    let env = [("MULTIAGENT_MUTANT", mutant)];
    let (_dir, outage) = compact_outage();
    let run = run_scenario(&outage, &env);
    assert_eq!(run.code, 0, "mutant {mutant} is caught by a check other than accounting:\n{}", run.summary());
    let run = run_scenario(&scenario("accounting.yaml"), &env);
    assert_eq!(run.code, 1, "mutant {mutant} was not caught:\n{}", run.summary());
    assert_eq!(run.failed(), vec![expectation.to_string()], "{}", run.summary());
    let e = run.expectation(expectation);
    let (claim, truth) = (&e["evidence"]["claim"]["value"], &e["evidence"]["truth"]["value"]);
    assert!(claim.is_number() && truth.is_number() && claim != truth, "{e}");
}

#[test]
fn undercount_llm_errors_is_caught_by_accounting_alone() {
    caught_by_accounting_alone("undercount_llm_errors", "every failed LLM call is counted");
}

#[test]
fn double_count_tokens_is_caught_by_accounting_alone() {
    caught_by_accounting_alone("double_count_tokens", "the tokens counted are the tokens served");
}

#[test]
fn span_per_task_not_per_call_is_caught_by_accounting_alone() {
    caught_by_accounting_alone("span_per_task_not_per_call", "one client span per call that reached the LLM");
}

/// A client that retries what the provider refused (a 400) is caught by
/// `retries`' `not_retried` on the bad-request scenario, and by nothing in it else.
#[test]
fn retrying_a_client_error_is_caught_by_not_retried() {
    let run = run_scenario(&scenario("bad-request.yaml"), &[("MULTIAGENT_MUTANT", "retry_non_retryable")]);
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec!["a 400 from the LLM is never retried".to_string()], "{}", run.summary());
}

/// A half-open trial whose caller gave up (the request future dropped with
/// its permit) must give the trial slot back: a breaker that keeps it stops
/// calling the provider and never closes.
#[test]
fn a_breaker_that_keeps_an_abandoned_trial_slot_is_caught() {
    let run = run_scenario(&scenario("client-gives-up.yaml"), &[("MULTIAGENT_MUTANT", "abandoned_trial_kept")]);
    run.assert_fails_exactly(&[
        "abandoned half-open trials give their slot back (the provider keeps getting trial calls)",
        "requests succeed again after the provider answers",
        "the LLM breaker closes once the provider answers",
    ]);
}

/// A body limit of 2 KiB instead of 1 MiB refuses the steady state's 6 KB
/// post-mortem timeline with 413 (cargo-mutants' `MAX_BODY` `*` -> `+`).
#[test]
fn a_body_limit_too_small_is_caught_by_the_long_report_request() {
    let run = run_scenario(&scenario("steady-state.yaml"), &[("MULTIAGENT_MUTANT", "small_body_limit")]);
    run.assert_fails_exactly(&["no failed requests", "task spans carry the task id and type"]);
}

/// A JSON logger that silently drops its unsigned integer fields still writes
/// valid JSON with every text field (`duration_ms` is a float and stays):
/// only `field_types` notices.
#[test]
fn dropped_numeric_log_fields_are_caught_by_field_types_alone() {
    let (_dir, outage) = compact_outage();
    let run = run_scenario(&outage, &[("MULTIAGENT_MUTANT", "drop_numeric_log_fields")]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let name = "request logs carry status and duration as numbers";
    assert_eq!(run.failed(), vec![name.to_string()], "{}", run.summary());
    let e = run.expectation(name);
    assert_eq!(e["evidence"]["example"]["wrong"], serde_json::json!(["status: absent (want number)"]), "{e}");
}

/// A request log that loses its headers leaks nothing, so `no_leaks` passes;
/// the dotted `field_types` check on `headers.authorization` alone notices.
#[test]
fn dropped_request_headers_are_caught_by_the_masked_header_check_alone() {
    let (_dir, outage) = compact_outage();
    let run = run_scenario(&outage, &[("MULTIAGENT_MUTANT", "drop_logged_headers")]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let name = "request logs keep the caller's headers and body (no_leaks: secrets masked)";
    assert_eq!(run.failed(), vec![name.to_string()], "{}", run.summary());
    let e = run.expectation(name);
    assert_eq!(e["evidence"]["example"]["wrong"], serde_json::json!(["headers.authorization: absent (want string)"]), "{e}");
}

/// `kind: traffic` fails where the dependency is not called: with the LLM
/// breaker open the provider barely sees a call, so a floor there fails —
/// and only that check, on the healthy stack.
#[test]
fn a_traffic_floor_fails_while_the_breaker_keeps_calls_away() {
    let (_dir, path) = compact_outage();
    let name = "the LLM takes the load while its breaker is open";
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("  - {{ kind: traffic, name: {name}, mock: llm, during: outage+2s..outage.end, min_rate: 5 }}\n"));
    std::fs::write(&path, text).unwrap();
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec![name.to_string()], "{}", run.summary());
    let e = run.expectation(name);
    assert!(e["evidence"]["rate"].as_f64().unwrap() < 5.0, "{e}");
}
