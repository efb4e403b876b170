//! Window queries on a [`MetricStore`]: counter increase and rate, gauge
//! statistics and step series, histogram quantiles. Pure functions of what was
//! recorded.
//!
//! Counter semantics (documented choices):
//! - A counter window reads as `(start, end]`, like PromQL's range: the
//!   baseline is the last sample at or before `start`, the end value the last
//!   sample at or before `end`. Adjacent windows therefore add up exactly.
//! - A drop between two samples is a reset (process restart): the post-reset
//!   value counts as the increase since the restart (the counter began at 0).
//! - A series with no sample at or before `start`:
//!   * if the service had an earlier successful scrape without it, the series
//!     was created since then (prometheus-client exports a label set only after
//!     first use), so it starts from 0 and its whole first value counts;
//!   * if its first sample is from the service's first scrape, nothing is known
//!     of its history, so that first sample is the baseline.
//! - NaN samples are skipped. Increases are summed over the selected series.
//!
//! Gauge semantics: windows are half-open `[start, end)` ([`Window::contains`]);
//! the selected series are summed per scrape instant (PromQL `sum(gauge)`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{MetricStore, Selector, Series, SeriesKey};
use crate::clock::Window;

/// A counter's increase over a window, with evidence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Increase {
    pub value: f64,
    /// Selected series that had data by the end of the window.
    pub series: usize,
    /// Counter resets seen inside the window.
    pub resets: usize,
}

/// Statistics of a (summed) gauge over a window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct GaugeStats {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    /// Mean over scrape instants (not time-weighted).
    pub avg: f64,
    /// Scrape instants in the window.
    pub samples: usize,
}

impl MetricStore {
    /// Sum of the selected counters' increases over `window`; `None` if no
    /// selected series had any sample by the window's end.
    pub fn increase(&self, sel: &Selector, window: Window) -> Option<Increase> {
        let mut total: Option<Increase> = None;
        for (key, series) in self.select(sel) {
            if let Some((value, resets)) = self.series_increase(key, series, window) {
                let t = total.get_or_insert(Increase { value: 0.0, series: 0, resets: 0 });
                t.value += value;
                t.series += 1;
                t.resets += resets;
            }
        }
        total
    }

    /// [`increase`](Self::increase) per second of the window.
    pub fn rate(&self, sel: &Selector, window: Window) -> Option<f64> {
        let secs = window.len().as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        self.increase(sel, window).map(|i| i.value / secs)
    }

    fn series_increase(&self, key: &SeriesKey, series: &Series, window: Window) -> Option<(f64, usize)> {
        let points: Vec<(Duration, f64)> = series.points.iter().copied().filter(|(_, v)| !v.is_nan()).collect();
        let end = points.partition_point(|(t, _)| *t <= window.end);
        let &(first_seen, first_value) = points.first().filter(|_| end > 0)?;
        let start = points.partition_point(|(t, _)| *t <= window.start);
        let (mut prev, from) = if start > 0 {
            (points[start - 1].1, start)
        } else if self.scrape_times(&key.service).first().is_some_and(|t| *t < first_seen) {
            (0.0, 0)
        } else {
            (first_value, 1)
        };
        let (mut value, mut resets) = (0.0, 0);
        for &(_, v) in &points[from..end] {
            if v < prev {
                value += v;
                resets += 1;
            } else {
                value += v - prev;
            }
            prev = v;
        }
        Some((value, resets))
    }

    /// The selected series summed per scrape instant, for instants in `window`.
    pub fn step_series(&self, sel: &Selector, window: Window) -> Vec<(Duration, f64)> {
        let mut summed: BTreeMap<Duration, f64> = BTreeMap::new();
        for (_, series) in self.select(sel) {
            for &(t, v) in &series.points {
                if window.contains(t) && !v.is_nan() {
                    *summed.entry(t).or_insert(0.0) += v;
                }
            }
        }
        summed.into_iter().collect()
    }

    /// The selected series' summed value as of `at` (each series' last sample
    /// at or before `at`); `None` if none had a sample yet.
    pub fn gauge_at(&self, sel: &Selector, at: Duration) -> Option<f64> {
        self.select(sel)
            .filter_map(|(_, s)| s.points.iter().rev().find(|(t, v)| *t <= at && !v.is_nan()).map(|p| p.1))
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    }

    /// min / max / last / avg of the summed gauge over `window`; `None` if no sample fell in it.
    pub fn gauge_stats(&self, sel: &Selector, window: Window) -> Option<GaugeStats> {
        let steps = self.step_series(sel, window);
        let &(_, last) = steps.last()?;
        let values = steps.iter().map(|p| p.1);
        Some(GaugeStats {
            min: values.clone().fold(f64::INFINITY, f64::min),
            max: values.clone().fold(f64::NEG_INFINITY, f64::max),
            last,
            avg: values.sum::<f64>() / steps.len() as f64,
            samples: steps.len(),
        })
    }

    /// PromQL `histogram_quantile(q, sum by (le) (increase(name_bucket[window])))`
    /// over the selected bucket series. `sel.name` may be the family or its
    /// `_bucket` series. `None` when the histogram is empty in the window, has
    /// no `+Inf` bucket, or fewer than two buckets. As in PromQL, `q < 0`
    /// gives -Inf and `q > 1` +Inf.
    pub fn histogram_quantile(&self, q: f64, sel: &Selector, window: Window) -> Option<f64> {
        bucket_quantile(q, self.histogram_buckets(sel, window))
    }

    /// `(le, increase over window)` of every selected bucket series (`sel.name`
    /// the family or its `_bucket` series); a bound may repeat across series.
    pub fn histogram_buckets(&self, sel: &Selector, window: Window) -> Vec<(f64, f64)> {
        let mut sel = sel.clone();
        if !sel.name.ends_with("_bucket") {
            sel.name.push_str("_bucket");
        }
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for (key, series) in self.select(&sel) {
            let Some(le) = key.labels.get("le").and_then(|le| le.parse::<f64>().ok()) else {
                tracing::debug!(series = ?key, "bucket series without a numeric `le`; skipped");
                continue;
            };
            if let Some((inc, _)) = self.series_increase(key, series, window) {
                buckets.push((le, inc));
            }
        }
        buckets
    }
}

/// The upper bound of the bucket that holds rank `q * count` (`+Inf` for the
/// last bucket) and the count: what a histogram can say for sure about its
/// q-quantile — it is at most this bound. `None` as for [`bucket_quantile`].
pub(crate) fn bucket_bound(q: f64, buckets: Vec<(f64, f64)>) -> Option<(f64, f64)> {
    let merged = merged(buckets);
    let &(top, observations) = merged.last()?;
    if merged.len() < 2 || top != f64::INFINITY || observations <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = (q * observations).max(f64::MIN_POSITIVE);
    merged.iter().find(|(_, c)| *c >= rank).map(|&(le, _)| (le, observations))
}

/// Prometheus' `bucketQuantile`: linear interpolation inside the bucket that
/// holds rank `q * count`; the lowest bucket starts at 0 (unless its bound is
/// <= 0); a rank in the `+Inf` bucket returns the highest finite bound.
pub(crate) fn bucket_quantile(q: f64, buckets: Vec<(f64, f64)>) -> Option<f64> {
    if q.is_nan() {
        return Some(f64::NAN);
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let merged = merged(buckets);
    if merged.len() < 2 || merged.last()?.0 != f64::INFINITY {
        return None;
    }
    let observations = merged.last()?.1;
    if observations <= 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let b = merged.iter().position(|(_, c)| *c >= rank)?;
    if b == merged.len() - 1 {
        return Some(merged[b - 1].0);
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return Some(merged[0].0);
    }
    let (mut bucket_start, bucket_end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        bucket_start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    Some(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// Buckets sorted by bound, the same bound from several series summed, and
/// counts made monotonic (per-series reset handling can break that slightly).
fn merged(mut buckets: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (le, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    for i in 1..merged.len() {
        merged[i].1 = merged[i].1.max(merged[i - 1].1);
    }
    merged
}
