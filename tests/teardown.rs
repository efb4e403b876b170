//! Nothing ordeal starts outlives it: not after Ctrl-C, not after a panic,
//! not even after ordeal itself is SIGKILLed.

mod common;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Start a run in the background and wait until its stack is up.
fn start_run(env: &[(&str, &str)]) -> (Child, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let marker = unique_marker();
    let mut cmd = ordeal();
    cmd.arg("run").arg(scenario("llm-outage.yaml")).arg("--report-dir").arg(dir.path());
    cmd.env("ORDEAL_TEST_MARKER", &marker).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    (child, dir, marker)
}

fn wait_for_stack(dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(300); // includes a first build of the stack
    while !dir.join("logs/coordinator.stdout.log").exists() {
        assert!(Instant::now() < deadline, "stack never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3)); // load and faults under way
}

#[test]
fn ctrl_c_stops_everything_and_still_reports() {
    let (mut child, dir, marker) = start_run(&[]);
    wait_for_stack(dir.path());
    assert!(processes_with_marker(&marker).len() >= 3, "ordeal + coordinator + worker");
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), Some(130));
    assert_no_leftovers(&marker);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "error");
    assert_eq!(report["error"], "interrupted");
}

#[test]
fn sigkilled_harness_takes_its_stack_with_it() {
    let (mut child, dir, marker) = start_run(&[]);
    wait_for_stack(dir.path());
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child, Duration::from_secs(10));
    assert_no_leftovers(&marker);
}

#[test]
fn panic_mid_run_kills_the_stack() {
    let (mut child, _dir, marker) = start_run(&[("ORDEAL_FAILPOINT", "panic-after-start")]);
    let code = wait_exit(&mut child, Duration::from_secs(300));
    assert_eq!(code, Some(101), "a panic exits 101");
    assert_no_leftovers(&marker);
}

#[test]
fn a_panic_in_a_collector_is_a_harness_fault_not_the_stacks() {
    // Regression: a panic in a background task ran the panic hook (which kills
    // the stack), the run went on to the end of the timeline and reported
    // `fail`, blaming the services for the harness's fault.
    let (mut child, dir, marker) = start_run(&[("ORDEAL_FAILPOINT", "panic-in-prober")]);
    let started = Instant::now();
    let code = wait_exit(&mut child, Duration::from_secs(300));
    assert_eq!(code, Some(3), "a harness fault exits 3");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "error", "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("harness fault: health prober panicked"), "{error}");
    assert!(report["expectations"].as_array().unwrap().is_empty(), "the stack must not be judged: {report}");
    // It stopped at once rather than running out the 27 s timeline (generous bound: a first build may come first).
    assert!(started.elapsed() < Duration::from_secs(240));
    assert_no_leftovers(&marker);
}
