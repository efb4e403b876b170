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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    pub name: String,
    /// Run offset of the event; `None` if before the run started (or unset).
    #[serde(with = "humantime_serde")]
    pub at: Option<Duration>,
    pub attributes: BTreeMap<String, Value>,
}

/// One span as the stack exported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub start: Option<Duration>,
    /// Run offset of the span end; `None` if before the run started.
    #[serde(with = "humantime_serde")]
    pub end: Option<Duration>,
    /// `end - start` as the exporter stamped them (zero if end < start).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub status: SpanStatus,
    pub status_message: String,
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<SpanEvent>,
    /// Run offset at which the receiver got the export request.
    #[serde(with = "humantime_serde")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub transport: Transport,
    /// What was answered: `HTTP 400`, `gRPC InvalidArgument`, ...
    pub response: String,
    pub reason: String,
    /// Size of the payload as received, when known.
    pub bytes: Option<usize>,
}

/// Requests and spans seen over one transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
