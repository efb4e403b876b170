//! `timeline:` — phases in order, and the faults switched on and off during
//! them: on a mock (an HTTP/LLM fault) or on a stack service (kill, stop,
//! pause, disconnect, restart). Raw form, plan, compile step.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::ctx::{Ctx, parse_window};
use super::diag::did_you_mean;
use super::window::{PhaseSpan, WindowExpr};

/// `timeline:` — named phases in order, and faults switched on and off.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: String,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub duration: Duration,
    /// The load's rate during this phase (requests/s), instead of `load.rate`:
    /// steps and spikes are phases with their own rates.
    pub rate: Option<f64>,
    /// The load's rate going linearly from the first value to the second across the phase.
    pub ramp: Option<Vec<f64>>,
}

/// A fault on a stack service itself (`service:` instead of `mock:`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServiceFault {
    pub name: Option<String>,
    pub service: String,
    /// When: the action at the window's start, its undoing at the end.
    pub during: String,
    pub action: crate::scenario::ServiceAction,
    /// `kill` / `stop`: start the service again at the window's end (default true).
    pub restart: Option<bool>,
}

/// One fault action: active on `mock` (optionally one route) during a window.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub name: Option<String>,
    pub mock: String,
    /// Only requests matching `METHOD /path` (templates `{id}` and `*` allowed).
    pub route: Option<String>,
    /// When the fault is active, e.g. `outage` or `outage+1s..outage.end`.
    pub during: String,
    pub fault: crate::faults::FaultSpec,
}

/// What a service fault does at its window's start (and undoes at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAction {
    /// SIGKILL; started again at the window's end when `restart` (default).
    Kill,
    /// SIGTERM, then SIGKILL after the stop timeout; started again at the end.
    Stop,
    /// Frozen (SIGSTOP / docker pause) until the window's end.
    Pause,
    /// Docker only: cut from the network until the window's end.
    Disconnect,
    /// A graceful restart at the window's start (the end is not used).
    Restart,
}

impl ServiceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAction::Kill => "kill",
            ServiceAction::Stop => "stop",
            ServiceAction::Pause => "pause",
            ServiceAction::Disconnect => "disconnect",
            ServiceAction::Restart => "restart",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceFaultPlan {
    pub id: String,
    pub service: String,
    pub window: WindowExpr,
    pub action: ServiceAction,
    pub restart: bool,
}

#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub id: String,
    pub mock: String,
    pub route: Option<String>,
    pub window: WindowExpr,
    pub spec: crate::faults::FaultSpec,
}

pub fn compile_phases(cx: &mut Ctx, timeline: Option<&Value>) -> Vec<PhaseSpan> {
    let Some(Value::Mapping(m)) = timeline else {
        if !cx.broken.contains("timeline") {
            cx.err("", "missing `timeline:` section", Some("add `timeline: { phases: [{ name: steady, duration: 10s }] }`".into()));
        }
        cx.broken.insert("timeline".into());
        return Vec::new();
    };
    for k in m.keys() {
        if let Value::String(k) = k
            && k != "phases"
            && k != "faults"
        {
            let hint = did_you_mean(k, ["phases", "faults"]).map(|s| format!("did you mean `{s}`?"));
            cx.err(&format!("timeline.{k}"), format!("unknown field `{k}`"), hint.or(Some("valid fields: phases, faults".into())));
        }
    }
    let Some(v) = m.get("phases").cloned() else {
        cx.err("timeline", "missing field `phases`", Some("list the phases in order, e.g. `- { name: steady, duration: 10s }`".into()));
        return Vec::new();
    };
    let Some(items) = cx.de::<Vec<Value>>("timeline.phases", v) else { return Vec::new() };
    let mut out: Vec<PhaseSpan> = Vec::new();
    let mut at = Duration::ZERO;
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("timeline.phases[{i}]");
        let Some(p) = cx.de::<RawPhase>(&path, item) else { continue };
        if p.duration.is_zero() {
            cx.err_value(&format!("{path}.duration"), "a phase must last longer than zero", None);
        } else if !cx.duration(&format!("{path}.duration"), p.duration, false) {
            continue;
        }
        if ["start", "end"].contains(&p.name.as_str()) || p.name.contains(['.', '+', '-', ' ']) {
            cx.err_value(
                &format!("{path}.name"),
                format!("`{}` cannot name a phase", p.name),
                Some("use letters, digits and `_`; `start` and `end` are reserved".into()),
            );
        }
        if out.iter().any(|s| s.name == p.name) {
            cx.err_value(&format!("{path}.name"), format!("phase `{}` is declared twice", p.name), None);
        }
        let rate = phase_rate(cx, &path, &p);
        out.push(PhaseSpan { name: p.name, start: at, end: at + p.duration, rate });
        at += p.duration;
    }
    if out.is_empty() && !cx.diags.iter().any(|d| d.path.starts_with("timeline")) {
        cx.err("timeline.phases", "at least one phase is needed", None);
    }
    out
}

/// A phase's own `rate:` or `ramp: [from, to]`.
fn phase_rate(cx: &mut Ctx, path: &str, p: &RawPhase) -> Option<(f64, f64)> {
    let max = crate::scenario::load::MAX_RATE;
    match (p.rate, &p.ramp) {
        (Some(_), Some(_)) => {
            cx.err(&format!("{path}.ramp"), "a phase has either `rate` or `ramp`", Some("keep one of them".into()));
            None
        }
        (Some(r), None) => {
            if !(r > 0.0 && r <= max) {
                cx.err_value(
                    &format!("{path}.rate"),
                    format!("a phase's rate must be a positive number of requests per second, at most {max}"),
                    Some("e.g. `rate: 50`".into()),
                );
                return None;
            }
            Some((r, r))
        }
        (None, Some(v)) => {
            if v.len() != 2 {
                cx.err_value(
                    &format!("{path}.ramp"),
                    format!("a ramp has two rates, from and to; this one has {}", v.len()),
                    Some("e.g. `ramp: [10, 200]`".into()),
                );
                return None;
            }
            if !v.iter().all(|r| (0.0..=max).contains(r)) || v[0] + v[1] <= 0.0 {
                cx.err_value(
                    &format!("{path}.ramp"),
                    "ramp rates must be between 0 and the maximum, and not both 0",
                    Some("e.g. `ramp: [0, 200]`".into()),
                );
                return None;
            }
            Some((v[0], v[1]))
        }
        (None, None) => None,
    }
}

pub fn compile_faults(
    cx: &mut Ctx,
    timeline: Option<Value>,
    phases: &[PhaseSpan],
    mocks: &BTreeMap<String, crate::faults::MockConfig>,
    services: &[String],
) -> (Vec<FaultPlan>, Vec<ServiceFaultPlan>) {
    let Some(Value::Mapping(mut m)) = timeline else { return Default::default() };
    let Some(v) = m.remove("faults") else { return Default::default() };
    let Some(items) = cx.de::<Vec<Value>>("timeline.faults", v) else { return Default::default() };
    let mut out = Vec::new();
    let mut on_services = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("timeline.faults[{i}]");
        if item.as_mapping().is_some_and(|m| m.contains_key("service")) {
            on_services.extend(compile_service_fault(cx, &path, item, phases, services, i));
            continue;
        }
        let Some(f) = cx.de::<RawFault>(&path, item) else { continue };
        let window = parse_window(cx, &format!("{path}.during"), &f.during, phases, false);
        let Some(mock) = mocks.get(&f.mock) else {
            if cx.is_broken("mocks", &f.mock) {
                continue;
            }
            let hint = did_you_mean(&f.mock, mocks.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(&format!("{path}.mock"), format!("no mock named `{}`", f.mock), hint.or(Some("declare it under `mocks:`".into())));
            continue;
        };
        for problem in crate::faults::validate(mock, &f.fault) {
            cx.err(&format!("{path}.fault"), problem, None);
        }
        if let Some(r) = &f.route {
            match r.parse::<crate::faults::RouteFilter>() {
                Ok(filter) => {
                    for problem in crate::faults::validate_route(mock, &filter) {
                        cx.err_value(&format!("{path}.route"), problem, None);
                    }
                }
                Err(e) => {
                    cx.err_value(&format!("{path}.route"), e.to_string(), Some("write `METHOD /path`, e.g. `GET /items/{id}`".into()))
                }
            }
        }
        if let Some(window) = window {
            out.push(FaultPlan { id: f.name.unwrap_or_else(|| format!("fault-{i}")), mock: f.mock, route: f.route, window, spec: f.fault });
        }
    }
    (out, on_services)
}

/// `{ service: worker, action: kill, during: crash }`: a fault on the stack itself.
fn compile_service_fault(
    cx: &mut Ctx,
    path: &str,
    item: Value,
    phases: &[PhaseSpan],
    services: &[String],
    i: usize,
) -> Option<ServiceFaultPlan> {
    let f = cx.de::<RawServiceFault>(path, item)?;
    let window = parse_window(cx, &format!("{path}.during"), &f.during, phases, false);
    if !services.contains(&f.service) {
        if cx.is_broken("services", &f.service) {
            return None;
        }
        let hint = did_you_mean(&f.service, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(
            &format!("{path}.service"),
            format!("no service named `{}`", f.service),
            hint.or(Some("name one under `stack.services`".into())),
        );
        return None;
    }
    if f.restart.is_some() && !matches!(f.action, ServiceAction::Kill | ServiceAction::Stop) {
        cx.err(
            &format!("{path}.restart"),
            format!("`restart` only applies to `kill` and `stop`, not `{}`", f.action.as_str()),
            Some("remove it".into()),
        );
    }
    Some(ServiceFaultPlan {
        id: f.name.unwrap_or_else(|| format!("fault-{i}")),
        service: f.service,
        window: window?,
        action: f.action,
        restart: f.restart.unwrap_or(true),
    })
}
