//! The metric store: every scraped sample at its run offset, keyed by
//! (service, sample name, labels), with each service's family metadata, its
//! successful scrape offsets, and every scrape and parse error.
//!
//! Recording is done by the scraper; everything else here and in [`query`] is
//! pure (no I/O) so expectations can be tested on synthetic series.
//! Exposition timestamps are ignored: a sample is stored at the offset of the
//! scrape that read it, so all series of one scrape share one instant.

mod query;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::exposition::{Exposition, Family, LineError, MetricType};

pub use query::{GaugeStats, Increase};

/// Identity of one time series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SeriesKey {
    pub service: String,
    /// Sample name as exposed (`x_total`, `x_bucket`, ...).
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One series' points, in time order, and the family it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    pub family: String,
    pub kind: MetricType,
    pub points: Vec<(Duration, f64)>,
}

/// A scrape that failed as a whole (connection, status, timeout, body).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScrapeError {
    pub at: Duration,
    pub service: String,
    pub message: String,
}

/// A line of a scraped body that did not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedLineError {
    pub at: Duration,
    pub service: String,
    pub error: LineError,
}

/// How a [`LabelMatcher`] compares. New operators (regex) go here and in
/// [`LabelMatcher::matches`] only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum MatchOp {
    Eq,
    Ne,
}

/// `label="value"` or `label!="value"`. As in PromQL, a missing label
/// compares as the empty string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelMatcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
}

/// `label="value"` / `label!="value"`, as PromQL writes it.
impl std::fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
        };
        write!(f, "{}{op}\"{}\"", self.label, self.value)
    }
}

impl LabelMatcher {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.label).map_or("", String::as_str);
        match self.op {
            MatchOp::Eq => actual == self.value,
            MatchOp::Ne => actual != self.value,
        }
    }
}

/// Which series a query reads: a sample name, optionally one service, and label matchers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Selector {
    pub service: Option<String>,
    pub name: String,
    pub matchers: Vec<LabelMatcher>,
}

impl Selector {
    pub fn new(name: impl Into<String>) -> Self {
        Self { service: None, name: name.into(), matchers: Vec::new() }
    }

    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    pub fn eq(self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.matcher(label, MatchOp::Eq, value)
    }

    pub fn ne(self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.matcher(label, MatchOp::Ne, value)
    }

    pub fn matcher(mut self, label: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Self {
        self.matchers.push(LabelMatcher { label: label.into(), op, value: value.into() });
        self
    }

    pub fn matches(&self, key: &SeriesKey) -> bool {
        key.name == self.name
            && self.service.as_ref().is_none_or(|s| *s == key.service)
            && self.matchers.iter().all(|m| m.matches(&key.labels))
    }
}

/// Everything the metrics collector recorded during a run.
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    series: BTreeMap<SeriesKey, Series>,
    /// service -> family name -> latest metadata seen.
    families: BTreeMap<String, BTreeMap<String, Family>>,
    /// service -> offsets of scrapes that returned a body.
    scrapes: BTreeMap<String, Vec<Duration>>,
    scrape_errors: Vec<ScrapeError>,
    parse_errors: Vec<RecordedLineError>,
    /// Failed scrapes are logged at debug level only (the caller reports them).
    quiet_errors: bool,
}

impl MetricStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose failed scrapes are recorded but not warned about: for
    /// callers that summarise them themselves (an overhead run, where a
    /// variant with its metrics switched off fails every scrape).
    pub fn with_quiet_errors() -> Self {
        Self { quiet_errors: true, ..Self::default() }
    }

    /// Records one successful scrape of `service` taken at run offset `at`.
    pub fn record(&mut self, service: &str, at: Duration, exposition: Exposition) {
        insert_sorted(self.scrapes.entry(service.to_owned()).or_default(), at);
        let families = self.families.entry(service.to_owned()).or_default();
        for family in exposition.families {
            families.insert(family.name.clone(), family);
        }
        for sample in exposition.samples {
            let key = SeriesKey { service: service.to_owned(), name: sample.name, labels: sample.labels };
            let series = self.series.entry(key).or_insert_with_key(|_| Series {
                family: sample.family.clone(),
                kind: sample.kind,
                points: Vec::new(),
            });
            series.family = sample.family;
            series.kind = sample.kind;
            let idx = series.points.partition_point(|(t, _)| *t <= at);
            if idx > 0 && series.points[idx - 1].0 == at {
                // The same series twice in one body: keep the last, but say so.
                series.points[idx - 1].1 = sample.value;
                self.scrape_errors.push(ScrapeError {
                    at,
                    service: service.to_owned(),
                    message: "duplicate series in one exposition; kept the last value".into(),
                });
            } else {
                series.points.insert(idx, (at, sample.value));
            }
        }
        for error in exposition.errors {
            // Warn once per service; a broken target repeats every round.
            if self.parse_errors.iter().any(|e| e.service == service) {
                tracing::debug!(service, %error, "unparsable exposition line");
            } else {
                tracing::warn!(service, %error, "unparsable exposition line");
            }
            self.parse_errors.push(RecordedLineError { at, service: service.to_owned(), error });
        }
    }

    /// Records a scrape of `service` at `at` that failed as a whole.
    pub fn record_error(&mut self, service: &str, at: Duration, message: impl Into<String>) {
        let message = message.into();
        if self.quiet_errors || self.scrape_errors.iter().any(|e| e.service == service) {
            tracing::debug!(service, %message, "scrape failed");
        } else {
            tracing::warn!(service, %message, "scrape failed");
        }
        self.scrape_errors.push(ScrapeError { at, service: service.to_owned(), message });
    }

    /// Every series the selector matches, in key order.
    pub fn select<'a>(&'a self, sel: &Selector) -> impl Iterator<Item = (&'a SeriesKey, &'a Series)> + use<'a> {
        let sel = sel.clone();
        self.series.iter().filter(move |(k, _)| sel.matches(k))
    }

    pub fn all_series(&self) -> impl Iterator<Item = (&SeriesKey, &Series)> {
        self.series.iter()
    }

    /// Every service scraped, successfully or not.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        let failed = self.scrape_errors.iter().map(|e| &e.service);
        self.scrapes.keys().chain(failed).map(String::as_str).collect::<BTreeSet<_>>().into_iter()
    }

    /// Offsets of the service's scrapes that returned a body.
    pub fn scrape_times(&self, service: &str) -> &[Duration] {
        self.scrapes.get(service).map_or(&[], Vec::as_slice)
    }

    pub fn scrape_errors(&self) -> &[ScrapeError] {
        &self.scrape_errors
    }

    pub fn parse_errors(&self) -> &[RecordedLineError] {
        &self.parse_errors
    }

    /// Family metadata the service exposed (latest seen).
    pub fn families(&self, service: &str) -> impl Iterator<Item = &Family> {
        self.families.get(service).into_iter().flat_map(|f| f.values())
    }

    /// Whether `service` ever exposed `family`: declared in metadata, the
    /// family of a sample, or (for convenience) the name of a sample.
    pub fn family_present(&self, service: &str, family: &str) -> bool {
        self.families.get(service).is_some_and(|f| f.contains_key(family)) || self.family_series(Some(service), family).next().is_some()
    }

    /// Series of a family (or with that sample name), optionally of one service.
    pub fn family_series<'a>(
        &'a self,
        service: Option<&'a str>,
        family: &'a str,
    ) -> impl Iterator<Item = (&'a SeriesKey, &'a Series)> + 'a {
        self.series.iter().filter(move |(k, s)| service.is_none_or(|svc| svc == k.service) && (s.family == family || k.name == family))
    }

    /// Every value `label` took in the family's series (for cardinality checks).
    pub fn label_values(&self, service: Option<&str>, family: &str, label: &str) -> BTreeSet<String> {
        self.family_series(service, family).filter_map(|(k, _)| k.labels.get(label).cloned()).collect()
    }

    /// Number of distinct series of the family.
    pub fn series_count(&self, service: Option<&str>, family: &str) -> usize {
        self.family_series(service, family).count()
    }
}

fn insert_sorted(times: &mut Vec<Duration>, at: Duration) {
    let idx = times.partition_point(|t| *t <= at);
    if idx == 0 || times[idx - 1] != at {
        times.insert(idx, at);
    }
}
