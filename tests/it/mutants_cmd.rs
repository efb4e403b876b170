//! `ordeal mutants` on a tiny stack (fixtures/mutants: one Python service
//! whose build is a syntax check): three fixed mutants are classified caught
//! (by the expectation that failed), survived and unviable, in a scratch copy
//! that leaves the source untouched, with or without a Ctrl-C.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// `ordeal mutants` on the tiny stack with its three patches, its temporary files (the scratch copy) under `tmp`.
fn command(out: &Path, tmp: &Path) -> std::process::Command {
    command_listing(out, tmp, Path::new("patches"))
}

fn command_listing(out: &Path, tmp: &Path, list: &Path) -> std::process::Command {
    let mut cmd = ordeal();
    cmd.env("TMPDIR", tmp);
    cmd.args(["mutants", "--list"])
        .arg(list)
        .args(["--source", ".", "--build", "python3 -m py_compile svc.py", "--scenario", "svc.yaml", "--out"])
        .arg(out)
        .current_dir(root().join("fixtures/mutants"));
    cmd
}

/// Every file of the tiny stack with its content, to show it was not written.
fn snapshot() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("fixtures/mutants");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files.iter().map(|p| (p.display().to_string(), std::fs::read(p).unwrap())).collect()
}

fn scratch_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("ordeal-mutants-"))
        .collect()
}

#[test]
fn three_fixed_mutants_are_caught_survived_and_unviable() {
    let before = snapshot();
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = command(out.path(), tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("mutants.json")).unwrap()).unwrap();
    let by_name = |n: &str| report["results"].as_array().unwrap().iter().find(|r| r["name"] == n).cloned().unwrap_or_default();
    let caught = by_name("1-uncounted");
    assert_eq!((caught["outcome"].as_str(), caught["scenario"].as_str()), (Some("caught"), Some("svc")), "{report}");
    assert_eq!(caught["failed"], serde_json::json!(["every answer is counted"]), "{report}");
    assert_eq!(by_name("2-log-text")["outcome"], "survived", "{report}");
    assert_eq!(by_name("3-syntax")["outcome"], "unviable", "{report}");
    assert_eq!((report["caught"].as_u64(), report["viable"].as_u64(), report["score"].as_f64()), (Some(1), Some(2), Some(0.5)));
    assert!(stdout.contains("score 1/2 = 50 %"), "{stdout}");
    assert_eq!(snapshot(), before, "the source was written");
    assert!(scratch_dirs(tmp.path()).is_empty(), "scratch copies left: {:?}", scratch_dirs(tmp.path()));
}

#[test]
fn ctrl_c_stops_the_run_and_leaves_the_source_and_no_scratch_copy() {
    let before = snapshot();
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let marker = unique_marker();
    let mut child =
        command(out.path(), tmp.path()).env("ORDEAL_TEST_MARKER", &marker).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    // Interrupt during the first mutant's scenario run (after the baseline).
    while !out.path().join("runs/0000/svc.log").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the first mutant never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, libc::SIGINT);
    let code = wait_exit(&mut child, Duration::from_secs(90));
    assert_eq!(code, Some(130));
    assert_no_leftovers(&marker);
    assert_eq!(snapshot(), before, "the source was written");
    assert!(scratch_dirs(tmp.path()).is_empty(), "scratch copies left: {:?}", scratch_dirs(tmp.path()));
}

/// A listing made from other sources (a hunk whose context is not in
/// svc.py) is refused before the baseline, naming the mutant — not scored as
/// a mutant that did not build.
#[test]
fn a_patch_that_does_not_apply_is_refused_before_the_baseline() {
    let (out, tmp, patches) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stale = "--- a/svc.py\n+++ b/svc.py\n@@ -1,2 +1,2 @@\n-no such line in svc.py\n+x = 1\n context that is not there\n";
    std::fs::write(patches.path().join("stale.patch"), stale).unwrap();
    let run = command_listing(out.path(), tmp.path(), patches.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mutant `stale` does not apply to svc.py"), "{stderr}");
    assert!(!out.path().join("runs/baseline-build.log").exists(), "the baseline ran");
    assert!(scratch_dirs(tmp.path()).is_empty(), "scratch copies left: {:?}", scratch_dirs(tmp.path()));
}
