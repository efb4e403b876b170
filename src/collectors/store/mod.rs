//! The metric store: every scraped sample at its run offset, keyed by
//! (service, sample name, labels), with each service's family metadata, its
//! successful scrape offsets, and every scrape and parse error.
//!
//! Recording is done by the scraper; everything else here and in [`query`] is
//! pure (no I/O) so expectations can be tested on synthetic series.
//! Exposition timestamps are ignored: a sample is stored at the offset of the
//! scrape that read it, so all series of one scrape share one instant.

mod findings;
mod query;
mod watch;

pub use watch::{BLIND_ROUNDS, MIN_BLIND};

pub use findings::{ScrapeFindings, WARN_FAILED_SHARE};

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::exposition::{Exposition, Family, LineError, MetricType};

pub(crate) use query::bucket_bound;
pub use query::{GaugeStats, Increase};

/// Identity of one time series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, schemars::JsonSchema)]
pub struct SeriesKey {
    pub service: String,
    /// Sample name as exposed (`x_total`, `x_bucket`, ...).
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One series' points, in time order, and the family it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Series {
    pub family: String,
    pub kind: MetricType,
    pub points: Vec<(Duration, f64)>,
}

/// A scrape that failed as a whole (connection, status, timeout, body).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ScrapeError {
    pub at: Duration,
    pub service: String,
    /// A short class: `timeout`, `connection`, `http_status`, `size_cap`,
    /// `not_utf8`, `client` (see `ScrapeFailure::reason`).
    pub reason: &'static str,
    pub message: String,
}

/// A series a service exposed more than once in one body (an exposition
/// error): the first sample of each body is kept, later ones are ignored, as
/// Prometheus does ("duplicate sample for timestamp").
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DuplicateSeries {
    pub service: String,
    /// The series as `name{label="value",...}`.
    pub series: String,
    /// Run offset of the first body that had it twice.
    pub first_at: Duration,
    /// Samples ignored, over all scrapes.
    pub ignored: usize,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum MatchOp {
    Eq,
    Ne,
}

/// `label="value"` or `label!="value"`. As in PromQL, a missing label
/// compares as the empty string.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
    /// (service, series) -> finding.
    duplicates: BTreeMap<(String, String), DuplicateSeries>,
    /// Failed scrapes are logged at debug level only (the caller reports them).
    quiet_errors: bool,
    /// The scraper's interval, when a scraper records here: bounds the gap
    /// between successful scrapes inside which an absence still counts.
    interval: Option<Duration>,
}

impl MetricStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the store the scraper's interval (see [`Self::scraped_in`]).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = Some(interval);
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
            let series = self.series.entry(key.clone()).or_insert_with(|| Series {
                family: sample.family.clone(),
                kind: sample.kind,
                points: Vec::new(),
            });
            series.family = sample.family;
            series.kind = sample.kind;
            let idx = series.points.partition_point(|(t, _)| *t <= at);
            if idx > 0 && series.points[idx - 1].0 == at {
                // The same series twice in one body: keep the first, say so once.
                let name = series_name(&key.name, &key.labels);
                self.duplicates
                    .entry((service.to_owned(), name.clone()))
                    .or_insert_with(|| {
                        tracing::warn!(service, series = %name, "duplicate series in one exposition; later samples ignored");
                        DuplicateSeries { service: service.to_owned(), series: name, first_at: at, ignored: 0 }
                    })
                    .ignored += 1;
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
    pub fn record_error(&mut self, service: &str, at: Duration, reason: &'static str, message: impl Into<String>) {
        let message = message.into();
        if self.quiet_errors || self.scrape_errors.iter().any(|e| e.service == service) {
            tracing::debug!(service, %message, "scrape failed");
        } else {
            tracing::warn!(service, %message, "scrape failed");
        }
        self.scrape_errors.push(ScrapeError { at, service: service.to_owned(), reason, message });
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

    /// Series exposed twice in one body, in (service, series) order.
    pub fn duplicates(&self) -> impl Iterator<Item = &DuplicateSeries> {
        self.duplicates.values()
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

/// `name{a="x",b="y"}` (labels in key order).
pub fn series_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn insert_sorted(times: &mut Vec<Duration>, at: Duration) {
    let idx = times.partition_point(|t| *t <= at);
    if idx == 0 || times[idx - 1] != at {
        times.insert(idx, at);
    }
}

#[cfg(test)]
mod tests {
    //! Store queries on synthetic series, with expected values computed by hand.

    use super::query::{bucket_bound, bucket_quantile};
    use super::*;
    use crate::clock::Window;
    use crate::collectors::exposition::{Format, parse};

    pub(crate) fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    pub(crate) fn w(a: u64, b: u64) -> Window {
        Window::new(s(a), s(b))
    }

    /// Records one scrape of `service` at `at` seconds from exposition text.
    pub(crate) fn scrape(store: &mut MetricStore, service: &str, at: u64, body: &str) {
        store.record(service, s(at), parse(body, Format::PrometheusText));
    }

    fn counter_store(values: &[(u64, f64)]) -> MetricStore {
        let mut st = MetricStore::new();
        for &(t, v) in values {
            scrape(&mut st, "svc", t, &format!("# TYPE c_total counter\nc_total {v}\n"));
        }
        st
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn increase_uses_baseline_at_or_before_start_and_last_at_or_before_end() {
        let st = counter_store(&[(0, 0.0), (10, 5.0), (20, 12.0), (30, 20.0)]);
        let c = Selector::new("c_total");
        assert_eq!(st.increase(&c, w(10, 30)).unwrap().value, 15.0);
        assert_eq!(st.increase(&c, w(5, 25)).unwrap().value, 12.0);
        assert!(close(st.rate(&c, w(5, 25)).unwrap(), 12.0 / 20.0));
        // Adjacent windows add up exactly.
        let parts = st.increase(&c, w(0, 15)).unwrap().value + st.increase(&c, w(15, 30)).unwrap().value;
        assert_eq!(parts, st.increase(&c, w(0, 30)).unwrap().value);
        // After the last sample nothing moves; before the first there is no data.
        assert_eq!(st.increase(&c, w(30, 40)).unwrap().value, 0.0);
        assert_eq!(counter_store(&[(10, 1.0)]).increase(&c, w(0, 5)), None);
        assert_eq!(st.rate(&c, w(10, 10)), None);
    }

    #[test]
    fn a_drop_is_a_reset_and_the_post_reset_value_counts() {
        let st = counter_store(&[(0, 10.0), (10, 15.0), (20, 3.0), (30, 8.0)]);
        let inc = st.increase(&Selector::new("c_total"), w(0, 30)).unwrap();
        assert_eq!(inc, Increase { value: 5.0 + 3.0 + 5.0, series: 1, resets: 1 });
    }

    #[test]
    fn series_first_seen_inside_the_window_starts_from_zero() {
        let mut st = MetricStore::new();
        scrape(&mut st, "svc", 0, "other 1\n");
        scrape(&mut st, "svc", 10, "other 1\n");
        scrape(&mut st, "svc", 20, "c_total{status=\"error\"} 4\n");
        scrape(&mut st, "svc", 30, "c_total{status=\"error\"} 6\n");
        let inc = st.increase(&Selector::new("c_total"), w(10, 30)).unwrap();
        assert_eq!(inc.value, 6.0);
    }

    #[test]
    fn series_in_the_services_first_scrape_has_its_first_sample_as_baseline() {
        let st = counter_store(&[(2, 100.0), (10, 105.0)]);
        assert_eq!(st.increase(&Selector::new("c_total"), w(0, 10)).unwrap().value, 5.0);
    }

    #[test]
    fn increase_sums_selected_series_and_honours_matchers_and_service() {
        let mut st = MetricStore::new();
        for (t, ok, err) in [(0, 1, 0), (10, 11, 2)] {
            let body = format!("t_total{{status=\"ok\"}} {ok}\nt_total{{status=\"error\"}} {err}\n");
            scrape(&mut st, "a", t, &body);
            scrape(&mut st, "b", t, &body);
        }
        let all = Selector::new("t_total");
        assert_eq!(st.increase(&all, w(0, 10)).unwrap(), Increase { value: 24.0, series: 4, resets: 0 });
        let a = all.clone().service("a");
        assert_eq!(st.increase(&a, w(0, 10)).unwrap().value, 12.0);
        assert_eq!(st.increase(&a.clone().eq("status", "ok"), w(0, 10)).unwrap().value, 10.0);
        assert_eq!(st.increase(&a.clone().ne("status", "ok"), w(0, 10)).unwrap().value, 2.0);
        // A missing label compares as "".
        assert_eq!(st.increase(&a.clone().eq("region", ""), w(0, 10)).unwrap().value, 12.0);
        assert_eq!(st.increase(&a.eq("status", "nope"), w(0, 10)), None);
    }

    #[test]
    fn gauge_stats_step_series_and_value_at() {
        let mut st = MetricStore::new();
        for (t, x, y) in [(0, 1, 0), (10, 3, 1), (20, 2, 5), (30, 0, 0)] {
            scrape(&mut st, "svc", t, &format!("g{{w=\"x\"}} {x}\ng{{w=\"y\"}} {y}\nbreaker 0\n"));
        }
        let g = Selector::new("g");
        assert_eq!(st.step_series(&g, w(10, 30)), vec![(s(10), 4.0), (s(20), 7.0)]);
        let stats = st.gauge_stats(&g, w(0, 30)).unwrap();
        assert_eq!(stats, GaugeStats { min: 1.0, max: 7.0, last: 7.0, avg: 4.0, samples: 3 });
        assert_eq!(st.gauge_at(&g, s(15)), Some(4.0));
        assert_eq!(st.gauge_at(&g.clone().eq("w", "y"), s(25)), Some(5.0));
        assert_eq!(st.gauge_stats(&g, w(31, 40)), None);
        assert_eq!(st.gauge_at(&Selector::new("missing"), s(15)), None);
    }

    fn histogram_body(kind: &str, counts: [u32; 4]) -> String {
        let les = ["0.1", "0.5", "1", "+Inf"];
        les.iter().zip(counts).map(|(le, c)| format!("h_bucket{{kind=\"{kind}\",le=\"{le}\"}} {c}\n")).collect()
    }

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let mut st = MetricStore::new();
        scrape(&mut st, "svc", 0, &histogram_body("a", [0, 0, 0, 0]));
        scrape(&mut st, "svc", 10, &histogram_body("a", [10, 30, 38, 40]));
        scrape(&mut st, "svc", 20, &histogram_body("a", [20, 50, 58, 60]));
        let h = Selector::new("h");
        // rank 20 of 40 lies in (0.1, 0.5] holding 20: 0.1 + 0.4 * 10/20.
        assert!(close(st.histogram_quantile(0.5, &h, w(0, 10)).unwrap(), 0.3));
        // rank 36 in (0.5, 1] holding 8: 0.5 + 0.5 * 6/8.
        assert!(close(st.histogram_quantile(0.9, &h, w(0, 10)).unwrap(), 0.875));
        // rank 39.6 falls in +Inf: the highest finite bound.
        assert_eq!(st.histogram_quantile(0.99, &h, w(0, 10)), Some(1.0));
        // rank 2 in the first bucket, which starts at 0: 0.1 * 2/10.
        assert!(close(st.histogram_quantile(0.05, &h, w(0, 10)).unwrap(), 0.02));
        // Only the window's observations: increases (10,20,20,20); rank 10 -> 0.1.
        assert!(close(st.histogram_quantile(0.5, &h.clone(), w(10, 20)).unwrap(), 0.1));
        // The `_bucket` name works too; out-of-range q behaves as in PromQL.
        assert_eq!(st.histogram_quantile(1.5, &Selector::new("h_bucket"), w(0, 10)), Some(f64::INFINITY));
        // Empty window -> None.
        assert_eq!(st.histogram_quantile(0.5, &h, w(20, 30)), None);
    }

    #[test]
    fn histogram_quantile_sums_buckets_across_series_and_survives_resets() {
        let mut st = MetricStore::new();
        let both = |a: [u32; 4], b: [u32; 4]| histogram_body("a", a) + &histogram_body("b", b);
        scrape(&mut st, "svc", 0, &both([0, 0, 0, 0], [0, 0, 0, 0]));
        scrape(&mut st, "svc", 10, &both([5, 15, 19, 20], [5, 15, 19, 20]));
        // Series b restarts and observes (1, 1, 1, 1) -> reset adds those.
        scrape(&mut st, "svc", 20, &both([5, 15, 19, 20], [1, 1, 1, 1]));
        let h = Selector::new("h");
        // Summed (10, 30, 38, 40) as in the single-series test.
        assert!(close(st.histogram_quantile(0.5, &h, w(0, 10)).unwrap(), 0.3));
        // Window (10, 20]: only b's post-reset observations, all <= 0.1: rank 0.5 of 1.
        assert!(close(st.histogram_quantile(0.5, &h, w(10, 20)).unwrap(), 0.05));
        assert!(close(st.histogram_quantile(0.5, &h.eq("kind", "a"), w(0, 20)).unwrap(), 0.3));
    }

    #[test]
    fn bucket_bound_is_the_upper_bound_of_the_quantiles_bucket() {
        let inf = f64::INFINITY;
        let h = vec![(0.01, 2.0), (0.025, 9.0), (0.05, 10.0), (inf, 10.0)];
        assert_eq!(bucket_bound(0.5, h.clone()), Some((0.025, 10.0)));
        assert_eq!(bucket_bound(0.2, h.clone()), Some((0.01, 10.0)));
        assert_eq!(bucket_bound(0.95, h.clone()), Some((0.05, 10.0)));
        assert_eq!(bucket_bound(0.0, h), Some((0.01, 10.0)), "the first bucket with an observation");
        assert_eq!(bucket_bound(0.99, vec![(0.1, 1.0), (inf, 10.0)]), Some((inf, 10.0)));
        assert_eq!(bucket_bound(0.5, vec![(0.1, 0.0), (inf, 0.0)]), None, "no observations");
        assert_eq!(bucket_bound(0.5, vec![(0.1, 3.0), (0.1, 2.0), (inf, 5.0)]), Some((0.1, 5.0)), "bounds summed across series");
    }

    #[test]
    fn bucket_quantile_edge_cases() {
        let inf = f64::INFINITY;
        assert_eq!(bucket_quantile(0.5, vec![]), None);
        assert_eq!(bucket_quantile(0.5, vec![(1.0, 5.0), (2.0, 5.0)]), None, "no +Inf bucket");
        assert_eq!(bucket_quantile(0.5, vec![(1.0, 0.0), (inf, 0.0)]), None, "no observations");
        assert_eq!(bucket_quantile(0.5, vec![(inf, 3.0)]), None, "a single bucket");
        assert_eq!(bucket_quantile(0.5, vec![(-1.0, 4.0), (inf, 4.0)]), Some(-1.0));
        assert!(bucket_quantile(f64::NAN, vec![(1.0, 1.0), (inf, 1.0)]).unwrap().is_nan());
        assert_eq!(bucket_quantile(-0.1, vec![(1.0, 1.0), (inf, 1.0)]), Some(f64::NEG_INFINITY));
        // Unsorted input, duplicated bounds summed, non-monotonic counts repaired.
        let q = bucket_quantile(0.5, vec![(inf, 4.0), (1.0, 1.0), (1.0, 1.0), (2.0, 1.0)]).unwrap();
        assert!(close(q, 1.0), "{q}");
    }

    #[test]
    fn presence_label_values_and_errors() {
        let mut st = MetricStore::new();
        let body = "# HELP tasks Tasks.\n# TYPE tasks counter\ntasks_total{status=\"ok\"} 1\n\
                tasks_total{status=\"error\"} 1\n# TYPE declared_only gauge\nbad{ 1\n# EOF\n";
        st.record("coord", s(1), parse(body, Format::OpenMetrics));
        st.record_error("worker", s(1), "connection", "connection refused");
        assert!(st.family_present("coord", "tasks"));
        assert!(st.family_present("coord", "tasks_total"));
        assert!(st.family_present("coord", "declared_only"));
        assert!(!st.family_present("coord", "nope"));
        assert!(!st.family_present("worker", "tasks"));
        assert_eq!(st.families("coord").count(), 2);
        let values: Vec<String> = st.label_values(None, "tasks", "status").into_iter().collect();
        assert_eq!(values, ["error", "ok"]);
        assert_eq!(st.series_count(Some("coord"), "tasks"), 2);
        assert_eq!(st.parse_errors().len(), 1);
        assert_eq!(st.parse_errors()[0].error.line, 6);
        assert_eq!(st.scrape_errors()[0].message, "connection refused");
        assert_eq!(st.scrape_times("coord"), &[s(1)]);
        assert!(st.scrape_times("worker").is_empty());
        assert_eq!(st.services().collect::<Vec<_>>(), ["coord", "worker"]);
    }

    #[test]
    fn duplicate_series_keep_the_first_sample_and_are_reported_once() {
        // Regression: last-wins turned two counters of one name (5 and 100)
        // into fake resets whenever the body's order changed.
        let mut st = MetricStore::new();
        scrape(&mut st, "svc", 1, "x{a=\"1\"} 5\nx{a=\"1\"} 100\n");
        scrape(&mut st, "svc", 2, "x{a=\"1\"} 100\nx{a=\"1\"} 6\n");
        scrape(&mut st, "svc", 3, "x{a=\"1\"} 7\nx{a=\"1\"} 100\n");
        let (_, series) = st.select(&Selector::new("x")).next().unwrap();
        assert_eq!(series.points, vec![(s(1), 5.0), (s(2), 100.0), (s(3), 7.0)], "the first of each body");
        let dups: Vec<_> = st.duplicates().collect();
        assert_eq!(dups.len(), 1);
        assert_eq!((dups[0].series.as_str(), dups[0].first_at, dups[0].ignored), ("x{a=\"1\"}", s(1), 3));
        assert!(st.scrape_errors().is_empty(), "the scrapes themselves worked");
    }

    #[test]
    fn a_quiet_store_still_records_failed_scrapes() {
        let mut st = MetricStore::with_quiet_errors();
        st.record_error("worker", s(1), "http_status", "GET http://127.0.0.1:1/metrics answered HTTP 404");
        st.record_error("worker", s(2), "http_status", "GET http://127.0.0.1:1/metrics answered HTTP 404");
        assert_eq!(st.scrape_errors().len(), 2);
        assert_eq!(st.scrape_errors()[1].at, s(2));
    }
}
