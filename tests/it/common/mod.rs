//! Shared helpers for end-to-end tests: run the real `ordeal` binary on real
//! scenarios, read its report, and prove nothing it started is left running.
//!
//! Leftover detection: every run gets a unique `ORDEAL_TEST_MARKER` in its
//! environment, which every process it starts inherits; afterwards no process
//! in /proc may carry it.

pub mod python;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scenario(name: &str) -> PathBuf {
    root().join("scenarios").join(name)
}

pub fn ordeal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordeal"));
    c.current_dir(root());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: serde_json::Value,
    pub dir: tempfile::TempDir,
    pub marker: String,
}

impl Run {
    /// The named expectation's result.
    pub fn expectation(&self, name: &str) -> &serde_json::Value {
        self.report["expectations"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .unwrap_or_else(|| panic!("no expectation named {name:?} in report:\n{}", self.summary()))
    }

    pub fn failed(&self) -> Vec<String> {
        self.report["expectations"]
            .as_array()
            .map(|a| a.iter().filter(|e| e["verdict"] == "fail").map(|e| e["name"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }

    /// The run failed (exit 1) on exactly these expectations, in any order.
    pub fn assert_fails_exactly(&self, names: &[&str]) {
        assert_eq!(self.code, 1, "{}", self.summary());
        let mut failed = self.failed();
        failed.sort();
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(failed, want, "{}", self.summary());
    }

    /// Everything needed to diagnose a failure: output, and the evidence of every failed expectation.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self.report["expectations"]
            .as_array()
            .map(|a| a.iter().filter(|e| e["verdict"] == "fail").map(|e| serde_json::to_string_pretty(e).unwrap_or_default()).collect())
            .unwrap_or_default();
        let phases = serde_json::to_string(&self.report["phases"]).unwrap_or_default();
        format!(
            "exit {}\nstdout:\n{}\nstderr (tail):\n{}\nphases: {phases}\nfailed expectations:\n{}",
            self.code,
            self.stdout,
            tail(&self.stderr, 40),
            failed.join("\n")
        )
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn unique_marker() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// `ordeal run <scenario>` with extra environment, report into a temp dir.
pub fn run_scenario(path: &Path, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = unique_marker();
    let mut cmd = ordeal();
    cmd.arg("run").arg(path).arg("--report-dir").arg(dir.path()).env("ORDEAL_TEST_MARKER", &marker);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().expect("run ordeal");
    let report =
        std::fs::read(dir.path().join("report.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(serde_json::Value::Null);
    if !report.is_null() {
        assert_schema_valid(&report_schema(), &report, "report.json");
    }
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
        dir,
        marker,
    };
    assert_no_leftovers(&run.marker);
    run
}

/// `ordeal run <scenario>` in the background, reporting into `report_dir`,
/// its processes marked with `marker`, stdout and stderr as given.
pub fn spawn_scenario(path: &Path, report_dir: &Path, marker: &str, stdout: Stdio, stderr: Stdio) -> std::process::Child {
    ordeal()
        .arg("run")
        .arg(path)
        .arg("--report-dir")
        .arg(report_dir)
        .env("ORDEAL_TEST_MARKER", marker)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start ordeal")
}

/// Pids of live processes whose environment carries `ORDEAL_TEST_MARKER=marker`.
pub fn processes_with_marker(marker: &str) -> Vec<u32> {
    let needle = format!("ORDEAL_TEST_MARKER={marker}");
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'));
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                    .unwrap_or(false)
        })
        .collect()
}

/// Wait (bounded) for every process of a run to be gone, then assert it.
pub fn assert_no_leftovers(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_with_marker(marker);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let cmds: Vec<String> =
                left.iter().map(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")).collect();
            panic!("processes left running after the run: {left:?} {cmds:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Write a scenario file into a fresh temp dir. Relative paths in it resolve
/// against that dir, so refer to repo files with absolute paths (see `root()`).
pub fn temp_scenario(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("scenario.yaml");
    std::fs::write(&p, text).expect("write scenario");
    (dir, p)
}

/// `scenarios/llm-outage.yaml` copied into a temp dir (relative paths made
/// absolute, the prepare step pointed at the workspace), with `edits` applied;
/// each `from` must occur. Extra files can be written next to it.
pub fn outage_variant(edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    variant("llm-outage.yaml", edits)
}

/// llm-outage cut to what a mutant test needs: a 13 s timeline (warmup 1 s,
/// steady 3 s, outage 4 s, recovery 5 s; the recovery checks start 3 s in,
/// after the breaker's second half-open at ~0.3 s into recovery) and
/// no Prometheus or Alertmanager (Prometheus 2.42 applies its targets on a 5 s
/// tick, so a managed Prometheus alone adds 5-6 s to a run), hence none of
/// the alert and PromQL expectations. Every other expectation keeps its name;
/// `compact_outage_passes_on_the_healthy_stack` (tests/it/mutants.rs) shows it
/// passes on the healthy stack, so a mutant fails it only by what it breaks.
pub fn compact_outage() -> (tempfile::TempDir, PathBuf) {
    let (dir, path) = outage_variant(&[
        ("{ name: warmup, duration: 3s }", "{ name: warmup, duration: 1s }"),
        ("{ name: steady, duration: 6s }", "{ name: steady, duration: 3s }"),
        ("{ name: outage, duration: 6s }", "{ name: outage, duration: 4s }"),
        ("{ name: recovery, duration: 12s }", "{ name: recovery, duration: 5s }"),
        ("after: recovery+6s", "after: recovery+3s"),
    ]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in [("# A real Prometheus", "load:"), ("  # --- alerts fire", "  - kind: contract")] {
        let (a, b) = (text.find(from).expect(from), text.find(to).expect(to));
        text.replace_range(a..b, "");
    }
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// llm-outage with its real Prometheus and Alertmanager, cut for tests that
/// need an alert to fire (or to stay silent) but not the whole recovery: a
/// 15 s timeline (warmup 1 s, steady 3 s, the bundled 6 s outage, recovery 5 s;
/// the recovery checks start 3 s in), with `edits` applied. HighErrorRate
/// fires 3-4 s into the outage as in the bundled run; its resolution comes
/// past this timeline, so the alert check drops `resolves_within` (validation
/// refuses a resolution the run cannot observe) and tests assert only what
/// fails at firing time.
pub fn compact_alerting_outage(edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let mut all = vec![
        ("{ name: warmup, duration: 3s }", "{ name: warmup, duration: 1s }"),
        ("{ name: steady, duration: 6s }", "{ name: steady, duration: 3s }"),
        ("{ name: recovery, duration: 12s }", "{ name: recovery, duration: 5s }"),
        ("after: recovery+6s", "after: recovery+3s"),
        ("    resolves_within: 12s\n", ""),
    ];
    all.extend_from_slice(edits);
    outage_variant(&all)
}

/// worker-crash cut to what a docker test needs, with `edits` applied: an
/// 18 s timeline (warmup 1 s, steady 3 s, crash 6 s as bundled, recovery 8 s,
/// the `resolves_within` of AgentUnhealthy; the recovery checks keep their
/// offsets of 3-4 s). Every expectation keeps its name;
/// `killed_worker_is_noticed_and_no_task_is_lost` (tests/it/docker.rs) shows it
/// passes on the healthy stack.
pub fn compact_crash(edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let mut all = vec![
        ("{ name: warmup, duration: 3s }", "{ name: warmup, duration: 1s }"),
        ("{ name: steady, duration: 5s }", "{ name: steady, duration: 3s }"),
        ("{ name: recovery, duration: 12s }", "{ name: recovery, duration: 8s }"),
    ];
    all.extend_from_slice(edits);
    variant("worker-crash.yaml", &all)
}

/// Any scenario of `scenarios/`, copied and edited like [`outage_variant`],
/// with the files it includes (`include: _reference-stack.yaml`) copied beside
/// it: each edit applies to every copied file that has its text.
pub fn variant(file: &str, edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let root = root();
    let absolute = |text: String| {
        text.replace("../fixtures/", &format!("{}/fixtures/", root.display()))
            .replace(":-../target}}", &format!(":-{}/target}}}}", root.display()))
            .replace("[cargo, build, --release,", &format!("[cargo, build, --manifest-path, {}/Cargo.toml, --release,", root.display()))
    };
    let main = absolute(std::fs::read_to_string(scenario(file)).expect("read the scenario"));
    let mut files: Vec<(String, String)> = main
        .lines()
        .filter_map(|l| l.strip_prefix("include: "))
        .map(|inc| (inc.to_string(), absolute(std::fs::read_to_string(scenario(inc)).expect("read the included file"))))
        .collect();
    files.insert(0, ("scenario.yaml".into(), main));
    for (from, to) in edits {
        assert!(files.iter().any(|(_, t)| t.contains(from)), "{file} and its includes have no `{from}`");
        for (_, text) in files.iter_mut() {
            *text = text.replace(from, to);
        }
    }
    let (dir, path) = temp_scenario(&files[0].1);
    for (name, text) in &files[1..] {
        std::fs::write(dir.path().join(name), text).expect("write an included file");
    }
    (dir, path)
}

/// Whether a Docker daemon answers.
pub fn docker_up() -> bool {
    std::process::Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output().is_ok_and(|o| o.status.success())
}

/// Containers and networks ordeal labelled whose owning ordeal process is
/// gone (what a run failed to clean up), as `kind name` lines.
pub fn docker_leftovers() -> Vec<String> {
    let list = |args: &[&str]| -> Vec<(String, String)> {
        let out = std::process::Command::new("docker").args(args).output().expect("docker");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
            .collect()
    };
    let format = "{{.Names}} {{.Label \"org.ordeal.owner\"}}";
    let mut out = Vec::new();
    for (kind, args) in [
        ("container", vec!["ps", "-a", "--filter", "label=org.ordeal.owner", "--format", format]),
        ("network", vec!["network", "ls", "--filter", "label=org.ordeal.owner", "--format", "{{.Name}} {{.Label \"org.ordeal.owner\"}}"]),
    ] {
        for (name, owner) in list(&args) {
            if ordeal::runtime::docker::owner_dead(&owner) {
                out.push(format!("{kind} {name}"));
            }
        }
    }
    out
}

/// Whether a test that needs Docker should skip (no daemon here). Under
/// `CI=true` a missing daemon is a failure, never a silent pass; elsewhere the
/// skip is recorded in `<target>/tmp/ordeal-skipped.txt`, which `.ci/run` prints.
pub fn skip_without_docker() -> bool {
    if docker_up() {
        return false;
    }
    skip("no Docker daemon answers");
    true
}

/// Records that the running test skipped for `reason` (panics under `CI=true`).
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: {reason}, and CI=true: a skipped test must not pass in CI");
    eprintln!("{test}: skipped ({reason})");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ordeal-skipped.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{test}: {reason}");
    }
}

/// Wait (bounded) until nothing a finished run labelled is left.
pub fn assert_no_docker_leftovers() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = docker_leftovers();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind after the run: {left:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Send a signal to a child process.
pub fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Wait (bounded) for a child to exit; its exit code.
pub fn wait_exit(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ordeal did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Render `html` in headless Chromium (Debian's `chromium`): the DOM after
/// load, and a screenshot into `png` when given. Fails on console messages
/// (a script error, a blocked resource) and on anything fetched from outside
/// the file (the report must be self-contained). Skipped (failing under
/// CI=true) when chromium is not installed: `scripts/setup --ci` installs it.
pub fn render_in_chromium(html: &Path, png: Option<&Path>) -> Option<String> {
    if Command::new("chromium").arg("--version").output().is_err() {
        skip("chromium is not installed (scripts/setup --ci)");
        return None;
    }
    let text = std::fs::read_to_string(html).expect("report.html");
    for outside in ["src=\"http", "href=\"http", "<link", "@import", "<script"] {
        assert!(!text.contains(outside), "report.html is not self-contained: it has `{outside}`");
    }
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let base = |c: &mut Command| {
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let url = format!("file://{}", html.canonicalize().expect("report.html path").display());
    let mut dump = Command::new("chromium");
    base(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages while loading report.html: {console:#?}");
    if let Some(png) = png {
        let mut shot = Command::new("chromium");
        base(&mut shot);
        let out =
            shot.arg(format!("--screenshot={}", png.display())).arg("--window-size=1200,1600").arg(&url).output().expect("run chromium");
        assert!(
            out.status.success() && png.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
            "no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every error of `value` against the JSON Schema `schema`, as (instance
/// path, message), with the errors inside failed `anyOf` alternatives too
/// (so a mistake is found where it is, not only at the `anyOf` around it).
pub fn schema_errors(schema: &serde_json::Value, value: &serde_json::Value) -> Vec<(String, String)> {
    fn flatten(e: &jsonschema::ValidationError, out: &mut Vec<(String, String)>) {
        out.push((e.instance_path().as_str().to_string(), e.to_string()));
        if let jsonschema::error::ValidationErrorKind::AnyOf { context } = e.kind() {
            context.iter().flatten().for_each(|e| flatten(e, out));
        }
    }
    let validator = jsonschema::validator_for(schema).expect("a valid JSON Schema");
    let mut out = Vec::new();
    validator.iter_errors(value).for_each(|e| flatten(&e, &mut out));
    out
}

/// `value` satisfies `schema`, or a panic listing where it does not.
pub fn assert_schema_valid(schema: &serde_json::Value, value: &serde_json::Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("a valid JSON Schema");
    let errors: Vec<String> =
        validator.iter_errors(value).map(|e| format!("  at `{}`: {e}", e.instance_path().as_str())).take(10).collect();
    assert!(errors.is_empty(), "{what} does not match its schema:\n{}", errors.join("\n"));
}

/// report.json's published schema (docs/report.schema.json).
pub fn report_schema() -> serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            serde_json::from_slice(&std::fs::read(root().join("docs/report.schema.json")).expect("docs/report.schema.json")).expect("JSON")
        })
        .clone()
}
