//! Outgoing HTTP calls shared by the LLM, backend and worker clients: the error type,
//! how a reqwest error or HTTP status is classified for retry and breaker purposes,
//! and the propagated headers (`X-Request-ID`, W3C trace context).

use std::error::Error as StdError;
use std::time::Duration;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use reqwest::{RequestBuilder, StatusCode};

use crate::metrics::Metrics;
use crate::retry::{AttemptError, RetryEvent, parse_retry_after};
use crate::traces;

/// Why a call to a dependency failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("circuit breaker open")]
    CircuitOpen,
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl UpstreamError {
    /// Short machine-readable kind, used as `exception.type` and in logs.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::CircuitOpen => "circuit_open",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Status(_) => "http_status",
            UpstreamError::Connect(_) => "connection",
            UpstreamError::Malformed(_) => "malformed_response",
        }
    }

    pub fn status_code(&self) -> Option<u16> {
        match self {
            UpstreamError::Status(s) => Some(*s),
            _ => None,
        }
    }
}

/// A transient failure: retryable and counted by the breaker.
pub fn transient(error: UpstreamError) -> AttemptError<UpstreamError> {
    AttemptError { error, retryable: true, breaker_failure: true, retry_after: None }
}

/// Classifies a transport-level error. Timeouts, connection errors and broken bodies
/// are all transient.
pub fn from_reqwest(e: &reqwest::Error, timeout: Duration) -> AttemptError<UpstreamError> {
    let err = if e.is_timeout() {
        UpstreamError::Timeout(timeout)
    } else if e.is_body() || e.is_decode() {
        UpstreamError::Malformed(error_chain(e))
    } else {
        UpstreamError::Connect(error_chain(e))
    };
    transient(err)
}

/// Classifies a non-2xx status: 5xx, 408 and 429 (with `Retry-After`) are retried and
/// count as breaker failures; any other 4xx is neither.
pub fn from_status(status: StatusCode, headers: &reqwest::header::HeaderMap) -> AttemptError<UpstreamError> {
    let code = status.as_u16();
    let transient_status = status.is_server_error() || code == 429 || code == 408;
    let retry_after = if code == 429 || code == 503 {
        headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after)
    } else {
        None
    };
    AttemptError { error: UpstreamError::Status(code), retryable: transient_status, breaker_failure: transient_status, retry_after }
}

/// Adds `X-Request-ID` and the trace-context headers of `cx` to an outgoing request.
pub fn decorate(mut req: RequestBuilder, request_id: &str, cx: &Context) -> RequestBuilder {
    req = req.header("x-request-id", request_id);
    for (k, v) in traces::inject(cx) {
        req = req.header(k, v);
    }
    req
}

/// The retry hook shared by the LLM and backend clients: counts the retry, logs it
/// (`retrying <what> call`) and adds a `retry` event to the call's span.
pub fn retry_hook<'a>(
    dependency: &'static str,
    what: &'static str,
    metrics: &'a Metrics,
    cx: &'a Context,
) -> impl FnMut(RetryEvent<'_, UpstreamError>) + 'a {
    move |ev| {
        metrics.retry(dependency);
        let delay_ms = ev.delay.as_millis() as u64;
        tracing::warn!(dependency, retry = ev.retry, delay_ms, error = %ev.error, "retrying {what} call");
        cx.span()
            .add_event("retry", vec![KeyValue::new("retry.attempt", ev.retry as i64), KeyValue::new("retry.delay_ms", delay_ms as i64)]);
    }
}

/// `error: cause: cause` on one line.
pub fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// Milliseconds since the Unix epoch, for message-latency stamps.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn status_classification() {
        let none = HeaderMap::new();
        let e = from_status(StatusCode::BAD_GATEWAY, &none);
        assert!(e.retryable && e.breaker_failure && e.retry_after.is_none());
        let e = from_status(StatusCode::NOT_FOUND, &none);
        assert!(!e.retryable && !e.breaker_failure);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        let e = from_status(StatusCode::TOO_MANY_REQUESTS, &h);
        assert!(e.retryable && e.breaker_failure);
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(e.error.status_code(), Some(429));
    }
}
