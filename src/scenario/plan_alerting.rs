//! The compiled `alerting:` section and the alert / PromQL / contract checks.

use std::path::PathBuf;
use std::time::Duration;

use super::cmp::Comparison;
use super::plan::{Check, Expectation};
use super::window::WindowExpr;

#[derive(Debug, Clone)]
pub struct AlertingPlan {
    /// Prometheus rule files (absolute), used as written.
    pub rules: Vec<PathBuf>,
    /// Alert names the rule files define (for name checks and hints).
    pub alert_names: Vec<String>,
    /// Grafana dashboards checked by the contract lint (absolute).
    pub dashboards: Vec<PathBuf>,
    /// Scrape and rule-evaluation interval of the managed Prometheus.
    pub interval: Duration,
    /// How often ordeal polls the alert APIs.
    pub poll_interval: Duration,
    pub mode: AlertingMode,
}

#[derive(Debug, Clone)]
pub enum AlertingMode {
    /// ordeal runs Debian's `prometheus` and `prometheus-alertmanager`.
    Managed(Box<ManagedAlerting>),
    /// Already-running servers (templates such as `{{services.prom.url}}` allowed).
    External { prometheus: String, alertmanager: Option<String> },
}

#[derive(Debug, Clone)]
pub struct ManagedAlerting {
    pub prometheus_bin: String,
    pub alertmanager_bin: String,
    /// Alertmanager `route:` as written (JSON form).
    pub route: serde_json::Value,
    /// Alertmanager `inhibit_rules:` as written (`null` when absent).
    pub inhibit_rules: serde_json::Value,
    /// Every receiver the route names; each becomes an ordeal webhook.
    pub receivers: Vec<String>,
}

impl AlertingPlan {
    pub fn managed(&self) -> Option<&ManagedAlerting> {
        match &self.mode {
            AlertingMode::Managed(m) => Some(m),
            AlertingMode::External { .. } => None,
        }
    }
}

/// `kind: alert` — the alert's life around a fault.
#[derive(Debug, Clone)]
pub struct AlertCheck {
    pub alert: String,
    /// Labels the alert must carry (and by which instances are selected).
    pub labels: Vec<(String, String)>,
    /// Annotations that must be present and non-empty.
    pub annotations: Vec<String>,
    /// The phase whose start (firing) and end (resolution) timings refer to.
    pub fault: WindowExpr,
    pub pending_within: Option<Duration>,
    pub fires_within: Duration,
    pub resolves_within: Option<Duration>,
}

/// `kind: no_alert` — no (false) alarm in the window.
#[derive(Debug, Clone)]
pub struct NoAlertCheck {
    /// Empty: any alert.
    pub alerts: Vec<String>,
    /// Also count `pending` (not only `firing`).
    pub include_pending: bool,
}

/// `kind: alert_delivered` — a notification reached an ordeal webhook receiver.
#[derive(Debug, Clone)]
pub struct AlertDeliveredCheck {
    pub alert: String,
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Deadline after Prometheus reported it firing (for `resolved`: after
    /// it disappeared from Prometheus).
    pub within: Option<Duration>,
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromqlMode {
    /// Every point of every series in the window (`query_range`).
    Always,
    /// At least one point (`query_range`).
    Eventually,
    /// Every series at the window's end (`query`).
    AtEnd,
}

/// `kind: contract` — the contract lint during a run.
#[derive(Debug, Clone)]
pub struct ContractCheck {
    pub spec: crate::lint::ContractSpec,
    /// Also lint the scenario's `kind: promql` queries (filled into `spec`).
    pub with_queries: bool,
}

/// `kind: promql` — a PromQL expression evaluated by the real Prometheus.
#[derive(Debug, Clone)]
pub struct PromqlCheck {
    pub query: String,
    pub cmp: Comparison,
    pub mode: PromqlMode,
    /// Step of `query_range` (default: the alerting interval).
    pub step: Option<Duration>,
    /// An empty result passes (default: fails, "no data").
    pub allow_empty: bool,
}

/// `(source, expr)` of every `kind: promql` expectation.
pub fn promql_queries(expectations: &[Expectation]) -> Vec<(String, String)> {
    expectations
        .iter()
        .filter_map(|e| match &e.check {
            Check::Promql(p) => Some((format!("expectation `{}`", e.name), p.query.clone())),
            _ => None,
        })
        .collect()
}
