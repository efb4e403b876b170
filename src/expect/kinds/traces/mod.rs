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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::complete::*;
    use super::sampling::*;
    use super::spans::*;
    use crate::clock::Window;
    use crate::collectors::otlp::Transport;
    use crate::collectors::otlp::{SpanKind, SpanRecord, SpanStatus, TraceStore};
    use crate::load::LoadRecord;
    use crate::load::LoadSample;
    use crate::scenario::cmp::Comparison;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn span(trace: &str, id: &str, parent: Option<&str>, name: &str, service: &str) -> SpanRecord {
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
    fn full(trace: &str) -> Vec<SpanRecord> {
        vec![
            span(trace, "a", Some(&format!("load-{trace}")), "ExecuteTask", "coord"),
            span(trace, "b", Some("a"), "PlanTask", "coord"),
            span(trace, "c", Some("b"), "LLMCall", "coord"),
            span(trace, "d", Some("a"), "AssignToWorker", "coord"),
            span(trace, "e", Some("d"), "WorkerProcessTask", "worker"),
        ]
    }

    fn store(spans: Vec<SpanRecord>) -> TraceStore {
        let mut s = TraceStore::default();
        s.record(Transport::Grpc, false, spans);
        s
    }

    fn load(traces: &[&str]) -> LoadRecord {
        let rec = LoadRecord::new(vec!["r".into()]);
        for (i, t) in traces.iter().enumerate() {
            rec.push(LoadSample {
                at: ms(50 + i as u64),
                latency: ms(100),
                request: 0,
                status: Some(200),
                error: None,
                request_id: format!("r{i}"),
                trace_id: t.to_string(),
                span_id: format!("load-{t}"),
            });
        }
        rec
    }

    fn tree() -> Vec<SpanTree> {
        let leaf = |n: &str| SpanTree { name: n.into(), children: vec![] };
        vec![SpanTree {
            name: "ExecuteTask".into(),
            children: vec![
                SpanTree { name: "PlanTask".into(), children: vec![leaf("LLMCall")] },
                SpanTree { name: "AssignToWorker".into(), children: vec![leaf("WorkerProcessTask")] },
            ],
        }]
    }

    fn complete_check() -> TraceCompleteCheck {
        TraceCompleteCheck {
            roots: tree(),
            ratio: Comparison::parse("== 1").unwrap(),
            only_ok: true,
            services: vec!["coord".into(), "worker".into()],
            no_orphans: true,
            quiet: ms(100),
        }
    }

    fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(10))
    }

    #[test]
    fn complete_traces_pass_and_the_loads_own_parent_is_not_an_orphan() {
        let mut spans = full("t1");
        spans.extend(full("t2"));
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1", "t2"])), all(), ms(5000));
        assert!(j.pass, "{} {}", j.observed, j.evidence);
    }

    #[test]
    fn a_missing_span_or_a_broken_link_is_incomplete() {
        let mut spans = full("t1");
        spans.retain(|s| s.name != "LLMCall"); // drop_span
        let mut t2 = full("t2");
        t2[4].trace_id = "other".into(); // no_propagation: the worker started its own trace
        spans.extend(t2);
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1", "t2", "t3"])), all(), ms(5000));
        assert!(!j.pass);
        assert_eq!(j.observed, "0/3 complete (0.000)");
        let p = &j.evidence["problems"];
        assert_eq!(p["span tree incomplete"]["traces"], 2);
        assert_eq!(p["does not cross every service"]["traces"], 1);
        assert_eq!(p["no trace"]["examples"][0], "t3");
    }

    #[test]
    fn orphans_fail_and_late_traces_are_reported_open() {
        let mut spans = full("t1");
        spans.push(span("t1", "z", Some("never-sent"), "SendResult", "worker"));
        let j = complete(&complete_check(), &store(spans), Some(&load(&["t1"])), all(), ms(250));
        assert!(!j.pass);
        assert_eq!(j.evidence["problems"]["orphan spans"]["traces"], 1);
        assert_eq!(j.evidence["open_at_end"], 1, "last span arrived 50ms before the end, quiet is 100ms");
    }

    #[test]
    fn selectors_count_ratio_attributes_and_durations() {
        let mut spans = full("t1");
        spans[2].status = SpanStatus::Error;
        spans[2].events.push(crate::collectors::otlp::SpanEvent { name: "exception".into(), at: None, attributes: Default::default() });
        spans[2].attributes.insert("llm.model".into(), "gpt".into());
        let st = store(spans);
        let sel = |name: &str| SpanSelector { name: Some(name.into()), ..Default::default() };
        let errors = SpanSelector {
            status: Some(SpanStatusSel::Error),
            events: vec!["exception".into()],
            ancestor: Some("ExecuteTask".into()),
            parent: Some("PlanTask".into()),
            ..sel("LLMCall")
        };
        let count =
            |s: SpanSelector, c: &str| spans_judge(TraceSpansCheck { span: s, stat: SpanStat::Count(Comparison::parse(c).unwrap()) }, &st);
        assert!(count(errors.clone(), "== 1"));
        assert!(count(SpanSelector { parent: Some("AssignToWorker".into()), ..errors.clone() }, "== 0"));
        assert!(count(SpanSelector { service: Some("worker".into()), ..Default::default() }, "== 1"));
        let ratio = TraceSpansCheck { span: errors, stat: SpanStat::Ratio(Comparison::parse("== 1").unwrap(), sel("LLMCall")) };
        assert!(spans_judge(ratio, &st));
        let attrs = |a: &str| TraceSpansCheck { span: sel("LLMCall"), stat: SpanStat::AttributesPresent(vec![a.into()]) };
        assert!(spans_judge(attrs("llm.model"), &st));
        assert!(!spans_judge(attrs("task.id"), &st));
        let p95 = TraceSpansCheck { span: SpanSelector::default(), stat: SpanStat::Quantile(0.95, Comparison::parse("< 60ms").unwrap()) };
        assert!(spans_judge(p95, &st));
    }

    fn spans_judge(c: TraceSpansCheck, st: &TraceStore) -> bool {
        spans(&c, st, all()).pass
    }

    #[test]
    fn sampling_compares_traced_requests_with_the_ratio() {
        let st = store(full("t1"));
        let c = TraceSamplingCheck { ratio: 0.5, tolerance: 0.1 };
        assert!(sampling(&c, &st, Some(&load(&["t1", "t2"])), all()).pass);
        assert!(!sampling(&c, &st, Some(&load(&["t1"])), all()).pass);
    }
}
