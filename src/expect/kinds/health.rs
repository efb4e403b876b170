//! `kind: health` — a health endpoint's probed state over a window: `up`
//! (2xx) at every probe (`always`) or at least one (`eventually`).

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::health::HealthSample;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::scenario::{Ctx, Names};

/// `kind: health` — a health endpoint's state over a window.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub service: String,
    /// Endpoint name from the service's `health:` map, e.g. `ready`.
    pub endpoint: String,
    /// `up` (2xx) or `down` (anything else, or no answer).
    pub state: String,
    /// `always` (every probe in the window, default) or `eventually` (at least one).
    pub mode: Option<String>,
    /// A window with no probe passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub enum HealthState {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub service: String,
    pub endpoint: String,
    pub state: HealthState,
    /// true: every probe in the window; false: at least one.
    pub always: bool,
    pub allow_empty: bool,
}

impl Kind for HealthCheck {
    const NAME: &'static str = "health";
    type Raw = RawHealth;

    fn compile(cx: &mut Ctx, path: &str, r: RawHealth, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("{} {} {:?}", self.service, self.endpoint, self.state).to_lowercase()
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        health(self, &rec.health, w)
    }

    fn signals(&self) -> Signals {
        let mut s = Signals::default().service(Some(&self.service));
        s.health.insert(format!("{}/{}", self.service, self.endpoint));
        s
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawHealth, names: &Names) -> Option<HealthCheck> {
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
    Some(HealthCheck { service: r.service, endpoint: r.endpoint, state, always, allow_empty: r.allow_empty })
}

pub(crate) fn health(c: &HealthCheck, samples: &[HealthSample], w: Window) -> Judgement {
    let state = match c.state {
        HealthState::Up => "up",
        HealthState::Down => "down",
    };
    let expected = format!("{} {} {} {}", c.service, c.endpoint, if c.always { "always" } else { "eventually" }, state);
    let inw: Vec<&HealthSample> =
        samples.iter().filter(|s| s.service == c.service && s.endpoint == c.endpoint && w.contains(s.at)).collect();
    if inw.is_empty() {
        let probes = samples.iter().filter(|s| s.service == c.service && s.endpoint == c.endpoint).count();
        return crate::expect::kind::no_data(c.allow_empty, expected, "no probe was made in it", json!({ "probes_in_run": probes }));
    }
    let matching = inw.iter().filter(|s| s.up() == (c.state == HealthState::Up)).count();
    let pass = if c.always { matching == inw.len() } else { matching > 0 };
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for s in &inw {
        *statuses.entry(s.status.map_or_else(|| s.error.clone().unwrap_or_else(|| "no answer".into()), |c| c.to_string())).or_default() +=
            1;
    }
    let first_other = inw
        .iter()
        .find(|s| s.up() != (c.state == HealthState::Up))
        .map(|s| json!({ "at_ms": s.at.as_millis() as u64, "status": s.status, "error": s.error }));
    Judgement {
        pass,
        expected,
        observed: format!("{matching}/{} probes {state}", inw.len()),
        evidence: json!({ "probes": inw.len(), "statuses": statuses, "first_contrary_probe": first_other }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn probe(at_s: u64, status: Option<u16>) -> HealthSample {
        HealthSample { at: Duration::from_secs(at_s), service: "svc".into(), endpoint: "ready".into(), status, error: None }
    }

    #[test]
    fn probes_are_judged_and_a_window_without_one_is_no_data() {
        let c = HealthCheck { service: "svc".into(), endpoint: "ready".into(), state: HealthState::Up, always: true, allow_empty: false };
        let samples = [probe(1, Some(200)), probe(2, Some(200)), probe(3, None), probe(4, Some(200))];
        let w = |a, b| Window::new(Duration::from_secs(a), Duration::from_secs(b));
        assert!(health(&c, &samples, w(1, 2)).pass);
        let j = health(&c, &samples, w(1, 5));
        assert!(!j.pass && j.observed == "3/4 probes up", "{}", j.observed);
        assert!(health(&HealthCheck { always: false, ..c.clone() }, &samples, w(3, 5)).pass, "eventually");
        let j = health(&c, &samples, w(6, 9));
        assert!(!j.pass && j.observed == "no data in the window: no probe was made in it", "{}", j.observed);
        assert!(health(&HealthCheck { allow_empty: true, ..c }, &samples, w(6, 9)).pass);
    }
}
