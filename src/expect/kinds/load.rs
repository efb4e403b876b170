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
#[derive(Debug, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
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
        load(self, rec.load.as_ref(), rec.load_rate, w)
    }

    fn signals(&self) -> Signals {
        Signals::default().load()
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawLoadCheck, names: &Names) -> Option<LoadCheck> {
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

pub(crate) fn load(c: &LoadCheck, rec: Option<&LoadRecord>, rate: f64, w: Window) -> Judgement {
    let Some(rec) = rec else {
        return Judgement { pass: false, expected: "load statistics".into(), observed: "no load ran".into(), evidence: json!(null) };
    };
    let idx = c.request.as_ref().and_then(|n| rec.names.iter().position(|x| x == n));
    let st = rec.stats(w, idx);
    let scope = c.request.as_deref().map(|r| format!(" of `{r}`")).unwrap_or_default();
    // A ratio or latency of no request is no measurement: it must not pass vacuously.
    if st.ok + st.failed == 0 && c.stat != LoadStat::Requests {
        return Judgement {
            pass: c.allow_empty,
            expected: format!("{}{scope} {}", stat_name(c.stat), c.cmp),
            observed: format!("no data in the window: no request{scope} finished in it ({} sent)", st.requests),
            evidence: json!({ "stats": st, "allow_empty": c.allow_empty, "hint": "check that the load reaches the target (headers, path), or set `allow_empty: true` if an empty window is fine" }),
        };
    }
    let name = stat_name(c.stat);
    let v = match c.stat {
        LoadStat::ErrorRatio => Some(st.error_ratio),
        LoadStat::AchievedRatio => Some(if rate > 0.0 { st.achieved_rate / rate } else { 0.0 }),
        LoadStat::Requests => Some(st.requests as f64),
        LoadStat::Quantile(q) if q <= 0.5 => st.p50_ms.map(|ms| ms / 1000.0),
        LoadStat::Quantile(q) if q <= 0.95 => st.p95_ms.map(|ms| ms / 1000.0),
        LoadStat::Quantile(_) => st.p99_ms.map(|ms| ms / 1000.0),
    };
    Judgement {
        pass: v.is_some_and(|v| c.cmp.holds(v)),
        expected: format!("{name}{scope} {}", c.cmp),
        observed: v.map_or_else(|| "no requests in the window".into(), |v| format!("{name} = {}", crate::expect::series::fmt_num(v))),
        evidence: json!(st),
    }
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
            let j = load(&check(stat, cmp, false), Some(&rec), 10.0, w);
            assert!(!j.pass, "{stat:?}: {}", j.observed);
            assert!(j.observed.starts_with("no data in the window"), "{}", j.observed);
            assert!(load(&check(stat, cmp, true), Some(&rec), 10.0, w).pass, "{stat:?} with allow_empty");
        }
        // A count of nothing is a measurement.
        assert!(load(&check(LoadStat::Requests, "== 0", false), Some(&rec), 10.0, w).pass);
    }
}
