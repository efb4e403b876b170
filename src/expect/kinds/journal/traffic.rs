//! `kind: traffic` — a floor on the calls that reach a mock: the dependency
//! that should take the load (a fallback deployment, a provider after its
//! recovery) really does. `fail_fast` is the ceiling beside it.

use serde::Deserialize;
use serde_json::json;

use super::{StatusSel, answered, journal, per_second};
use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::faults::JournalEntry;
use crate::scenario::{Ctx, Names, Scalar, route};

/// `kind: traffic` — at least so many calls reach the mock.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub mock: String,
    /// Only calls matching `METHOD /path`.
    pub route: Option<String>,
    /// Only calls answered with this status: `200`, a class such as `2xx`, or
    /// `none` (no answer sent).
    pub status: Option<Scalar>,
    /// At least this many calls per second, averaged over the window.
    pub min_rate: Option<f64>,
    /// And at least this many in every whole second of the window.
    pub min_per_second: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct TrafficCheck {
    pub mock: String,
    pub route: Option<String>,
    pub status: Option<StatusSel>,
    pub min_rate: Option<f64>,
    pub min_per_second: Option<u32>,
}

impl Kind for TrafficCheck {
    const NAME: &'static str = "traffic";
    type Raw = RawTraffic;

    fn compile(cx: &mut Ctx, path: &str, r: RawTraffic, names: &Names) -> Option<Self> {
        names.mock(cx, &format!("{path}.mock"), &r.mock);
        route(cx, path, r.route.as_deref());
        if r.min_rate.is_none() && r.min_per_second.is_none() {
            cx.err(path, "a floor needs `min_rate` or `min_per_second`", Some("e.g. `min_rate: 5` (calls/s over the window)".into()));
            return None;
        }
        if r.min_rate.is_some_and(|m| !(m > 0.0 && m.is_finite())) || r.min_per_second == Some(0) {
            let field = if r.min_per_second == Some(0) { "min_per_second" } else { "min_rate" };
            cx.err_value(&format!("{path}.{field}"), "a floor must be above 0 (a floor of 0 holds on any window)", None);
            return None;
        }
        let status = StatusSel::compile(cx, &format!("{path}.status"), r.status.as_ref())?;
        Some(TrafficCheck { mock: r.mock, route: r.route, status, min_rate: r.min_rate, min_per_second: r.min_per_second })
    }

    fn describe(&self) -> String {
        format!("traffic at mock {}", self.mock)
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        traffic(self, journal(rec, &self.mock), w)
    }

    fn signals(&self) -> Signals {
        Signals::default().mock(&self.mock)
    }
}

pub(crate) fn traffic(c: &TrafficCheck, entries: &[JournalEntry], w: Window) -> Judgement {
    let hits: Vec<&JournalEntry> = answered(entries, c.route.as_deref(), c.status, w);
    let answered = c.status.map(|s| format!(" answered {}", s.text())).unwrap_or_default();
    let mut floors = Vec::new();
    if let Some(m) = c.min_rate {
        floors.push(format!("at least {m} calls/s"));
    }
    if let Some(m) = c.min_per_second {
        floors.push(format!("at least {m} in every second"));
    }
    let expected = format!("{} reach mock `{}`{answered}", floors.join(" and "), c.mock);
    let secs = w.len().as_secs_f64();
    let rate = if secs > 0.0 { hits.len() as f64 / secs } else { 0.0 };
    let buckets = per_second(&hits, w, true);
    let fewest = buckets.iter().min_by_key(|(_, n)| **n).map(|(s, n)| (*s, *n));
    let evidence = json!({ "calls": hits.len(), "rate": rate, "per_second": buckets.values().collect::<Vec<_>>() });
    if c.min_per_second.is_some() && fewest.is_none() {
        let observed = format!("not judgeable: the window ({secs:.2}s) holds no whole second");
        return Judgement { pass: false, expected, observed, evidence };
    }
    let pass = c.min_rate.is_none_or(|m| rate >= m) && c.min_per_second.is_none_or(|m| fewest.is_some_and(|(_, n)| n >= m));
    let fewest_text = fewest.map(|(s, n)| format!(", fewest {n} in one second (+{s}s)")).unwrap_or_default();
    Judgement { pass, expected, observed: format!("{} calls in {secs:.1}s = {rate:.2}/s{fewest_text}", hits.len()), evidence }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::*;
    use super::*;
    use crate::faults::Outcome;

    fn check(min_rate: Option<f64>, min_per_second: Option<u32>, status: Option<&str>) -> TrafficCheck {
        TrafficCheck { mock: "b".into(), route: None, status: status.and_then(StatusSel::parse), min_rate, min_per_second }
    }

    #[test]
    fn a_floor_holds_on_steady_traffic_and_fails_on_a_gap_or_none() {
        let w = Window::new(Duration::ZERO, Duration::from_millis(4500));
        let steady: Vec<_> = (0..18).map(|i| e("x", i * 250, i * 250 + 5, Outcome::Ok)).collect();
        assert!(traffic(&check(Some(3.0), Some(3), None), &steady, w).pass, "4 calls/s, 4 in every whole second");
        let gap: Vec<_> = steady.iter().filter(|x| !(2000..3000).contains(&(x.at.as_millis() as u64))).cloned().collect();
        let j = traffic(&check(None, Some(1), None), &gap, w);
        assert!(!j.pass && j.observed.ends_with("fewest 0 in one second (+2s)"), "{}", j.observed);
        assert!(traffic(&check(Some(2.0), None, None), &gap, w).pass, "the average still holds");
        let j = traffic(&check(Some(0.1), None, None), &[], w);
        assert!(!j.pass && j.observed.starts_with("0 calls"), "never called: {}", j.observed);
        let failed: Vec<_> = (0..18).map(|i| e("x", i * 250, i * 250 + 5, Outcome::Error)).collect();
        assert!(!traffic(&check(Some(1.0), None, Some("2xx")), &failed, w).pass, "calls that all failed are no 2xx traffic");
        let short = Window::new(Duration::ZERO, Duration::from_millis(800));
        assert!(traffic(&check(None, Some(1), None), &steady, short).observed.starts_with("not judgeable"));
    }
}
