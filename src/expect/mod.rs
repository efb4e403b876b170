//! Expectations: judge what the collectors recorded. No I/O happens here —
//! every check is a pure function of [`Recorded`], so timing logic is unit
//! tested on synthetic timelines.
//!
//! A failed expectation is a result (a [`Checked`] with `verdict: fail` and
//! evidence), never an `Err`.
//!
//! Floors, every arrow pointing down:
//! - this file and `series`: what a judgement is made of ([`Recorded`],
//!   [`Judgement`], [`Checked`]) and helpers shared by the kinds;
//! - `kind`: the [`Kind`](kind::Kind) trait every kind implements;
//! - `kinds::*`: one module per expectation kind (its fields, compile step,
//!   judge, signals and tests), on top of `scenario`'s compile toolkit;
//! - `kinds/mod.rs`: the registry, a table with one line per kind, from which
//!   come the [`Check`] enum and the dispatch;
//! - `expectations`: the `expect:` list, compiled item by item and judged.

pub mod expectations;
pub mod kind;
pub mod kinds;
pub(crate) mod series;
#[cfg(test)]
mod vacuous;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::Window;
use crate::collectors::health::HealthSample;
use crate::collectors::store::MetricStore;
use crate::faults::JournalEntry;
use crate::load::LoadRecord;
use crate::scenario::PhaseSpan;

/// Answers to `kind: promql` queries, by expectation id.
pub type PromqlAnswers = BTreeMap<String, Result<Vec<crate::collectors::alerts::promapi::QuerySeries>, String>>;
/// What `kind: contract` gathered while the stack was up, by expectation id.
pub type ContractInputs = BTreeMap<String, Result<crate::lint::ContractInput, String>>;

pub use expectations::{Expectation, evaluate, evaluate_one, promql_queries};
pub use kinds::{Check, KINDS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The data cannot decide (an overhead interval straddles its budget); fails the run.
    Inconclusive,
}

/// The judgement of one expectation, as written to report.json.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
    /// Every captured stdout/stderr line of the stack.
    pub logs: Vec<crate::runtime::LogLine>,
    /// Where log capture stopped while a service may still have written.
    pub log_gaps: Vec<crate::runtime::LogGap>,
    /// The canary secret the load sent, if any.
    pub canary: Option<String>,
    /// Spans received by the OTLP receiver.
    pub traces: crate::collectors::otlp::TraceStore,
    /// Run offset at which span collection ended (after the stack flushed).
    pub traces_end: Duration,
    /// What Prometheus / Alertmanager reported, when the scenario has `alerting:`.
    pub alerts: Option<crate::collectors::alerts::AlertRecord>,
    /// Answers to `kind: promql` queries, by expectation id.
    pub promql: PromqlAnswers,
    /// What `kind: contract` gathered while the stack was up, by expectation id.
    pub contract: ContractInputs,
}

impl Recorded {
    pub fn window(&self, e: &crate::scenario::WindowExpr) -> Window {
        e.resolve_at(&self.phases, self.origin).unwrap_or(Window::new(self.origin, self.origin))
    }
}

/// A check's result before the common fields are attached.
pub struct Judgement {
    pub pass: bool,
    pub expected: String,
    pub observed: String,
    pub evidence: serde_json::Value,
}

/// Seconds relative to the timeline origin, for human-readable evidence.
pub fn secs(t: Duration, origin: Duration) -> String {
    let d = t.as_secs_f64() - origin.as_secs_f64();
    format!("{d:.2}s")
}
