//! `kind: trace_spans`, `trace_complete` and `trace_sampling`, judged from
//! the spans the built-in OTLP receiver stored.
//!
//! "Complete" is defined per load request: the request's trace id (sent in
//! its traceparent) has spans forming the expected tree through direct
//! parent/child links, crosses the expected services, and has no orphan span
//! (a parent id that never arrived, other than the load's own span). A trace
//! whose last span arrived within `quiet` of the end of collection may still
//! be growing: it is reported as open.

pub mod complete;
pub mod sampling;
pub mod spans;

/// Synthetic records shared by the tests of this family's kinds.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::complete::*;

    use super::spans::*;
    use crate::clock::Window;
    use crate::collectors::otlp::Transport;
    use crate::collectors::otlp::{SpanKind, SpanRecord, SpanStatus, TraceStore};
    use crate::load::LoadRecord;
    use crate::load::LoadSample;
    use crate::scenario::cmp::Comparison;
    use std::time::Duration;

    pub(crate) fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    pub(crate) fn span(trace: &str, id: &str, parent: Option<&str>, name: &str, service: &str) -> SpanRecord {
        SpanRecord {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: parent.map(String::from),
            name: name.into(),
            kind: if parent.is_some_and(|p| p.starts_with("load")) { SpanKind::Server } else { SpanKind::Internal },
            service: service.into(),
            resource: Default::default(),
            scope: "t".into(),
            start: Some(ms(100)),
            end: Some(ms(150)),
            duration: ms(50),
            status: SpanStatus::Unset,
            status_message: String::new(),
            attributes: Default::default(),
            events: vec![],
            received_at: ms(200),
            transport: Transport::Grpc,
        }
    }

    /// A request's full trace: ExecuteTask (parent = the load's span) > PlanTask > LLMCall, AssignToWorker > WorkerProcessTask.
    pub(crate) fn full(trace: &str) -> Vec<SpanRecord> {
        vec![
            span(trace, "a", Some(&format!("load-{trace}")), "ExecuteTask", "coord"),
            span(trace, "b", Some("a"), "PlanTask", "coord"),
            span(trace, "c", Some("b"), "LLMCall", "coord"),
            span(trace, "d", Some("a"), "AssignToWorker", "coord"),
            span(trace, "e", Some("d"), "WorkerProcessTask", "worker"),
        ]
    }

    pub(crate) fn store(spans: Vec<SpanRecord>) -> TraceStore {
        let mut s = TraceStore::default();
        s.record(Transport::Grpc, false, spans);
        s
    }

    pub(crate) fn load(traces: &[&str]) -> LoadRecord {
        let rec = LoadRecord::new(vec!["r".into()]);
        for (i, t) in traces.iter().enumerate() {
            rec.push(LoadSample {
                request_id: format!("r{i}"),
                trace_id: t.to_string(),
                span_id: format!("load-{t}"),
                ..LoadSample::fixture(50 + i as u64, 100, Some(200))
            });
        }
        rec
    }

    pub(crate) fn tree() -> Vec<SpanTree> {
        let leaf = |n: &str| SpanTree { name: n.into(), children: vec![] };
        vec![SpanTree {
            name: "ExecuteTask".into(),
            children: vec![
                SpanTree { name: "PlanTask".into(), children: vec![leaf("LLMCall")] },
                SpanTree { name: "AssignToWorker".into(), children: vec![leaf("WorkerProcessTask")] },
            ],
        }]
    }

    pub(crate) fn complete_check() -> TraceCompleteCheck {
        TraceCompleteCheck {
            roots: tree(),
            ratio: Comparison::parse("== 1").unwrap(),
            only_ok: true,
            services: vec!["coord".into(), "worker".into()],
            no_orphans: true,
            quiet: ms(100),
            allow_empty: false,
        }
    }

    pub(crate) fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(10))
    }

    pub(crate) fn spans_judge(c: TraceSpansCheck, st: &TraceStore) -> bool {
        spans(&c, st, all()).pass
    }
}
