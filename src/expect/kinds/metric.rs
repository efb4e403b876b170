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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    /// Expect a selected series (or, with no `labels`, the family) to be
    /// exported inside the window (true) or nowhere in it (false).
    pub present: Option<bool>,
    /// `increase` / `rate`: a counter with no series yet counts as 0, provided
    /// its service was scraped successfully inside the window.
    #[serde(default)]
    pub absent_as_zero: bool,
    /// A measured stat with no sample in the window passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
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
    pub absent_as_zero: bool,
    pub allow_empty: bool,
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
    crate::scenario::ctx::metric_names(cx, path, "metric", &r.metric, &r.labels);
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
    if r.allow_empty && matches!(stat, MetricStat::Present(_)) {
        cx.err(
            &format!("{path}.allow_empty"),
            "`present` is an answer on any window; `allow_empty` applies to measured stats".to_string(),
            Some("remove `allow_empty`".into()),
        );
        return None;
    }
    if r.absent_as_zero && !matches!(stat, MetricStat::Increase | MetricStat::Rate) {
        cx.err(
            &format!("{path}.absent_as_zero"),
            format!("`absent_as_zero` applies to counters (`increase`, `rate`), not `{stat_name}`"),
            Some("remove `absent_as_zero`, or check the counter's `increase`".into()),
        );
        return None;
    }
    Some(MetricCheck {
        service: r.service,
        metric: r.metric,
        matchers: matchers(&r.labels),
        stat,
        cmp,
        absent_as_zero: r.absent_as_zero,
        allow_empty: r.allow_empty,
    })
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
        return present(c, want, store, w, expected);
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
    let value = match value {
        None if c.absent_as_zero => match store.scraped_in(c.service.as_deref(), w) {
            Ok(()) => Some(0.0),
            Err(why) => {
                let observed = format!("not judgeable: {what} is absent and {why}, so its absence proves nothing");
                return Judgement { pass: false, expected, observed, evidence: ev };
            }
        },
        v => v,
    };
    match value {
        Some(v) => Judgement {
            pass: c.cmp.is_some_and(|cmp| cmp.holds(v)),
            expected,
            observed: format!("{stat_name} = {}", c.cmp.map_or_else(|| fmt_num(v), |cmp| cmp.show(v))),
            evidence: ev,
        },
        None => crate::expect::kind::no_data(c.allow_empty, expected, format!("{what} has no sample in it"), ev),
    }
}

/// `present`: a selected series has a sample inside the window (closed), or,
/// with no label matchers, the family was declared by a service in scope. An
/// absence passes only from a scraper that looked inside the window.
fn present(c: &MetricCheck, want: bool, store: &MetricStore, w: Window, expected: String) -> Judgement {
    let sel = selector(c.service.as_deref(), &c.metric, &c.matchers);
    let in_window = |pts: &[(std::time::Duration, f64)]| pts.iter().any(|(t, _)| *t >= w.start && *t <= w.end);
    let matched = store.select(&sel).filter(|(_, s)| in_window(&s.points)).count();
    let declared = c.matchers.is_empty()
        && store.services().any(|s| c.service.as_deref().is_none_or(|x| x == s) && store.family_present(s, &c.metric));
    let found = matched > 0 || declared && store.select(&sel).next().is_none();
    let mut ev = if found { json!({ "matched_series": matched }) } else { missing(store, c.service.as_deref(), &c.metric) };
    if !found
        && !want
        && let Err(why) = store.scraped_in(c.service.as_deref(), w)
    {
        ev["not_judgeable"] = json!(why);
        let observed = format!("not judgeable: {why}, so the absence proves nothing");
        return Judgement { pass: false, expected, observed, evidence: ev };
    }
    let observed = if found { "exported".into() } else { "not exported in the window".into() };
    Judgement { pass: found == want, expected, observed, evidence: ev }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use crate::collectors::store::MatchOp;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    fn check(stat: MetricStat, cmp: Option<&str>, labels: &[(&str, &str)], absent_as_zero: bool) -> MetricCheck {
        MetricCheck {
            service: Some("svc".into()),
            metric: "errors_total".into(),
            matchers: labels.iter().map(|(k, v)| LabelMatcher { label: (*k).into(), op: MatchOp::Eq, value: (*v).into() }).collect(),
            stat,
            cmp: cmp.map(|c| Comparison::parse(c).unwrap()),
            absent_as_zero,
            allow_empty: false,
        }
    }

    /// Scrapes of `svc` at 0..=10 s; `errors_total{dep="llm"}` appears at 6 s and grows.
    fn store() -> MetricStore {
        let mut st = MetricStore::new();
        for t in 0..=10u64 {
            let body = if t >= 6 { format!("up 1\nerrors_total{{dep=\"llm\"}} {}\n", t - 5) } else { "up 1\n".into() };
            st.record("svc", s(t), parse(&body, Format::PrometheusText));
        }
        st
    }

    #[test]
    fn present_honours_the_window_and_the_labels() {
        let st = store();
        let w = |a, b| Window::new(s(a), s(b));
        let absent = check(MetricStat::Present(false), None, &[("dep", "llm")], false);
        assert!(judge(&absent, &st, w(0, 5)).pass, "not yet created in 0..5 s");
        assert!(!judge(&absent, &st, w(0, 8)).pass, "created at 6 s");
        let other = check(MetricStat::Present(true), None, &[("dep", "db")], false);
        assert!(!judge(&other, &st, w(0, 10)).pass, "no series with dep=db");
        assert!(judge(&check(MetricStat::Present(true), None, &[("dep", "llm")], false), &st, w(6, 10)).pass);
    }

    #[test]
    fn an_absence_is_only_an_answer_from_a_scraper_that_looked() {
        let mut st = MetricStore::new();
        st.record("svc", s(0), parse("up 1\n", Format::PrometheusText));
        st.record_error("svc", s(3), "timeout", "timed out");
        let w = Window::new(s(1), s(5));
        let j = judge(&check(MetricStat::Present(false), None, &[], false), &st, w);
        assert!(!j.pass && j.observed.starts_with("not judgeable: no successful scrape of svc"), "{}", j.observed);
        let j = judge(&check(MetricStat::Increase, Some("== 0"), &[], true), &st, w);
        assert!(!j.pass && j.observed.starts_with("not judgeable"), "{}", j.observed);
        // One scrape inside the window is not enough when the scraper was blind
        // for most of it (a service down and back): the series may have come and gone.
        let mut st = MetricStore::new();
        st.set_interval(std::time::Duration::from_millis(250));
        for t in [0, 1, 2, 8, 9] {
            st.record("svc", s(t), parse("up 1\n", Format::PrometheusText));
        }
        let j = judge(&check(MetricStat::Present(false), None, &[], false), &st, Window::new(s(1), s(9)));
        assert!(!j.pass && j.observed.starts_with("not judgeable: svc had no successful scrape for 6.00s from 2.00s"), "{}", j.observed);
        assert!(judge(&check(MetricStat::Present(false), None, &[], false), &st, Window::new(s(8), s(9))).pass);
    }

    #[test]
    fn absent_as_zero_counts_a_counter_not_created_yet_as_zero() {
        let st = store();
        let w = |a, b| Window::new(s(a), s(b));
        let strict = check(MetricStat::Increase, Some("== 0"), &[("dep", "llm")], false);
        let j = judge(&strict, &st, w(0, 5));
        assert!(!j.pass && j.observed.starts_with("no data in the window"), "without the flag, absent is no data: {}", j.observed);
        let j = judge(&MetricCheck { allow_empty: true, ..strict.clone() }, &st, w(0, 5));
        assert!(j.pass && j.observed.starts_with("no data in the window"), "allow_empty: {}", j.observed);
        let zero = check(MetricStat::Increase, Some("== 0"), &[("dep", "llm")], true);
        assert!(judge(&zero, &st, w(0, 5)).pass, "{}", judge(&zero, &st, w(0, 5)).observed);
        // The broken case: the counter did move.
        let j = judge(&zero, &st, w(0, 10));
        assert!(!j.pass && j.observed == "increase = 5", "{}", j.observed);
        assert!(judge(&check(MetricStat::Rate, Some("== 0"), &[("dep", "llm")], true), &st, w(0, 5)).pass);
    }

    #[test]
    fn names_prometheus_cannot_have_are_refused_at_compile() {
        let doc = r#"
name: names
stack:
  services:
    api: { command: api, metrics: /metrics }
timeline:
  phases: [{ name: steady, duration: 2s }]
expect:
  - { kind: metric, metric: "http-requests_total", labels: { "a-b": x }, increase: "> 0" }
  - { kind: metric, metric: 'up{job="x"}', last: "== 1" }
  - { kind: metric, metric: "ok_total:rate5m", increase: "> 0" }
"#;
        let errs = crate::plan::compile(doc, std::path::Path::new("s.yaml")).unwrap_err().0;
        let got: Vec<(&str, Option<&str>)> = errs.iter().map(|e| (e.path.as_str(), e.hint.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("expect[0].metric", Some("letters, digits, `_` and `:`, not starting with a digit, e.g. `http_requests_total`")),
                ("expect[0].labels.a-b", Some("letters, digits and `_`, not starting with a digit, e.g. `a_b`")),
                ("expect[1].metric", Some("name the metric alone and put label matchers in `labels:`")),
            ],
            "{errs:#?}"
        );
    }
}
