//! The container runtime, end to end, on the machine's Docker engine: the
//! same scenarios in containers, a killed worker under load (and a stack that
//! loses tasks, which `no_task_lost` must catch), cleanup after Ctrl-C, and
//! the reaping of what a SIGKILLed run left behind. Without a daemon, only
//! the "no daemon" error is checked.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn no_docker_daemon_is_an_infrastructure_error() {
    let (_d, path) = outage_variant(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = ordeal()
        .args(["run", "--runtime", "docker"])
        .arg(&path)
        .arg("--report-dir")
        .arg(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("no Docker daemon reachable"), "{stdout}");
}

#[test]
fn service_faults_need_the_docker_runtime() {
    let (_d, path) = variant("worker-crash.yaml", &[("runtime: docker\n", "")]);
    let r = run_scenario(&path, &[]);
    assert_eq!(r.code, 3, "{}", r.summary());
    let error = r.report["error"].as_str().unwrap_or_default();
    assert!(error.contains("kill-worker") && error.contains("--runtime docker"), "{error}");
}

#[test]
fn llm_outage_passes_in_containers() {
    if skip_without_docker() {
        return;
    }
    let (_d, path) = outage_variant(&[("seed: 42\n", "seed: 42\nruntime: docker\n")]);
    let r = run_scenario(&path, &[]);
    assert_eq!(r.code, 0, "{}", r.summary());
    assert_eq!(r.report["runtime"], "docker");
    assert_eq!(r.report["expectations"].as_array().unwrap().len(), 33);
    // Prometheus ran in a container too and saw the alert.
    assert_eq!(r.expectation("HighErrorRate fires during the outage and resolves after")["verdict"], "pass");
    // Per-container resources from Docker's stats.
    let cpu = r.report["resources"]["services"]["coordinator"]["cpu_seconds"].as_f64().unwrap();
    assert!(cpu > 0.0, "{}", r.report["resources"]);
    assert_no_docker_leftovers();
}

#[test]
fn killed_worker_is_noticed_and_no_task_is_lost() {
    if skip_without_docker() {
        return;
    }
    let (_d, path) = compact_crash(&[]);
    let r = run_scenario(&path, &[]);
    assert_eq!(r.code, 0, "{}", r.summary());
    let lost = r.expectation("every accepted task completed or failed, every completion answered");
    assert_eq!(lost["verdict"], "pass");
    assert!(lost["evidence"]["failed"].as_i64().unwrap() > 0, "the crash failed some tasks: {lost}");
    assert_eq!(lost["evidence"]["unaccounted"], 0);
    assert_eq!(r.expectation("AgentUnhealthy fires while the worker is down and resolves after")["verdict"], "pass");
    assert_no_docker_leftovers();
}

#[test]
fn a_stack_that_loses_tasks_fails_no_task_lost() {
    if skip_without_docker() {
        return;
    }
    let (_d, path) =
        compact_crash(&[("MULTIAGENT_WORKER_TIMEOUT_MS: 3000 }", "MULTIAGENT_WORKER_TIMEOUT_MS: 3000, MULTIAGENT_MUTANT: lose_tasks }")]);
    let r = run_scenario(&path, &[]);
    assert_eq!(r.code, 1, "{}", r.summary());
    let lost = r.expectation("every accepted task completed or failed, every completion answered");
    assert_eq!(lost["verdict"], "fail");
    let observed = lost["observed"].as_str().unwrap();
    assert!(observed.contains("neither completed nor failed"), "{observed}");
    assert!(lost["evidence"]["unaccounted"].as_i64().unwrap() > 0, "{lost}");
    assert_no_docker_leftovers();
}

/// Start worker-crash in the background; wait until its coordinator container logs.
fn start_crash_run() -> (std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let child = ordeal()
        .arg("run")
        .arg(scenario("worker-crash.yaml"))
        .arg("--report-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !dir.path().join("logs/coordinator.stdout.log").exists() {
        assert!(Instant::now() < deadline, "the stack never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, dir)
}

/// `docker <kind> ...` lines `name owner` of ordeal-labelled objects whose owner is `pid`.
fn labelled_of(pid: u32, list: &[&str]) -> Vec<String> {
    let name = if list[0] == "network" { "{{.Name}}" } else { "{{.Names}}" };
    let format = format!("{name} {{{{.Label \"org.ordeal.owner\"}}}}");
    let out =
        std::process::Command::new("docker").args(list).args(["--filter", "label=org.ordeal.owner", "--format", &format]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split(' ').nth(1).is_some_and(|o| o.starts_with(&format!("{pid}:"))))
        .map(String::from)
        .collect()
}

fn containers_of(pid: u32) -> Vec<String> {
    labelled_of(pid, &["ps", "-a"])
}

#[test]
fn ctrl_c_removes_containers_and_network() {
    if skip_without_docker() {
        return;
    }
    let (mut child, dir) = start_crash_run();
    assert!(containers_of(child.id()).len() >= 2, "worker and coordinator containers");
    signal(&child, libc::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(130));
    assert!(containers_of(child.id()).is_empty(), "{:?}", containers_of(child.id()));
    assert_no_docker_leftovers();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["error"], "interrupted");
}

/// Containers and networks whose owner label names `pid`.
fn docker_objects_of(pid: u32) -> Vec<String> {
    let mut out = containers_of(pid);
    out.extend(labelled_of(pid, &["network", "ls"]).into_iter().map(|l| format!("network {l}")));
    out
}

/// Ctrl-C while ordeal holds a container's creation at `failpoint` (a test
/// hook in the docker runtime): nothing of the run may exist after exit.
fn ctrl_c_at(failpoint: &str) {
    use std::io::BufRead;
    let (_d, path) = temp_scenario(
        "name: minimal\nruntime: docker\nstack:\n  services:\n    s: { command: tail, args: [\"-f\", \"/dev/null\"], stop_timeout: 1s }\ntimeline: { phases: [{ name: p, duration: 30s }] }\n",
    );
    let report = tempfile::tempdir().unwrap();
    let mut child = ordeal()
        .arg("run")
        .arg(&path)
        .arg("--report-dir")
        .arg(report.path())
        .env("ORDEAL_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads to the end, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ORDEAL_FAILPOINT=") {
                let _ = tx.send(line);
            }
        }
    });
    let held = rx.recv_timeout(Duration::from_secs(180));
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    assert!(held.is_ok(), "{failpoint}: never reached");
    assert_eq!(code, Some(130), "{failpoint}");
    let left = docker_objects_of(child.id());
    assert!(left.is_empty(), "{failpoint}: left after exit: {left:?}");
}

#[test]
fn ctrl_c_before_a_container_is_created_leaves_nothing() {
    if skip_without_docker() {
        return;
    }
    ctrl_c_at("hold-before-create");
}

#[test]
fn ctrl_c_while_a_container_is_being_created_leaves_nothing() {
    if skip_without_docker() {
        return;
    }
    // Created, not yet registered, for 3 s after the interrupt: teardown waits for the creation and removes it by its run label.
    ctrl_c_at("hold-in-create");
}

#[test]
fn ctrl_c_right_after_a_container_is_created_leaves_nothing() {
    if skip_without_docker() {
        return;
    }
    ctrl_c_at("hold-after-create");
}

#[test]
fn containers_of_a_sigkilled_run_are_reaped_at_the_next_start() {
    if skip_without_docker() {
        return;
    }
    let (mut child, _dir) = start_crash_run();
    let pid = child.id();
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child, Duration::from_secs(10));
    // Containers do not die with their parent: they are still there...
    assert!(!containers_of(pid).is_empty(), "expected leftovers of the killed run");
    assert!(!docker_leftovers().is_empty());
    // ...until the next docker run starts (its image is not `ordeal/sleep`,
    // which tests/it/images.rs removes concurrently).
    let (_d, path) = temp_scenario(
        "name: next\nruntime: docker\nstack:\n  services:\n    s: { command: tail, args: [\"-f\", \"/dev/null\"], stop_timeout: 1s }\ntimeline: { phases: [{ name: p, duration: 1s }] }\n",
    );
    let r = run_scenario(&path, &[]);
    assert_eq!(r.code, 0, "{}", r.summary());
    assert!(r.stderr.contains("left behind"), "the reap is logged: {}", r.stderr);
    assert!(containers_of(pid).is_empty(), "{:?}", containers_of(pid));
    assert_no_docker_leftovers();
}

/// worker-crash with another action on the worker: the same expectations hold
/// (no live worker, AgentUnhealthy, failed not lost, recovery).
fn crash_with(action: &str) -> Run {
    let (_d, path) = compact_crash(&[
        (
            "action: kill          # SIGKILL, mid-task\n      restart: true         # started again at the end of `crash`\n",
            &format!("action: {action}\n"),
        ),
        ("runtime: docker\n", "runtime: docker\n"),
    ]);
    run_scenario(&path, &[])
}

#[test]
fn a_paused_worker_is_noticed_and_recovers() {
    if skip_without_docker() {
        return;
    }
    let r = crash_with("pause");
    assert_eq!(r.code, 0, "{}", r.summary());
    assert_eq!(r.expectation("the coordinator sees no live worker")["verdict"], "pass");
    assert_no_docker_leftovers();
}

#[test]
fn a_worker_cut_from_the_network_is_noticed_and_recovers() {
    if skip_without_docker() {
        return;
    }
    let r = crash_with("disconnect");
    assert_eq!(r.code, 0, "{}", r.summary());
    assert_eq!(r.expectation("the worker is live again after the restart")["verdict"], "pass");
    assert_no_docker_leftovers();
}

#[test]
fn a_panic_mid_run_removes_containers_and_network() {
    if skip_without_docker() {
        return;
    }
    let (_d, path) = variant("worker-crash.yaml", &[]);
    let r = run_scenario(&path, &[("ORDEAL_FAILPOINT", "panic-after-start")]);
    assert_eq!(r.code, 101, "a panic exits 101: {}", r.summary());
    assert_no_docker_leftovers();
}
