//! `kind: metric` — counter increase / rate, gauge min / max / last / avg,
//! histogram quantiles and family presence, over a window of scraped series.

use serde_json::json;

use super::Judgement;
use crate::clock::Window;
use crate::collectors::store::{MetricStore, Selector};
use crate::scenario::diag::did_you_mean;
use crate::scenario::{LabelMatcher, MetricCheck, MetricStat};

pub(crate) fn selector(service: Option<&str>, metric: &str, matchers: &[LabelMatcher]) -> Selector {
    let mut sel = Selector::new(metric);
    if let Some(s) = service {
        sel = sel.service(s);
    }
    for m in matchers {
        sel = if m.negate { sel.ne(&m.name, &m.value) } else { sel.eq(&m.name, &m.value) };
    }
    sel
}

pub(crate) fn describe(service: Option<&str>, metric: &str, matchers: &[LabelMatcher]) -> String {
    let labels: Vec<String> = matchers.iter().map(|m| format!("{}{}\"{}\"", m.name, if m.negate { "!=" } else { "=" }, m.value)).collect();
    let on = service.map(|s| format!(" on {s}")).unwrap_or_default();
    if labels.is_empty() { format!("{metric}{on}") } else { format!("{metric}{{{}}}{on}", labels.join(",")) }
}

/// Why nothing matched: the closest exported names, so a renamed metric is obvious.
pub(crate) fn missing(store: &MetricStore, service: Option<&str>, metric: &str) -> serde_json::Value {
    let names: std::collections::BTreeSet<&str> =
        store.all_series().filter(|(k, _)| service.is_none_or(|s| k.service == s)).map(|(k, _)| k.name.as_str()).collect();
    let close = did_you_mean(metric, names.iter().copied());
    json!({
        "matched_series": 0,
        "closest_exported_name": close,
        "scrapes": store.services().map(|s| (s.to_string(), store.scrape_times(s).len())).collect::<std::collections::BTreeMap<_, _>>(),
        "scrape_errors": store.scrape_errors().len(),
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

pub(crate) fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}
