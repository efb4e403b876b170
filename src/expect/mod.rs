//! Expectations: judge what the collectors recorded. No I/O happens here —
//! every check is a pure function of [`Recorded`], so timing logic is unit
//! tested on synthetic timelines.
//!
//! A failed expectation is a result (a [`Checked`] with `verdict: fail` and
//! evidence), never an `Err`.

mod alerts;
mod breaker;
mod contract;
mod journal;
mod logs;
mod metric;
mod probes;
mod promql;
mod tasks;
mod traces;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Window;
use crate::collectors::health::HealthSample;
use crate::collectors::store::MetricStore;
use crate::faults::JournalEntry;
use crate::load::LoadRecord;
use crate::scenario::{Check, Expectation, PhaseSpan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The data cannot decide (an overhead interval straddles its budget); fails the run.
    Inconclusive,
}

/// The judgement of one expectation, as written to report.json.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    pub kind: &'static str,
    pub name: String,
    pub verdict: Verdict,
    pub expected: String,
    pub observed: String,
    /// The window as written, and resolved to run offsets (ms).
    pub window: WindowInfo,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowInfo {
    pub expr: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// Everything the collectors recorded during one run.
pub struct Recorded {
    /// Run offset at which the timeline (phase 0) started.
    pub origin: Duration,
    pub phases: Vec<PhaseSpan>,
    pub metrics: MetricStore,
    pub journals: BTreeMap<String, Vec<JournalEntry>>,
    pub health: Vec<HealthSample>,
    pub load: Option<LoadRecord>,
    /// Intended request rate of the load (requests/s).
    pub load_rate: f64,
    /// Every captured stdout/stderr line of the stack.
    pub logs: Vec<crate::runtime::LogLine>,
    /// The canary secret the load sent, if any.
    pub canary: Option<String>,
    /// Spans received by the OTLP receiver.
    pub traces: crate::collectors::otlp::TraceStore,
    /// Run offset at which span collection ended (after the stack flushed).
    pub traces_end: Duration,
    /// What Prometheus / Alertmanager reported, when the scenario has `alerting:`.
    pub alerts: Option<crate::collectors::alerts::AlertRecord>,
    /// Answers to `kind: promql` queries, by expectation index.
    pub promql: BTreeMap<usize, Result<Vec<crate::collectors::alerts::promapi::QuerySeries>, String>>,
    /// What `kind: contract` gathered while the stack was up, by expectation index.
    pub contract: BTreeMap<usize, Result<crate::lint::ContractInput, String>>,
}

impl Recorded {
    pub fn window(&self, e: &crate::scenario::WindowExpr) -> Window {
        e.resolve_at(&self.phases, self.origin).unwrap_or(Window::new(self.origin, self.origin))
    }
}

/// A check's result before the common fields are attached.
pub(crate) struct Judgement {
    pub pass: bool,
    pub expected: String,
    pub observed: String,
    pub evidence: serde_json::Value,
}

pub fn evaluate(expectations: &[Expectation], rec: &Recorded) -> Vec<Checked> {
    expectations.iter().enumerate().map(|(i, e)| evaluate_one(i, e, rec)).collect()
}

/// Judge expectation number `i` (the index keys its recorded PromQL answer).
pub fn evaluate_one(i: usize, e: &Expectation, rec: &Recorded) -> Checked {
    let w = rec.window(&e.window);
    let j = match &e.check {
        Check::Metric(c) => metric::judge(c, &rec.metrics, w),
        Check::Breaker(c) => breaker::judge(c, rec, w),
        Check::FailFast(c) => journal::fail_fast(c, rec.journals.get(&c.mock).map_or(&[][..], Vec::as_slice), w),
        Check::Retries(c) => journal::retries(c, rec.journals.get(&c.mock).map_or(&[][..], Vec::as_slice), w),
        Check::Health(c) => probes::health(c, &rec.health, w),
        Check::Load(c) => probes::load(c, rec.load.as_ref(), rec.load_rate, w),
        Check::Logs(c) => logs::judge(c, &rec.logs, &rec.traces.spans.iter().map(|s| s.trace_id.as_str()).collect(), w),
        Check::NoLeaks(c) => {
            let attrs: Vec<(String, String, serde_json::Value)> = rec
                .traces
                .spans
                .iter()
                .flat_map(|s| s.attributes.iter().map(move |(k, v)| (s.name.clone(), k.clone(), v.clone())))
                .collect();
            logs::no_leaks(c, rec.canary.as_deref(), &rec.logs, &rec.metrics, &attrs)
        }
        Check::TraceSpans(c) => traces::spans(c, &rec.traces, w),
        Check::TraceComplete(c) => traces::complete(c, &rec.traces, rec.load.as_ref(), w, rec.traces_end),
        Check::TraceSampling(c) => traces::sampling(c, &rec.traces, rec.load.as_ref(), w),
        Check::Alert(c) => alerts::alert(c, rec.alerts.as_ref(), rec.window(&c.fault), rec.origin),
        Check::NoAlert(c) => alerts::no_alert(c, rec.alerts.as_ref(), w, rec.origin),
        Check::AlertDelivered(c) => alerts::delivered(c, rec.alerts.as_ref(), w, rec.origin),
        Check::Promql(c) => promql::judge(c, rec.promql.get(&i), rec.origin.as_secs_f64()),
        Check::Contract(c) => contract::judge(c, rec.contract.get(&i), &rec.metrics),
        Check::NoTaskLost(c) => tasks::no_task_lost(c, &rec.metrics, rec.load.as_ref(), w),
        Check::Overhead(_) => Judgement {
            pass: false,
            expected: "an overhead run".into(),
            observed: "overhead budgets are judged by the overhead run, not by a timeline run".into(),
            evidence: serde_json::Value::Null,
        },
    };
    Checked {
        kind: e.kind(),
        name: e.name.clone(),
        verdict: if j.pass { Verdict::Pass } else { Verdict::Fail },
        expected: j.expected,
        observed: j.observed,
        window: WindowInfo {
            expr: e.window.text().to_string(),
            start_ms: (w.start.saturating_sub(rec.origin)).as_secs_f64() * 1000.0,
            end_ms: (w.end.saturating_sub(rec.origin)).as_secs_f64() * 1000.0,
        },
        evidence: j.evidence,
    }
}

/// Seconds relative to the timeline origin, for human-readable evidence.
pub(crate) fn secs(t: Duration, origin: Duration) -> String {
    let d = t.as_secs_f64() - origin.as_secs_f64();
    format!("{d:.2}s")
}
