//! Store queries on synthetic spans, counters, and the serialized shape.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::*;

fn span(trace: &str, id: &str, parent: Option<&str>, name: &str, start_ms: u64) -> SpanRecord {
    SpanRecord {
        trace_id: trace.into(),
        span_id: id.into(),
        parent_span_id: parent.map(Into::into),
        name: name.into(),
        kind: SpanKind::Internal,
        service: "svc".into(),
        resource: BTreeMap::new(),
        scope: String::new(),
        start: Some(Duration::from_millis(start_ms)),
        end: Some(Duration::from_millis(start_ms + 1)),
        duration: Duration::from_millis(1),
        status: SpanStatus::Unset,
        status_message: String::new(),
        attributes: BTreeMap::new(),
        events: Vec::new(),
        received_at: Duration::from_millis(start_ms + 2),
        transport: Transport::Grpc,
    }
}

/// Trace `t1`: a > (b > d, c); trace `t2`: x whose parent never came.
fn store() -> TraceStore {
    let mut store = TraceStore::default();
    store.record(Transport::Grpc, false, vec![span("t1", "d", Some("b"), "LLMCall", 3), span("t1", "b", Some("a"), "PlanTask", 1)]);
    store.record(
        Transport::HttpProtobuf,
        true,
        vec![
            span("t2", "x", Some("gone"), "WorkerProcessTask", 5),
            span("t1", "a", None, "ExecuteTask", 0),
            span("t1", "c", Some("a"), "AggregateResults", 4),
        ],
    );
    store
}

fn ids(spans: &[&SpanRecord]) -> Vec<String> {
    spans.iter().map(|s| s.span_id.clone()).collect()
}

#[test]
fn traces_group_and_sort_spans() {
    let store = store();
    assert_eq!(store.trace_ids(), ["t1", "t2"]);
    let traces = store.traces();
    assert_eq!(traces.len(), 2);
    assert_eq!(ids(&traces[0].spans), ["a", "b", "d", "c"], "sorted by start");
    assert_eq!(store.trace("T1").map(|t| t.spans.len()), Some(4), "ids are matched case-insensitively");
    assert!(store.trace("nope").is_none());
    assert_eq!(store.spans_named("LLMCall").count(), 1);
}

#[test]
fn tree_queries() {
    let store = store();
    let t1 = store.trace("t1").unwrap();
    assert_eq!(ids(&t1.roots()), ["a"]);
    assert!(t1.orphans().is_empty(), "t1 is complete");
    assert_eq!(ids(&t1.children("a")), ["b", "c"]);
    assert!(t1.children("d").is_empty());
    assert_eq!(ids(&t1.ancestors("d")), ["b", "a"]);
    assert!(t1.ancestors("a").is_empty());
    assert_eq!(t1.parent(t1.span("b").unwrap()).map(|s| s.name.as_str()), Some("ExecuteTask"));
    assert_eq!(t1.named("PlanTask").len(), 1);
    assert_eq!(t1.services(), ["svc"]);

    let t2 = store.trace("t2").unwrap();
    assert!(t2.roots().is_empty());
    assert_eq!(ids(&t2.orphans()), ["x"], "its parent never arrived");
    assert!(t2.ancestors("x").is_empty());
}

#[test]
fn ancestors_stop_on_a_cycle() {
    let mut store = TraceStore::default();
    store.record(Transport::Grpc, false, vec![span("t", "a", Some("b"), "A", 0), span("t", "b", Some("a"), "B", 1)]);
    let t = store.trace("t").unwrap();
    assert_eq!(ids(&t.ancestors("a")), ["b"]);
    assert!(t.roots().is_empty() && t.orphans().is_empty());
}

#[test]
fn counters_and_rejections() {
    let mut store = store();
    store.reject(Rejection {
        at: Duration::from_secs(1),
        transport: Transport::Http,
        response: "HTTP 415".into(),
        reason: "Content-Type text/plain is not OTLP".into(),
        bytes: Some(4),
    });
    assert_eq!(store.accepted_requests(), 2);
    assert_eq!(store.rejected_requests(), 1);
    assert_eq!(store.counts[&Transport::Grpc], TransportCounts { requests: 1, spans: 2, gzip: 0, rejected: 0 });
    assert_eq!((store.counts[&Transport::HttpProtobuf].spans, store.counts[&Transport::HttpProtobuf].gzip), (3, 1));
    assert_eq!(store.counts[&Transport::Http].rejected, 1);
    assert_eq!(store.dropped_spans, 0);
}

#[test]
fn valid_ids() {
    let mut s = span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", None, "x", 0);
    assert!(s.has_valid_ids());
    s.span_id = "0000000000000000".into();
    assert!(!s.has_valid_ids());
    s.span_id = "b7ad".into();
    assert!(!s.has_valid_ids());
}

#[test]
fn store_serializes_in_the_documented_shape_and_back() {
    let mut store = store();
    let s = &mut store.spans[0];
    s.attributes.insert("llm.attempts".into(), json!(3));
    s.events.push(SpanEvent { name: "retry".into(), at: None, attributes: BTreeMap::new() });
    s.status = SpanStatus::Error;
    s.kind = SpanKind::Client;
    let value = serde_json::to_value(&store).unwrap();
    let first = &value["spans"][0];
    assert_eq!(first["trace_id"], json!("t1"));
    assert_eq!(first["parent_span_id"], json!("b"));
    assert_eq!(first["kind"], json!("client"));
    assert_eq!(first["status"], json!("error"));
    assert_eq!(first["transport"], json!("grpc"));
    assert_eq!(first["start"], json!("3ms"));
    assert_eq!(first["events"][0]["at"], json!(null));
    assert_eq!(value["spans"][3]["parent_span_id"], json!(null));
    assert_eq!(value["counts"]["http_protobuf"]["spans"], json!(3));
    let back: TraceStore = serde_json::from_value(value).unwrap();
    assert_eq!(back, store);
}
