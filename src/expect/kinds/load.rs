//! `kind: load` — what the load driver saw: error ratio, achieved rate
//! relative to the target, latency quantiles, request counts.

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::load::LoadRecord;
use crate::scenario::cmp::Comparison;
use crate::scenario::diag::did_you_mean;
use crate::scenario::{Ctx, Names, cmp, one_of};

/// `kind: load` — what the load driver saw.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLoadCheck {
    /// Only this request of the mix (default all).
    pub request: Option<String>,
    /// Fraction of requests that failed (non-2xx or no answer), e.g. `"== 0"`.
    pub error_ratio: Option<String>,
    /// Achieved request rate relative to the target, e.g. `">= 0.9"`.
    pub achieved_ratio: Option<String>,
    pub p50: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    pub requests: Option<String>,
    /// Pass on a window in which no request finished (default false: an
    /// error ratio, achieved ratio or latency of nothing fails with "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub enum LoadStat {
    ErrorRatio,
    AchievedRatio,
    Quantile(f64),
    Requests,
}

#[derive(Debug, Clone)]
pub struct LoadCheck {
    pub request: Option<String>,
    pub stat: LoadStat,
    pub cmp: Comparison,
    pub allow_empty: bool,
}

impl Kind for LoadCheck {
    const NAME: &'static str = "load";
    type Raw = RawLoadCheck;

    fn compile(cx: &mut Ctx, path: &str, r: RawLoadCheck, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("load {:?}", self.stat).to_lowercase()
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        load(self, rec.load.as_ref(), w)
    }

    fn signals(&self) -> Signals {
        Signals::default().load()
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawLoadCheck, names: &Names) -> Option<LoadCheck> {
    match (names.load, &r.request) {
        (None, _) => cx.err(path, "a `load` expectation needs a `load:` section", None),
        (Some(l), Some(req)) if !l.names().any(|q| q == req) => {
            let hint = did_you_mean(req, l.names()).map(|s| format!("did you mean `{s}`?"));
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
    if stat == LoadStat::AchievedRatio && names.load.is_some_and(|l| l.connections.is_some()) {
        cx.err(
            &format!("{path}.achieved_ratio"),
            "`rate: max` has no target rate to achieve",
            Some("check `requests` or the latency instead, or give `load.rate` a number".into()),
        );
    }
    let cmp = cmp(cx, &format!("{path}.{name}"), text)?;
    Some(LoadCheck { request: r.request, stat, cmp, allow_empty: r.allow_empty })
}

fn stat_name(stat: LoadStat) -> &'static str {
    match stat {
        LoadStat::ErrorRatio => "error_ratio",
        LoadStat::AchievedRatio => "achieved_ratio",
        LoadStat::Requests => "requests",
        LoadStat::Quantile(q) if q <= 0.5 => "p50",
        LoadStat::Quantile(q) if q <= 0.95 => "p95",
        LoadStat::Quantile(_) => "p99",
    }
}

pub(crate) fn load(c: &LoadCheck, rec: Option<&LoadRecord>, w: Window) -> Judgement {
    let Some(rec) = rec else {
        return Judgement { pass: false, expected: "load statistics".into(), observed: "no load ran".into(), evidence: json!(null) };
    };
    let idx = c.request.as_ref().and_then(|n| rec.names.iter().position(|x| x == n));
    let st = rec.stats(w, idx);
    let scope = c.request.as_deref().map(|r| format!(" of `{r}`")).unwrap_or_default();
    let name = stat_name(c.stat);
    let expected = format!("{name}{scope} {}", c.cmp);
    // A ratio or latency of no request is no measurement: it must not pass vacuously.
    // A request counts once it was scheduled in the window, answered or not.
    let measured = match c.stat {
        LoadStat::Requests => true,
        LoadStat::AchievedRatio => st.scheduled > 0,
        // Unanswered requests still in flight at the end bound the ratio (below).
        LoadStat::ErrorRatio => st.requests > 0,
        LoadStat::Quantile(_) => st.requests > 0,
    };
    if !measured {
        let what = if st.scheduled == 0 {
            format!("no request{scope} was scheduled in it")
        } else {
            format!("{} request{scope} scheduled, none answered ({} missed, {} unfinished)", st.scheduled, st.missed, st.unfinished)
        };
        let hint = "check that the load reaches the target (headers, path), or set `allow_empty: true` if an empty window is fine";
        return crate::expect::kind::no_data(c.allow_empty, expected, what, json!({ "stats": st, "hint": hint }));
    }
    let v = match c.stat {
        LoadStat::ErrorRatio => Some(st.error_ratio),
        // Capacity mode has no target; compile refuses the check there.
        LoadStat::AchievedRatio => st.target_rate.filter(|t| *t > 0.0).map(|t| st.achieved_rate / t),
        LoadStat::Requests => Some(st.requests as f64),
        LoadStat::Quantile(q) if q <= 0.5 => st.p50_ms.map(|ms| ms / 1000.0),
        LoadStat::Quantile(q) if q <= 0.95 => st.p95_ms.map(|ms| ms / 1000.0),
        LoadStat::Quantile(_) => st.p99_ms.map(|ms| ms / 1000.0),
    };
    let unknown = st.requests - st.ok - st.failed;
    let mut observed = match v {
        _ if c.stat == LoadStat::ErrorRatio && st.ok + st.failed == 0 => format!("{name} unknown: none of {} answered", st.requests),
        Some(v) => format!("{name} = {}", c.cmp.show(v)),
        None => "no target rate in the window".into(),
    };
    if st.missed > 0 {
        observed.push_str(&format!(" ({} of {} scheduled sends missed: max_in_flight reached)", st.missed, st.scheduled));
    }
    if st.unfinished > 0 && matches!(c.stat, LoadStat::Quantile(_)) {
        observed.push_str(&format!(" ({} still in flight at the end, counted by their wait so far)", st.unfinished));
    }
    let mut pass = v.is_some_and(|v| c.cmp.holds(v));
    // Requests still in flight at the end (not yet past `timeout`) could go
    // either way: the error ratio passes only if it holds whatever they do.
    if c.stat == LoadStat::ErrorRatio && unknown > 0 {
        let all = (st.requests) as f64;
        let (best, worst) = (st.failed as f64 / all, (st.failed + unknown) as f64 / all);
        let fmt = crate::expect::series::fmt_num;
        observed.push_str(&format!(
            " of {} answered; {unknown} still in flight at the end could make it {}..{}",
            st.ok + st.failed,
            fmt(best),
            fmt(worst)
        ));
        pass &= c.cmp.holds(best) && c.cmp.holds(worst);
    }
    Judgement { pass, expected, observed, evidence: json!(st) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn check(stat: LoadStat, cmp: &str, allow_empty: bool) -> LoadCheck {
        LoadCheck { request: None, stat, cmp: Comparison::parse(cmp).unwrap(), allow_empty }
    }

    #[test]
    fn an_empty_window_is_no_data_not_a_pass() {
        // Regression: `error_ratio: "== 0"` passed when no request was sent (0 of 0 failed).
        let rec = LoadRecord::new(vec!["a".into()]);
        let w = Window::new(Duration::ZERO, Duration::from_secs(5));
        for (stat, cmp) in [(LoadStat::ErrorRatio, "== 0"), (LoadStat::AchievedRatio, "< 2"), (LoadStat::Quantile(0.99), "< 1s")] {
            let j = load(&check(stat, cmp, false), Some(&rec), w);
            assert!(!j.pass, "{stat:?}: {}", j.observed);
            assert!(j.observed.starts_with("no data in the window"), "{}", j.observed);
            assert!(load(&check(stat, cmp, true), Some(&rec), w).pass, "{stat:?} with allow_empty");
        }
        // A count of nothing is a measurement.
        assert!(load(&check(LoadStat::Requests, "== 0", false), Some(&rec), w).pass);
    }

    #[test]
    fn an_error_ratio_holds_only_whatever_the_unfinished_requests_do() {
        let rec = LoadRecord::new(vec!["a".into()]);
        let sample = |at_ms: u64, unfinished: bool| crate::load::LoadSample {
            unfinished,
            status: (!unfinished).then_some(200),
            ..crate::load::LoadSample::fixture(at_ms, 5, None)
        };
        rec.push(sample(0, false));
        rec.push(sample(10, true));
        let w = Window::new(Duration::ZERO, Duration::from_secs(1));
        let j = load(&check(LoadStat::ErrorRatio, "== 0", false), Some(&rec), w);
        assert!(!j.pass, "1 of 2 could still fail: {}", j.observed);
        assert!(j.observed.contains("1 still in flight"), "{}", j.observed);
        assert!(load(&check(LoadStat::ErrorRatio, "<= 0.5", false), Some(&rec), w).pass, "holds either way");
        // Regression (CI, a loaded machine): when *none* answered, the ratio is
        // unknown, and the verdict says why, even with allow_empty.
        let rec = LoadRecord::new(vec!["a".into()]);
        rec.push(sample(10, true));
        rec.push(sample(20, true));
        for allow_empty in [false, true] {
            let j = load(&check(LoadStat::ErrorRatio, "== 0", allow_empty), Some(&rec), w);
            assert!(!j.pass, "{}", j.observed);
            assert!(j.observed.contains("none of 2 answered") && j.observed.contains("2 still in flight at the end"), "{}", j.observed);
        }
    }
}
