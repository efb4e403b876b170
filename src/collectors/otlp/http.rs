//! The OTLP/HTTP server: `POST /v1/traces` on axum, as the OTLP/HTTP spec says.
//!
//! - Request: `Content-Type` `application/x-protobuf` or `application/json`
//!   (parameters such as `charset` ignored), `Content-Encoding` absent,
//!   `identity` or `gzip`; body up to the limit on the wire and inflated.
//! - Success: 200 with an empty `ExportTraceServiceResponse` in the request's encoding.
//! - Refusal: 400 (undecodable), 413 (too large), 415 (content type or
//!   encoding), 408 (body too slow), 404/405 (path/method), each with a
//!   `google.rpc.Status` body in the request's encoding (JSON when unknown),
//!   and recorded as a rejection.
//! - An oversized body is still read (and thrown away) up to
//!   [`DRAIN_FACTOR`] × the limit, so the client gets to read the 413 instead
//!   of a connection reset.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;

use super::convert::{self, DecodeError};
use super::store::{Rejection, Transport};
use super::{BODY_TIMEOUT, Shared};

/// The path SDKs append to the base endpoint.
pub const TRACES_PATH: &str = "/v1/traces";
/// How far past the limit an oversized body is drained before answering.
pub const DRAIN_FACTOR: usize = 4;

pub(super) async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .route(TRACES_PATH, any(export))
        .fallback(not_served)
        // We read and limit the body ourselves (413 with an OTLP body, gzip bombs).
        .layer(DefaultBodyLimit::disable())
        .with_state(shared);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "OTLP/HTTP server failed");
    }
}

/// `google.rpc.Status`, the body of every OTLP/HTTP error answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// A refusal: HTTP status, gRPC-style code for the body, and why.
struct Refusal {
    status: StatusCode,
    code: tonic::Code,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, code: tonic::Code, reason: impl Into<String>) -> Self {
        Self { status, code, reason: reason.into() }
    }
}

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::ResourceExhausted, e.to_string()),
            _ => Self::new(StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument, e.to_string()),
        }
    }
}

async fn export(State(shared): State<Arc<Shared>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let at = shared.clock.now();
    let limit = shared.max_body_bytes;
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let transport = match media_type(&content_type).as_str() {
        "application/x-protobuf" => Transport::HttpProtobuf,
        "application/json" => Transport::HttpJson,
        _ => Transport::Http,
    };
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err((refusal, received)) => return refuse(&shared, at, transport, refusal, Some(received)),
    };
    let encoding = header_str(&headers, header::CONTENT_ENCODING).trim().to_ascii_lowercase();
    let outcome = if method != Method::POST {
        Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            tonic::Code::Unimplemented,
            format!("{method} {TRACES_PATH}: only POST is served"),
        ))
    } else {
        decode(transport, &content_type, &encoding, &body, limit)
    };
    match outcome {
        Ok(request) => {
            shared.accept(&request, transport, encoding.contains("gzip"), at);
            success(transport)
        }
        Err(refusal) => refuse(&shared, at, transport, refusal, Some(body.len())),
    }
}

fn decode(
    transport: Transport,
    content_type: &str,
    content_encoding: &str,
    body: &[u8],
    limit: usize,
) -> Result<ExportTraceServiceRequest, Refusal> {
    if transport == Transport::Http {
        let shown = if content_type.is_empty() { "none" } else { content_type };
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            format!("Content-Type {shown} is not OTLP: use application/x-protobuf or application/json"),
        ));
    }
    let inflated;
    let payload = match content_encoding {
        "" | "identity" => body,
        "gzip" | "x-gzip" => {
            inflated = convert::gunzip(body, limit)?;
            &inflated[..]
        }
        other => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                tonic::Code::InvalidArgument,
                format!("Content-Encoding {other} is not supported: use gzip or none"),
            ));
        }
    };
    Ok(match transport {
        Transport::HttpJson => convert::decode_json(payload)?,
        _ => convert::decode_protobuf(payload)?,
    })
}

/// Any other path: refused and recorded (an exporter pointed at the wrong URL
/// shows up here, e.g. `/v1/traces/v1/traces` from a base URL given as the
/// traces endpoint, or metrics and logs sent to a traces-only receiver).
async fn not_served(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, body: Body) -> Response {
    let at = shared.clock.now();
    let received = match read_body(body, shared.max_body_bytes).await {
        Ok(b) => b.len(),
        Err((_, received)) => received,
    };
    let reason = format!("{method} {} is not served: ordeal receives traces only (POST {TRACES_PATH})", uri.path());
    let refusal = Refusal::new(StatusCode::NOT_FOUND, tonic::Code::NotFound, reason);
    refuse(&shared, at, Transport::Http, refusal, Some(received))
}

/// The body, or a refusal and how many bytes were received.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, (Refusal, usize)> {
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut received = 0usize;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) => return Err((slow(BODY_TIMEOUT, received), received)),
        };
        match next {
            None => break,
            Some(Err(e)) => {
                let refusal = Refusal::new(StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument, format!("could not read the body: {e}"));
                return Err((refusal, received));
            }
            Some(Ok(chunk)) => {
                received = received.saturating_add(chunk.len());
                if received <= limit {
                    buf.extend_from_slice(&chunk);
                } else {
                    buf = Vec::new();
                    if received > drain_limit {
                        break;
                    }
                }
            }
        }
    }
    if received > limit {
        let reason = format!("body of {received}+ bytes is larger than the {limit}-byte limit");
        return Err((Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::ResourceExhausted, reason), received));
    }
    Ok(buf)
}

fn slow(timeout: Duration, received: usize) -> Refusal {
    let reason = format!("the body was not received within {timeout:?} ({received} bytes came)");
    Refusal::new(StatusCode::REQUEST_TIMEOUT, tonic::Code::DeadlineExceeded, reason)
}

fn success(transport: Transport) -> Response {
    match transport {
        Transport::HttpJson => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        _ => {
            let body = ExportTraceServiceResponse { partial_success: None }.encode_to_vec();
            ([(header::CONTENT_TYPE, "application/x-protobuf")], Bytes::from(body)).into_response()
        }
    }
}

fn refuse(shared: &Shared, at: Duration, transport: Transport, refusal: Refusal, bytes: Option<usize>) -> Response {
    let body = RpcStatus { code: refusal.code as i32, message: refusal.reason.clone() };
    shared.reject(Rejection { at, transport, response: format!("HTTP {}", refusal.status.as_u16()), reason: refusal.reason, bytes });
    let mut response = match transport {
        Transport::HttpProtobuf => ([(header::CONTENT_TYPE, "application/x-protobuf")], Bytes::from(body.encode_to_vec())).into_response(),
        _ => {
            let json = serde_json::json!({ "code": body.code, "message": body.message });
            ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response()
        }
    };
    *response.status_mut() = refusal.status;
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// `application/json; charset=utf-8` → `application/json`.
fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}
