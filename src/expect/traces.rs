//! `kind: trace_spans`, `trace_complete` and `trace_sampling`, judged from
//! the spans the built-in OTLP receiver stored.
//!
//! "Complete" is defined per load request: the request's trace id (sent in
//! its traceparent) has spans forming the expected tree through direct
//! parent/child links, crosses the expected services, and has no orphan span
//! (a parent id that never arrived, other than the load's own span). A trace
//! whose last span arrived within `quiet` of the end of collection may still
//! be growing: it is reported as open.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use super::Judgement;
use crate::clock::Window;
use crate::collectors::otlp::{SpanKind, SpanRecord, SpanStatus, Trace, TraceStore};
use crate::load::LoadRecord;
use crate::scenario::{SpanSelector, SpanStat, SpanStatusSel, SpanTree, TraceCompleteCheck, TraceSamplingCheck, TraceSpansCheck};

fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Unspecified => "unspecified",
    }
}

fn value_str(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn matches(sel: &SpanSelector, s: &SpanRecord, trace: &Trace) -> bool {
    sel.name.as_deref().is_none_or(|n| n == s.name)
        && sel.service.as_deref().is_none_or(|n| n == s.service)
        && sel.kind.as_deref().is_none_or(|k| k == kind_name(s.kind))
        && sel.status.is_none_or(|st| {
            matches!(
                (st, s.status),
                (SpanStatusSel::Ok, SpanStatus::Ok) | (SpanStatusSel::Error, SpanStatus::Error) | (SpanStatusSel::Unset, SpanStatus::Unset)
            )
        })
        && sel.attributes.iter().all(|(k, v)| s.attributes.get(k).is_some_and(|x| v.as_ref().is_none_or(|v| value_str(x) == *v)))
        && sel.events.iter().all(|e| s.events.iter().any(|x| &x.name == e))
        && sel.parent.as_deref().is_none_or(|p| trace.parent(s).is_some_and(|x| x.name == p))
        && sel.ancestor.as_deref().is_none_or(|a| trace.ancestors(&s.span_id).iter().any(|x| x.name == a))
}

fn describe(sel: &SpanSelector) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &sel.name {
        parts.push(n.clone());
    }
    if let Some(s) = &sel.service {
        parts.push(format!("service={s}"));
    }
    if let Some(k) = &sel.kind {
        parts.push(format!("kind={k}"));
    }
    if let Some(st) = sel.status {
        parts.push(format!("status={st:?}").to_lowercase());
    }
    for (k, v) in &sel.attributes {
        parts.push(format!("{k}={}", v.as_deref().unwrap_or("*")));
    }
    if let Some(p) = &sel.parent {
        parts.push(format!("parent={p}"));
    }
    if let Some(a) = &sel.ancestor {
        parts.push(format!("ancestor={a}"));
    }
    for e in &sel.events {
        parts.push(format!("event={e}"));
    }
    if parts.is_empty() { "all spans".into() } else { parts.join(" ") }
}

/// Spans started in the window that match, with their traces.
fn select<'a>(traces: &'a [Trace<'a>], sel: &SpanSelector, w: Window) -> Vec<(&'a SpanRecord, &'a Trace<'a>)> {
    traces
        .iter()
        .flat_map(|t| t.spans.iter().map(move |s| (*s, t)))
        .filter(|(s, t)| s.start.is_some_and(|st| w.contains(st)) && matches(sel, s, t))
        .collect()
}

pub(crate) fn spans(c: &TraceSpansCheck, store: &TraceStore, w: Window) -> Judgement {
    let traces = store.traces();
    let hits = select(&traces, &c.span, w);
    let what = describe(&c.span);
    let examples: Vec<&str> = hits.iter().take(3).map(|(s, _)| s.trace_id.as_str()).collect();
    let received = json!({ "spans_received": store.spans.len(), "matched": hits.len(), "example_trace_ids": examples });
    match &c.stat {
        SpanStat::Count(cmp) => Judgement {
            pass: cmp.holds(hits.len() as f64),
            expected: format!("count({what}) {cmp}"),
            observed: format!("{} spans", hits.len()),
            evidence: received,
        },
        SpanStat::Ratio(cmp, of) => {
            let base = select(&traces, of, w).len();
            let ratio = if base == 0 { 0.0 } else { hits.len() as f64 / base as f64 };
            Judgement {
                pass: base > 0 && cmp.holds(ratio),
                expected: format!("{what} among {} {cmp}", describe(of)),
                observed: format!("{}/{base} = {ratio:.3}", hits.len()),
                evidence: received,
            }
        }
        SpanStat::Quantile(q, cmp) => {
            let mut d: Vec<f64> = hits.iter().map(|(s, _)| s.duration.as_secs_f64()).collect();
            d.sort_by(f64::total_cmp);
            let v = crate::load::quantile(&d, *q);
            Judgement {
                pass: v.is_some_and(|v| cmp.holds(v)),
                expected: format!("p{}({what} duration) {cmp}", (q * 100.0).round()),
                observed: v.map_or_else(|| "no spans in the window".into(), |v| format!("{v:.4}s")),
                evidence: received,
            }
        }
        SpanStat::AttributesPresent(attrs) => {
            let missing: Vec<_> = hits.iter().filter(|(s, _)| attrs.iter().any(|a| !s.attributes.contains_key(a))).collect();
            let example = missing.first().map(|(s, _)| json!({ "trace_id": s.trace_id, "span": s.name, "missing": attrs.iter().filter(|a| !s.attributes.contains_key(*a)).collect::<Vec<_>>() }));
            Judgement {
                pass: !hits.is_empty() && missing.is_empty(),
                expected: format!("every {what} has {}", attrs.join(", ")),
                observed: if hits.is_empty() {
                    "no spans in the window".into()
                } else {
                    format!("{}/{} spans lack an attribute", missing.len(), hits.len())
                },
                evidence: json!({ "matched": hits.len(), "example": example }),
            }
        }
    }
}

/// Does some span of `trace` named like `node` have the node's subtree below it?
fn has_tree(trace: &Trace, node: &SpanTree, candidates: &[&SpanRecord]) -> bool {
    candidates.iter().any(|s| s.name == node.name && node.children.iter().all(|c| has_tree(trace, c, &trace.children(&s.span_id))))
}

pub(crate) fn complete(
    c: &TraceCompleteCheck,
    store: &TraceStore,
    load: Option<&LoadRecord>,
    w: Window,
    collection_end: std::time::Duration,
) -> Judgement {
    let expected = format!(
        "{} of {} requests have a trace with {}{}{}",
        c.ratio,
        if c.only_ok { "successful" } else { "all" },
        c.roots.iter().map(tree_text).collect::<Vec<_>>().join(" + "),
        if c.services.is_empty() { String::new() } else { format!(" across {}", c.services.join(" -> ")) },
        if c.no_orphans { ", no orphan spans" } else { "" },
    );
    let Some(load) = load else {
        return Judgement { pass: false, expected, observed: "no load ran".into(), evidence: json!(null) };
    };
    let traces = store.traces();
    let by_id: HashMap<&str, &Trace> = traces.iter().map(|t| (t.trace_id, t)).collect();
    let samples: Vec<_> = load.samples().into_iter().filter(|s| s.within(w) && (!c.only_ok || s.ok())).collect();
    let mut problems: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut complete = 0usize;
    let mut open = 0usize;
    for s in &samples {
        let Some(t) = by_id.get(s.trace_id.as_str()) else {
            problems.entry("no trace").or_default().push(s.trace_id.clone());
            continue;
        };
        let mut why = Vec::new();
        for root in &c.roots {
            if !has_tree(t, root, &t.spans) {
                why.push("span tree incomplete");
            }
        }
        if !c.services.is_empty() {
            let svcs = t.services();
            if c.services.iter().any(|x| !svcs.contains(&x.as_str())) {
                why.push("does not cross every service");
            }
        }
        if c.no_orphans && t.orphans().iter().any(|o| o.parent_span_id.as_deref() != Some(s.span_id.as_str())) {
            why.push("orphan spans");
        }
        let last = t.spans.iter().map(|x| x.received_at).max().unwrap_or_default();
        if why.is_empty() {
            complete += 1;
        } else {
            if last + c.quiet > collection_end {
                open += 1;
            }
            for y in why {
                problems.entry(y).or_default().push(s.trace_id.clone());
            }
        }
    }
    let ratio = if samples.is_empty() { 0.0 } else { complete as f64 / samples.len() as f64 };
    let problem_summary: BTreeMap<&str, serde_json::Value> =
        problems.iter().map(|(k, ids)| (*k, json!({ "traces": ids.len(), "examples": ids.iter().take(3).collect::<Vec<_>>() }))).collect();
    Judgement {
        pass: !samples.is_empty() && c.ratio.holds(ratio),
        expected,
        observed: if samples.is_empty() {
            "no requests in the window".into()
        } else {
            format!(
                "{complete}/{} complete ({ratio:.3}){}",
                samples.len(),
                if open > 0 { format!(", {open} still open at the end") } else { String::new() }
            )
        },
        evidence: json!({ "requests": samples.len(), "complete": complete, "open_at_end": open, "problems": problem_summary, "spans_received": store.spans.len() }),
    }
}

fn tree_text(t: &SpanTree) -> String {
    if t.children.is_empty() {
        t.name.clone()
    } else {
        format!("{} > ({})", t.name, t.children.iter().map(tree_text).collect::<Vec<_>>().join(", "))
    }
}

pub(crate) fn sampling(c: &TraceSamplingCheck, store: &TraceStore, load: Option<&LoadRecord>, w: Window) -> Judgement {
    let expected = format!("sampled fraction {} ± {}", c.ratio, c.tolerance);
    let Some(load) = load else {
        return Judgement { pass: false, expected, observed: "no load ran".into(), evidence: json!(null) };
    };
    let ids: std::collections::HashSet<&str> = store.spans.iter().map(|s| s.trace_id.as_str()).collect();
    let samples: Vec<_> = load.samples().into_iter().filter(|s| w.contains(s.at)).collect();
    let traced = samples.iter().filter(|s| ids.contains(s.trace_id.as_str())).count();
    let frac = if samples.is_empty() { 0.0 } else { traced as f64 / samples.len() as f64 };
    Judgement {
        pass: !samples.is_empty() && (frac - c.ratio).abs() <= c.tolerance,
        expected,
        observed: format!("{traced}/{} requests traced = {frac:.3}", samples.len()),
        evidence: json!({ "requests": samples.len(), "traced": traced }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collectors::otlp::Transport;
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
