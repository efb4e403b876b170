//! The real `promtool` (Prometheus 2.x), run with a timeout and turned into
//! findings: `check rules` for rule files, `check metrics` for an exposition.
//!
//! What promtool 2.42 prints (checked by hand, and pinned by the tests below):
//!
//! - `check rules FILE`: exit 0 valid, 1 invalid (3 for lint problems only
//!   with `--lint-fatal`, which we do not pass). Problems go to stderr after a
//!   `  FAILED:` line, as `FILE: LINE:COL: message` (`0:0` when it has no
//!   position) or `FILE: message` (YAML errors); the duplicate-rules lint
//!   prints a free-form block, with exit 0. A missing file is
//!   `promtool: error: path 'F' does not exist, try --help`, exit 1.
//!   Each file is checked on its own so every problem is tied to its file.
//! - `check metrics` (exposition on stdin): exit 0 clean, 3 lint problems, one
//!   per stderr line as `metric_name problem` (e.g. `requests counter metrics
//!   should have "_total" suffix`, `latency_ms metric names should not contain
//!   abbreviated units`, `x no help text`); 1 when the text does not parse
//!   (`error while linting: text format parsing error in line N: ...`).
//!   OpenMetrics input is converted to 0.0.4 first (see `text_format`).
//!
//! Like `runtime::prepare`, the child is killed when dropped (on timeout).

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::text_format::to_prometheus_text;
use super::{Finding, FindingKind};

/// How long one promtool invocation may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PromtoolError {
    #[error("promtool not found: run `scripts/setup` (it installs Debian's `prometheus` package; or apt-get install -y prometheus)")]
    NotFound,
    #[error("`promtool {args}` did not finish within {timeout:?}")]
    Timeout { args: String, timeout: Duration },
    #[error("cannot run `promtool {args}`: {source}")]
    Io { args: String, source: std::io::Error },
    #[error("`promtool {args}` ended unexpectedly ({status}): {stderr}")]
    Unexpected { args: String, status: String, stderr: String },
}

/// Which promtool to run, and for how long at most.
#[derive(Debug, Clone)]
pub struct Promtool {
    pub program: PathBuf,
    pub timeout: Duration,
}

impl Default for Promtool {
    fn default() -> Self {
        Promtool { program: PathBuf::from("promtool"), timeout: DEFAULT_TIMEOUT }
    }
}

impl Promtool {
    /// `promtool check rules` on each file; problems are `rules_invalid` findings.
    pub async fn check_rules(&self, files: &[PathBuf]) -> Result<Vec<Finding>, PromtoolError> {
        let mut findings = Vec::new();
        for file in files {
            let file = file.display().to_string();
            let out = self.run(&["check", "rules", &file], None).await?;
            findings.extend(rules_findings(&file, &out)?);
        }
        Ok(findings)
    }

    /// `promtool check metrics` on one service's exposition; each problem is a
    /// `naming` finding, text it cannot parse a `parse_error`.
    pub async fn check_metrics(&self, service: &str, exposition: &str) -> Result<Vec<Finding>, PromtoolError> {
        let text = to_prometheus_text(exposition);
        let out = self.run(&["check", "metrics"], Some(text.as_bytes())).await?;
        metrics_findings(service, &out)
    }

    async fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, PromtoolError> {
        let shown = args.join(" ");
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => PromtoolError::NotFound,
                _ => PromtoolError::Io { args: shown.clone(), source },
            })?;
        let input = child.stdin.take();
        let feed = async move {
            if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
                // promtool may exit before reading everything (a parse error):
                // a broken pipe here is not our failure, its exit status says why.
                let _ = pipe.write_all(bytes).await;
            }
        };
        let io = async { tokio::join!(feed, child.wait_with_output()).1 };
        match tokio::time::timeout(self.timeout, io).await {
            Ok(out) => out.map_err(|source| PromtoolError::Io { args: shown, source }),
            Err(_) => Err(PromtoolError::Timeout { args: shown, timeout: self.timeout }),
        }
    }
}

fn unexpected(args: &str, out: &Output) -> PromtoolError {
    PromtoolError::Unexpected {
        args: args.to_owned(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}

fn rules_findings(file: &str, out: &Output) -> Result<Vec<Finding>, PromtoolError> {
    if !matches!(out.status.code(), Some(0 | 1 | 3)) {
        return Err(unexpected(&format!("check rules {file}"), out));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut findings: Vec<Finding> = Vec::new();
    let mut other = Vec::new();
    for line in stderr.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "FAILED:") {
        match line.strip_prefix(file).and_then(|l| l.strip_prefix(": ")) {
            Some(rest) => {
                let (source, message) = positioned(file, rest);
                let finding = Finding::new(FindingKind::RulesInvalid, source, message);
                if !findings.contains(&finding) {
                    findings.push(finding);
                }
            }
            None => other.push(line),
        }
    }
    if !other.is_empty() || (findings.is_empty() && !out.status.success()) {
        let message = if other.is_empty() { format!("exit {}", out.status) } else { other.join(" ") };
        findings.push(Finding::new(FindingKind::RulesInvalid, file, message));
    }
    Ok(findings)
}

/// `LINE:COL: message` -> (`file:LINE`, message); `0:0` or no position -> (`file`, message).
fn positioned(file: &str, rest: &str) -> (String, String) {
    let mut parts = rest.splitn(3, ':');
    if let (Some(line), Some(col), Some(message)) = (parts.next(), parts.next(), parts.next())
        && let (Ok(line), Ok(_)) = (line.parse::<u32>(), col.parse::<u32>())
    {
        let source = if line > 0 { format!("{file}:{line}") } else { file.to_owned() };
        return (source, message.trim().to_owned());
    }
    (file.to_owned(), rest.to_owned())
}

fn metrics_findings(service: &str, out: &Output) -> Result<Vec<Finding>, PromtoolError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(3) => Ok(lines
            .map(|l| {
                let (metric, problem) = l.split_once(' ').unwrap_or((l, ""));
                Finding::new(FindingKind::Naming, service, format!("{metric}: {problem}"))
            })
            .collect()),
        Some(1) => {
            let message = lines.collect::<Vec<_>>().join(" ");
            Ok(vec![Finding::new(FindingKind::ParseError, service, message)])
        }
        _ => Err(unexpected("check metrics", out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: &str = "\
# HELP x_total a counter
# TYPE x_total counter
x_total 1
# TYPE requests counter
requests 3
# HELP latency_ms latency
# TYPE latency_ms histogram
latency_ms_bucket{le=\"+Inf\"} 1
latency_ms_sum 1
latency_ms_count 1
";

    fn messages(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(|f| format!("{} | {}", f.source, f.message)).collect()
    }

    #[tokio::test]
    async fn check_metrics_flags_naming_problems() {
        let findings = Promtool::default().check_metrics("svc", BAD).await.unwrap();
        assert!(findings.iter().all(|f| f.check == FindingKind::Naming && f.source == "svc"));
        assert_eq!(
            messages(&findings),
            [
                "svc | latency_ms: metric names should not contain abbreviated units",
                "svc | requests: counter metrics should have \"_total\" suffix",
                "svc | requests: no help text",
            ]
        );
        let ok = "# HELP ok_total fine\n# TYPE ok_total counter\nok_total 1\n";
        assert!(Promtool::default().check_metrics("svc", ok).await.unwrap().is_empty());
        let broken = Promtool::default().check_metrics("svc", "garbage {{{\n").await.unwrap();
        assert_eq!(broken[0].check, FindingKind::ParseError);
        assert!(broken[0].message.contains("parsing error"), "{}", broken[0].message);
    }

    #[tokio::test]
    async fn check_rules_ties_problems_to_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: sum(rate(x[5m])\n  - alert: NoExpr\n").unwrap();
        let syntax = dir.path().join("syntax.yaml");
        std::fs::write(&syntax, "groups: [\n").unwrap();
        let good = PathBuf::from("fixtures/alerts/multiagent-rules.yaml");
        let missing = dir.path().join("missing.yaml");
        let files = [bad.clone(), syntax.clone(), good, missing.clone()];
        let findings = Promtool::default().check_rules(&files).await.unwrap();
        let bad = bad.display().to_string();
        let got = messages(&findings);
        assert!(got[0].starts_with(&format!("{bad}:5 | group \"g\", rule 1, \"Broken\": could not parse expression")), "{got:?}");
        assert_eq!(got[1], format!("{bad} | group \"g\", rule 2, \"NoExpr\": field 'expr' must be set in rule"));
        assert_eq!(got[2], format!("{} | yaml: line 1: did not find expected node content", syntax.display()));
        assert!(got[3].contains("does not exist"), "{got:?}");
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[tokio::test]
    async fn duplicate_rules_lint_is_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        let dup = dir.path().join("dup.yaml");
        let rule = "  - alert: A\n    expr: up == 0\n";
        std::fs::write(&dup, format!("groups:\n- name: g\n  rules:\n{rule}{rule}")).unwrap();
        let findings = Promtool::default().check_rules(&[dup]).await.unwrap();
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.starts_with("lint error 1 duplicate rule(s) found."), "{findings:?}");
    }

    #[tokio::test]
    async fn missing_binary_names_the_debian_package() {
        let promtool = Promtool { program: "/nonexistent/promtool".into(), ..Default::default() };
        let err = promtool.check_metrics("svc", BAD).await.unwrap_err();
        assert!(matches!(err, PromtoolError::NotFound));
        assert_eq!(
            err.to_string(),
            "promtool not found: run `scripts/setup` (it installs Debian's `prometheus` package; or apt-get install -y prometheus)"
        );
    }

    #[tokio::test]
    async fn a_hanging_promtool_times_out() {
        let promtool = Promtool { program: "/bin/sleep".into(), timeout: Duration::from_millis(200) };
        // A child that never exits (and never reads its stdin) is killed at the timeout.
        let started = std::time::Instant::now();
        let _ = promtool.run(&["5"], Some(b"x")).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
