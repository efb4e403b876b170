//! The run as time series, for people to see it (report.html) and tools to
//! plot it: per second of the timeline, what the load scheduled, sent and got
//! back (latency by intended send time); every scraped series an expectation
//! used; health probes; fault windows; alerts are in `alerting`. Times are
//! milliseconds from the timeline's start (phase 0), as everywhere in report.json.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Window;
use crate::expect::Recorded;
use crate::plan::Plan;

/// At most this many series per metric family (the first, in key order):
/// a family with a label per user must not make the report unbounded.
pub const MAX_SERIES_PER_FAMILY: usize = 12;

/// At most this many points per series (evenly thinned beyond it).
pub const MAX_POINTS: usize = 600;

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Timeline {
    /// Width of a load bucket (ms).
    pub step_ms: u64,
    /// One bucket per `step_ms` of the timeline, by scheduled send time.
    pub load: Vec<LoadPoint>,
    /// Fault windows: mock faults and service faults.
    pub faults: Vec<FaultSpan>,
    /// Scraped series of the metric families the expectations read.
    pub metrics: Vec<MetricTrace>,
    /// Health probes per `service/endpoint`: (ms, answered 2xx).
    pub health: BTreeMap<String, Vec<(f64, bool)>>,
}

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct LoadPoint {
    /// Bucket start (ms).
    pub t_ms: f64,
    pub scheduled: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub missed: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FaultSpan {
    pub id: String,
    /// `mock llm /v1/chat/completions` or `service worker`.
    pub target: String,
    /// What was done: the mock fault as JSON (`{"error":{"status":503}}`), or the service action (`kill`).
    pub what: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MetricTrace {
    pub service: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `counter`, `gauge`, ...
    pub kind: String,
    pub points: Vec<(f64, f64)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The run's time series; `origin` is the timeline's start (run offset).
pub fn build(plan: &Plan, rec: &Recorded) -> Timeline {
    let origin = rec.origin;
    let end = plan.duration();
    let step = Duration::from_secs(1);
    let mut t = Timeline { step_ms: step.as_millis() as u64, ..Default::default() };
    if let Some(load) = &rec.load {
        for (i, st) in load.buckets(origin, origin + end, step).into_iter().enumerate() {
            t.load.push(LoadPoint {
                t_ms: ms(step * i as u32),
                scheduled: st.scheduled,
                sent: st.requests,
                ok: st.ok,
                failed: st.failed,
                missed: st.missed,
                p50_ms: st.p50_ms,
                p95_ms: st.p95_ms,
                p99_ms: st.p99_ms,
            });
        }
    }
    t.faults = faults(plan, rec);
    t.metrics = metrics(plan, rec);
    for h in &rec.health {
        let key = format!("{}/{}", h.service, h.endpoint);
        t.health.entry(key).or_default().push((ms(h.at.saturating_sub(origin)), h.up()));
    }
    t
}

fn faults(plan: &Plan, rec: &Recorded) -> Vec<FaultSpan> {
    let span = |w: Option<Window>| w.map_or((0.0, 0.0), |w| (ms(w.start.saturating_sub(rec.origin)), ms(w.end.saturating_sub(rec.origin))));
    let mut out = Vec::new();
    for f in &plan.faults {
        let (start_ms, end_ms) = span(f.window.resolve_at(&rec.phases, rec.origin));
        let target = match &f.route {
            Some(r) => format!("mock {} {r}", f.mock),
            None => format!("mock {}", f.mock),
        };
        out.push(FaultSpan { id: f.id.clone(), target, what: serde_json::to_string(&f.spec).unwrap_or_default(), start_ms, end_ms });
    }
    for f in &plan.service_faults {
        let (start_ms, end_ms) = span(f.window.resolve_at(&rec.phases, rec.origin));
        out.push(FaultSpan {
            id: f.id.clone(),
            target: format!("service {}", f.service),
            what: f.action.as_str().into(),
            start_ms,
            end_ms,
        });
    }
    out
}

/// Every series of the families the expectations read, thinned to `MAX_POINTS`.
fn metrics(plan: &Plan, rec: &Recorded) -> Vec<MetricTrace> {
    let mut families: Vec<String> = Vec::new();
    for e in &plan.expectations {
        for m in e.check.signals().metrics {
            let family = m.split('{').next().unwrap_or_default().to_string();
            if !families.contains(&family) {
                families.push(family);
            }
        }
    }
    let mut out = Vec::new();
    for family in &families {
        // Histogram buckets are not drawn: they would crowd out the series the gate reads.
        let series = rec.metrics.all_series().filter(|(k, s)| (&s.family == family || &k.name == family) && !k.name.ends_with("_bucket"));
        for (k, s) in series.take(MAX_SERIES_PER_FAMILY) {
            let every = s.points.len().div_ceil(MAX_POINTS).max(1);
            out.push(MetricTrace {
                service: k.service.clone(),
                name: k.name.clone(),
                labels: k.labels.clone(),
                kind: format!("{:?}", s.kind).to_lowercase(),
                points: s.points.iter().step_by(every).map(|(at, v)| (ms(at.saturating_sub(rec.origin)), *v)).collect(),
            });
        }
    }
    out
}
