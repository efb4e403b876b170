//! Payload decoding and OTLP → [`SpanRecord`] conversion, shared by both
//! servers: protobuf and OTLP/JSON decoding, gzip with a size cap, ids to
//! lowercase hex, `AnyValue` to JSON, Unix-nanosecond stamps to run offsets.
//! Pure functions: no I/O, no panics on any input.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Number, Value};

use super::store::{SpanEvent, SpanKind, SpanRecord, SpanStatus, Transport, UNKNOWN_SERVICE};
use crate::clock::RunClock;

/// Why a payload could not be decoded (answered as 400 / `InvalidArgument`,
/// or 413 / `ResourceExhausted` for [`DecodeError::TooLarge`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not an OTLP ExportTraceServiceRequest in protobuf: {0}")]
    Protobuf(String),
    #[error("not OTLP/JSON: {0}")]
    Json(String),
    #[error("Content-Encoding is gzip but the body is not valid gzip: {0}")]
    Gzip(String),
    #[error("decompressed body is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(bytes: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    ExportTraceServiceRequest::decode(bytes).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Decodes OTLP/JSON: camelCase fields, hex ids, 64-bit integers as strings
/// or numbers, enums as numbers (names such as `SPAN_KIND_SERVER` are
/// accepted too), unknown fields ignored. The error names the failing field.
pub fn decode_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    if !value.is_object() {
        return Err(DecodeError::Json("the body is not a JSON object".into()));
    }
    normalize_json(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        DecodeError::Json(format!("at {path}: {}", e.inner()))
    })
}

/// Rewrites what lenient OTLP/JSON encoders send into what the generated
/// serde types accept: enum names into numbers, and `arrayValue` /
/// `kvlistValue` objects without `values` into empty lists.
fn normalize_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &*v) {
                    ("kind", Value::String(name)) => *v = enum_number(name, SPAN_KINDS),
                    ("code", Value::String(name)) => *v = enum_number(name, STATUS_CODES),
                    ("arrayValue" | "kvlistValue", Value::Object(inner)) if !inner.contains_key("values") => {
                        let mut inner = inner.clone();
                        inner.insert("values".into(), Value::Array(Vec::new()));
                        *v = Value::Object(inner);
                    }
                    _ => normalize_json(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_json),
        _ => {}
    }
}

const SPAN_KINDS: &[&str] =
    &["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// The number of an enum name, or the number itself if it was sent as a
/// string; anything else is left for the decoder to reject.
fn enum_number(name: &str, names: &[&str]) -> Value {
    match names.iter().position(|n| *n == name) {
        Some(i) => Value::from(i),
        None => name.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(name.to_owned())),
    }
}

/// Inflates a gzip body (one or more members), refusing more than `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(bytes).take(cap).read_to_end(&mut out).map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Lowercase hex of an id; `""` for an empty one.
pub fn hex_id(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An OTLP `AnyValue` as JSON: strings, bools, integers and doubles as
/// themselves (non-finite doubles as `"NaN"`, `"inf"`, `"-inf"`), arrays as
/// arrays, key-value lists as objects, bytes as lowercase hex, empty as null.
pub fn any_value_to_json(value: Option<&AnyValue>) -> Value {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => Number::from_f64(*d).map(Value::Number).unwrap_or_else(|| Value::String(d.to_string())),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(|v| any_value_to_json(Some(v))).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(attributes(&kv.values).into_iter().collect::<Map<_, _>>()),
        Some(V::BytesValue(b)) => Value::String(hex_id(b)),
        // Profiling-only dictionary reference: meaningless in a trace.
        Some(V::StringValueStrindex(_)) => Value::Null,
    }
}

/// Key-values as a map (a repeated key keeps its last value).
pub fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    kvs.iter().map(|kv| (kv.key.clone(), any_value_to_json(kv.value.as_ref()))).collect()
}

/// Every span of an export request, stamped with when and how it arrived.
pub fn spans_of(request: &ExportTraceServiceRequest, clock: &RunClock, received_at: Duration, transport: Transport) -> Vec<SpanRecord> {
    let offset = |nanos: u64| if nanos == 0 { None } else { clock.offset_of_unix_nanos(nanos) };
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        let service = match resource.get("service.name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => UNKNOWN_SERVICE.to_owned(),
        };
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            for span in &ss.spans {
                let status = span.status.as_ref();
                out.push(SpanRecord {
                    trace_id: hex_id(&span.trace_id),
                    span_id: hex_id(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex_id(&span.parent_span_id)),
                    name: span.name.clone(),
                    kind: SpanKind::from_otlp(span.kind),
                    service: service.clone(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    start: offset(span.start_time_unix_nano),
                    end: offset(span.end_time_unix_nano),
                    duration: Duration::from_nanos(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)),
                    status: SpanStatus::from_otlp(status.map_or(0, |s| s.code)),
                    status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|e| SpanEvent { name: e.name.clone(), at: offset(e.time_unix_nano), attributes: attributes(&e.attributes) })
                        .collect(),
                    received_at,
                    transport,
                });
            }
        }
    }
    out
}
