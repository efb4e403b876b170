//! API error responses: a status code plus `{"error": code, "detail": text}`, and the
//! mapping from dependency failures to 502 / 503 / 504.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::upstream::UpstreamError;

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// Maps a dependency failure: open breaker → 503 `<dep>_circuit_open`, timeout →
    /// 504 `<dep>_timeout`, anything else → 502 `<dep>_error`.
    pub fn upstream(dependency: &'static str, e: &UpstreamError) -> Self {
        let (status, code) = match (dependency, e) {
            ("llm", UpstreamError::CircuitOpen) => (StatusCode::SERVICE_UNAVAILABLE, "llm_circuit_open"),
            ("backend", UpstreamError::CircuitOpen) => (StatusCode::SERVICE_UNAVAILABLE, "backend_circuit_open"),
            ("llm", UpstreamError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "llm_timeout"),
            ("backend", UpstreamError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
            (_, UpstreamError::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "worker_timeout"),
            ("llm", _) => (StatusCode::BAD_GATEWAY, "llm_error"),
            ("backend", _) => (StatusCode::BAD_GATEWAY, "backend_error"),
            _ => (StatusCode::BAD_GATEWAY, "worker_error"),
        };
        ApiError::new(status, code, format!("{dependency}: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.code, "detail": self.detail}))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn upstream_mapping() {
        let open = ApiError::upstream("llm", &UpstreamError::CircuitOpen);
        assert_eq!((open.status.as_u16(), open.code), (503, "llm_circuit_open"));
        let t = ApiError::upstream("worker", &UpstreamError::Timeout(Duration::from_secs(1)));
        assert_eq!((t.status.as_u16(), t.code), (504, "worker_timeout"));
        let s = ApiError::upstream("llm", &UpstreamError::Status(500));
        assert_eq!((s.status.as_u16(), s.code), (502, "llm_error"));
    }
}
