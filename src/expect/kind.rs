//! What every expectation kind implements. A kind is one module under
//! `expect::kinds` owning its scenario fields (`Raw`, serde with
//! `deny_unknown_fields`), its compile step (raw -> checked plan item, with
//! the shared diagnostics of `scenario::ctx`), its judge (a pure function of
//! [`Recorded`]), the signals it reads, and its unit tests. The registry
//! (the table in `expect/kinds/mod.rs`) is the only other place that names it.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;

use super::{Judgement, Recorded};
use crate::clock::Window;
use crate::scenario::{Ctx, Names, WindowExpr};

/// One expectation kind: `kind: <NAME>` in a scenario's `expect:` list.
pub trait Kind: Sized {
    /// The `kind:` value.
    const NAME: &'static str;
    /// Judged by an overhead run over its rounds (true), or over a timeline run's window (false).
    const OVERHEAD: bool = false;
    /// The fields as written, besides the common `kind`, `name`, `during`, `after`.
    type Raw: DeserializeOwned + schemars::JsonSchema;

    /// Raw -> plan item. Every problem is reported to `cx` under `path`
    /// (`expect[3]`); `None` when the item cannot be built.
    fn compile(cx: &mut Ctx, path: &str, raw: Self::Raw, names: &Names) -> Option<Self>;

    /// What is checked, for a default expectation name (the window is appended).
    fn describe(&self) -> String;

    /// The name used when the scenario gives none.
    fn default_name(&self, window: &WindowExpr) -> String {
        format!("{} during {}", self.describe(), window.text())
    }

    /// The window when the scenario gives neither `during` nor `after` (default: the whole run).
    fn default_window(&self) -> WindowExpr {
        WindowExpr::whole()
    }

    /// The judgement over `w` (the resolved window). `id` keys what was
    /// gathered for this expectation while the stack ran (PromQL answers,
    /// contract sources).
    fn judge(&self, rec: &Recorded, w: Window, id: &str) -> Judgement;

    /// The signals this expectation reads.
    fn signals(&self) -> Signals;

    /// Called once every expectation is compiled, with all of them (this one
    /// included): for a kind that checks what the others use (`contract`
    /// lints the scenario's PromQL queries).
    fn link(&mut self, _all: &[(String, Signals)]) {}
}

/// The signals an expectation reads, so that reports can draw them and a
/// coverage report can count what a suite asserts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Signals {
    /// Stack services whose output is read (metrics, logs, health).
    pub services: BTreeSet<String>,
    /// Metric families, with the label matchers used (`name{label="v"}`).
    pub metrics: BTreeSet<String>,
    /// Span names selected.
    pub spans: BTreeSet<String>,
    /// Captured log lines (of `services`, or of every service when it is empty).
    pub logs: bool,
    /// Log fields required or filtered on.
    pub log_fields: BTreeSet<String>,
    /// Alert names (empty with `alerts_any`: every alert).
    pub alerts: BTreeSet<String>,
    /// Any alert at all (`no_alert` without names).
    pub alerts_any: bool,
    /// Mocks whose journals are read.
    pub mocks: BTreeSet<String>,
    /// Health endpoints, as `service/endpoint`.
    pub health: BTreeSet<String>,
    /// The load driver's record.
    pub load: bool,
    /// PromQL expressions evaluated by Prometheus.
    pub promql: BTreeSet<String>,
}

/// The verdict on an empty sample: "no data in the window: {what}", which
/// passes only when the expectation says `allow_empty: true` (a measurement
/// of nothing is no measurement). A `hint` already in `evidence` (the kind's
/// own advice) is kept.
pub fn no_data(allow_empty: bool, expected: String, what: impl std::fmt::Display, mut evidence: serde_json::Value) -> Judgement {
    if !evidence.is_object() {
        evidence = serde_json::json!({ "evidence": evidence });
    }
    evidence["allow_empty"] = allow_empty.into();
    if !allow_empty && evidence.get("hint").is_none() {
        evidence["hint"] =
            "check that the stack produces this signal in the window, or set `allow_empty: true` if an empty window is fine".into();
    }
    Judgement { pass: allow_empty, expected, observed: format!("no data in the window: {what}"), evidence }
}

/// `(source, expr)` of every PromQL expression in `all` (expectation name, its
/// signals), the source naming the expectation for lint findings.
pub fn promql_sources(all: &[(String, Signals)]) -> Vec<(String, String)> {
    all.iter().flat_map(|(name, s)| s.promql.iter().map(move |q| (format!("expectation `{name}`"), q.clone()))).collect()
}

impl Signals {
    pub fn service(mut self, s: Option<&str>) -> Self {
        self.services.extend(s.map(String::from));
        self
    }
    pub fn metric(mut self, m: impl Into<String>) -> Self {
        self.metrics.insert(m.into());
        self
    }
    pub fn span(mut self, s: Option<&str>) -> Self {
        self.spans.extend(s.map(String::from));
        self
    }
    pub fn mock(mut self, m: &str) -> Self {
        self.mocks.insert(m.to_string());
        self
    }
    pub fn alert(mut self, a: &str) -> Self {
        self.alerts.insert(a.to_string());
        self
    }
    pub fn load(mut self) -> Self {
        self.load = true;
        self
    }
}
