//! Compiles the `alerting:` section (rule files, Alertmanager routes,
//! managed or external mode) and the expectation kinds that need it:
//! `alert`, `no_alert`, `alert_delivered`, `promql`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_norway::Value;

use super::compile::Ctx;
use super::compile_expect::cmp;
use super::diag::did_you_mean;
use super::plan::*;
use super::raw_alerting::*;
use super::template::{self, Scope};
use super::window::{PhaseSpan, WindowExpr};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// Receiver of the default route when the scenario gives none.
pub const DEFAULT_RECEIVER: &str = "ordeal";

pub(super) fn section(cx: &mut Ctx, v: Value, dir: &Path, services: &[String]) -> Option<AlertingPlan> {
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
            Ok(doc) => alert_names.extend(rule_alert_names(&doc)),
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
        if let Err(e) = std::fs::read_to_string(&path)
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
            let scope = Scope { services: services.to_vec(), mocks: Vec::new(), extra: Vec::new() };
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

fn read_yaml(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
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

fn needs_alerting<'a>(cx: &mut Ctx, path: &str, alerting: Option<&'a AlertingPlan>) -> Option<&'a AlertingPlan> {
    if alerting.is_none() {
        cx.err(
            &format!("{path}.kind"),
            "this expectation needs an `alerting:` section",
            Some("add `alerting: { rules: [rules.yaml] }` (ordeal then runs Prometheus and Alertmanager)".into()),
        );
    }
    alerting
}

fn alert_name(cx: &mut Ctx, path: &str, name: &str, alerting: &AlertingPlan) {
    if !alerting.alert_names.is_empty() && !alerting.alert_names.iter().any(|a| a == name) {
        let hint = did_you_mean(name, alerting.alert_names.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("the rule files define: {}", alerting.alert_names.join(", ")));
        cx.err_value(path, format!("no alert named `{name}` in the rule files"), Some(hint));
    }
}

fn labels(l: std::collections::BTreeMap<String, super::raw::Scalar>) -> Vec<(String, String)> {
    l.into_iter().map(|(k, v)| (k, v.0)).collect()
}

pub(super) fn alert(cx: &mut Ctx, path: &str, r: RawAlert, alerting: Option<&AlertingPlan>, phases: &[PhaseSpan]) -> Option<Check> {
    let alerting = needs_alerting(cx, path, alerting)?;
    alert_name(cx, &format!("{path}.alert"), &r.alert, alerting);
    let fault = super::compile::parse_window(cx, &format!("{path}.fault"), &r.fault, phases, false)?;
    if let (Some(d), Some(w)) = (r.resolves_within, fault.resolve(phases)) {
        let end = phases.last().map(|p| p.end).unwrap_or_default();
        if w.end + d > end {
            let left = end.saturating_sub(w.end);
            cx.err_value(
                &format!("{path}.resolves_within"),
                format!("the run ends {left:?} after `{}` ends, so resolution within {d:?} cannot be observed", r.fault),
                Some("lengthen the phase after the fault, or lower `resolves_within`".into()),
            );
        }
    }
    Some(Check::Alert(Box::new(AlertCheck {
        alert: r.alert,
        labels: labels(r.labels),
        annotations: r.annotations,
        fault,
        pending_within: r.pending_within,
        fires_within: r.fires_within,
        resolves_within: r.resolves_within,
    })))
}

pub(super) fn no_alert(cx: &mut Ctx, path: &str, r: RawNoAlert, alerting: Option<&AlertingPlan>) -> Option<Check> {
    let alerting = needs_alerting(cx, path, alerting)?;
    for (i, a) in r.alerts.iter().enumerate() {
        alert_name(cx, &format!("{path}.alerts[{i}]"), a, alerting);
    }
    Some(Check::NoAlert(NoAlertCheck { alerts: r.alerts, include_pending: r.pending }))
}

pub(super) fn delivered(cx: &mut Ctx, path: &str, r: RawAlertDelivered, alerting: Option<&AlertingPlan>) -> Option<Check> {
    let alerting = needs_alerting(cx, path, alerting)?;
    alert_name(cx, &format!("{path}.alert"), &r.alert, alerting);
    if let Some(m) = alerting.managed()
        && !m.receivers.contains(&r.receiver)
    {
        let hint = did_you_mean(&r.receiver, m.receivers.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("the route's receivers are: {}", m.receivers.join(", ")));
        cx.err_value(&format!("{path}.receiver"), format!("no receiver named `{}` in the Alertmanager route", r.receiver), Some(hint));
    }
    let status = r.status.unwrap_or_else(|| "firing".into());
    if status != "firing" && status != "resolved" {
        cx.err_value(&format!("{path}.status"), format!("unknown status `{status}`"), Some("use `firing` or `resolved`".into()));
        return None;
    }
    Some(Check::AlertDelivered(AlertDeliveredCheck {
        alert: r.alert,
        receiver: r.receiver,
        status,
        within: r.within,
        labels: labels(r.labels),
    }))
}

pub(super) fn promql(cx: &mut Ctx, path: &str, r: RawPromql, alerting: Option<&AlertingPlan>) -> Option<Check> {
    needs_alerting(cx, path, alerting)?;
    if r.query.trim().is_empty() {
        cx.err_value(&format!("{path}.query"), "empty query", None);
    }
    let mode = match r.mode.as_deref().unwrap_or("always") {
        "always" => PromqlMode::Always,
        "eventually" => PromqlMode::Eventually,
        "at_end" => PromqlMode::AtEnd,
        other => {
            cx.err_value(&format!("{path}.mode"), format!("unknown mode `{other}`"), Some("use `always`, `eventually` or `at_end`".into()));
            return None;
        }
    };
    let c = cmp(cx, &format!("{path}.value"), &r.value)?;
    Some(Check::Promql(PromqlCheck { query: r.query, cmp: c, mode, step: r.step, allow_empty: r.allow_empty }))
}

/// The window of an alert check: from its fault's start to the end of the run.
pub fn alert_window(fault: &WindowExpr) -> WindowExpr {
    WindowExpr::parse(&format!("{}..end", fault.text())).unwrap_or_else(|_| fault.clone())
}

/// `kind: contract`; its `queries` are filled in once every expectation is
/// compiled (see [`contract_queries`]).
pub(super) fn contract(r: RawContract, alerting: Option<&AlertingPlan>) -> Check {
    let spec = crate::lint::ContractSpec {
        rules: if r.rules { alerting.map(|a| a.rules.clone()).unwrap_or_default() } else { Vec::new() },
        dashboards: if r.dashboards { alerting.map(|a| a.dashboards.clone()).unwrap_or_default() } else { Vec::new() },
        queries: Vec::new(),
        naming: r.naming,
        cardinality: r.cardinality,
    };
    Check::Contract(Box::new(ContractCheck { spec, with_queries: r.queries }))
}

/// Give every contract check that wants them the scenario's `kind: promql` queries.
pub(super) fn contract_queries(out: &mut [Expectation]) {
    let queries = super::plan_alerting::promql_queries(out);
    for e in out.iter_mut() {
        if let Check::Contract(c) = &mut e.check
            && c.with_queries
        {
            c.spec.queries = queries.clone();
        }
    }
}
