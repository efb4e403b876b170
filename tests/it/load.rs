//! The load engine against a real HTTP server (tests/fixtures/stall-server.py)
//! that stalls on cue: latency is judged by the window a request was
//! *scheduled* in, requests still in flight at the end are judged, sends the
//! cap holds back are counted as missed, and the target rate is held.
//! Generous bounds: the tight figures live in bench/load.sh.

use std::process::Stdio;

use crate::common::*;

/// A scenario whose only service is the stall server; `stall` is
/// (after_s, for_s, stall_s) from the first request.
fn stall_scenario(stall: (f64, f64, f64), load: &str, phases: &str, expect: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (after, length, secs) = stall;
    let env = format!("STALL_AFTER_S: \"{after}\"\n        STALL_FOR_S: \"{length}\"\n        STALL_S: \"{secs}\"");
    let load = format!("{load}\n  requests:\n    - {{ name: work, method: GET, path: /work }}");
    target_scenario(&env, &load, phases, expect)
}

/// A scenario whose only service is the stall server with extra `env` lines,
/// and `load` holding the request mix.
fn target_scenario(env: &str, load: &str, phases: &str, expect: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let script = root().join("tests/fixtures/stall-server.py");
    temp_scenario(&format!(
        r#"
name: load-engine
stack:
  services:
    target:
      command: python3
      args: ["{}"]
      env:
        LISTEN: "{{{{self.bind}}}}:{{{{self.port}}}}"
        {env}
      ready: {{ path: /health, timeout: 30s }}
load:
  target: target
{load}
timeline:
  phases:
{phases}
expect:
{expect}
"#,
        script.display()
    ))
}

fn phase<'a>(run: &'a Run, name: &str) -> &'a serde_json::Value {
    run.report["phases"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no phase {name}: {}", run.summary()))
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_stall_inside_a_phase_fails_its_latency_gate() {
    // The server stalls every request for 2.5 s from 2 s to 4 s: the stall1
    // phase's requests finish after it ends, and must still be judged in it.
    let (_dir, path) = stall_scenario(
        (2.0, 2.0, 2.5),
        "  rate: 40\n  timeout: 5s",
        "    - { name: steady, duration: 2s }\n    - { name: stall1, duration: 2s }\n    - { name: after, duration: 3s }",
        "  - { kind: load, name: steady is fast, during: steady, p99: \"< 1s\" }\n  - { kind: load, name: stall p99, during: stall1, p99: \"< 100ms\" }",
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    assert_eq!(run.failed(), vec!["stall p99".to_string()], "{}", run.summary());
    let stall = &phase(&run, "stall1")["load"];
    assert_eq!(stall["scheduled"], 80, "40/s for 2 s: {stall}");
    assert!(num(&stall["requests"]) >= 76.0, "the stalled requests belong to the phase they were sent in: {stall}");
    assert!(num(&stall["p99_ms"]) > 2000.0, "{stall}");
    let observed = run.expectation("stall p99")["observed"].as_str().unwrap_or("").to_string();
    assert!(observed.starts_with("p99 = ") && observed.ends_with("ms"), "in the gate's unit: {observed}");
    // The page shows the failure first, with the stalled latency on the timeline.
    if let Some(dom) = render_in_chromium(&run.dir.path().join("report.html"), None) {
        assert!(dom.contains("id=\"verdict\">FAIL<"), "{}", &dom[..dom.len().min(2000)]);
        let first = dom.find("<article").expect("an expectation panel");
        assert!(dom[first..].starts_with("<article class=\"check fail\""), "failed expectations first");
        assert!(dom.contains("latency ms (from the intended send time)"));
    }
}

#[test]
fn requests_still_in_flight_at_the_end_are_judged() {
    // The last phase stalls for longer than the run lasts: nothing in it
    // answers, and its latency gate must fail on the waits so far.
    let (_dir, path) = stall_scenario(
        (1.0, 30.0, 20.0),
        "  rate: 20\n  timeout: 10s",
        "    - { name: steady, duration: 1s }\n    - { name: hang, duration: 2s }",
        "  - { kind: load, name: hang p99, during: hang, p99: \"< 500ms\" }\n  - { kind: load, name: hang errors, during: hang, error_ratio: \"== 0\" }",
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let hang = &phase(&run, "hang")["load"];
    assert!(num(&hang["unfinished"]) >= 30.0, "{hang}");
    assert!(num(&hang["p99_ms"]) >= 900.0, "a lower bound of at least the drain: {hang}");
    assert_eq!(run.expectation("hang p99")["verdict"], "fail", "{}", run.summary());
    // (Almost) nothing answered in the phase: an error ratio that only the
    // unanswered requests could break is not a pass.
    let errors = run.expectation("hang errors");
    assert_eq!(errors["verdict"], "fail", "{}", run.summary());
    assert!(errors["observed"].as_str().unwrap_or("").contains("still in flight at the end"), "{errors}");
}

#[test]
fn a_full_cap_counts_missed_sends_and_the_rate_is_not_held() {
    // 5 requests in flight at most, each stalled 1 s: about 5 of the 40 sends
    // a second can go out during the stall.
    let (_dir, path) = stall_scenario(
        (1.0, 2.0, 1.0),
        "  rate: 40\n  max_in_flight: 5\n  timeout: 5s",
        "    - { name: steady, duration: 1s }\n    - { name: stall, duration: 2s }\n    - { name: after, duration: 2s }",
        "  - { kind: load, name: rate held, during: stall, achieved_ratio: \">= 0.9\" }",
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 1, "{}", run.summary());
    let stall = &phase(&run, "stall")["load"];
    assert!(num(&stall["missed"]) >= 20.0, "{stall}");
    assert!(num(&stall["achieved_rate"]) < 30.0, "{stall}");
    let e = run.expectation("rate held");
    assert_eq!(e["verdict"], "fail", "{}", run.summary());
    assert!(e["observed"].as_str().unwrap_or("").contains("missed"), "{e}");
}

#[test]
fn the_target_rate_is_held_and_shapes_follow_the_timeline() {
    // 200 req/s for 5 s, then a phase at its own rate, then a ramp.
    let (_dir, path) = stall_scenario(
        (0.0, 0.0, 0.0),
        "  rate: 200\n  timeout: 5s",
        "    - { name: steady, duration: 5s }\n    - { name: low, duration: 2s, rate: 20 }\n    - { name: ramp, duration: 2s, ramp: [10, 100] }",
        "  - { kind: load, name: rate held, during: steady, achieved_ratio: \">= 0.98\" }\n  - { kind: load, name: no errors, error_ratio: \"== 0\" }",
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    assert_eq!(phase(&run, "steady")["load"]["scheduled"], 1000, "{}", run.summary());
    assert_eq!(phase(&run, "low")["load"]["scheduled"], 40, "{}", run.summary());
    // (10 + 100) / 2 x 2 s.
    assert_eq!(phase(&run, "ramp")["load"]["scheduled"], 110, "{}", run.summary());
    assert!((num(&phase(&run, "ramp")["load"]["target_rate"]) - 55.0).abs() < 0.01, "{}", run.summary());
}

#[test]
fn capacity_mode_reports_the_sustained_throughput() {
    let (_dir, path) = stall_scenario(
        (0.0, 0.0, 0.0),
        "  rate: max\n  connections: 4\n  timeout: 5s",
        "    - { name: flat_out, duration: 2s }",
        "  - { kind: load, name: no errors, during: flat_out, error_ratio: \"== 0\" }",
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    assert_eq!(run.report["load"]["capacity_mode"], true, "{}", run.report["load"]);
    let flat = &phase(&run, "flat_out")["load"];
    assert!(num(&flat["achieved_rate"]) > 50.0, "{flat}");
    assert_eq!(flat["missed"], 0, "{flat}");
    assert!(run.stdout.contains("max"), "the phase table names the mode: {}", run.stdout);
}

#[test]
fn a_closed_stdout_is_not_a_harness_fault() {
    // `ordeal run … 2>&1 | head -1`: results and logs written to a closed pipe
    // (EPIPE) must leave the verdict and exit code as they are; the report
    // still lands.
    let (_dir, path) = stall_scenario(
        (0.0, 0.0, 0.0),
        "  rate: 20\n  timeout: 5s",
        "    - { name: steady, duration: 1s }",
        "  - { kind: load, name: no errors, error_ratio: \"== 0\" }",
    );
    let report = tempfile::tempdir().unwrap();
    let marker = unique_marker();
    let mut child = spawn_scenario(&path, report.path(), &marker, Stdio::piped(), Stdio::piped());
    drop(child.stdout.take());
    drop(child.stderr.take());
    let code = wait_exit(&mut child, std::time::Duration::from_secs(60));
    assert_no_leftovers(&marker);
    let verdict = std::fs::read(report.path().join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|r| r["verdict"].clone());
    assert_eq!((code, verdict), (Some(0), Some(serde_json::json!("pass"))));
}

#[test]
fn per_send_values_fill_path_headers_and_body_from_the_data_file() {
    // Every send takes the next row of the CSV file (cycling) and its own
    // number, random int and UUID; the server records what arrived.
    let (dir, path) = target_scenario(
        "RECORD: \"{{scenario.dir}}/requests.jsonl\"",
        r#"  rate: 20
  data: users.csv
  requests:
    - name: user
      method: POST
      path: "/users/{{data.user}}/{{seq}}"
      headers: { X-Tenant: "{{data.tenant}}" }
      body: { id: "{{seq}}", n: "{{rand.int(1,3)}}", u: "{{uuid}}", note: "for {{data.user}}" }"#,
        "    - { name: steady, duration: 2s }",
        "  - { kind: load, name: no errors, error_ratio: \"== 0\" }",
    );
    std::fs::write(dir.path().join("users.csv"), "user,tenant\nalice,t1\nbob smith,t2\ncarol,t3\n").unwrap();
    let run = run_scenario(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.summary());
    let text = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
    let reqs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(reqs.len() >= 30, "20/s for 2 s: {} requests", reqs.len());
    let users = [("alice", "alice", "t1"), ("bob%20smith", "bob smith", "t2"), ("carol", "carol", "t3")];
    let mut uuids = std::collections::BTreeSet::new();
    for r in &reqs {
        let rid = r["headers"]["x-request-id"].as_str().unwrap();
        let seq: u64 = rid.rsplit('-').next().unwrap().parse().unwrap();
        let (in_path, name, tenant) = users[(seq % 3) as usize];
        assert_eq!(r["path"], format!("/users/{in_path}/{seq}"), "{r}");
        assert_eq!(r["headers"]["x-tenant"], tenant, "{r}");
        let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["id"], seq, "a whole `{{{{seq}}}}` is a number: {body}");
        assert!((1..=3).contains(&body["n"].as_i64().unwrap()), "{body}");
        assert_eq!(body["note"], format!("for {name}"), "{body}");
        uuids.insert(body["u"].as_str().unwrap().to_string());
    }
    assert_eq!(uuids.len(), reqs.len(), "every send has its own UUID");
}

#[test]
fn a_request_sequence_is_one_unit_with_latency_per_step() {
    // POST a task, then GET its result with the id from the first answer; a
    // second sequence's first answer lacks the field the next step needs.
    let (dir, path) = target_scenario(
        "RECORD: \"{{scenario.dir}}/requests.jsonl\"",
        r#"  rate: 20
  requests:
    - name: flow
      weight: 3
      steps:
        - { name: submit, method: POST, path: /tasks, body: { n: "{{seq}}" } }
        - { name: result, path: "/tasks/{{steps.submit.id}}" }
    - name: broken
      steps:
        - { name: submit, method: POST, path: /tasks-noid }
        - { name: result, path: "/tasks/{{steps.submit.id}}" }"#,
        "    - { name: steady, duration: 2s }",
        r#"  - { kind: load, name: flow ok, request: flow, error_ratio: "== 0" }
  - { kind: load, name: result fast, request: flow.result, p99: "< 2s" }
  - { kind: load, name: broken ok, request: broken, error_ratio: "== 0" }
  - { kind: load, name: units, requests: ">= 30" }"#,
    );
    let run = run_scenario(&path, &[]);
    assert_eq!(run.failed(), vec!["broken ok".to_string()], "{}", run.summary());
    let by = &run.report["load"]["requests"];
    let n = |name: &str, field: &str| by[name][field].as_u64().unwrap_or_else(|| panic!("{name}.{field}: {by}"));
    assert!(n("flow", "requests") >= 20, "{by}");
    assert_eq!(n("flow.submit", "requests"), n("flow", "requests"), "{by}");
    assert_eq!(n("flow.result", "requests"), n("flow", "requests"), "{by}");
    assert_eq!(n("flow.result", "ok"), n("flow", "ok"), "every result found its task: {by}");
    assert_eq!(n("broken.result", "requests"), 0, "a step whose value is missing is not sent: {by}");
    assert_eq!(n("broken", "failed"), n("broken", "requests"), "{by}");
    // The mix's totals count units, not steps.
    let overall = &run.report["load"]["overall"];
    assert_eq!(overall["requests"].as_u64().unwrap(), n("flow", "requests") + n("broken", "requests"), "{overall}");
    assert!(run.expectation("broken ok")["observed"].as_str().unwrap_or("").contains("error_ratio"), "{}", run.summary());
    // What the server saw: every GET names an id a POST was given, each with its own request id.
    let text = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
    let reqs: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let gets: Vec<&str> = reqs.iter().filter(|r| r["method"] == "GET").map(|r| r["path"].as_str().unwrap()).collect();
    assert!(gets.iter().all(|p| p.starts_with("/tasks/task-")), "{gets:?}");
    let ids: std::collections::BTreeSet<&str> = reqs.iter().map(|r| r["headers"]["x-request-id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), reqs.len(), "one X-Request-ID per step");
}
