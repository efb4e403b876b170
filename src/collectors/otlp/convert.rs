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

#[cfg(test)]
pub(super) mod tests {
    //! Decoding and conversion: ids, AnyValue variants, timestamps, OTLP/JSON
    //! as real encoders write it, gzip, malformed payloads.

    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
    use prost::Message;
    use serde_json::json;

    use crate::collectors::otlp::convert::{gunzip, hex_id, spans_of};
    use crate::collectors::otlp::*;

    pub(crate) fn now_nanos() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    }

    pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    pub(crate) fn string_kv(key: &str, value: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(value.into()))
    }

    /// A parent span and an erroring child, from service `service`, starting `start` (Unix ns).
    pub(crate) fn sample_request(service: Option<&str>, trace_byte: u8, start: u64) -> ExportTraceServiceRequest {
        let trace_id = vec![trace_byte; 16];
        let parent = Span {
            trace_id: trace_id.clone(),
            span_id: vec![0xAB; 8],
            name: "ExecuteTask".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 5_000_000,
            attributes: vec![string_kv("http.route", "/v1/tasks")],
            ..Default::default()
        };
        let child = Span {
            trace_id,
            span_id: vec![0xCD; 8],
            parent_span_id: vec![0xAB; 8],
            name: "LLMCall".into(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: start + 1_000_000,
            end_time_unix_nano: start + 3_000_000,
            attributes: vec![kv("llm.attempts", any_value::Value::IntValue(3))],
            events: vec![span::Event {
                name: "retry".into(),
                time_unix_nano: start + 2_000_000,
                attributes: vec![kv("attempt", any_value::Value::IntValue(2))],
                ..Default::default()
            }],
            status: Some(Status { code: 2, message: "upstream 503".into() }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: service.map(|s| vec![string_kv("service.name", s)]).unwrap_or_default(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "test-scope".into(), ..Default::default() }),
                    spans: vec![parent, child],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn ids_are_lowercase_hex_and_empty_parent_is_none() {
        assert_eq!(hex_id(&[0xAB, 0x01, 0xff]), "ab01ff");
        assert_eq!(hex_id(&[]), "");
        let clock = RunClock::start();
        let spans = spans_of(&sample_request(Some("coordinator"), 0x5B, now_nanos()), &clock, Duration::ZERO, Transport::Grpc);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].trace_id, "5b".repeat(16));
        assert_eq!(spans[0].span_id, "abababababababab");
        assert_eq!(spans[0].parent_span_id, None);
        assert_eq!(spans[1].parent_span_id.as_deref(), Some("abababababababab"));
        assert!(spans[0].has_valid_ids());
    }

    #[test]
    fn span_fields_convert() {
        let clock = RunClock::start();
        let start = now_nanos() + 10_000_000;
        let spans = spans_of(&sample_request(Some("coordinator"), 1, start), &clock, Duration::from_millis(7), Transport::HttpJson);
        let child = &spans[1];
        assert_eq!(child.name, "LLMCall");
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(spans[0].kind, SpanKind::Server);
        assert_eq!(child.service, "coordinator");
        assert_eq!(child.resource["service.name"], json!("coordinator"));
        assert_eq!(child.scope, "test-scope");
        assert_eq!(child.status, SpanStatus::Error);
        assert_eq!(child.status_message, "upstream 503");
        assert_eq!(spans[0].status, SpanStatus::Unset);
        assert_eq!(child.attributes["llm.attempts"], json!(3));
        assert_eq!(child.attribute("service.name"), Some(&json!("coordinator")));
        assert_eq!(child.duration, Duration::from_millis(2));
        assert_eq!(child.received_at, Duration::from_millis(7));
        assert_eq!(child.transport, Transport::HttpJson);
        let (s, e) = (child.start.expect("start in the run"), child.end.expect("end in the run"));
        assert_eq!(e - s, Duration::from_millis(2));
        assert!(s >= Duration::from_millis(10) && s < Duration::from_secs(5), "{s:?}");
        assert_eq!(child.events[0].name, "retry");
        assert_eq!(child.events[0].attributes["attempt"], json!(2));
        assert_eq!(child.events[0].at.map(|at| at - s), Some(Duration::from_millis(1)));
    }

    #[test]
    fn timestamps_before_the_run_or_unset_are_none() {
        let clock = RunClock::start();
        let an_hour_ago = now_nanos() - 3_600_000_000_000;
        let spans = spans_of(&sample_request(None, 1, an_hour_ago), &clock, Duration::ZERO, Transport::Grpc);
        assert_eq!(spans[0].start, None);
        assert_eq!(spans[0].end, None);
        assert_eq!(spans[0].duration, Duration::from_millis(5), "duration does not need the run clock");
        assert_eq!(spans[0].service, UNKNOWN_SERVICE);

        let mut request = sample_request(None, 1, 0);
        request.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 0;
        let spans = spans_of(&request, &clock, Duration::ZERO, Transport::Grpc);
        assert_eq!((spans[0].start, spans[0].end, spans[0].duration), (None, None, Duration::ZERO));
    }

    #[test]
    fn any_value_variants_become_json() {
        use any_value::Value as V;
        let av = |v: V| AnyValue { value: Some(v) };
        assert_eq!(any_value_to_json(Some(&av(V::StringValue("x".into())))), json!("x"));
        assert_eq!(any_value_to_json(Some(&av(V::BoolValue(true)))), json!(true));
        assert_eq!(any_value_to_json(Some(&av(V::IntValue(-9_007_199_254_740_993)))), json!(-9_007_199_254_740_993i64));
        assert_eq!(any_value_to_json(Some(&av(V::DoubleValue(1.5)))), json!(1.5));
        assert_eq!(any_value_to_json(Some(&av(V::DoubleValue(f64::NAN)))), json!("NaN"));
        assert_eq!(any_value_to_json(Some(&av(V::DoubleValue(f64::NEG_INFINITY)))), json!("-inf"));
        assert_eq!(any_value_to_json(Some(&av(V::BytesValue(vec![0xDE, 0xAD])))), json!("dead"));
        let array =
            V::ArrayValue(ArrayValue { values: vec![av(V::IntValue(1)), av(V::StringValue("two".into())), AnyValue { value: None }] });
        assert_eq!(any_value_to_json(Some(&av(array))), json!([1, "two", null]));
        let nested =
            KeyValueList { values: vec![kv("inner", V::KvlistValue(KeyValueList { values: vec![kv("b", V::BoolValue(false))] }))] };
        assert_eq!(any_value_to_json(Some(&av(V::KvlistValue(nested)))), json!({"inner": {"b": false}}));
        assert_eq!(any_value_to_json(None), json!(null));
        assert_eq!(any_value_to_json(Some(&AnyValue { value: None })), json!(null));
    }

    #[test]
    fn protobuf_round_trips_and_truncation_is_an_error() {
        let request = sample_request(Some("svc"), 2, now_nanos());
        let bytes = request.encode_to_vec();
        assert_eq!(decode_protobuf(&bytes), Ok(request));
        let err = decode_protobuf(&bytes[..bytes.len() - 7]).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)), "{err}");
        assert!(decode_protobuf(b"{\"resourceSpans\": []}").is_err(), "JSON is not protobuf");
    }

    /// The OTLP spec's example shape: uppercase hex ids, timestamps as JSON numbers.
    #[test]
    fn json_spec_example_decodes() {
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
            "scopeSpans": [{
                "scope": {"name": "my.library", "version": "1.0.0",
                          "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "x"}}]},
                "spans": [{
                    "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                    "parentSpanId": "EEE19B7EC3C1B173", "name": "I'm a server span",
                    "startTimeUnixNano": 1544712660000000000u64, "endTimeUnixNano": 1544712661000000000u64,
                    "kind": 2, "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
                }]
            }]
        }]});
        let request = decode_json(body.to_string().as_bytes()).expect("spec example decodes");
        let spans = spans_of(&request, &RunClock::start(), Duration::ZERO, Transport::HttpJson);
        let s = &spans[0];
        assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
        assert_eq!((s.kind, s.service.as_str(), s.scope.as_str()), (SpanKind::Server, "my.service", "my.library"));
        assert_eq!(s.duration, Duration::from_secs(1));
        assert_eq!(s.start, None, "2018 is before the run");
    }

    /// What the OpenTelemetry JS SDK's JSON serializer writes: 64-bit numbers as
    /// strings, an empty parentSpanId, dropped counts, flags, links; plus what
    /// lenient encoders send: enum names, intValue as a number, empty kvlistValue.
    #[test]
    fn json_as_sdks_write_it_decodes() {
        let start = now_nanos();
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}},
                                        {"key": "telemetry.sdk.language", "value": {"stringValue": "nodejs"}}],
                         "droppedAttributesCount": 0},
            "scopeSpans": [{
                "scope": {"name": "@opentelemetry/instrumentation-http", "version": "0.57.0"},
                "spans": [{
                    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                    "parentSpanId": "", "traceState": "", "name": "GET /checkout", "kind": "SPAN_KIND_SERVER",
                    "startTimeUnixNano": (start + 1_000).to_string(), "endTimeUnixNano": (start + 2_001_000).to_string(),
                    "attributes": [
                        {"key": "http.status_code", "value": {"intValue": "503"}},
                        {"key": "retries", "value": {"intValue": 2}},
                        {"key": "ratio", "value": {"doubleValue": 0.25}},
                        {"key": "ok", "value": {"boolValue": false}},
                        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "7"}]}}},
                        {"key": "empty", "value": {"kvlistValue": {}}},
                        {"key": "raw", "value": {"bytesValue": "3q2+7w=="}},
                        {"key": "nothing", "value": {}}
                    ],
                    "droppedAttributesCount": 0, "events": [{"timeUnixNano": (start + 5_000).to_string(), "name": "exception",
                        "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}], "droppedAttributesCount": 0}],
                    "droppedEventsCount": 0, "links": [{"traceId": "0af7651916cd43dd8448eb211c80319d", "spanId": "b7ad6b7169203332", "attributes": []}],
                    "droppedLinksCount": 0, "status": {"code": "STATUS_CODE_ERROR", "message": "503"}, "flags": 257,
                    "someFutureField": {"ignored": true}
                }]
            }]
        }]});
        let request = decode_json(body.to_string().as_bytes()).expect("SDK-style JSON decodes");
        let spans = spans_of(&request, &RunClock::start(), Duration::ZERO, Transport::HttpJson);
        let s = &spans[0];
        assert_eq!(s.parent_span_id, None);
        assert_eq!((s.kind, s.status, s.status_message.as_str()), (SpanKind::Server, SpanStatus::Error, "503"));
        assert_eq!(s.duration, Duration::from_millis(2));
        let a = &s.attributes;
        assert_eq!((a["http.status_code"].clone(), a["retries"].clone(), a["ratio"].clone()), (json!(503), json!(2), json!(0.25)));
        assert_eq!((a["ok"].clone(), a["tags"].clone(), a["empty"].clone()), (json!(false), json!(["a", 7]), json!({})));
        assert_eq!((a["raw"].clone(), a["nothing"].clone()), (json!("deadbeef"), json!(null)));
        assert_eq!(s.events[0].attributes["exception.message"], json!("boom"));
        assert_eq!(s.resource["telemetry.sdk.language"], json!("nodejs"));
    }

    #[test]
    fn malformed_json_is_an_error_that_says_where() {
        let err = |body: &str| match decode_json(body.as_bytes()) {
            Err(DecodeError::Json(m)) => m,
            other => panic!("expected a JSON error for {body}, got {other:?}"),
        };
        assert!(err("{\"resourceSpans\": [").contains("EOF"));
        assert!(err("[1, 2]").contains("not a JSON object"));
        let bad_id = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#;
        let m = err(bad_id);
        assert!(m.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"), "{m}");
        let bad_time = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#;
        assert!(err(bad_time).contains("startTimeUnixNano"));
        assert!(err(r#"{"resourceSpans": 3}"#).contains("resourceSpans"));
        assert_eq!(decode_json(b"{}").map(|r| r.resource_spans.len()), Ok(0), "an empty export is valid");
    }

    #[test]
    fn gzip_inflates_with_a_cap() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[0u8; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 100_000).map(|v| v.len()), Ok(100_000));
        assert_eq!(gunzip(&gz, 99_999), Err(DecodeError::TooLarge { limit: 99_999 }), "a gzip bomb stops at the cap");
        assert!(matches!(gunzip(b"plain text", 1000), Err(DecodeError::Gzip(_))));
        assert!(matches!(gunzip(&gz[..gz.len() / 2], 1_000_000), Err(DecodeError::Gzip(_))), "truncated gzip");
    }
}
