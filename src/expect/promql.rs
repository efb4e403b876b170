//! `kind: promql`: a PromQL expression the real Prometheus evaluated over the
//! expectation's window (`query_range`, or `query` at its end) during the
//! run; here the recorded answer is compared.

use serde_json::json;

use super::Judgement;
use super::metric::fmt_num;
use crate::collectors::alerts::promapi::QuerySeries;
use crate::scenario::{PromqlCheck, PromqlMode};

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
