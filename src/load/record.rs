//! Every request the load driver scheduled, on the run clock, and the
//! statistics expectations and reports need per window: counts, status mix,
//! achieved vs intended rate, missed sends, and latency quantiles (from an HDR
//! histogram) both from the *intended* send time (what a user waiting on a
//! schedule experiences, free of coordinated omission) and from the actual
//! send (the service time).
//!
//! A request belongs to the window in which it was *scheduled*: a request sent
//! into a stall counts in the stalled phase however long it took. Requests still
//! in flight when the load stopped are kept with their elapsed time as a lower
//! bound (`unfinished`), and count as timed out once that passes the timeout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::schedule::Schedule;
use crate::clock::Window;

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LoadSample {
    /// When the request was meant to leave (run offset): the window it belongs to.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub at: Duration,
    /// When it actually left (run offset), at or after `at`.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub sent: Duration,
    /// From the intended send time to the answer (or to the load's end for an unfinished request).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub latency: Duration,
    /// From the actual send to the answer.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub service: Duration,
    /// Index into the request mix.
    pub request: usize,
    /// HTTP status; None when no response came (timeout, connection error, unfinished).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Still in flight when the load stopped: `latency` is a lower bound.
    pub unfinished: bool,
    pub request_id: String,
    pub trace_id: String,
    /// The span id the load put in its traceparent: the parent of the stack's root span.
    pub span_id: String,
    /// A request of the mix, a whole sequence, or one step of a sequence.
    #[serde(skip_serializing_if = "Part::is_request")]
    pub part: Part,
}

/// What a sample stands for. A sequence is judged as one unit of load (its
/// steps are not counted again in the mix's totals); its steps are the HTTP
/// requests the stack saw (what traces and logs are joined to).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    #[default]
    Request,
    Sequence,
    Step,
}

impl Part {
    fn is_request(&self) -> bool {
        *self == Part::Request
    }
}

impl LoadSample {
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }

    /// Scheduled in the window and answered before it ended: a request whose
    /// whole trace the window should hold.
    pub fn within(&self, w: Window) -> bool {
        w.contains(self.at) && !self.unfinished && self.sent + self.service <= w.end
    }
}

/// A scheduled send that never left: every allowed request was in flight.
#[derive(Debug, Clone, Copy)]
pub struct Missed {
    pub at: Duration,
    pub request: usize,
}

#[derive(Debug, Default)]
struct Inner {
    samples: Vec<LoadSample>,
    missed: Vec<Missed>,
}

#[derive(Debug, Clone)]
pub struct LoadRecord {
    inner: Arc<Mutex<Inner>>,
    pub names: Arc<Vec<String>>,
    /// When each request was meant to leave; None in capacity mode (`rate: max`).
    pub schedule: Option<Arc<Schedule>>,
    /// Run offset of the schedule's zero (the timeline's origin).
    pub origin: Duration,
    /// The client timeout: an unfinished request older than this timed out.
    pub timeout: Duration,
    /// Each request's share of the mix (its weight over the total).
    pub shares: Arc<Vec<f64>>,
}

/// Statistics over one window (and optionally one request of the mix), by
/// intended send time.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct LoadStats {
    /// Scheduled in the window: sent + missed.
    pub scheduled: u64,
    /// Sent (scheduled in the window and left).
    pub requests: u64,
    /// Scheduled in the window but never sent: `max_in_flight` requests were
    /// already waiting (k6's dropped iterations). They count against the achieved rate.
    pub missed: u64,
    /// Still in flight when the load stopped (latency counted as a lower bound).
    pub unfinished: u64,
    pub ok: u64,
    /// Non-2xx, no answer, or unfinished past the timeout.
    pub failed: u64,
    /// failed / (ok + failed).
    pub error_ratio: f64,
    /// Requests sent per second of the window.
    pub achieved_rate: f64,
    /// Requests the schedule intended per second of the window (None in capacity mode).
    pub target_rate: Option<f64>,
    /// Responses by status (`"200"`, `"503"`, `"no response"`, `"unfinished"`).
    pub statuses: BTreeMap<String, u64>,
    /// Latency from the intended send time (ms).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Service time, from the actual send (ms).
    pub service_p50_ms: Option<f64>,
    pub service_p99_ms: Option<f64>,
    /// How late sends left against their schedule, worst case (ms).
    pub send_lag_max_ms: Option<f64>,
}

/// Nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Latencies in microseconds, 3 significant digits, up to an hour.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid HDR histogram bounds")
}

fn record_us(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

impl LoadRecord {
    pub fn new(names: Vec<String>) -> Self {
        let shares = vec![1.0 / names.len().max(1) as f64; names.len()];
        Self {
            inner: Arc::default(),
            names: Arc::new(names),
            schedule: None,
            origin: Duration::ZERO,
            timeout: Duration::from_secs(10),
            shares: Arc::new(shares),
        }
    }

    /// The schedule and timeout the load runs with; `origin` is set when the
    /// schedule starts (`load::start`, once goose's users are up).
    pub(crate) fn with_schedule(mut self, schedule: Option<Schedule>, timeout: Duration) -> Self {
        self.schedule = schedule.map(Arc::new);
        self.timeout = timeout;
        self
    }

    /// Each name's share of the target rate: its weight over the mix's total
    /// (a step has its sequence's).
    pub(crate) fn with_shares(mut self, shares: Vec<f64>) -> Self {
        self.shares = Arc::new(shares);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, s: LoadSample) {
        self.lock().samples.push(s);
    }

    pub(crate) fn push_missed(&self, m: Missed) {
        self.lock().missed.push(m);
    }

    /// Every HTTP request sent (a sequence's steps, not the sequence itself), by scheduled time.
    pub fn samples(&self) -> Vec<LoadSample> {
        let mut v: Vec<LoadSample> = self.lock().samples.iter().filter(|s| s.part != Part::Sequence).cloned().collect();
        v.sort_by_key(|s| s.at);
        v
    }

    /// Units of the mix answered (or given up) at or after `since`: (all, failed).
    /// Reads from the newest sample back, so it costs what it counts — for a
    /// live display polled while the load runs (samples are pushed as they end).
    pub fn answered_since(&self, since: Duration) -> (u64, u64) {
        let inner = self.lock();
        let recent = inner.samples.iter().rev().take_while(|s| s.sent + s.service >= since).filter(|s| s.part != Part::Step);
        recent.fold((0, 0), |(n, f), s| (n + 1, f + u64::from(!s.ok())))
    }

    /// Statistics per `step` from `start` to `end` (run offsets), in one pass
    /// over the samples (the timeline of report.json).
    pub fn buckets(&self, start: Duration, end: Duration, step: Duration) -> Vec<LoadStats> {
        let n = ((end.saturating_sub(start)).as_secs_f64() / step.as_secs_f64().max(1e-3)).ceil() as usize;
        let index =
            |at: Duration| (at >= start && at < end).then(|| ((at - start).as_secs_f64() / step.as_secs_f64()) as usize).filter(|i| *i < n);
        let inner = self.lock();
        let mut by: Vec<Vec<&LoadSample>> = vec![Vec::new(); n];
        for s in inner.samples.iter().filter(|s| s.part != Part::Step) {
            if let Some(i) = index(s.at) {
                by[i].push(s);
            }
        }
        let mut missed = vec![0u64; n];
        for m in &inner.missed {
            if let Some(i) = index(m.at) {
                missed[i] += 1;
            }
        }
        by.into_iter()
            .zip(missed)
            .enumerate()
            .map(|(i, (samples, missed))| {
                let w = Window::new(start + step * i as u32, (start + step * (i as u32 + 1)).min(end));
                let mut st = stats_of(samples.into_iter(), w, self.timeout);
                st.missed = missed;
                st.scheduled = st.requests + missed;
                st
            })
            .collect()
    }

    /// When the first request left (run offset).
    pub fn first_send(&self) -> Option<Duration> {
        self.lock().samples.iter().map(|s| s.sent).min()
    }

    /// Statistics of the units of load scheduled in `window` (requests and
    /// whole sequences), or of one request, sequence or step of the mix.
    pub fn stats(&self, window: Window, request: Option<usize>) -> LoadStats {
        let inner = self.lock();
        let mine = |at: Duration, r: usize| window.contains(at) && request.is_none_or(|q| q == r);
        let unit = |s: &&LoadSample| request.is_some() || s.part != Part::Step;
        let mut st = stats_of(inner.samples.iter().filter(|s| mine(s.at, s.request)).filter(unit), window, self.timeout);
        st.missed = inner.missed.iter().filter(|m| mine(m.at, m.request)).count() as u64;
        st.scheduled = st.requests + st.missed;
        if let Some(s) = &self.schedule {
            let (a, b) = (window.start.saturating_sub(self.origin), window.end.saturating_sub(self.origin));
            let share = request.map_or(1.0, |r| self.shares.get(r).copied().unwrap_or(0.0));
            let secs = window.len().as_secs_f64();
            st.target_rate = (secs > 0.0).then(|| s.expected(a, b) * share / secs);
        }
        st
    }
}

fn stats_of<'a>(samples: impl Iterator<Item = &'a LoadSample>, window: Window, timeout: Duration) -> LoadStats {
    let mut st = LoadStats::default();
    let (mut lat, mut service, mut lag) = (histogram(), histogram(), Duration::ZERO);
    for s in samples {
        st.requests += 1;
        // A sequence still under way is judged by its step in flight (a step
        // sample of its own): its total wait may pass one request's timeout
        // while no step did.
        let timed_out = s.unfinished && s.part != Part::Sequence && s.latency >= timeout;
        let key = if s.unfinished {
            st.unfinished += 1;
            "unfinished".to_string()
        } else {
            s.status.map_or_else(|| "no response".to_string(), |c| c.to_string())
        };
        if s.unfinished && !timed_out {
            // Outcome unknown: not a success nor a failure, but its wait so far counts.
        } else if s.ok() {
            st.ok += 1;
        } else {
            st.failed += 1;
        }
        *st.statuses.entry(key).or_default() += 1;
        record_us(&mut lat, s.latency);
        if !s.unfinished {
            record_us(&mut service, s.service);
        }
        lag = lag.max(s.sent.saturating_sub(s.at));
    }
    let finished = st.ok + st.failed;
    st.error_ratio = if finished == 0 { 0.0 } else { st.failed as f64 / finished as f64 };
    let secs = window.len().as_secs_f64();
    st.achieved_rate = if secs > 0.0 { st.requests as f64 / secs } else { 0.0 };
    st.p50_ms = quantile_ms(&lat, 0.5);
    st.p95_ms = quantile_ms(&lat, 0.95);
    st.p99_ms = quantile_ms(&lat, 0.99);
    st.max_ms = (!lat.is_empty()).then(|| lat.max() as f64 / 1000.0);
    st.service_p50_ms = quantile_ms(&service, 0.5);
    st.service_p99_ms = quantile_ms(&service, 0.99);
    st.send_lag_max_ms = (st.requests > 0).then_some(lag.as_secs_f64() * 1000.0);
    st
}

#[cfg(test)]
impl LoadSample {
    /// A sample for tests: sent on time, answered `status` after `lat_ms`.
    pub(crate) fn fixture(at_ms: u64, lat_ms: u64, status: Option<u16>) -> Self {
        Self {
            at: Duration::from_millis(at_ms),
            sent: Duration::from_millis(at_ms),
            latency: Duration::from_millis(lat_ms),
            service: Duration::from_millis(lat_ms),
            request: 0,
            status,
            error: None,
            unfinished: false,
            request_id: String::new(),
            trace_id: String::new(),
            span_id: String::new(),
            part: Part::Request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, lat_ms: u64, status: Option<u16>) -> LoadSample {
        LoadSample::fixture(at_ms, lat_ms, status)
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
    fn requests_belong_to_the_window_they_were_scheduled_in() {
        let rec = LoadRecord::new(vec!["a".into()]);
        rec.push(sample(100, 10, Some(200)));
        rec.push(sample(600, 30, Some(503)));
        rec.push(sample(900, 20, None));
        rec.push(sample(1500, 5, Some(200)));
        rec.push(sample(950, 2500, Some(200))); // scheduled in the window, answered long after it
        rec.push_missed(Missed { at: Duration::from_millis(980), request: 0 });
        let st = rec.stats(Window::new(Duration::ZERO, Duration::from_secs(1)), None);
        assert_eq!((st.scheduled, st.requests, st.missed, st.ok, st.failed), (5, 4, 1, 2, 2));
        assert_eq!(st.statuses["no response"], 1);
        assert!((st.achieved_rate - 4.0).abs() < 1e-9, "missed sends do not count as achieved");
        assert!((st.error_ratio - 0.5).abs() < 1e-9);
        // HDR quantiles are the bucket's highest value (3 significant digits): an upper bound.
        let p50 = st.p50_ms.unwrap();
        assert!((20.0..20.02).contains(&p50), "{p50}");
        let p99 = st.p99_ms.unwrap();
        assert!((p99 - 2500.0).abs() < 2.5, "the stalled request is in its window's p99: {p99}");
    }

    #[test]
    fn buckets_agree_with_window_stats_and_count_units_not_steps() {
        let rec = LoadRecord::new(vec!["a".into(), "s".into(), "s.x".into()]);
        // Pushed as they end, as the engine does.
        for at in [0, 300] {
            rec.push(sample(at, 10, Some(200)));
        }
        rec.push(LoadSample { part: Part::Step, request: 2, ..sample(400, 20, Some(200)) });
        rec.push(LoadSample { part: Part::Sequence, request: 1, ..sample(400, 50, Some(200)) });
        for at in [900, 1200, 1999, 2500] {
            rec.push(sample(at, 10, Some(if at == 900 { 503 } else { 200 })));
        }
        rec.push_missed(Missed { at: Duration::from_millis(1500), request: 0 });
        let b = rec.buckets(Duration::ZERO, Duration::from_millis(2600), Duration::from_secs(1));
        assert_eq!(b.len(), 3);
        for (i, st) in b.iter().enumerate() {
            let w = Window::new(Duration::from_secs(i as u64), Duration::from_millis((1000 * (i as u64 + 1)).min(2600)));
            let direct = rec.stats(w, None);
            assert_eq!(
                (st.requests, st.ok, st.failed, st.missed, st.scheduled),
                (direct.requests, direct.ok, direct.failed, direct.missed, direct.scheduled)
            );
        }
        assert_eq!((b[0].requests, b[0].failed, b[1].missed), (4, 1, 1), "the sequence once, its step not: {b:?}");
        // The live line counts what ended in the last second.
        assert_eq!(rec.answered_since(Duration::from_millis(1500)), (2, 0));
    }

    #[test]
    fn a_sequence_under_way_is_judged_by_its_step_not_its_total_wait() {
        let rec = LoadRecord::new(vec!["s".into(), "s.a".into()]).with_schedule(None, Duration::from_secs(1));
        rec.push(LoadSample { part: Part::Sequence, unfinished: true, status: None, ..sample(0, 1300, None) });
        rec.push(LoadSample { part: Part::Step, request: 1, unfinished: true, status: None, ..sample(0, 700, None) });
        let st = rec.stats(Window::new(Duration::ZERO, Duration::from_secs(2)), None);
        assert_eq!((st.unfinished, st.failed), (1, 0), "outcome unknown: no step timed out");
    }

    #[test]
    fn unfinished_requests_are_lower_bounds_and_time_out() {
        let rec = LoadRecord::new(vec!["a".into()]).with_schedule(None, Duration::from_secs(2));
        rec.push(sample(0, 10, Some(200)));
        rec.push(LoadSample { unfinished: true, status: None, ..sample(100, 1500, None) });
        rec.push(LoadSample { unfinished: true, status: None, ..sample(200, 2500, None) });
        let st = rec.stats(Window::new(Duration::ZERO, Duration::from_secs(1)), None);
        assert_eq!((st.requests, st.unfinished, st.ok, st.failed), (3, 2, 1, 1), "{st:?}");
        assert!(st.max_ms.unwrap() >= 2499.0);
        let service = st.service_p99_ms.unwrap();
        assert!((10.0..10.01).contains(&service), "service time only of answered requests: {service}");
    }

    #[test]
    fn the_target_rate_comes_from_the_schedule() {
        let s = Schedule::constant(50.0, Duration::from_secs(4));
        let mut rec = LoadRecord::new(vec!["a".into(), "b".into()]).with_schedule(Some(s), Duration::from_secs(1));
        rec.origin = Duration::from_secs(1);
        let st = rec.stats(Window::new(Duration::from_secs(1), Duration::from_secs(3)), None);
        assert_eq!(st.target_rate, Some(50.0));
        let st = rec.stats(Window::new(Duration::from_secs(1), Duration::from_secs(3)), Some(1));
        assert_eq!(st.target_rate, Some(25.0), "an even share per request of the mix");
    }
}
