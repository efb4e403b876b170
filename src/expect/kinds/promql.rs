//! `kind: promql`: a PromQL expression the real Prometheus evaluated over the
//! expectation's window (`query_range`, or `query` at its end) during the
//! run; here the recorded answer is compared.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::alerts::needs_alerting;
use crate::clock::Window;
use crate::collectors::alerts::promapi::QuerySeries;
use crate::expect::kind::{Kind, Signals};
use crate::expect::series::fmt_num;
use crate::expect::{Judgement, Recorded};
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, cmp};

/// `kind: promql` — an expression evaluated by Prometheus over the window.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPromql {
    pub query: String,
    /// Comparison every value must satisfy, e.g. `"< 1"`.
    pub value: String,
    /// `always` (default), `eventually` or `at_end`.
    pub mode: Option<String>,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub step: Option<Duration>,
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromqlMode {
    /// Every point of every series in the window (`query_range`).
    Always,
    /// At least one point (`query_range`).
    Eventually,
    /// Every series at the window's end (`query`).
    AtEnd,
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

impl Kind for PromqlCheck {
    const NAME: &'static str = "promql";
    type Raw = RawPromql;

    fn compile(cx: &mut Ctx, path: &str, r: RawPromql, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("promql `{}` {}", self.query, self.cmp)
    }

    fn judge(&self, rec: &Recorded, _w: Window, id: &str) -> Judgement {
        judge(self, rec.promql.get(id), rec.origin.as_secs_f64())
    }

    fn signals(&self) -> Signals {
        let mut s = Signals::default();
        s.promql.insert(self.query.clone());
        s
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawPromql, names: &Names) -> Option<PromqlCheck> {
    needs_alerting(cx, path, names.alerting)?;
    if r.query.trim().is_empty() {
        cx.err_value(&format!("{path}.query"), "empty query", None);
    } else if let Err(e) = crate::lint::promql::selectors(&r.query) {
        cx.err_value(&format!("{path}.query"), format!("invalid PromQL: {e}"), Some("Prometheus would refuse the query; check brackets, functions and regex matchers".into()));
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
    Some(PromqlCheck { query: r.query, cmp: c, mode, step: r.step, allow_empty: r.allow_empty })
}

pub(crate) fn judge(c: &PromqlCheck, result: Option<&Result<Vec<QuerySeries>, String>>, origin_secs: f64) -> Judgement {
    let how = match c.mode {
        PromqlMode::Always => "every value",
        PromqlMode::Eventually => "some value",
        PromqlMode::AtEnd => "every series at the window's end",
    };
    let expected = format!("{how} of `{}` {}", c.query, c.cmp);
    let fail = |observed: String| Judgement { pass: false, expected: expected.clone(), observed, evidence: json!(null) };
    let series = match result {
        None => return fail("the query was not run (Prometheus was not available)".into()),
        Some(Err(e)) => return fail(format!("Prometheus rejected or failed the query: {e}")),
        Some(Ok(s)) => s,
    };
    let points: Vec<(&QuerySeries, f64, f64)> = series.iter().flat_map(|s| s.points.iter().map(move |(t, v)| (s, *t, *v))).collect();
    if points.is_empty() {
        return Judgement {
            pass: c.allow_empty,
            expected: expected.clone(),
            observed: "no data: the query returned no series in the window".into(),
            evidence: json!({ "hint": "check metric names and labels (`ordeal lint`), or set `allow_empty: true` if an empty result is fine" }),
        };
    }
    let bad: Vec<&(&QuerySeries, f64, f64)> = points.iter().filter(|(_, _, v)| !c.cmp.holds(*v)).collect();
    let good = points.len() - bad.len();
    let pass = match c.mode {
        PromqlMode::Always | PromqlMode::AtEnd => bad.is_empty(),
        PromqlMode::Eventually => good > 0,
    };
    let at = |t: f64| format!("{:.2}s", t - origin_secs);
    let values: Vec<f64> = points.iter().map(|p| p.2).filter(|v| v.is_finite()).collect();
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let observed = if values.is_empty() {
        format!("{} points, none finite", points.len())
    } else {
        format!("{good}/{} points hold; values {}..{}", points.len(), fmt_num(min), fmt_num(max))
    };
    Judgement {
        pass,
        expected,
        observed,
        evidence: json!({
            "series": series.len(),
            "points": points.len(),
            "first_violations": bad.iter().take(5).map(|(s, t, v)| json!({ "series": s.label_text(), "at": at(*t), "value": fmt_num(*v) })).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::cmp::Comparison;

    fn check(mode: PromqlMode, allow_empty: bool) -> PromqlCheck {
        PromqlCheck { query: "q".into(), cmp: Comparison::parse("< 1").unwrap(), mode, step: None, allow_empty }
    }

    fn series(values: &[f64]) -> Result<Vec<QuerySeries>, String> {
        Ok(vec![QuerySeries { labels: Default::default(), points: values.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect() }])
    }

    #[test]
    fn every_point_must_hold_unless_eventually() {
        assert!(judge(&check(PromqlMode::Always, false), Some(&series(&[0.1, 0.2])), 0.0).pass);
        let j = judge(&check(PromqlMode::Always, false), Some(&series(&[0.1, 2.0])), 0.0);
        assert!(!j.pass);
        assert_eq!(j.evidence["first_violations"][0]["value"], "2");
        assert!(judge(&check(PromqlMode::Eventually, false), Some(&series(&[5.0, 0.5])), 0.0).pass);
        assert!(!judge(&check(PromqlMode::Always, false), Some(&series(&[f64::NAN])), 0.0).pass);
    }

    #[test]
    fn no_data_and_errors_fail() {
        let j = judge(&check(PromqlMode::Always, false), Some(&Ok(vec![])), 0.0);
        assert!(!j.pass && j.observed.contains("no data"));
        assert!(judge(&check(PromqlMode::Always, true), Some(&Ok(vec![])), 0.0).pass);
        let j = judge(&check(PromqlMode::AtEnd, false), Some(&Err("parse error".into())), 0.0);
        assert!(!j.pass && j.observed.contains("parse error"));
        assert!(!judge(&check(PromqlMode::AtEnd, false), None, 0.0).pass);
    }
}
