//! `kind: metric` — counter increase / rate, gauge min / max / last / avg,
//! histogram quantiles and family presence, over a window of scraped series.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::store::{LabelMatcher, MetricStore, Selector};
use crate::expect::kind::{Kind, Signals};
use crate::expect::series::{describe, fmt_num, missing, selector};
use crate::expect::{Judgement, Recorded};
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, Scalar, cmp, matchers, one_of};

/// `kind: metric` — a check on scraped series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// Only this service's scrapes (default: all services).
    pub service: Option<String>,
    pub metric: String,
    /// Label equality matchers; prefix a value with `!` for "not equal".
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    pub increase: Option<String>,
    pub rate: Option<String>,
    pub max: Option<String>,
    pub min: Option<String>,
    pub last: Option<String>,
    pub avg: Option<String>,
    pub p50: Option<String>,
    pub p90: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    /// Expect the family to be present (true) or absent (false).
    pub present: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum MetricStat {
    Increase,
    Rate,
    Max,
    Min,
    Last,
    Avg,
    Quantile(f64),
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct MetricCheck {
    pub service: Option<String>,
    pub metric: String,
    pub matchers: Vec<LabelMatcher>,
    pub stat: MetricStat,
    /// None only for `present`.
    pub cmp: Option<Comparison>,
}

impl Kind for MetricCheck {
    const NAME: &'static str = "metric";
    type Raw = RawMetric;

    fn compile(cx: &mut Ctx, path: &str, r: RawMetric, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("{} {:?}", self.metric, self.stat).to_lowercase()
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        judge(self, &rec.metrics, w)
    }

    fn signals(&self) -> Signals {
        Signals::default().service(self.service.as_deref()).metric(describe(None, &self.metric, &self.matchers))
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawMetric, names: &Names) -> Option<MetricCheck> {
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
    Some(MetricCheck { service: r.service, metric: r.metric, matchers: matchers(&r.labels), stat, cmp })
}

pub(crate) fn judge(c: &MetricCheck, store: &MetricStore, w: Window) -> Judgement {
    let sel = selector(c.service.as_deref(), &c.metric, &c.matchers);
    let what = describe(c.service.as_deref(), &c.metric, &c.matchers);
    let stat_name = match c.stat {
        MetricStat::Increase => "increase".to_string(),
        MetricStat::Rate => "rate".into(),
        MetricStat::Max => "max".into(),
        MetricStat::Min => "min".into(),
        MetricStat::Last => "last".into(),
        MetricStat::Avg => "avg".into(),
        MetricStat::Quantile(q) => format!("p{}", (q * 100.0).round()),
        MetricStat::Present(_) => "present".into(),
    };
    let expected = match (&c.cmp, c.stat) {
        (Some(cmp), _) => format!("{stat_name}({what}) {cmp}"),
        (None, MetricStat::Present(p)) => format!("{what} {}", if p { "is exported" } else { "is not exported" }),
        (None, _) => what.clone(),
    };
    if let MetricStat::Present(want) = c.stat {
        let found = store.select(&sel).next().is_some()
            || store.services().any(|s| c.service.as_deref().is_none_or(|x| x == s) && store.family_present(s, &c.metric));
        let ev =
            if found { json!({ "matched_series": store.select(&sel).count() }) } else { missing(store, c.service.as_deref(), &c.metric) };
        return Judgement {
            pass: found == want,
            expected,
            observed: if found { "exported".into() } else { "not exported".into() },
            evidence: ev,
        };
    }
    let (value, ev) = match c.stat {
        MetricStat::Increase => match store.increase(&sel, w) {
            Some(i) => (Some(i.value), json!({ "series": i.series, "resets": i.resets })),
            None => (None, missing(store, c.service.as_deref(), &c.metric)),
        },
        MetricStat::Rate => match store.rate(&sel, w) {
            Some(r) => (Some(r), json!({ "window_seconds": w.len().as_secs_f64() })),
            None => (None, missing(store, c.service.as_deref(), &c.metric)),
        },
        MetricStat::Quantile(q) => match store.histogram_quantile(q, &sel, w) {
            Some(v) => (Some(v), json!({ "quantile": q })),
            None if store.select(&Selector::new(format!("{}_bucket", c.metric))).next().is_some()
                || store.select(&sel).next().is_some() =>
            {
                (None, json!({ "reason": "no observations in the window" }))
            }
            None => (None, missing(store, c.service.as_deref(), &c.metric)),
        },
        _ => match store.gauge_stats(&sel, w) {
            Some(g) => {
                let v = match c.stat {
                    MetricStat::Max => g.max,
                    MetricStat::Min => g.min,
                    MetricStat::Last => g.last,
                    _ => g.avg,
                };
                (Some(v), json!(g))
            }
            None => (None, missing(store, c.service.as_deref(), &c.metric)),
        },
    };
    match value {
        Some(v) => Judgement {
            pass: c.cmp.is_some_and(|cmp| cmp.holds(v)),
            expected,
            observed: format!("{stat_name} = {}", fmt_num(v)),
            evidence: ev,
        },
        None => Judgement { pass: false, expected, observed: format!("no data for {what} in the window"), evidence: ev },
    }
}
