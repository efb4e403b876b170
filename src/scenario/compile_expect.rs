//! Compiles the `expect:` list. Each item is dispatched on `kind` by hand
//! (not a serde tagged enum) so that field paths and `deny_unknown_fields`
//! errors stay precise for every kind.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_norway::Value;

use super::cmp::Comparison;
use super::compile::{Ctx, check_route, parse_window};
use super::diag::did_you_mean;
use super::plan::*;
use super::raw::*;
use super::window::{PhaseSpan, WindowExpr};

const KINDS: [&str; 18] = [
    "metric",
    "breaker",
    "fail_fast",
    "retries",
    "health",
    "load",
    "logs",
    "no_leaks",
    "trace_spans",
    "trace_complete",
    "trace_sampling",
    "alert",
    "no_alert",
    "alert_delivered",
    "promql",
    "contract",
    "no_task_lost",
    "overhead",
];

/// What expectations may refer to.
pub(super) struct Names<'a> {
    pub phases: &'a [PhaseSpan],
    pub stack: Option<&'a StackPlan>,
    pub mocks: &'a BTreeMap<String, crate::faults::MockConfig>,
    pub load: Option<&'a LoadPlan>,
    pub alerting: Option<&'a AlertingPlan>,
    pub overhead: Option<&'a OverheadPlan>,
}

impl Names<'_> {
    fn service(&self, cx: &mut Ctx, path: &str, name: &str) -> bool {
        let Some(stack) = self.stack else { return true };
        if stack.services.iter().any(|s| s.name == name) {
            return true;
        }
        let hint = did_you_mean(name, stack.services.iter().map(|s| s.name.as_str())).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(path, format!("no service named `{name}`"), hint);
        false
    }

    fn mock(&self, cx: &mut Ctx, path: &str, name: &str) {
        if !self.mocks.contains_key(name) {
            let hint = did_you_mean(name, self.mocks.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(path, format!("no mock named `{name}`"), hint.or(Some("declare it under `mocks:`".into())));
        }
    }
}

pub(super) fn cmp(cx: &mut Ctx, path: &str, text: &str) -> Option<Comparison> {
    Comparison::parse(text)
        .map_err(|e| cx.err_value(path, e, Some("write an operator and a number, e.g. `\"> 0\"`, `\"<= 3\"`, `\"< 250ms\"`".into())))
        .ok()
}

fn matchers(labels: &BTreeMap<String, Scalar>) -> Vec<LabelMatcher> {
    labels
        .iter()
        .map(|(k, v)| match v.0.strip_prefix('!') {
            Some(rest) => LabelMatcher { name: k.clone(), value: rest.to_string(), negate: true },
            None => LabelMatcher { name: k.clone(), value: v.0.clone(), negate: false },
        })
        .collect()
}

/// Exactly one of the named optional checks must be set.
pub(super) fn one_of<'a, T>(cx: &mut Ctx, path: &str, options: Vec<(&'static str, Option<&'a T>)>) -> Option<(&'static str, &'a T)> {
    let set: Vec<_> = options.iter().filter_map(|(n, v)| v.map(|v| (*n, v))).collect();
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    match set.as_slice() {
        [one] => Some(*one),
        [] => {
            cx.err(path, "no check given", Some(format!("add one of: {}", names.join(", "))));
            None
        }
        many => {
            let given: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
            cx.err(
                path,
                format!("several checks in one expectation: {}", given.join(", ")),
                Some("split them into separate expectations".into()),
            );
            None
        }
    }
}

pub(super) fn compile_expectations(cx: &mut Ctx, v: Option<Value>, names: &Names) -> Vec<Expectation> {
    let Some(v) = v else { return Vec::new() };
    let Some(items) = cx.de::<Vec<Value>>("expect", v) else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("expect[{i}]");
        let Value::Mapping(mut m) = item else {
            cx.err(&path, "an expectation must be a mapping with a `kind:`", None);
            continue;
        };
        let mut take_str =
            |cx: &mut Ctx, key: &str| -> Option<String> { m.remove(key).and_then(|v| cx.de::<String>(&format!("{path}.{key}"), v)) };
        let kind = take_str(cx, "kind");
        let common = RawCommon { name: take_str(cx, "name"), during: take_str(cx, "during"), after: take_str(cx, "after") };
        let rest = Value::Mapping(m);
        let Some(kind) = kind else {
            cx.err(&path, "missing field `kind`", Some(format!("add `kind:` with one of: {}", KINDS.join(", "))));
            continue;
        };
        let window = match (&common.during, &common.after) {
            (Some(_), Some(_)) => {
                cx.err(&path, "both `during` and `after` are set", Some("keep one of them".into()));
                None
            }
            (Some(d), None) => parse_window(cx, &format!("{path}.during"), d, names.phases, false),
            (None, Some(a)) => parse_window(cx, &format!("{path}.after"), a, names.phases, true),
            (None, None) => Some(WindowExpr::whole()),
        };
        let check = match kind.as_str() {
            "metric" => cx.de::<RawMetric>(&path, rest).and_then(|r| metric(cx, &path, r, names)),
            "breaker" => cx.de::<RawBreaker>(&path, rest).and_then(|r| breaker(cx, &path, r, names)),
            "fail_fast" => cx.de::<RawFailFast>(&path, rest).map(|r| {
                names.mock(cx, &format!("{path}.mock"), &r.mock);
                route(cx, &path, r.route.as_deref());
                Check::FailFast(FailFastCheck { mock: r.mock, route: r.route, max_rate: r.max_rate, max_per_second: r.max_per_second })
            }),
            "retries" => cx.de::<RawRetries>(&path, rest).map(|r| {
                names.mock(cx, &format!("{path}.mock"), &r.mock);
                route(cx, &path, r.route.as_deref());
                let retried = r.retried.as_deref().and_then(|t| cmp(cx, &format!("{path}.retried"), t));
                if r.max_attempts.is_none() && r.retried.is_none() && r.min_backoff.is_none() && !r.increasing {
                    cx.err(&path, "no check given", Some("add max_attempts, retried, min_backoff or increasing".into()));
                }
                Check::Retries(RetriesCheck {
                    mock: r.mock,
                    route: r.route,
                    max_attempts: r.max_attempts,
                    retried,
                    min_backoff: r.min_backoff,
                    increasing: r.increasing,
                    client_timeout: r.client_timeout,
                })
            }),
            "health" => cx.de::<RawHealth>(&path, rest).and_then(|r| health(cx, &path, r, names)),
            "load" => cx.de::<RawLoadCheck>(&path, rest).and_then(|r| load(cx, &path, r, names)),
            "logs" => cx.de::<RawLogs>(&path, rest).and_then(|r| logs(cx, &path, r, names)),
            "no_leaks" => cx.de::<RawNoLeaks>(&path, rest).and_then(|r| no_leaks(cx, &path, r, names)),
            "trace_spans" => cx.de::<RawTraceSpans>(&path, rest).and_then(|r| super::compile_traces::spans(cx, &path, r)),
            "trace_complete" => {
                cx.de::<RawTraceComplete>(&path, rest).and_then(|r| super::compile_traces::complete(cx, &path, r, names.load.is_some()))
            }
            "trace_sampling" => {
                cx.de::<RawTraceSampling>(&path, rest).and_then(|r| super::compile_traces::sampling(cx, &path, r, names.load.is_some()))
            }
            "alert" => cx
                .de::<super::raw_alerting::RawAlert>(&path, rest)
                .and_then(|r| super::compile_alerting::alert(cx, &path, r, names.alerting, names.phases)),
            "no_alert" => cx
                .de::<super::raw_alerting::RawNoAlert>(&path, rest)
                .and_then(|r| super::compile_alerting::no_alert(cx, &path, r, names.alerting)),
            "alert_delivered" => cx
                .de::<super::raw_alerting::RawAlertDelivered>(&path, rest)
                .and_then(|r| super::compile_alerting::delivered(cx, &path, r, names.alerting)),
            "contract" => {
                cx.de::<super::raw_alerting::RawContract>(&path, rest).map(|r| super::compile_alerting::contract(r, names.alerting))
            }
            "promql" => cx
                .de::<super::raw_alerting::RawPromql>(&path, rest)
                .and_then(|r| super::compile_alerting::promql(cx, &path, r, names.alerting)),
            "no_task_lost" => cx.de::<RawNoTaskLost>(&path, rest).map(|r| {
                names.service(cx, &format!("{path}.service"), &r.service);
                if names.load.is_none() {
                    cx.err(
                        &path,
                        "`no_task_lost` compares the stack's counters with the load driver's answers",
                        Some("add a `load:` section".into()),
                    );
                }
                let or = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
                Check::NoTaskLost(NoTaskLostCheck {
                    service: r.service,
                    metric: or(r.metric, "multiagent_tasks_total"),
                    label: or(r.label, "status"),
                    accepted: or(r.accepted, "started"),
                    completed: or(r.completed, "completed"),
                    failed: or(r.failed, "failed"),
                    tolerance: r.tolerance,
                })
            }),
            "overhead" => cx
                .de::<super::raw_overhead::RawOverheadBudget>(&path, rest)
                .and_then(|r| super::compile_overhead::budget(cx, &path, r, names.overhead)),
            other => {
                let hint = did_you_mean(other, KINDS)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("kinds: {}", KINDS.join(", ")));
                cx.err_value(&format!("{path}.kind"), format!("unknown expectation kind `{other}`"), Some(hint));
                None
            }
        };
        if names.overhead.is_some() && !matches!(check, Some(Check::Overhead(_)) | None) {
            cx.err(
                &format!("{path}.kind"),
                format!("`kind: {kind}` needs a timeline; an overhead scenario only takes `kind: overhead` budgets"),
                Some("move this expectation to a scenario with a `timeline:`".into()),
            );
            continue;
        }
        if names.overhead.is_some() && (common.during.is_some() || common.after.is_some()) {
            cx.err(&path, "an overhead budget has no `during` / `after`: it covers every measured round", None);
            continue;
        }
        let window = match &check {
            // An alert is followed from its fault's start to the end of the run.
            Some(Check::Alert(a)) if window.is_some() && common.during.is_none() && common.after.is_none() => {
                Some(super::compile_alerting::alert_window(&a.fault))
            }
            _ => window,
        };
        if let (Some(check), Some(window)) = (check, window) {
            let name = common.name.unwrap_or_else(|| default_name(&check, &window));
            out.push(Expectation { name, window, check });
        }
    }
    super::compile_alerting::contract_queries(&mut out);
    out
}

fn route(cx: &mut Ctx, path: &str, r: Option<&str>) {
    if let Some(Err(e)) = r.map(check_route) {
        cx.err_value(&format!("{path}.route"), e, Some("write `METHOD /path`, e.g. `POST /v1/chat/completions`".into()));
    }
}

fn default_name(check: &Check, w: &WindowExpr) -> String {
    let what = match check {
        Check::Metric(m) => format!("{} {:?}", m.metric, m.stat).to_lowercase(),
        Check::Breaker(b) => format!("breaker {} on {}", b.gauge, b.service),
        Check::FailFast(f) => format!("fail-fast at mock {}", f.mock),
        Check::Retries(r) => format!("retries at mock {}", r.mock),
        Check::Health(h) => format!("{} {} {:?}", h.service, h.endpoint, h.state).to_lowercase(),
        Check::Load(l) => format!("load {:?}", l.stat).to_lowercase(),
        Check::Logs(l) => format!("logs of {}", l.service.as_deref().unwrap_or("all services")),
        Check::NoLeaks(_) => "canary secret never leaks".to_string(),
        Check::TraceSpans(t) => format!("spans {}", t.span.name.as_deref().unwrap_or("*")),
        Check::TraceComplete(t) => format!("complete traces ({})", t.roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")),
        Check::TraceSampling(t) => format!("trace sampling {}", t.ratio),
        Check::Alert(a) => format!("alert {} fires within {:?}", a.alert, a.fires_within),
        Check::NoAlert(n) if n.alerts.is_empty() => "no alert fires".to_string(),
        Check::NoAlert(n) => format!("{} never fire", n.alerts.join(", ")),
        Check::AlertDelivered(d) => format!("alert {} delivered to {}", d.alert, d.receiver),
        Check::Promql(p) => format!("promql `{}` {}", p.query, p.cmp),
        Check::Contract(_) => "rules, dashboards and metrics match the contract".to_string(),
        Check::NoTaskLost(c) => format!("no task lost on {}", c.service),
        Check::Overhead(c) => {
            return format!("{} overhead: {}", c.variant, c.budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join(", "));
        }
    };
    format!("{what} during {}", w.text())
}

fn metric(cx: &mut Ctx, path: &str, r: RawMetric, names: &Names) -> Option<Check> {
    if let Some(s) = &r.service {
        names.service(cx, &format!("{path}.service"), s);
    }
    let present = r.present.map(|p| p.to_string());
    let (stat_name, text) = one_of(
        cx,
        path,
        vec![
            ("increase", r.increase.as_ref()),
            ("rate", r.rate.as_ref()),
            ("max", r.max.as_ref()),
            ("min", r.min.as_ref()),
            ("last", r.last.as_ref()),
            ("avg", r.avg.as_ref()),
            ("p50", r.p50.as_ref()),
            ("p90", r.p90.as_ref()),
            ("p95", r.p95.as_ref()),
            ("p99", r.p99.as_ref()),
            ("present", present.as_ref()),
        ],
    )?;
    let stat = match stat_name {
        "increase" => MetricStat::Increase,
        "rate" => MetricStat::Rate,
        "max" => MetricStat::Max,
        "min" => MetricStat::Min,
        "last" => MetricStat::Last,
        "avg" => MetricStat::Avg,
        "p50" => MetricStat::Quantile(0.5),
        "p90" => MetricStat::Quantile(0.9),
        "p95" => MetricStat::Quantile(0.95),
        "p99" => MetricStat::Quantile(0.99),
        _ => MetricStat::Present(r.present.unwrap_or(true)),
    };
    let cmp = match stat {
        MetricStat::Present(_) => None,
        _ => Some(cmp(cx, &format!("{path}.{stat_name}"), text)?),
    };
    Some(Check::Metric(MetricCheck { service: r.service, metric: r.metric, matchers: matchers(&r.labels), stat, cmp }))
}

fn breaker(cx: &mut Ctx, path: &str, r: RawBreaker, names: &Names) -> Option<Check> {
    names.service(cx, &format!("{path}.service"), &r.service);
    let fault = parse_window(cx, &format!("{path}.fault"), &r.fault, names.phases, false);
    let states: Vec<(String, f64)> = match r.states {
        Some(s) => s.into_iter().collect(),
        None => vec![("closed".into(), 0.0), ("open".into(), 1.0), ("half_open".into(), 2.0)],
    };
    let sequence = r.sequence.unwrap_or_else(|| ["closed", "open", "half_open", "closed"].map(String::from).to_vec());
    for (i, s) in sequence.iter().enumerate() {
        if !states.iter().any(|(n, _)| n == s) {
            let known: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
            cx.err_value(
                &format!("{path}.sequence[{i}]"),
                format!("state `{s}` is not in `states`"),
                Some(format!("states are: {}", known.join(", "))),
            );
        }
    }
    for needed in ["closed", "open"] {
        if !states.iter().any(|(n, _)| n == needed) {
            cx.err(
                &format!("{path}.states"),
                format!("`states` must map `{needed}`"),
                Some("e.g. `states: { closed: 0, open: 1, half_open: 2 }`".into()),
            );
        }
    }
    let interval = names.stack.map_or(Duration::from_millis(250), |s| s.scrape_interval);
    Some(Check::Breaker(Box::new(BreakerCheck {
        service: r.service,
        gauge: r.gauge,
        matchers: matchers(&r.labels),
        states,
        transitions: r.transitions.map(|t| TransitionsSpec { metric: t.metric, from_label: t.from_label, to_label: t.to_label }),
        fault: fault?,
        sequence,
        opens_within: r.opens_within,
        half_open_after: r.half_open_after,
        closes_within: r.closes_within,
        tolerance: r.tolerance.unwrap_or(interval * 2),
        max_transitions: r.max_transitions,
    })))
}

fn health(cx: &mut Ctx, path: &str, r: RawHealth, names: &Names) -> Option<Check> {
    if names.service(cx, &format!("{path}.service"), &r.service)
        && let Some(svc) = names.stack.and_then(|s| s.services.iter().find(|s| s.name == r.service))
        && !svc.health.contains_key(&r.endpoint)
    {
        let known: Vec<&str> = svc.health.keys().map(String::as_str).collect();
        cx.err_value(
            &format!("{path}.endpoint"),
            format!("service `{}` declares no health endpoint `{}`", r.service, r.endpoint),
            Some(if known.is_empty() {
                format!("add `health: {{ {}: /path }}` to the service", r.endpoint)
            } else {
                format!("declared: {}", known.join(", "))
            }),
        );
    }
    let state = match r.state.as_str() {
        "up" => HealthState::Up,
        "down" => HealthState::Down,
        other => {
            cx.err_value(&format!("{path}.state"), format!("unknown state `{other}`"), Some("use `up` or `down`".into()));
            return None;
        }
    };
    let always = match r.mode.as_deref() {
        None | Some("always") => true,
        Some("eventually") => false,
        Some(other) => {
            cx.err_value(&format!("{path}.mode"), format!("unknown mode `{other}`"), Some("use `always` or `eventually`".into()));
            return None;
        }
    };
    Some(Check::Health(HealthCheck { service: r.service, endpoint: r.endpoint, state, always }))
}

fn load(cx: &mut Ctx, path: &str, r: RawLoadCheck, names: &Names) -> Option<Check> {
    match (names.load, &r.request) {
        (None, _) => cx.err(path, "a `load` expectation needs a `load:` section", None),
        (Some(l), Some(req)) if !l.requests.iter().any(|q| &q.name == req) => {
            let hint = did_you_mean(req, l.requests.iter().map(|q| q.name.as_str())).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(&format!("{path}.request"), format!("no request named `{req}` in the load mix"), hint);
        }
        _ => {}
    }
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("error_ratio", r.error_ratio.as_ref()),
            ("achieved_ratio", r.achieved_ratio.as_ref()),
            ("p50", r.p50.as_ref()),
            ("p95", r.p95.as_ref()),
            ("p99", r.p99.as_ref()),
            ("requests", r.requests.as_ref()),
        ],
    )?;
    let stat = match name {
        "error_ratio" => LoadStat::ErrorRatio,
        "achieved_ratio" => LoadStat::AchievedRatio,
        "p50" => LoadStat::Quantile(0.5),
        "p95" => LoadStat::Quantile(0.95),
        "p99" => LoadStat::Quantile(0.99),
        _ => LoadStat::Requests,
    };
    let cmp = cmp(cx, &format!("{path}.{name}"), text)?;
    Some(Check::Load(LoadCheck { request: r.request, stat, cmp }))
}

fn logs(cx: &mut Ctx, path: &str, r: RawLogs, names: &Names) -> Option<Check> {
    if let Some(s) = &r.service {
        names.service(cx, &format!("{path}.service"), s);
    }
    let streams = match r.stream.as_deref() {
        None | Some("stdout") => LogStreams::Stdout,
        Some("stderr") => LogStreams::Stderr,
        Some("both") => LogStreams::Both,
        Some(other) => {
            cx.err_value(&format!("{path}.stream"), format!("unknown stream `{other}`"), Some("use `stdout`, `stderr` or `both`".into()));
            return None;
        }
    };
    let required = r.required_fields.as_ref().map(|f| f.join(","));
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("json_ratio", r.json_ratio.as_ref()),
            ("required_fields", required.as_ref()),
            ("count", r.count.as_ref()),
            ("correlated", r.correlated.as_ref()),
        ],
    )?;
    let stat = match name {
        "json_ratio" => LogStat::JsonRatio(cmp(cx, &format!("{path}.json_ratio"), text)?),
        "count" => LogStat::Count(cmp(cx, &format!("{path}.count"), text)?),
        "correlated" => {
            LogStat::Correlated(cmp(cx, &format!("{path}.correlated"), text)?, r.trace_field.clone().unwrap_or_else(|| "trace_id".into()))
        }
        _ => {
            let fields = r.required_fields.clone().unwrap_or_default();
            if fields.is_empty() {
                cx.err_value(&format!("{path}.required_fields"), "list at least one field", None);
            }
            LogStat::Required(fields)
        }
    };
    Some(Check::Logs(LogCheck {
        service: r.service,
        streams,
        filter: r.filter.into_iter().map(|(k, v)| (k, v.0)).collect(),
        level: r.level,
        level_field: r.level_field.unwrap_or_else(|| "level".into()),
        stat,
    }))
}

fn no_leaks(cx: &mut Ctx, path: &str, r: RawNoLeaks, names: &Names) -> Option<Check> {
    if !names.load.is_some_and(|l| l.canary) {
        cx.err(path, "`no_leaks` needs a canary secret in the load", Some("add `canary: true` under `load:`".into()));
    }
    let mut places = Vec::new();
    for (i, p) in r.places.iter().enumerate() {
        match p.as_str() {
            "logs" => places.push(LeakPlace::Logs),
            "metrics" => places.push(LeakPlace::Metrics),
            "spans" => places.push(LeakPlace::Spans),
            other => cx.err_value(
                &format!("{path}.in[{i}]"),
                format!("unknown place `{other}`"),
                Some("use `logs`, `metrics` or `spans`".into()),
            ),
        }
    }
    if places.is_empty() {
        places = vec![LeakPlace::Logs, LeakPlace::Metrics, LeakPlace::Spans];
    }
    Some(Check::NoLeaks(NoLeaksCheck { places }))
}
