//! Every request the load driver sent, on the run clock, and the statistics
//! expectations and reports need per window: counts, status mix, achieved
//! vs intended rate, latency percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Window;

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSample {
    /// When the request was sent (run offset).
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Index into the request mix.
    pub request: usize,
    /// HTTP status; None when no response came (timeout, connection error).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub request_id: String,
    pub trace_id: String,
    /// The span id the load put in its traceparent: the parent of the stack's root span.
    pub span_id: String,
}

impl LoadSample {
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }

    /// Sent in the window and finished before it ended: the requests whose
    /// outcome belongs to the window (see [`LoadStats`]).
    pub fn within(&self, w: Window) -> bool {
        w.contains(self.at) && self.at + self.latency <= w.end
    }
}

#[derive(Debug, Clone)]
pub struct LoadRecord {
    samples: Arc<Mutex<Vec<LoadSample>>>,
    seq: Arc<AtomicU64>,
    pub names: Arc<Vec<String>>,
}

/// Statistics over one window (and optionally one request of the mix).
///
/// `requests` and `achieved_rate` count every request *sent* in the window.
/// Outcomes and latencies (`ok`, `failed`, `statuses`, percentiles) count only
/// requests that also *finished* in it: a request sent just before a fault
/// starts and failed by it belongs to neither phase (`straddling`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadStats {
    pub requests: u64,
    /// Sent in the window but finished after it; not in the outcome counts.
    pub straddling: u64,
    pub ok: u64,
    pub failed: u64,
    pub error_ratio: f64,
    /// Requests sent per second in the window.
    pub achieved_rate: f64,
    /// Responses by status (`"200"`, `"503"`, `"no response"`).
    pub statuses: BTreeMap<String, u64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

impl LoadRecord {
    pub fn new(names: Vec<String>) -> Self {
        Self { samples: Arc::default(), seq: Arc::default(), names: Arc::new(names) }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn push(&self, s: LoadSample) {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    pub fn samples(&self) -> Vec<LoadSample> {
        let mut v = self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        v.sort_by_key(|s| s.at);
        v
    }

    pub fn stats(&self, window: Window, request: Option<usize>) -> LoadStats {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        stats_of(samples.iter().filter(|s| window.contains(s.at) && request.is_none_or(|r| s.request == r)), window)
    }
}

pub fn stats_of<'a>(samples: impl Iterator<Item = &'a LoadSample>, window: Window) -> LoadStats {
    let mut st = LoadStats::default();
    let mut lat: Vec<f64> = Vec::new();
    for s in samples {
        st.requests += 1;
        if !s.within(window) {
            st.straddling += 1;
            continue;
        }
        if s.ok() {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
        let key = s.status.map_or_else(|| "no response".to_string(), |c| c.to_string());
        *st.statuses.entry(key).or_default() += 1;
        lat.push(s.latency.as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let finished = st.ok + st.failed;
    st.error_ratio = if finished == 0 { 0.0 } else { st.failed as f64 / finished as f64 };
    let secs = window.len().as_secs_f64();
    st.achieved_rate = if secs > 0.0 { st.requests as f64 / secs } else { 0.0 };
    st.p50_ms = quantile(&lat, 0.5);
    st.p95_ms = quantile(&lat, 0.95);
    st.p99_ms = quantile(&lat, 0.99);
    st.max_ms = lat.last().copied();
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, lat_ms: u64, status: Option<u16>) -> LoadSample {
        LoadSample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(lat_ms),
            request: 0,
            status,
            error: None,
            request_id: String::new(),
            trace_id: String::new(),
            span_id: String::new(),
        }
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn stats_per_window() {
        let rec = LoadRecord::new(vec!["a".into()]);
        rec.push(sample(100, 10, Some(200)));
        rec.push(sample(600, 30, Some(503)));
        rec.push(sample(900, 20, None));
        rec.push(sample(1500, 5, Some(200)));
        rec.push(sample(950, 300, Some(502))); // sent in the window, failed after it
        let st = rec.stats(Window::new(Duration::ZERO, Duration::from_secs(1)), None);
        assert_eq!((st.requests, st.straddling, st.ok, st.failed), (4, 1, 1, 2));
        assert_eq!(st.statuses["no response"], 1);
        assert!((st.achieved_rate - 4.0).abs() < 1e-9);
        assert!((st.error_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(st.p50_ms, Some(20.0));
    }
}
