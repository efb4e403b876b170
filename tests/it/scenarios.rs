//! The bundled scenarios pass against the reference stack, with complete
//! reports, and leave nothing running.

use crate::common::*;

fn assert_passes(name: &str, kinds: &[&str]) -> Run {
    let run = run_scenario(&scenario(name), &[]);
    assert_eq!(run.code, 0, "{} failed: {:?}\n{}", name, run.failed(), run.summary());
    assert_eq!(run.report["verdict"], "pass");
    let exps = run.report["expectations"].as_array().unwrap();
    assert!(exps.iter().all(|e| e["verdict"] == "pass"));
    for k in kinds {
        assert!(exps.iter().any(|e| e["kind"] == *k), "no `{k}` expectation in {name}");
    }
    for e in exps {
        for field in ["kind", "name", "verdict", "expected", "observed", "window", "evidence"] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
    }
    let junit = std::fs::read_to_string(run.dir.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), exps.len(), "{junit}");
    assert!(!junit.contains("<failure"));
    assert!(run.stdout.contains(&format!("{}: PASS", name.trim_end_matches(".yaml"))), "{}", run.stdout);
    run
}

#[test]
fn llm_outage_passes() {
    let run = assert_passes(
        "llm-outage.yaml",
        &[
            "metric",
            "breaker",
            "fail_fast",
            "retries",
            "health",
            "load",
            "logs",
            "no_leaks",
            "alert",
            "no_alert",
            "alert_delivered",
            "promql",
            "contract",
        ],
    );
    // The report carries the run's facts, not just verdicts.
    let r = &run.report;
    assert_eq!(r["phases"].as_array().unwrap().len(), 4);
    assert!(r["mocks"]["llm"]["by_outcome"]["error"].as_u64().unwrap() > 0, "{}", r["mocks"]);
    assert!(r["collectors"]["scrapes"]["coordinator"].as_u64().unwrap() > 50);
    assert!(run.dir.path().join("logs/coordinator.stdout.log").exists());
    let breaker = run.expectation("coordinator LLM breaker opens, half-opens, closes");
    assert!(breaker["evidence"]["transitions"].as_array().unwrap().len() >= 3, "{breaker}");
    // A real Prometheus fired HighErrorRate; a real Alertmanager paged ordeal's webhook.
    let alerting = &r["alerting"];
    assert_eq!(alerting["mode"], "managed");
    let high = alerting["alerts"].as_array().unwrap().iter().find(|a| a["name"] == "HighErrorRate").expect("HighErrorRate in report");
    assert!(high["firing_at_ms"].as_f64().unwrap() > 9000.0, "{high}");
    let pages: Vec<_> = alerting["deliveries"].as_array().unwrap().iter().filter(|d| d["receiver"] == "pager").collect();
    assert!(pages.iter().any(|d| d["status"] == "firing") && pages.iter().any(|d| d["status"] == "resolved"), "{alerting}");
    assert!(run.dir.path().join("alerting/prometheus.yml").exists());
    // The run as time series, and as a page a person looks at.
    let t = &r["timeline"];
    assert_eq!(t["load"].as_array().unwrap().len(), 27, "a bucket per second of the 27 s timeline: {t}");
    assert!(t["faults"].as_array().unwrap().iter().any(|f| f["target"].as_str().unwrap_or("").starts_with("mock llm")), "{}", t["faults"]);
    assert!(!t["metrics"].as_array().unwrap().is_empty());
    let html = run.dir.path().join("report.html");
    let shot = run.dir.path().join("report.png");
    if let Some(dom) = render_in_chromium(&html, Some(&shot)) {
        assert!(dom.contains("id=\"verdict\">PASS<"), "the verdict is shown");
        assert!(dom.contains("class=\"fault\""), "fault windows are shaded");
        assert!(dom.contains("aria-label=\"alert HighErrorRate\""), "the alert's timeline is drawn");
        assert!(dom.contains("aria-label=\"multiagent_circuit_breaker_state\""), "the breaker gauge is drawn");
        // Kept for docs/: ORDEAL_KEEP_SCREENSHOT=docs/report-llm-outage.png
        if let Ok(keep) = std::env::var("ORDEAL_KEEP_SCREENSHOT") {
            std::fs::copy(&shot, root().join(keep)).unwrap();
        }
    }
}

#[test]
fn steady_state_passes() {
    let run = assert_passes("steady-state.yaml", &["metric", "health", "load", "no_alert"]);
    // CPU and memory of every service's process group, read from /proc.
    let res = &run.report["resources"];
    for service in ["coordinator", "worker"] {
        let u = &res["services"][service];
        assert!(u["cpu_seconds"].as_f64().unwrap() > 0.0, "{res}");
        assert!(u["peak_rss_bytes"].as_u64().unwrap() > 1_000_000, "{res}");
    }
    assert!(res["harness_cpu_seconds"].as_f64().unwrap() > 0.0, "{res}");
}

#[test]
fn backend_latency_passes() {
    assert_passes("backend-latency.yaml", &["retries", "breaker", "metric", "health", "load"]);
}

#[test]
fn flaky_backend_passes_with_jittered_retries_shown() {
    let run = assert_passes("flaky-backend.yaml", &["retries", "metric", "load"]);
    // The jitter check judged real gaps, not a vacuous window.
    let retries = run.expectation("failed reads are retried with growing, jittered backoff");
    assert!(retries["evidence"]["jitter"]["gaps"].as_u64().unwrap() >= 20, "{retries}");
}

#[test]
fn accounting_passes_with_the_sides_adding_up() {
    let run = assert_passes("accounting.yaml", &["accounting"]);
    let truth = |name: &str| run.expectation(name)["evidence"]["truth"]["value"].as_f64().unwrap();
    let (failed, succeeded) = (truth("every failed LLM call is counted"), truth("every successful LLM call is counted"));
    // Both sides were really exercised, and the sides add up across checks:
    // one client span per call, failed or not (the mock answered every call).
    assert!(failed > 0.0 && succeeded > failed, "{}", run.summary());
    assert_eq!(truth("one client span per call that reached the LLM"), failed + succeeded, "{}", run.summary());
    assert!(truth("the tokens counted are the tokens served") > succeeded, "{}", run.summary());
}

#[test]
fn client_gives_up_passes_with_trial_calls_through_the_hang() {
    let run = assert_passes("client-gives-up.yaml", &["traffic", "metric", "load"]);
    let e = run.expectation("abandoned half-open trials give their slot back (the provider keeps getting trial calls)");
    assert!(e["evidence"]["calls"].as_u64().unwrap_or(0) >= 2, "{e}");
}

#[test]
fn bad_request_passes_with_no_client_error_retried() {
    let run = assert_passes("bad-request.yaml", &["retries"]);
    let e = run.expectation("a 400 from the LLM is never retried");
    assert!(e["evidence"]["requests"].as_u64().unwrap_or(0) > 0, "{e}");
}
