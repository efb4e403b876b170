//! Selecting and describing scraped series, shared by the kinds that read
//! metrics (`metric`, `breaker`, `promql`, `no_task_lost`).

use serde_json::json;

use crate::collectors::store::{LabelMatcher, MetricStore, Selector};
use crate::scenario::diag::did_you_mean;

pub fn selector(service: Option<&str>, metric: &str, matchers: &[LabelMatcher]) -> Selector {
    let mut sel = Selector::new(metric);
    if let Some(s) = service {
        sel = sel.service(s);
    }
    sel.matchers.extend(matchers.iter().cloned());
    sel
}

pub fn describe(service: Option<&str>, metric: &str, matchers: &[LabelMatcher]) -> String {
    let labels: Vec<String> = matchers.iter().map(LabelMatcher::to_string).collect();
    let on = service.map(|s| format!(" on {s}")).unwrap_or_default();
    if labels.is_empty() { format!("{metric}{on}") } else { format!("{metric}{{{}}}{on}", labels.join(",")) }
}

/// Why nothing matched: the closest exported names, so a renamed metric is obvious.
pub fn missing(store: &MetricStore, service: Option<&str>, metric: &str) -> serde_json::Value {
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

pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.4}") }
}
