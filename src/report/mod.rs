//! Reports: `report.json` (the machine-readable verdict and evidence, with
//! the run's time series in `timeline`), `junit.xml` (one test case per
//! expectation), `report.html` (the run for people), `summary.md` (for CI
//! job pages) and the terminal summary.
//! Reports are written for every run that got as far as a plan, including
//! runs that failed on infrastructure (verdict `error`).

pub mod history;
pub mod html;
mod junit;
pub mod markdown;
mod terminal;
pub mod timeline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::expect::{Checked, Verdict};
use crate::load::LoadStats;

pub use terminal::summary;

/// report.json's format version (`schema_version`): 2 added `timeline`; 3
/// moved the per-service unparsed lines to `collectors.parse_errors_by_service`
/// (2 wrote them under the same key as the `parse_errors` total).
pub const SCHEMA_VERSION: u32 = 3;

/// report.json's JSON Schema (`ordeal schema report`, docs/report.schema.json),
/// generated from the types that write it.
pub fn schema() -> serde_json::Value {
    let g = schemars::generate::SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut v = g.into_root_schema_for::<Report>().to_value();
    if let Some(o) = v.as_object_mut() {
        o.insert("title".into(), "ordeal report.json".into());
    }
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    Pass,
    Fail,
    /// The harness could not run the scenario (stack would not start, ...).
    Error,
}

impl RunVerdict {
    /// `PASS`, `FAIL` or `ERROR`, as the terminal, report.html and summary.md show it.
    pub fn word(self) -> &'static str {
        match self {
            RunVerdict::Pass => "PASS",
            RunVerdict::Fail => "FAIL",
            RunVerdict::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// The version of this report's format; it changes when a field changes meaning or goes away.
    pub schema_version: u32,
    pub ordeal_version: &'static str,
    /// `run` (a timeline) or `overhead` (an A/B comparison of variants).
    pub kind: &'static str,
    pub scenario: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub verdict: RunVerdict,
    /// Set when `verdict` is `error`.
    pub error: Option<String>,
    pub seed: u64,
    /// Command-line overrides of the scenario (`--set load.rate=100`, `--only smoke`).
    pub overrides: Vec<String>,
    /// `process` or `docker`.
    pub runtime: &'static str,
    pub started_at: String,
    pub duration_ms: u64,
    pub phases: Vec<PhaseReport>,
    /// The run as time series (load per second, scraped series, probes, fault windows).
    pub timeline: Option<timeline::Timeline>,
    pub load: Option<LoadReport>,
    pub expectations: Vec<Checked>,
    pub mocks: BTreeMap<String, MockReport>,
    pub services: Vec<ServiceReport>,
    pub collectors: CollectorReport,
    /// CPU and memory per service (and the harness's own CPU), while the stack ran.
    pub resources: Option<ResourcesReport>,
    /// Present when the scenario has `alerting:`.
    pub alerting: Option<AlertingReport>,
    /// Present for `kind: overhead` runs.
    pub overhead: Option<crate::overhead::OverheadReport>,
    pub warnings: Vec<String>,
    /// What ordeal removed at this run's start that killed runs had left
    /// behind (folders, processes, containers, networks), empty most times.
    pub reaped: crate::runtime::reap::Reaped,
    pub run_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PhaseReport {
    pub name: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub load: Option<LoadStats>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LoadReport {
    pub target: String,
    /// The load's own rate (a phase's `rate:`/`ramp:` overrides it; each
    /// phase's `target_rate` says what was intended there). 0 in capacity mode.
    pub intended_rate: f64,
    /// The most requests in flight at once (connections in capacity mode).
    pub max_in_flight: usize,
    /// `rate: max`: a closed loop measuring how much the target can take.
    pub capacity_mode: bool,
    /// When the first request actually left, after the timeline's start
    /// (None if none did): the load engine's start-up cost.
    pub first_send_ms: Option<f64>,
    pub overall: LoadStats,
    /// Over the whole timeline, per request, sequence and step of the mix
    /// (`REQUEST.STEP`) when the mix has more than one; a sequence's figures
    /// run from its intended send time to its last answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, LoadStats>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct MockReport {
    pub url: String,
    pub requests: usize,
    pub by_outcome: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ServiceReport {
    pub name: String,
    pub url: String,
    pub pid: u32,
    pub exit: Option<String>,
}

/// CPU seconds and RSS of each service's process group from stack start to
/// teardown, sampled from /proc every `interval_ms`; the harness's own CPU over
/// the same span (it shares the machine with the stack).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ResourcesReport {
    pub services: BTreeMap<String, crate::collectors::resources::ResourceUsage>,
    pub harness_cpu_seconds: f64,
    pub interval_ms: u64,
}

/// What the real Prometheus / Alertmanager did; times in ms from the timeline's start.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AlertingReport {
    pub mode: String,
    pub urls: BTreeMap<String, String>,
    pub polls: usize,
    pub poll_errors: usize,
    pub first_poll_error: Option<String>,
    pub alerts: Vec<AlertReport>,
    pub deliveries: Vec<DeliveryReport>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AlertReport {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub pending_at_ms: Option<f64>,
    pub firing_at_ms: Option<f64>,
    pub resolved_at_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeliveryReport {
    pub at_ms: f64,
    pub receiver: String,
    pub status: String,
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CollectorReport {
    pub scrapes: BTreeMap<String, usize>,
    pub scrape_errors: usize,
    pub parse_errors: usize,
    /// Failures by reason, duplicate series, unparsable lines.
    #[serde(flatten)]
    pub scrape_findings: crate::collectors::store::ScrapeFindings,
    pub health_probes: usize,
    pub log_lines: usize,
    pub spans: usize,
    pub rejected_otlp_requests: usize,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &Checked> {
        self.expectations.iter().filter(|c| c.verdict != Verdict::Pass)
    }

    /// One `junit.xml` for several runs (a suite each), secrets masked.
    pub fn combined_junit(reports: &[Report]) -> String {
        crate::secrets::mask(&junit::combined(reports)).into_owned()
    }

    /// Write `report.json`, `junit.xml`, `report.html` and `summary.md` into `dir`, secrets masked.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), crate::secrets::mask(&json).as_bytes())?;
        std::fs::write(dir.join("junit.xml"), crate::secrets::mask(&junit::render(self)).as_bytes())?;
        let chart = self.overhead.as_ref().and_then(|o| o.chart.as_ref()).and_then(|c| std::fs::read_to_string(dir.join(c)).ok());
        let page = html::render(self, chart.as_deref().map(|s| s.find("<svg").map_or(s, |i| &s[i..])));
        std::fs::write(dir.join("report.html"), crate::secrets::mask(&page).as_bytes())?;
        std::fs::write(dir.join("summary.md"), self.summary_md().as_bytes())?;
        Ok(())
    }

    /// `summary.md`'s text, secrets masked.
    pub fn summary_md(&self) -> String {
        crate::secrets::mask(&markdown::render(self)).into_owned()
    }

    /// The report as one line of JSON (for `run --json`), secrets masked.
    pub fn to_json_line(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        crate::secrets::mask(&json).into_owned()
    }
}
