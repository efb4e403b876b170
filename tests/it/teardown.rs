//! Nothing ordeal starts outlives it: not after Ctrl-C, not after a panic,
//! not even after ordeal itself is SIGKILLed.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

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

/// A service behind a wrapper shell (its child is a grandchild of ordeal)
/// beside one that leaves a daemon outside its process group (`setsid`).
fn leaky_scenario(seconds: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let server = root().join("tests/fixtures/stall-server.py");
    temp_scenario(&format!(
        r#"
name: leaky
stack:
  services:
    wrapped:
      command: sh
      args: ["-c", "python3 {server}"]
      env: {{ LISTEN: "{{{{self.bind}}}}:{{{{self.port}}}}", STALL_AFTER_S: "0", STALL_FOR_S: "0", STALL_S: "0" }}
      ready: {{ path: /health, timeout: 30s }}
    daemonizing:
      command: sh
      args: ["-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & exec python3 {server}"]
      env: {{ LISTEN: "{{{{self.bind}}}}:{{{{self.port}}}}", STALL_AFTER_S: "0", STALL_FOR_S: "0", STALL_S: "0" }}
      ready: {{ path: /health, timeout: 30s }}
load:
  target: wrapped
  rate: 5
  requests:
    - {{ name: work, method: GET, path: /work }}
timeline:
  phases:
    - {{ name: steady, duration: {seconds}s }}
expect:
  - {{ kind: load, name: answered, error_ratio: "== 0" }}
"#,
        server = server.display()
    ))
}

#[test]
fn a_daemon_a_service_left_behind_dies_with_a_clean_run() {
    let (_dir, path) = leaky_scenario(1);
    let run = run_scenario(&path, &[]); // asserts that nothing carries the run's marker
    assert_eq!(run.code, 0, "{}", run.summary());
}

#[test]
fn what_a_sigkilled_run_left_behind_is_reaped_by_the_next_run() {
    // PR_SET_PDEATHSIG kills only the direct children: the wrapper's python and
    // the setsid'd sleep outlive a SIGKILLed ordeal until the next run starts.
    let (_dir, path) = leaky_scenario(60);
    let report = tempfile::tempdir().unwrap();
    let marker = unique_marker();
    let mut child = spawn_scenario(&path, report.path(), &marker, Stdio::null(), Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with_marker(&marker).len() < 5 {
        assert!(Instant::now() < deadline, "the stack never came up: {:?}", processes_with_marker(&marker));
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let survivors = processes_with_marker(&marker);
    // The next run (any scenario) reaps them before it starts its own stack.
    let (_d, short) = leaky_scenario(1);
    let next = run_scenario(&short, &[]);
    assert_eq!(next.code, 0, "{}", next.summary());
    assert!(
        processes_with_marker(&marker).is_empty(),
        "left after the next run: {:?} (survived the SIGKILL: {survivors:?})",
        processes_with_marker(&marker)
    );
    // The next run's report says what it removed.
    let reaped: Vec<u64> = next.report["reaped"]["processes"].as_array().unwrap().iter().filter_map(|p| p.as_u64()).collect();
    assert!(survivors.iter().any(|pid| reaped.contains(&u64::from(*pid))), "survivors {survivors:?}, reaped {reaped:?}");
    assert!(next.stderr.contains("removed what killed ordeal runs left behind"), "{}", next.stderr);
}

/// A folder `name` in `dir` holding `keep/data.txt`, and the marker text `marker` if given.
fn user_folder(dir: &std::path::Path, name: &str, marker: Option<String>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.join("keep")).unwrap();
    std::fs::write(path.join("keep/data.txt"), "precious").unwrap();
    if let Some(m) = marker {
        std::fs::write(path.join(".ordeal-owner"), m).unwrap();
    }
    path
}

#[test]
fn the_reaper_removes_only_what_a_marker_proves_a_dead_run_left() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap().trim().to_string();
    let marker = |owner: &str, name: &str| Some(format!("ordeal temp folder v1\nowner={owner}\nboot={boot}\nname={name}\n"));
    // A live owner: this test process.
    let live_owner = ordeal::runtime::reap::owner();
    let survivors = [
        user_folder(t, "ordeal-reports-v1.2", None),
        user_folder(t, "ordeal-x-1.1-abc", None),
        user_folder(t, "ordeal-live-1", marker(live_owner, "ordeal-live-1")),
    ];
    let elsewhere = user_folder(&t.join("elsewhere"), "ordeal-tsdb-1.1-abc", marker("4194304.7", "ordeal-tsdb-1.1-abc"));
    std::os::unix::fs::symlink(&elsewhere, t.join("ordeal-tsdb-1.1-abc")).unwrap();
    let dead = user_folder(t, "ordeal-tsdb-dead", marker("4194304.7", "ordeal-tsdb-dead"));
    // A process whose mark does not parse is not ours.
    let mut stranger = std::process::Command::new("sleep").arg("120").env("ORDEAL_OWNER", "garbage").spawn().unwrap();

    let (_d, short) = leaky_scenario(1);
    let run = run_scenario(&short, &[("TMPDIR", t.to_str().unwrap())]);
    let stranger_alive = stranger.try_wait().unwrap().is_none();
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert_eq!(run.code, 0, "{}", run.summary());
    assert!(stranger_alive, "a process with ORDEAL_OWNER=garbage was killed");
    for p in survivors.iter().chain([&elsewhere]) {
        assert!(p.join("keep/data.txt").is_file(), "{} was removed", p.display());
    }
    assert!(t.join("ordeal-tsdb-1.1-abc").is_symlink(), "the symlink was removed");
    assert!(!dead.exists(), "a dead owner's marked folder stayed");
    let folders = run.report["reaped"]["folders"].as_array().unwrap();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(folders[0].as_str().unwrap().ends_with("ordeal-tsdb-dead"), "{folders:?}");
}
