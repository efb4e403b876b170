//! Contract lint: do the alert rules and dashboards users point ordeal at
//! query metrics and labels the stack really exports, and are the stack's
//! metrics well named and within cardinality budgets?
//!
//! - [`promql`]: every selector of a PromQL expression (via `promql-parser`).
//! - [`sources`]: Prometheus rule files and Grafana dashboards -> [`sources::Reference`]s.
//! - [`contract`]: references against a [`contract::LiveView`] of a run's series (pure).
//! - [`cardinality`]: series per family against budgets (pure).
//! - [`promtool`]: the real `promtool check rules` / `check metrics`, as findings.
//! - [`fetch`]: raw exposition text per target, for `promtool check metrics`.
//! - [`gather`]: one lint end to end: gather (I/O, while the stack is up), judge (pure).
//!
//! A problem found is a [`Finding`] (the lint fails); an observation that
//! cannot fail the lint (a family with no series yet, a label value not seen
//! during the run) is a [`Note`]. `Err` is kept for "could not run".

pub mod cardinality;
pub mod contract;
pub mod fetch;
pub mod gather;
pub mod promql;
pub mod promtool;
pub mod sources;
mod text_format;

use std::fmt;

pub use cardinality::{CardinalityBudget, check_cardinality};
pub use contract::{LiveView, check_contract};
pub use fetch::collect_raw;
pub use gather::{ContractInput, ContractSpec, LintError, gather, judge};
pub use sources::{Reference, Sources};

/// Which check produced a [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A selector names a metric no service exports.
    MetricMissing,
    /// A selector matches on a label the metric does not have.
    LabelMissing,
    /// `promtool check rules` (or our own reading) rejected a rule file.
    RulesInvalid,
    /// `promtool check metrics` objected to a metric's name, type or help.
    Naming,
    /// A family has more series than its budget.
    Cardinality,
    /// An expression, dashboard or exposition did not parse.
    ParseError,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::MetricMissing => "metric_missing",
            FindingKind::LabelMissing => "label_missing",
            FindingKind::RulesInvalid => "rules_invalid",
            FindingKind::Naming => "naming",
            FindingKind::Cardinality => "cardinality",
            FindingKind::ParseError => "parse_error",
        }
    }
}

/// One problem: the lint fails if there is any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub check: FindingKind,
    /// Where: `rules.yaml:12 alert HighErrorRate`, `x.json panel "Rate" (id 3) target A`, a service.
    pub source: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(check: FindingKind, source: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { check, source: source.into(), message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)?;
        match &self.hint {
            Some(hint) => write!(f, " ({hint})"),
            None => Ok(()),
        }
    }
}

/// An observation that does not fail the lint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Note {
    pub source: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "note: {}: {}", self.source, self.message)
    }
}

/// Findings and notes, each kept once, in the order found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
}

impl LintReport {
    /// Adds a finding unless the same one is already there.
    pub fn finding(&mut self, finding: Finding) {
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }

    /// Adds a note unless the same one is already there.
    pub fn note(&mut self, source: impl Into<String>, message: impl Into<String>) {
        let note = Note { source: source.into(), message: message.into() };
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Adds everything of `other`.
    pub fn merge(&mut self, other: LintReport) {
        other.findings.into_iter().for_each(|f| self.finding(f));
        other.notes.into_iter().for_each(|n| self.note(n.source, n.message));
    }

    /// No findings (notes do not count).
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

impl Extend<Finding> for LintReport {
    fn extend<T: IntoIterator<Item = Finding>>(&mut self, iter: T) {
        iter.into_iter().for_each(|f| self.finding(f));
    }
}

/// One line per finding (`source: message (hint)`), then one per note.
impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The bundled rule and dashboard fixtures against expositions captured from
    //! the reference stack (`fixtures/lint/multiagent-*.prom`: a worker and a
    //! coordinator after tasks that succeeded and tasks that failed).

    use std::path::Path;
    use std::time::Duration;

    use super::sources::{load_dashboard, load_rules};
    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use crate::collectors::store::MetricStore;

    const SERVICES: [&str; 2] = ["coordinator", "worker"];

    fn exposition(service: &str) -> String {
        let path = format!("fixtures/lint/multiagent-{service}.prom");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn reference_store() -> MetricStore {
        let mut store = MetricStore::new();
        for service in SERVICES {
            let text = exposition(service);
            let expo = parse(&text, Format::sniff(&text));
            assert!(expo.errors.is_empty(), "{service}: {:?}", expo.errors);
            store.record(service, Duration::ZERO, expo);
        }
        store
    }

    fn lint(files: &[&str]) -> LintReport {
        let mut sources = Sources::default();
        for file in files {
            let path = Path::new(file);
            let loaded = if file.ends_with(".json") { load_dashboard(path) } else { load_rules(path) };
            sources.merge(loaded.unwrap());
        }
        check_contract(&sources, &LiveView::from_store(&reference_store()))
    }

    /// Each finding as displayed, without the `prefix` every source starts with.
    fn lines(report: &LintReport, prefix: &str) -> Vec<String> {
        report.findings.iter().map(|f| f.to_string().replacen(prefix, "", 1)).collect()
    }

    /// Lints one file and checks its findings, each shown without the file name.
    fn assert_findings(file: &str, want: &[&str]) -> LintReport {
        let report = lint(&[file]);
        assert_eq!(lines(&report, file), want);
        report
    }

    #[test]
    fn seed_001_rules_query_metrics_the_stack_never_exports() {
        let report = assert_findings(
            "fixtures/alerts/seed-001-rules.yaml",
            &[
                ":9 alert HighCPUUsage: `process_cpu_seconds_total[5m]`: no service exports `process_cpu_seconds_total`",
                ":17 alert HighMemoryUsage: `process_resident_memory_bytes`: no service exports `process_resident_memory_bytes`",
                ":17 alert HighMemoryUsage: `process_total_memory_bytes`: no service exports `process_total_memory_bytes`",
                ":25 alert HighLatency: `request_duration_seconds_bucket[5m]`: no service exports `request_duration_seconds_bucket` (closest exported name: http_request_duration_seconds_bucket)",
                ":34 alert HighErrorRate: `task_failures_total[5m]`: no service exports `task_failures_total`",
                ":34 alert HighErrorRate: `tasks_total[5m]`: no service exports `tasks_total` (closest exported name: multiagent_tasks_total)",
                ":42 alert AgentUnhealthy: `agent_health_status{health=\"unhealthy\"}`: no service exports `agent_health_status`",
                ":51 alert ErrorBudgetBurn: `requests_total{status=~\"5..\"}[1h]`: no service exports `requests_total` (closest exported name: http_requests_total)",
                ":51 alert ErrorBudgetBurn: `requests_total[1h]`: no service exports `requests_total` (closest exported name: http_requests_total)",
            ],
        );
        assert!(report.findings.iter().all(|f| f.check == FindingKind::MetricMissing));
    }

    #[test]
    fn multiagent_rules_and_dashboard_match_the_stack() {
        let report = lint(&["fixtures/alerts/multiagent-rules.yaml", "fixtures/dashboards/multiagent-overview.json"]);
        assert!(report.passed(), "{report}");
        assert!(report.notes.is_empty(), "{report}");
    }

    #[test]
    fn seed_001_dashboard_flags_process_metrics_and_requests_total() {
        assert_findings(
            "fixtures/dashboards/seed-001-system-overview.json",
            &[
                " panel \"CPU Usage\" target #1: `process_cpu_seconds_total[5m]`: no service exports `process_cpu_seconds_total`",
                " panel \"Memory Usage\" target #1: `process_resident_memory_bytes`: no service exports `process_resident_memory_bytes`",
                " panel \"Request Rate\" target #1: `requests_total[5m]`: no service exports `requests_total` (closest exported name: http_requests_total)",
            ],
        );
    }

    #[test]
    fn labels_values_families_and_synthetic_series() {
        let mut sources = Sources::default();
        let exprs = [
            r#"http_requests_total{path="/v1/tasks", job="x", instance="y"}"#,
            r#"multiagent_tasks_total{status="timed_out"}"#,
            r#"multiagent_task_duration_seconds_bucket{le="1", type=""} + multiagent_task_duration_seconds"#,
            r#"up{job="a"} + ALERTS{alertname="X"} + scrape_duration_seconds + job:up:sum"#,
            r#"{__name__=~"nothing_.*"} + {__name__=~"multiagent_.*"}"#,
            r#"never_incremented_total{reason="x"}"#,
        ];
        for (i, expr) in exprs.iter().enumerate() {
            sources.add(format!("e{i}"), expr);
        }
        sources.recorded.insert("job:up:sum".into());
        let mut store = reference_store();
        let declared = "# TYPE never_incremented counter\n# HELP never_incremented Never.\n# EOF\n";
        store.record("worker", Duration::ZERO, parse(declared, Format::OpenMetrics));
        let report = check_contract(&sources, &LiveView::from_store(&store));
        assert_eq!(
            lines(&report, ""),
            [
                "e0: `http_requests_total{instance=\"y\",job=\"x\",path=\"/v1/tasks\"}`: `http_requests_total` has no label `path` (its labels: instance, job, method, route, status)",
                "e2: `multiagent_task_duration_seconds`: no service exports `multiagent_task_duration_seconds` (`multiagent_task_duration_seconds` is a histogram family; its series are multiagent_task_duration_seconds_bucket, multiagent_task_duration_seconds_count, multiagent_task_duration_seconds_sum)",
                "e4: `{__name__=~\"nothing_.*\"}`: no exported metric name matches `nothing_.*`",
            ]
        );
        let notes: Vec<_> = report.notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            [
                "note: e1: `multiagent_tasks_total{status=\"timed_out\"}`: status=\"timed_out\" never observed on `multiagent_tasks_total` during the run (seen: completed, failed, started)",
                "note: e2: `multiagent_task_duration_seconds_bucket{le=\"1\",type=\"\"}`: le=\"1\" never observed on `multiagent_task_duration_seconds_bucket` during the run (seen: +Inf, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0, 2.5, 20.0, 30.0, 5.0)",
                "note: e5: `never_incremented_total{reason=\"x\"}`: counter `never_incremented` is declared but has no series yet; its labels cannot be checked",
            ]
        );
    }

    #[test]
    fn report_displays_one_line_per_finding_then_notes() {
        let mut report = LintReport::default();
        let finding =
            Finding::new(FindingKind::MetricMissing, "r.yaml:3 alert A", "`x`: missing").hint(Some("closest exported name: y".into()));
        report.finding(finding.clone());
        report.finding(finding);
        report.note("r.yaml:4 alert B", "declared, no series");
        assert_eq!(
            report.to_string(),
            "r.yaml:3 alert A: `x`: missing (closest exported name: y)\nnote: r.yaml:4 alert B: declared, no series\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["findings"][0]["check"], "metric_missing");
        assert!(json["notes"][0].get("hint").is_none());
    }

    #[tokio::test]
    async fn promtool_accepts_the_reference_stacks_expositions() {
        let promtool = promtool::Promtool::default();
        for service in SERVICES {
            let findings = promtool.check_metrics(service, &exposition(service)).await.unwrap();
            let got: Vec<_> = findings.iter().map(ToString::to_string).collect();
            assert!(got.is_empty(), "{service}: {got:?}");
        }
    }
}
