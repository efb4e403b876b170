//! What the OTLP receiver recorded: every span it accepted (as a
//! [`SpanRecord`], already converted from OTLP), every request it refused (as a
//! [`Rejection`]) and per-transport counters; plus the pure queries that trace
//! expectations build on (spans of a trace, roots, orphans, children, ancestors).
//!
//! Ids are lowercase hex (32 chars for a trace, 16 for a span); times are run
//! offsets from the [`RunClock`](crate::clock::RunClock), serialized in
//! humantime form (`"1s 250ms"`) like the other collectors.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a span or a refused request reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// OTLP/gRPC (`TraceService/Export`).
    Grpc,
    /// OTLP/HTTP, `application/x-protobuf`.
    HttpProtobuf,
    /// OTLP/HTTP, `application/json`.
    HttpJson,
    /// OTLP/HTTP whose encoding could not be told (refused requests only).
    Http,
}

/// OTLP `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum number; unknown numbers are `Unspecified`.
    pub fn from_otlp(kind: i32) -> Self {
        match kind {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// OTLP span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

impl SpanStatus {
    /// From the OTLP enum number; unknown numbers are `Unset`.
    pub fn from_otlp(code: i32) -> Self {
        match code {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }
}

/// An event recorded on a span (e.g. `exception`, a retry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpanEvent {
    pub name: String,
    /// Run offset of the event; `None` if before the run started (or unset).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub at: Option<Duration>,
    pub attributes: BTreeMap<String, Value>,
}

/// One span as the stack exported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span (OTLP sends an empty parent id).
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    /// Resource attribute `service.name`; [`UNKNOWN_SERVICE`] if absent.
    pub service: String,
    pub resource: BTreeMap<String, Value>,
    /// Instrumentation scope name (`""` if the exporter sent none).
    pub scope: String,
    /// Run offset of the span start; `None` if before the run started.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub start: Option<Duration>,
    /// Run offset of the span end; `None` if before the run started.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub end: Option<Duration>,
    /// `end - start` as the exporter stamped them (zero if end < start).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub duration: Duration,
    pub status: SpanStatus,
    pub status_message: String,
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<SpanEvent>,
    /// Run offset at which the receiver got the export request.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub received_at: Duration,
    pub transport: Transport,
}

/// The `service` of a span whose resource has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

impl SpanRecord {
    /// True when both ids have the OTLP length and are not all zeroes.
    pub fn has_valid_ids(&self) -> bool {
        let ok = |id: &str, len: usize| id.len() == len && id.bytes().any(|b| b != b'0');
        ok(&self.trace_id, 32) && ok(&self.span_id, 16)
    }

    /// An attribute of the span, or of its resource if the span has none of that key.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key).or_else(|| self.resource.get(key))
    }
}

/// An export request the receiver refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rejection {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "crate::faults::Hd")]
    pub at: Duration,
    pub transport: Transport,
    /// What was answered: `HTTP 400`, `gRPC InvalidArgument`, ...
    pub response: String,
    pub reason: String,
    /// Size of the payload as received, when known.
    pub bytes: Option<usize>,
}

/// Requests and spans seen over one transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TransportCounts {
    /// Export requests accepted.
    pub requests: u64,
    /// Spans in accepted requests (including any dropped over the store cap).
    pub spans: u64,
    /// Accepted requests that came gzip-compressed.
    pub gzip: u64,
    /// Requests refused.
    pub rejected: u64,
}

/// Everything the receiver recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraceStore {
    /// Spans in the order they were received.
    pub spans: Vec<SpanRecord>,
    /// Refused requests, in order (at most [`MAX_REJECTIONS`]; all are counted).
    pub rejections: Vec<Rejection>,
    pub counts: BTreeMap<Transport, TransportCounts>,
    /// Spans accepted but not stored because the store held [`MAX_SPANS`].
    pub dropped_spans: u64,
}

/// Most spans kept; more are counted in [`TraceStore::dropped_spans`].
pub const MAX_SPANS: usize = 2_000_000;
/// Most rejections kept in detail.
pub const MAX_REJECTIONS: usize = 10_000;

impl TraceStore {
    /// Records the spans of one accepted request.
    pub fn record(&mut self, transport: Transport, gzip: bool, spans: Vec<SpanRecord>) {
        let counts = self.counts.entry(transport).or_default();
        counts.requests += 1;
        counts.gzip += u64::from(gzip);
        counts.spans += spans.len() as u64;
        let room = MAX_SPANS.saturating_sub(self.spans.len());
        if spans.len() > room {
            self.dropped_spans += (spans.len() - room) as u64;
        }
        self.spans.extend(spans.into_iter().take(room));
    }

    /// Records a refused request.
    pub fn reject(&mut self, rejection: Rejection) {
        self.counts.entry(rejection.transport).or_default().rejected += 1;
        if self.rejections.len() < MAX_REJECTIONS {
            self.rejections.push(rejection);
        }
    }

    /// Export requests accepted over every transport.
    pub fn accepted_requests(&self) -> u64 {
        self.counts.values().map(|c| c.requests).sum()
    }

    /// Requests refused over every transport.
    pub fn rejected_requests(&self) -> u64 {
        self.counts.values().map(|c| c.rejected).sum()
    }

    /// Spans with this name, in received order.
    pub fn spans_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SpanRecord> + 'a {
        self.spans.iter().filter(move |s| s.name == name)
    }

    /// One trace, or `None` if no span of it was received.
    pub fn trace(&self, trace_id: &str) -> Option<Trace<'_>> {
        let trace_id = trace_id.to_ascii_lowercase();
        let spans: Vec<&SpanRecord> = self.spans.iter().filter(|s| s.trace_id == trace_id).collect();
        let first = spans.first()?;
        Some(Trace::new(&first.trace_id, spans))
    }

    /// Every trace, ordered by trace id, built in one pass.
    pub fn traces(&self) -> Vec<Trace<'_>> {
        let mut by_id: BTreeMap<&str, Vec<&SpanRecord>> = BTreeMap::new();
        for span in &self.spans {
            by_id.entry(&span.trace_id).or_default().push(span);
        }
        by_id.into_iter().map(|(id, spans)| Trace::new(id, spans)).collect()
    }

    /// Trace ids, each once, in the order their first span was received.
    pub fn trace_ids(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.spans.iter().map(|s| s.trace_id.as_str()).filter(|id| seen.insert(*id)).collect()
    }
}

/// The spans of one trace, with the tree queries. Spans are sorted by start
/// (spans stamped before the run first), then by name.
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    pub trace_id: &'a str,
    pub spans: Vec<&'a SpanRecord>,
}

impl<'a> Trace<'a> {
    fn new(trace_id: &'a str, mut spans: Vec<&'a SpanRecord>) -> Self {
        spans.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.name.cmp(&b.name)));
        Self { trace_id, spans }
    }

    /// The span with this id (the first one, if the stack sent it twice).
    pub fn span(&self, span_id: &str) -> Option<&'a SpanRecord> {
        self.spans.iter().copied().find(|s| s.span_id == span_id)
    }

    /// Spans with no parent.
    pub fn roots(&self) -> Vec<&'a SpanRecord> {
        self.spans.iter().copied().filter(|s| s.parent_span_id.is_none()).collect()
    }

    /// Spans whose parent was never received: the trace is incomplete (or
    /// continues a trace started outside the stack).
    pub fn orphans(&self) -> Vec<&'a SpanRecord> {
        self.spans.iter().copied().filter(|s| s.parent_span_id.as_deref().is_some_and(|p| self.span(p).is_none())).collect()
    }

    /// Direct children of a span.
    pub fn children(&self, span_id: &str) -> Vec<&'a SpanRecord> {
        self.spans.iter().copied().filter(|s| s.parent_span_id.as_deref() == Some(span_id)).collect()
    }

    /// The parent of a span, if it was received.
    pub fn parent(&self, span: &SpanRecord) -> Option<&'a SpanRecord> {
        self.span(span.parent_span_id.as_deref()?)
    }

    /// Parent, grandparent, ... up to the first span without a received
    /// parent. Stops on a cycle (a malformed trace) instead of looping.
    pub fn ancestors(&self, span_id: &str) -> Vec<&'a SpanRecord> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([span_id.to_owned()]);
        let mut current = self.span(span_id);
        while let Some(parent) = current.and_then(|s| self.parent(s)) {
            if !seen.insert(parent.span_id.clone()) {
                break;
            }
            out.push(parent);
            current = Some(parent);
        }
        out
    }

    /// Services that contributed spans, each once, sorted.
    pub fn services(&self) -> Vec<&'a str> {
        let mut v: Vec<&str> = self.spans.iter().map(|s| s.service.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Spans of this trace with a name.
    pub fn named(&self, name: &str) -> Vec<&'a SpanRecord> {
        self.spans.iter().copied().filter(|s| s.name == name).collect()
    }
}

#[cfg(test)]
mod tests {
    //! Store queries on synthetic spans, counters, and the serialized shape.

    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde_json::json;

    use crate::collectors::otlp::*;

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
}
