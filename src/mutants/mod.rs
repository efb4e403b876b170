//! `ordeal mutants` — how strong is a scenario suite? Each mutant of the
//! stack's source (a small deliberate bug in its instrumentation or its
//! resilience code, from a mutant generator's listing) is applied to a
//! scratch copy of the source — never the user's work tree —, built with the
//! stack's own build command, and judged by the given scenarios: caught when
//! one of them fails (exit 1, with the expectations that failed), survived
//! when all pass. A mutant that does not build is unviable; one whose build
//! or run outlasts its timeout is timed out; one a scenario could not run
//! (exit 2 or 3: the harness could not start the stack) is an error. The
//! score is caught / (caught + survived), with a Wilson 95 % interval when
//! the mutants are a sample. Before any mutant, the unmutated source must
//! build and pass every scenario: a suite that already fails says nothing.
//!
//! Results are appended to `OUT/results.jsonl` as each mutant finishes, so
//! `--resume` carries on a stopped run; `OUT/mutants.json` is the report.
//! Ctrl-C stops the current child (SIGINT to its process group, so a run
//! tears its stack down), removes the scratch copy and exits 130.

mod cli;
mod input;
mod process;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use cli::{MutantsArgs, line, summary};
pub use input::{Mutant, apply, load, sample};
use process::{Finished, run_logged};

#[derive(Debug, thiserror::Error)]
pub enum MutantsError {
    #[error("{}: {why}", path.display())]
    Listing { path: PathBuf, why: String },
    #[error("{0}")]
    Usage(String),
    #[error("the unmutated stack {0}: fix that first, a suite that fails without a mutant says nothing about mutants")]
    Baseline(String),
    #[error("{0}")]
    Io(String),
    #[error("interrupted")]
    Interrupted,
}

impl MutantsError {
    /// ordeal's exit code for it: 2 bad input, 1 the unmutated suite fails, 3 I/O, 130 Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        match self {
            MutantsError::Listing { .. } | MutantsError::Usage(_) => 2,
            MutantsError::Baseline(_) => 1,
            MutantsError::Io(_) => 3,
            MutantsError::Interrupted => 130,
        }
    }
}

/// What `ordeal mutants` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub listing: PathBuf,
    pub source: PathBuf,
    pub build: String,
    pub scenarios: Vec<PathBuf>,
    pub sample: Option<usize>,
    pub seed: u64,
    pub out: PathBuf,
    pub build_timeout: Duration,
    pub run_timeout: Duration,
    pub resume: bool,
}

/// What became of one mutant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Caught { scenario: String, failed: Vec<String> },
    Survived,
    Unviable { why: String },
    TimedOut { during: String },
    Error { scenario: String, code: i32 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tried {
    pub name: String,
    pub file: PathBuf,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub seconds: f64,
}

/// The score over viable mutants and its Wilson 95 % interval (None when none was viable).
pub fn score(results: &[Tried]) -> Option<(usize, usize, f64, f64)> {
    let caught = results.iter().filter(|r| matches!(r.outcome, Outcome::Caught { .. })).count();
    let viable = caught + results.iter().filter(|r| r.outcome == Outcome::Survived).count();
    if viable == 0 {
        return None;
    }
    let (n, p, z) = (viable as f64, caught as f64 / viable as f64, 1.96_f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    Some((caught, viable, (centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Copy `from` to `to`, leaving out (at the root) build output, VCS data and
/// reports, and (anywhere) Python's caches.
fn copy_tree(from: &Path, to: &Path, root: bool) -> std::io::Result<()> {
    const SKIP_AT_ROOT: &[&str] = &[".git", "target", "reports", "mutants.out", "node_modules", ".venv"];
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if (root && SKIP_AT_ROOT.iter().any(|s| name == *s)) || name == "__pycache__" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst, false)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// The scenario paths inside the scratch copy.
fn scratch_scenarios(o: &Options, scratch: &Path) -> Result<Vec<PathBuf>, MutantsError> {
    let source = o.source.canonicalize().map_err(|e| MutantsError::Usage(format!("--source {}: {e}", o.source.display())))?;
    o.scenarios
        .iter()
        .map(|s| {
            let abs = if s.is_absolute() { s.clone() } else { source.join(s) };
            let abs = abs.canonicalize().map_err(|e| MutantsError::Usage(format!("scenario {}: {e}", s.display())))?;
            let rel = abs.strip_prefix(&source).map_err(|_| {
                MutantsError::Usage(format!(
                    "scenario {} is outside --source {}: the mutated stack is built there",
                    s.display(),
                    source.display()
                ))
            })?;
            Ok(scratch.join(rel))
        })
        .collect()
}

/// The expectations a run's report.json says failed.
fn failed_expectations(report_dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(report_dir.join("report.json")) else { return Vec::new() };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    v["expectations"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["verdict"] == "fail").filter_map(|e| e["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

struct Ctx<'a> {
    o: &'a Options,
    scratch: &'a Path,
    scenarios: Vec<PathBuf>,
}

impl Ctx<'_> {
    fn build(&self, log: &Path) -> Result<Finished, MutantsError> {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(&self.o.build).current_dir(self.scratch);
        run_logged(cmd, log, self.o.build_timeout, false)
    }

    /// Run every scenario on the current scratch tree: the first that fails, or None.
    fn judge(&self, tag: &str) -> Result<Outcome, MutantsError> {
        let exe = std::env::current_exe().map_err(|e| MutantsError::Io(format!("cannot find ordeal's own binary: {e}")))?;
        for s in &self.scenarios {
            let stem = s.file_stem().map_or_else(|| "scenario".into(), |x| x.to_string_lossy().into_owned());
            let dir = self.o.out.join("runs").join(tag).join(&stem);
            let _ = std::fs::remove_dir_all(&dir);
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("run").arg(s).arg("--report-dir").arg(&dir).current_dir(self.scratch);
            match run_logged(cmd, &dir.with_extension("log"), self.o.run_timeout, true)? {
                Finished::Code(0) => {}
                // Caught only by an expectation that failed, not by an
                // inconclusive or not-judgeable run (a harness problem).
                Finished::Code(1) => {
                    let failed = failed_expectations(&dir);
                    return Ok(if failed.is_empty() {
                        Outcome::Error { scenario: stem, code: 1 }
                    } else {
                        Outcome::Caught { scenario: stem, failed }
                    });
                }
                Finished::Code(code) => return Ok(Outcome::Error { scenario: stem, code }),
                Finished::TimedOut => return Ok(Outcome::TimedOut { during: stem }),
            }
        }
        Ok(Outcome::Survived)
    }

    fn try_one(&self, i: usize, m: &Mutant) -> Result<Outcome, MutantsError> {
        let path = self.scratch.join(&m.file);
        let original = std::fs::read_to_string(&path).map_err(|e| MutantsError::Io(format!("{}: {e}", m.file.display())))?;
        // check_applies saw it apply: only a build that rewrote the sources gets here.
        let mutated = apply(&original, m).map_err(|why| {
            MutantsError::Io(format!("mutant `{}` {why} in the scratch copy: did the build command change the sources?", m.name))
        })?;
        let io = |e: std::io::Error| MutantsError::Io(format!("{}: {e}", path.display()));
        std::fs::write(&path, mutated).map_err(io)?;
        let tag = format!("{i:04}");
        let outcome = match self.build(&self.o.out.join("runs").join(format!("{tag}-build.log"))) {
            Ok(Finished::Code(0)) => self.judge(&tag),
            Ok(Finished::Code(c)) => Ok(Outcome::Unviable { why: format!("the build exited {c} (runs/{tag}-build.log)") }),
            Ok(Finished::TimedOut) => Ok(Outcome::TimedOut { during: "build".into() }),
            Err(e) => Err(e),
        };
        std::fs::write(&path, original).map_err(io)?;
        outcome
    }
}

/// Results already in `OUT/results.jsonl` (for `--resume`).
fn done_before(out: &Path) -> Vec<Tried> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

/// The report of a whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub listed: usize,
    pub sampled: usize,
    pub seed: u64,
    pub wall_seconds: f64,
    pub results: Vec<Tried>,
    pub caught: usize,
    pub viable: usize,
    pub score: Option<f64>,
    pub interval95: Option<(f64, f64)>,
}

/// With `--resume`, the results of a stopped run with the same settings (only
/// of mutants still chosen); the settings are recorded in OUT/run.json.
fn resumed(o: &Options, chosen: &[Mutant]) -> Result<Vec<Tried>, MutantsError> {
    let settings = serde_json::json!({
        "listing": o.listing, "source": o.source, "build": o.build, "scenarios": o.scenarios, "sample": o.sample, "seed": o.seed,
    });
    let settings_file = o.out.join("run.json");
    if o.resume
        && let Ok(before) = std::fs::read_to_string(&settings_file)
        && serde_json::from_str::<serde_json::Value>(&before).ok().as_ref() != Some(&settings)
    {
        let why = format!(
            "--resume: {} was written by a run with other settings ({before}); resume with the same ones, or drop --resume",
            settings_file.display()
        );
        return Err(MutantsError::Usage(why));
    }
    std::fs::write(&settings_file, settings.to_string()).map_err(|e| MutantsError::Io(format!("{}: {e}", settings_file.display())))?;
    let names: BTreeSet<&str> = chosen.iter().map(|m| m.name.as_str()).collect();
    let results: Vec<Tried> =
        if o.resume { done_before(&o.out).into_iter().filter(|t| names.contains(t.name.as_str())).collect() } else { Vec::new() };
    Ok(results)
}

/// Every chosen mutant changes a file of the source and applies to it, so a
/// listing made from other sources is refused before the baseline rather than
/// scored (a diff that does not apply says nothing about the scenarios).
fn check_applies(o: &Options, scratch: &Path, chosen: &[Mutant]) -> Result<(), MutantsError> {
    let refuse = |why: String| Err(MutantsError::Listing { path: o.listing.clone(), why });
    let root = scratch.canonicalize().map_err(|e| MutantsError::Io(format!("{}: {e}", scratch.display())))?;
    for m in chosen {
        // A symlink in the copy could lead a write back into the real source.
        if scratch.join(&m.file).canonicalize().is_ok_and(|p| !p.starts_with(&root)) {
            return refuse(format!(
                "mutant `{}` changes `{}`, a symlink out of --source: mutate the file it points to",
                m.name,
                m.file.display()
            ));
        }
        let Ok(original) = std::fs::read_to_string(scratch.join(&m.file)) else {
            return refuse(format!(
                "mutant `{}` changes `{}`, which is not a file under --source {}: set --source to the directory the listing's paths are relative to",
                m.name,
                m.file.display(),
                o.source.display()
            ));
        };
        if let Err(why) = apply(&original, m) {
            return refuse(format!("mutant `{}` {why}: list the mutants again from this source", m.name));
        }
    }
    Ok(())
}

/// Run the mutants `o` names; `progress` hears each result as it comes.
pub fn run(o: &Options, progress: &mut dyn FnMut(&Tried)) -> Result<Report, MutantsError> {
    let began = Instant::now();
    // The `ordeal run` children work in the scratch copy: their report directories must not be relative.
    let out = std::path::absolute(&o.out).map_err(|e| MutantsError::Usage(format!("--out {}: {e}", o.out.display())))?;
    let o = &Options { out, ..o.clone() };
    let all = load(&o.listing)?;
    let listed = all.len();
    let chosen = sample(all, o.sample, o.seed);
    std::fs::create_dir_all(o.out.join("runs")).map_err(|e| MutantsError::Io(format!("{}: {e}", o.out.display())))?;
    let mut results = resumed(o, &chosen)?;
    let seen: BTreeSet<String> = results.iter().map(|r| r.name.clone()).collect();
    if !o.resume {
        let _ = std::fs::remove_file(o.out.join("results.jsonl"));
    }
    let scratch = tempfile::Builder::new().prefix("ordeal-mutants-").tempdir().map_err(|e| MutantsError::Io(e.to_string()))?;
    copy_tree(&o.source, scratch.path(), true).map_err(|e| MutantsError::Io(format!("copying {}: {e}", o.source.display())))?;
    let cx = Ctx { o, scratch: scratch.path(), scenarios: scratch_scenarios(o, scratch.path())? };
    check_applies(o, scratch.path(), &chosen)?;
    match cx.build(&o.out.join("runs").join("baseline-build.log"))? {
        Finished::Code(0) => {}
        Finished::Code(c) => return Err(MutantsError::Baseline(format!("does not build (exit {c}; runs/baseline-build.log)"))),
        Finished::TimedOut => return Err(MutantsError::Baseline(format!("does not build within {:?}", o.build_timeout))),
    }
    match cx.judge("baseline")? {
        Outcome::Survived => {}
        other => return Err(MutantsError::Baseline(format!("does not pass its scenarios: {other:?} (runs/baseline/)"))),
    }
    for (i, m) in chosen.iter().enumerate().filter(|(_, m)| !seen.contains(&m.name)) {
        let t = Instant::now();
        let outcome = cx.try_one(i, m)?;
        let r = Tried { name: m.name.clone(), file: m.file.clone(), outcome, seconds: t.elapsed().as_secs_f64() };
        let line = serde_json::to_string(&r).expect("a result serializes") + "\n";
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(o.out.join("results.jsonl"))
            .map_err(|e| MutantsError::Io(e.to_string()))?;
        f.write_all(line.as_bytes()).map_err(|e| MutantsError::Io(e.to_string()))?;
        progress(&r);
        results.push(r);
    }
    let s = score(&results);
    let report = Report {
        listed,
        sampled: chosen.len(),
        seed: o.seed,
        wall_seconds: began.elapsed().as_secs_f64(),
        caught: s.map_or(0, |s| s.0),
        viable: s.map_or(0, |s| s.1),
        score: s.map(|s| s.0 as f64 / s.1 as f64),
        interval95: s.map(|s| (s.2, s.3)),
        results,
    };
    let json = serde_json::to_string_pretty(&report).expect("the report serializes");
    std::fs::write(o.out.join("mutants.json"), json).map_err(|e| MutantsError::Io(e.to_string()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(outcome: Outcome) -> Tried {
        Tried { name: "m".into(), file: "f".into(), outcome, seconds: 1.0 }
    }

    #[test]
    fn the_score_counts_viable_mutants_only_with_a_wilson_interval() {
        let caught = || r(Outcome::Caught { scenario: "s".into(), failed: vec![] });
        let mut rs: Vec<Tried> = (0..9).map(|_| caught()).collect();
        rs.push(r(Outcome::Survived));
        rs.push(r(Outcome::Unviable { why: "syntax".into() }));
        rs.push(r(Outcome::TimedOut { during: "build".into() }));
        let (c, v, lo, hi) = score(&rs).unwrap();
        assert_eq!((c, v), (9, 10));
        assert!((lo - 0.596).abs() < 0.01 && (hi - 0.982).abs() < 0.01, "{lo} {hi}");
        assert_eq!(score(&[r(Outcome::Unviable { why: String::new() })]), None);
        let line = serde_json::to_string(&caught()).unwrap();
        assert!(line.contains(r#""outcome":"caught""#), "{line}");
        let back: Tried = serde_json::from_str(&line).unwrap();
        assert_eq!(back.outcome, caught().outcome);
    }
}
