//! `alerting:` — a real Prometheus evaluates the scenario's alert rules and a
//! real Alertmanager routes them to webhooks ordeal hosts (managed), or
//! ordeal queries a Prometheus it did not start (external). Raw form, plan,
//! compile step (rule files, routes, receivers). The alert expectation kinds
//! live in `expect::kinds`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::ctx::Ctx;
use super::template::{self, Scope};

/// `alerting:` — a real Prometheus evaluates the scenario's alert rules and a
/// real Alertmanager routes them to webhooks ordeal hosts.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub interval: Option<Duration>,
    /// How often ordeal polls the alert APIs (default 250ms).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub config: Option<String>,
    pub route: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExternal {
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    pub prometheus: String,
    pub alertmanager: Option<String>,
}

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

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// Receiver of the default route when the scenario gives none.
pub const DEFAULT_RECEIVER: &str = "ordeal";

pub fn section(cx: &mut Ctx, v: Value, dir: &Path, services: &[String]) -> Option<AlertingPlan> {
    let raw: RawAlerting = cx.de("alerting", v)?;
    let abs = |p: &str| {
        let p = PathBuf::from(p);
        let p = if p.is_relative() { dir.join(p) } else { p };
        std::path::absolute(&p).unwrap_or(p)
    };
    let mut rules = Vec::new();
    let mut alert_names = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let path = abs(r);
        match read_yaml(&path) {
            Ok(doc) => {
                alert_names.extend(rule_alert_names(&doc));
                invalid_promql(cx, &format!("alerting.rules[{i}]"), &path);
            }
            Err(e) => cx.err_value(
                &format!("alerting.rules[{i}]"),
                format!("cannot read rule file `{r}`: {e}"),
                Some("paths are relative to the scenario file".into()),
            ),
        }
        // Without `..`: Prometheus resolves rule files as globs, and in a
        // container only the file itself is mounted.
        rules.push(std::fs::canonicalize(&path).unwrap_or(path));
    }
    let mut dashboards = Vec::new();
    for (i, d) in raw.dashboards.iter().enumerate() {
        let path = abs(d);
        if let Err(e) = crate::files::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        {
            cx.err_value(
                &format!("alerting.dashboards[{i}]"),
                format!("cannot read dashboard `{d}`: {e}"),
                Some("a Grafana dashboard JSON file, relative to the scenario file".into()),
            );
        }
        dashboards.push(path);
    }
    let interval = raw.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval < Duration::from_millis(100) {
        cx.err_value("alerting.interval", "the Prometheus interval must be at least 100ms", Some("1s is a good scenario timescale".into()));
    }
    let mode = match (raw.external, raw.alertmanager) {
        (Some(_), Some(_)) => {
            cx.err(
                "alerting.alertmanager",
                "`alertmanager` routing applies to managed mode only, but `external` is set",
                Some("remove one of them: external servers keep their own routing".into()),
            );
            return None;
        }
        (Some(ext), None) => {
            check_external(cx, &ext, services);
            AlertingMode::External { prometheus: ext.prometheus, alertmanager: ext.alertmanager }
        }
        (None, am) => {
            let (route, inhibit_rules) = routing(cx, am, dir)?;
            let mut receivers = Vec::new();
            collect_receivers(&route, &mut receivers);
            if receivers.is_empty() {
                cx.err("alerting.alertmanager", "the route names no receiver", Some("set `receiver:` on the top-level route".into()));
            }
            AlertingMode::Managed(Box::new(ManagedAlerting {
                prometheus_bin: raw.prometheus_bin.unwrap_or_else(|| "prometheus".into()),
                alertmanager_bin: raw.alertmanager_bin.unwrap_or_else(|| "prometheus-alertmanager".into()),
                route,
                inhibit_rules,
                receivers,
            }))
        }
    };
    if rules.is_empty() && matches!(mode, AlertingMode::Managed(_)) {
        cx.err("alerting", "managed mode needs at least one rule file", Some("add `rules: [path/to/rules.yaml]`".into()));
    }
    Some(AlertingPlan { rules, alert_names, dashboards, interval, poll_interval: raw.poll_interval.unwrap_or(DEFAULT_POLL), mode })
}

/// `alerting.external`: each URL an http(s) URL or a template naming a service.
fn check_external(cx: &mut Ctx, ext: &RawExternal, services: &[String]) {
    let scope = Scope { services: services.to_vec(), mocks: Vec::new(), any_mock: false, extra: Vec::new() };
    for (field, text) in [("prometheus", Some(&ext.prometheus)), ("alertmanager", ext.alertmanager.as_ref())] {
        let Some(text) = text else { continue };
        let bad = template::refs(text).and_then(|refs| refs.iter().try_for_each(|r| scope.check(r)));
        if let Err(e) = bad {
            cx.err_value(&format!("alerting.external.{field}"), e, None);
        } else if !text.starts_with("http://") && !text.starts_with("https://") && !text.starts_with("{{") {
            cx.err_value(
                &format!("alerting.external.{field}"),
                format!("`{text}` is not an http(s) URL"),
                Some("e.g. `http://127.0.0.1:9090`".into()),
            );
        }
    }
}

/// Every rule expression of a rule file that is not valid PromQL, reported at
/// its line in the rule file (Prometheus would refuse to load the file).
fn invalid_promql(cx: &mut Ctx, path: &str, file: &Path) {
    let Ok(sources) = crate::lint::sources::load_rules(file) else { return };
    let name = file.display().to_string();
    for f in sources.findings.iter().filter(|f| f.check == crate::lint::FindingKind::ParseError) {
        let (line, what) = f
            .source
            .strip_prefix(&format!("{name}:"))
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(l, what)| Some((l.parse().ok()?, what)))
            .unwrap_or((0, f.source.as_str()));
        cx.diags.push(crate::scenario::diag::Diagnostic {
            file: file.to_path_buf(),
            line,
            col: 0,
            path: format!("{path} ({what})"),
            message: f.message.clone(),
            hint: Some(format!("fix the expression; `promtool check rules {name}` reads the file as Prometheus will")),
        });
    }
}

fn read_yaml(path: &Path) -> Result<serde_json::Value, String> {
    let text = crate::files::read_to_string(path).map_err(|e| e.to_string())?;
    serde_norway::from_str(&text).map_err(|e| e.to_string())
}

/// `alert:` names of a rule file (`groups[].rules[].alert`).
fn rule_alert_names(doc: &serde_json::Value) -> Vec<String> {
    let groups = doc.get("groups").and_then(|g| g.as_array()).map(Vec::as_slice).unwrap_or_default();
    groups
        .iter()
        .flat_map(|g| g.get("rules").and_then(|r| r.as_array()).map(Vec::as_slice).unwrap_or_default())
        .filter_map(|r| r.get("alert").and_then(|a| a.as_str()).map(String::from))
        .collect()
}

/// The route and inhibit rules, from a config file, inline, or the default.
fn routing(cx: &mut Ctx, am: Option<RawAlertmanager>, dir: &Path) -> Option<(serde_json::Value, serde_json::Value)> {
    let am = am.unwrap_or(RawAlertmanager { config: None, route: None });
    match (am.config, am.route) {
        (Some(_), Some(_)) => {
            cx.err(
                "alerting.alertmanager",
                "both `config` and `route` are set",
                Some("keep one: the config file's route, or an inline route".into()),
            );
            None
        }
        (Some(file), None) => {
            let path = dir.join(&file);
            let doc = match read_yaml(&path) {
                Ok(d) => d,
                Err(e) => {
                    cx.err_value(
                        "alerting.alertmanager.config",
                        format!("cannot read Alertmanager config `{file}`: {e}"),
                        Some("paths are relative to the scenario file".into()),
                    );
                    return None;
                }
            };
            let Some(route) = doc.get("route").cloned() else {
                cx.err_value("alerting.alertmanager.config", format!("`{file}` has no `route:`"), None);
                return None;
            };
            Some((route, doc.get("inhibit_rules").cloned().unwrap_or(serde_json::Value::Null)))
        }
        (None, Some(route)) => Some((route, serde_json::Value::Null)),
        (None, None) => Some((
            serde_json::json!({ "receiver": DEFAULT_RECEIVER, "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h" }),
            serde_json::Value::Null,
        )),
    }
}

fn collect_receivers(route: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(r) = route.get("receiver").and_then(|r| r.as_str())
        && !out.iter().any(|o| o == r)
    {
        out.push(r.to_string());
    }
    for child in route.get("routes").and_then(|r| r.as_array()).map(Vec::as_slice).unwrap_or_default() {
        collect_receivers(child, out);
    }
}
