//! The contract check (pure): does every selector of every reference name a
//! metric, and labels, that the stack really exported during a run?
//!
//! A [`LiveView`] is what a [`MetricStore`] saw, across services (rules and
//! dashboards query all targets at once). Rules:
//!
//! - Sample names are what Prometheus stores (`x_total`, `x_bucket`, ...), so a
//!   histogram's `le` or a summary's `quantile` is checked like any label.
//! - Satisfied without looking: Prometheus's synthetic series ([`SYNTHETIC`])
//!   and names defined by recording rules. `job` and `instance` (added by
//!   Prometheus to every target) are labels of every metric.
//! - A family declared by `# TYPE` that has no series yet (a labelled counter
//!   never incremented) exists, but its labels cannot be checked: a note.
//! - A `label="value"` whose value was never observed is a note, not a finding:
//!   `status="failed"` only appears after a failure.
//! - `label=""` (the label is absent) never asks for the label to exist.

use std::collections::{BTreeMap, BTreeSet};

use super::promql::{LabelMatcher, MatchOp, MetricSelector, NAME_LABEL};
use super::sources::{Reference, Sources};
use super::{Finding, FindingKind, LintReport};
use crate::collectors::exposition::MetricType;
use crate::collectors::store::MetricStore;
use crate::scenario::diag::did_you_mean;

/// Series Prometheus itself writes: per target, and for alerting rules.
pub const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
];

/// Labels Prometheus adds to every scraped series.
pub const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Every sample name and label seen during a run, across services.
#[derive(Debug, Clone, Default)]
pub struct LiveView {
    /// Sample name -> label -> values seen.
    samples: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// Sample name -> its family.
    family_of: BTreeMap<String, String>,
    /// Families declared by `# TYPE`, with their type.
    declared: BTreeMap<String, MetricType>,
}

impl LiveView {
    pub fn from_store(store: &MetricStore) -> Self {
        let mut view = LiveView::default();
        for (key, series) in store.all_series() {
            let labels = view.samples.entry(key.name.clone()).or_default();
            for (label, value) in &key.labels {
                labels.entry(label.clone()).or_default().insert(value.clone());
            }
            view.family_of.insert(key.name.clone(), series.family.clone());
        }
        for service in store.services() {
            for family in store.families(service).filter(|f| f.declared) {
                view.declared.insert(family.name.clone(), family.kind);
            }
        }
        view
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.declared.is_empty()
    }

    /// The declared family that would expose sample `name`, if it has no series at all.
    fn seriesless_family(&self, name: &str) -> Option<(&str, MetricType)> {
        self.declared.iter().find_map(|(family, &kind)| {
            let owns = (name == family && bare_name_is_sample(family, kind))
                || kind.child_suffixes().iter().any(|s| name.strip_suffix(s) == Some(family));
            let has_series = self.family_of.values().any(|f| f == family);
            (owns && !has_series).then_some((family.as_str(), kind))
        })
    }

    /// Why `name` is not a sample although a family of that name exists.
    fn family_hint(&self, name: &str) -> Option<String> {
        let kind = self.declared.get(name)?;
        let samples: Vec<_> = self.family_of.iter().filter(|(_, f)| *f == name).map(|(s, _)| s.as_str()).collect();
        (!samples.is_empty()).then(|| format!("`{name}` is a {kind} family; its series are {}", samples.join(", ")))
    }
}

/// Whether a family's own name is a sample name Prometheus stores.
fn bare_name_is_sample(family: &str, kind: MetricType) -> bool {
    match kind {
        MetricType::Gauge | MetricType::Unknown | MetricType::Summary | MetricType::StateSet => true,
        // Text format 0.0.4 declares counters under their sample name.
        MetricType::Counter => family.ends_with("_total"),
        MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Info => false,
    }
}

/// Checks every reference against the view; the sources' own findings
/// (parse errors) are part of the report.
pub fn check_contract(sources: &Sources, view: &LiveView) -> LintReport {
    let mut report = LintReport::default();
    report.extend(sources.findings.iter().cloned());
    for reference in &sources.references {
        for selector in &reference.selectors {
            check_selector(reference, selector, &sources.recorded, view, &mut report);
        }
    }
    report
}

fn check_selector(reference: &Reference, sel: &MetricSelector, recorded: &BTreeSet<String>, view: &LiveView, report: &mut LintReport) {
    let source = &reference.source;
    let Some(name) = sel.metric.as_deref() else {
        check_name_regex(source, sel, recorded, view, report);
        return;
    };
    if SYNTHETIC.contains(&name) || recorded.contains(name) {
        return;
    }
    if let Some(labels) = view.samples.get(name) {
        check_labels(source, sel, name, labels, report);
    } else if let Some((family, kind)) = view.seriesless_family(name) {
        report.note(
            source.as_str(),
            format!("`{}`: {kind} `{family}` is declared but has no series yet; its labels cannot be checked", sel.text),
        );
    } else {
        let hint = view.family_hint(name).or_else(|| {
            let names = view.samples.keys().chain(recorded).map(String::as_str);
            closest(name, names).map(|n| format!("closest exported name: {n}"))
        });
        let message = format!("`{}`: no service exports `{name}`", sel.text);
        report.finding(Finding::new(FindingKind::MetricMissing, source.as_str(), message).hint(hint));
    }
}

/// The most similar name, if similar enough to be worth showing. Sørensen-Dice
/// on bigrams, because a stack usually namespaces the names a rule expects:
/// `tasks_total` scores 0.65 against `multiagent_tasks_total` (Jaro-Winkler
/// prefers `http_requests_total`), unrelated names stay below 0.5.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::sorensen_dice(name, c), c))
        .filter(|(score, _)| *score > 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A name-less selector with a `__name__=~` regex must match some exported name.
fn check_name_regex(source: &str, sel: &MetricSelector, recorded: &BTreeSet<String>, view: &LiveView, report: &mut LintReport) {
    for m in sel.matchers.iter().filter(|m| m.name == NAME_LABEL && m.op == MatchOp::Re) {
        // The parser already compiled it; an anchored copy cannot fail either.
        let Ok(re) = regex::Regex::new(&format!("^(?:{})$", m.value)) else { continue };
        let mut names = view.samples.keys().chain(recorded).map(String::as_str);
        let matched = SYNTHETIC.iter().any(|n| re.is_match(n)) || names.any(|n| re.is_match(n));
        if !m.variable && !matched {
            let message = format!("`{}`: no exported metric name matches `{}`", sel.text, m.value);
            report.finding(Finding::new(FindingKind::MetricMissing, source, message));
        }
    }
}

fn check_labels(source: &str, sel: &MetricSelector, name: &str, labels: &BTreeMap<String, BTreeSet<String>>, report: &mut LintReport) {
    for m in &sel.matchers {
        if m.name == NAME_LABEL || TARGET_LABELS.contains(&m.name.as_str()) {
            continue;
        }
        match labels.get(&m.name) {
            None if !(m.op == MatchOp::Eq && m.value.is_empty()) => {
                let known: Vec<_> = labels.keys().map(String::as_str).collect();
                let have = known.iter().chain(TARGET_LABELS).copied().collect::<BTreeSet<_>>();
                let have = have.into_iter().collect::<Vec<_>>().join(", ");
                let message = format!("`{}`: `{name}` has no label `{}` (its labels: {have})", sel.text, m.name);
                let hint = did_you_mean(&m.name, known).map(|l| format!("did you mean `{l}`?"));
                report.finding(Finding::new(FindingKind::LabelMissing, source, message).hint(hint));
            }
            Some(values) if unseen_value(m, values) => {
                let seen = values.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
                let message =
                    format!("`{}`: {}=\"{}\" never observed on `{name}` during the run (seen: {seen})", sel.text, m.name, m.value);
                report.note(source, message);
            }
            _ => {}
        }
    }
}

fn unseen_value(m: &LabelMatcher, values: &BTreeSet<String>) -> bool {
    m.op == MatchOp::Eq && !m.variable && !m.value.is_empty() && !values.contains(&m.value)
}
