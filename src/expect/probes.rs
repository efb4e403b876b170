//! `kind: health` (probe results over a window) and `kind: load` (what the
//! load driver saw).

use serde_json::json;

use super::Judgement;
use crate::clock::Window;
use crate::collectors::health::HealthSample;
use crate::load::LoadRecord;
use crate::scenario::{HealthCheck, HealthState, LoadCheck, LoadStat};

pub(crate) fn health(c: &HealthCheck, samples: &[HealthSample], w: Window) -> Judgement {
    let state = match c.state {
        HealthState::Up => "up",
        HealthState::Down => "down",
    };
    let expected = format!("{} {} {} {}", c.service, c.endpoint, if c.always { "always" } else { "eventually" }, state);
    let inw: Vec<&HealthSample> =
        samples.iter().filter(|s| s.service == c.service && s.endpoint == c.endpoint && w.contains(s.at)).collect();
    let matching = inw.iter().filter(|s| s.up() == (c.state == HealthState::Up)).count();
    let pass = !inw.is_empty() && if c.always { matching == inw.len() } else { matching > 0 };
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
        observed: if inw.is_empty() { "no probes in the window".into() } else { format!("{matching}/{} probes {state}", inw.len()) },
        evidence: json!({ "probes": inw.len(), "statuses": statuses, "first_contrary_probe": first_other }),
    }
}

pub(crate) fn load(c: &LoadCheck, rec: Option<&LoadRecord>, rate: f64, w: Window) -> Judgement {
    let Some(rec) = rec else {
        return Judgement { pass: false, expected: "load statistics".into(), observed: "no load ran".into(), evidence: json!(null) };
    };
    let idx = c.request.as_ref().and_then(|n| rec.names.iter().position(|x| x == n));
    let st = rec.stats(w, idx);
    let (name, v) = match c.stat {
        LoadStat::ErrorRatio => ("error_ratio", Some(st.error_ratio)),
        LoadStat::AchievedRatio => ("achieved_ratio", Some(if rate > 0.0 { st.achieved_rate / rate } else { 0.0 })),
        LoadStat::Requests => ("requests", Some(st.requests as f64)),
        LoadStat::Quantile(q) => {
            let v = match q {
                x if x <= 0.5 => st.p50_ms,
                x if x <= 0.95 => st.p95_ms,
                _ => st.p99_ms,
            };
            (
                if q <= 0.5 {
                    "p50"
                } else if q <= 0.95 {
                    "p95"
                } else {
                    "p99"
                },
                v.map(|ms| ms / 1000.0),
            )
        }
    };
    let scope = c.request.as_deref().map(|r| format!(" of `{r}`")).unwrap_or_default();
    Judgement {
        pass: v.is_some_and(|v| c.cmp.holds(v)),
        expected: format!("{name}{scope} {}", c.cmp),
        observed: v.map_or_else(|| "no requests in the window".into(), |v| format!("{name} = {}", super::metric::fmt_num(v))),
        evidence: json!(st),
    }
}
