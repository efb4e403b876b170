//! Cardinality budgets (pure): the number of distinct series each family had
//! on each service over the whole run, against a default budget and
//! per-family overrides.
//!
//! Every series counts as Prometheus counts them: each histogram bucket, `_sum`
//! and `_count` is one. The label blamed is the one with the most distinct
//! values; `le` and `quantile` only when the family has no other label, since
//! the bucket layout, not the traffic, fixes them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Finding, FindingKind};
use crate::collectors::store::MetricStore;

/// Series a family may have per service when no override names it.
pub const DEFAULT_MAX_SERIES: usize = 200;

/// `max_series` for every family, `families` for exceptions (by family name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardinalityBudget {
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    #[serde(default)]
    pub families: BTreeMap<String, usize>,
}

fn default_max_series() -> usize {
    DEFAULT_MAX_SERIES
}

impl Default for CardinalityBudget {
    fn default() -> Self {
        CardinalityBudget { max_series: DEFAULT_MAX_SERIES, families: BTreeMap::new() }
    }
}

impl CardinalityBudget {
    pub fn for_family(&self, family: &str) -> usize {
        self.families.get(family).copied().unwrap_or(self.max_series)
    }
}

/// Series and label values of one family on one service.
#[derive(Default)]
struct Tally {
    series: usize,
    values: BTreeMap<String, BTreeSet<String>>,
}

/// One finding per (service, family) over its budget.
pub fn check_cardinality(store: &MetricStore, budget: &CardinalityBudget) -> Vec<Finding> {
    let mut tallies: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    for (key, series) in store.all_series() {
        let tally = tallies.entry((key.service.as_str(), series.family.as_str())).or_default();
        tally.series += 1;
        for (label, value) in &key.labels {
            tally.values.entry(label.clone()).or_default().insert(value.clone());
        }
    }
    let mut findings = Vec::new();
    for ((service, family), tally) in tallies {
        let max = budget.for_family(family);
        if tally.series <= max {
            continue;
        }
        let mut message = format!("`{family}` has {} series on {service} (budget {max})", tally.series);
        if let Some((label, n)) = widest_label(&tally.values) {
            message.push_str(&format!("; `{label}` has {n} distinct values"));
        }
        let hint = format!("raise it with `families: {{{family}: N}}` if that is expected");
        findings.push(Finding::new(FindingKind::Cardinality, service, message).hint(Some(hint)));
    }
    findings
}

/// The label with the most distinct values, preferring labels other than `le` / `quantile`.
fn widest_label(values: &BTreeMap<String, BTreeSet<String>>) -> Option<(&str, usize)> {
    let widest = |layout: bool| {
        values
            .iter()
            .filter(|(l, _)| matches!(l.as_str(), "le" | "quantile") == layout)
            .max_by_key(|(_, v)| v.len())
            .map(|(l, v)| (l.as_str(), v.len()))
    };
    widest(false).or_else(|| widest(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use std::time::Duration;

    fn store(text: &str) -> MetricStore {
        let mut store = MetricStore::new();
        store.record("svc", Duration::ZERO, parse(text, Format::PrometheusText));
        store
    }

    fn exposition(users: usize) -> String {
        let mut text = String::from("# TYPE req_seconds histogram\n");
        for u in 0..users {
            for le in ["0.1", "1", "+Inf"] {
                text.push_str(&format!("req_seconds_bucket{{user=\"u{u}\",le=\"{le}\"}} 1\n"));
            }
            text.push_str(&format!("req_seconds_sum{{user=\"u{u}\"}} 1\nreq_seconds_count{{user=\"u{u}\"}} 1\n"));
        }
        text.push_str("# TYPE up_gauge gauge\nup_gauge 1\n");
        text
    }

    #[test]
    fn over_budget_names_family_count_budget_and_widest_label() {
        let budget = CardinalityBudget { max_series: 50, ..Default::default() };
        let findings = check_cardinality(&store(&exposition(11)), &budget);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].source, "svc");
        assert_eq!(findings[0].message, "`req_seconds` has 55 series on svc (budget 50); `user` has 11 distinct values");
        assert!(check_cardinality(&store(&exposition(10)), &budget).is_empty());
    }

    #[test]
    fn per_family_override_and_serde_defaults() {
        let budget: CardinalityBudget = serde_norway::from_str("families: {req_seconds: 10}").unwrap();
        assert_eq!(budget.max_series, DEFAULT_MAX_SERIES);
        assert_eq!(check_cardinality(&store(&exposition(3)), &budget).len(), 1);
        assert!(serde_norway::from_str::<CardinalityBudget>("max: 3").is_err());
    }

    #[test]
    fn le_is_blamed_only_when_alone() {
        let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
        let budget = CardinalityBudget { max_series: 1, ..Default::default() };
        let f = check_cardinality(&store(text), &budget);
        assert!(f[0].message.ends_with("`le` has 2 distinct values"), "{}", f[0].message);
    }
}
