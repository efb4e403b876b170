//! The `alerting:` section and the alert expectation kinds as written.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::raw::Scalar;

/// `alerting:` — a real Prometheus evaluates the scenario's alert rules and a
/// real Alertmanager routes them to webhooks ordeal hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    /// Prometheus rule files (relative to the scenario), loaded as written.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Grafana dashboard JSON files whose queries the contract lint checks.
    #[serde(default)]
    pub dashboards: Vec<String>,
    /// Scrape and rule-evaluation interval of the managed Prometheus (default 1s).
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// How often ordeal polls the alert APIs (default 250ms).
    #[serde(default, with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    /// Alertmanager routing (managed mode).
    pub alertmanager: Option<RawAlertmanager>,
    /// Query an already-running Prometheus / Alertmanager instead of starting them.
    pub external: Option<RawExternal>,
    /// Prometheus program (default `prometheus`, Debian package `prometheus`).
    pub prometheus_bin: Option<String>,
    /// Alertmanager program (default `prometheus-alertmanager`, Debian package of that name).
    pub alertmanager_bin: Option<String>,
}

/// Where the routes come from: an Alertmanager config file (its `route` and
/// `inhibit_rules` are kept; every receiver becomes an ordeal webhook) or an
/// inline `route:`. Neither: every alert goes to receiver `ordeal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub config: Option<String>,
    pub route: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExternal {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub prometheus: String,
    pub alertmanager: Option<String>,
}

/// `kind: alert` — pending then firing within a deadline of the fault's
/// start, resolved within a deadline of its end, with labels/annotations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    pub alert: String,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub annotations: Vec<String>,
    /// Phase in which the fault happens.
    pub fault: String,
    #[serde(default, with = "humantime_serde")]
    pub pending_within: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub fires_within: Duration,
    #[serde(default, with = "humantime_serde")]
    pub resolves_within: Option<Duration>,
}

/// `kind: no_alert` — nothing fires in the window (no false alarm).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoAlert {
    /// Only these alerts (default: any).
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Also fail on `pending` alerts (default false: firing only).
    #[serde(default)]
    pub pending: bool,
}

/// `kind: alert_delivered` — Alertmanager notified receiver R.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertDelivered {
    pub alert: String,
    pub receiver: String,
    /// `firing` (default) or `resolved`.
    pub status: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub within: Option<Duration>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
}

/// `kind: promql` — an expression evaluated by Prometheus over the window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPromql {
    pub query: String,
    /// Comparison every value must satisfy, e.g. `"< 1"`.
    pub value: String,
    /// `always` (default), `eventually` or `at_end`.
    pub mode: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub step: Option<Duration>,
    #[serde(default)]
    pub allow_empty: bool,
}

fn yes() -> bool {
    true
}

/// `kind: contract` — the contract lint as an expectation: rules, dashboards
/// and the scenario's PromQL against every series the run saw; promtool's
/// naming lint; cardinality budgets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    /// Check `alerting.rules` (default true).
    #[serde(default = "yes")]
    pub rules: bool,
    /// Check `alerting.dashboards` (default true).
    #[serde(default = "yes")]
    pub dashboards: bool,
    /// Check the scenario's `kind: promql` queries (default true).
    #[serde(default = "yes")]
    pub queries: bool,
    /// `promtool check metrics` on every service's exposition (default true).
    #[serde(default = "yes")]
    pub naming: bool,
    /// Series per family (default `max_series: 200`), with per-family overrides.
    #[serde(default)]
    pub cardinality: crate::lint::CardinalityBudget,
}
