//! Backend API client of the worker: reads (`GET /items/{id}`) with a TTL-cache fallback
//! and writes (`POST /items/{id}/results`) that fail fast when the breaker is open. Both
//! run through the `backend` breaker and retry policy inside a `BackendCall` span.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::Value;

use crate::breaker::CircuitBreaker;
use crate::cache::TtlCache;
use crate::metrics::Metrics;
use crate::retry::{self, AttemptError, CallError, RetryPolicy};
use crate::traces;
use crate::upstream::{self, UpstreamError, transient};

/// Backend operation requested by a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
    Write,
    #[default]
    None,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::None => "none",
        }
    }
}

/// What the backend step produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackendOutcome {
    pub op: &'static str,
    /// `backend` or `cache` (a read served from the fallback cache).
    pub source: &'static str,
    pub body: Value,
}

pub struct BackendClient {
    pub http: reqwest::Client,
    pub base: String,
    pub timeout: Duration,
    pub breaker: Arc<CircuitBreaker>,
    pub policy: RetryPolicy,
    pub metrics: Metrics,
    pub cache: TtlCache,
}

impl BackendClient {
    /// Reads an item; on failure (or open breaker) falls back to a fresh cache entry.
    pub async fn read(&self, item_id: &str, request_id: &str) -> Result<BackendOutcome, UpstreamError> {
        let cx = self.span("read", "GET", item_id);
        let url = format!("{}/items/{}", self.base, encode_segment(item_id));
        let res = self.call(&cx, request_id, |c| c.http.get(&url)).await;
        let out = match res {
            Ok(body) => {
                self.cache.put(item_id, body.clone());
                Ok(BackendOutcome { op: "read", source: "backend", body })
            }
            Err(err) => match self.cache.get(item_id) {
                Some(body) => {
                    self.metrics.cache(true);
                    cx.span().set_attribute(KeyValue::new("cache.hit", true));
                    traces::in_context(
                        &cx,
                        || tracing::warn!(dependency = "backend", error = %err, item_id, "backend read failed, served from cache"),
                    );
                    Ok(BackendOutcome { op: "read", source: "cache", body })
                }
                None => {
                    self.metrics.cache(false);
                    cx.span().set_attribute(KeyValue::new("cache.hit", false));
                    Err(err)
                }
            },
        };
        self.finish(&cx, out)
    }

    /// Writes a result; no cache, and an open breaker fails the call immediately.
    pub async fn write(&self, item_id: &str, payload: &Value, request_id: &str) -> Result<BackendOutcome, UpstreamError> {
        let cx = self.span("write", "POST", item_id);
        let url = format!("{}/items/{}/results", self.base, encode_segment(item_id));
        let res = self.call(&cx, request_id, |c| c.http.post(&url).json(payload)).await;
        let out = res.map(|body| BackendOutcome { op: "write", source: "backend", body });
        self.finish(&cx, out)
    }

    fn span(&self, op: &'static str, method: &'static str, item_id: &str) -> Context {
        let attrs = vec![
            KeyValue::new("backend.operation", op),
            KeyValue::new("backend.item_id", item_id.to_string()),
            KeyValue::new("http.request.method", method),
        ];
        traces::start_child("BackendCall", SpanKind::Client, attrs)
    }

    async fn call(&self, cx: &Context, request_id: &str, build: impl Fn(&Self) -> reqwest::RequestBuilder) -> Result<Value, UpstreamError> {
        let result = retry::call(
            &self.breaker,
            &self.policy,
            |attempt| self.attempt(build(self), cx, request_id, attempt),
            upstream::retry_hook("backend", "backend", &self.metrics, cx),
        )
        .with_context(cx.clone())
        .await;
        match result {
            Ok((body, attempts)) => {
                cx.span()
                    .set_attributes([KeyValue::new("backend.attempts", attempts as i64), KeyValue::new("http.response.status_code", 200)]);
                Ok(body)
            }
            Err(CallError::Rejected { .. }) => Err(UpstreamError::CircuitOpen),
            Err(CallError::Failed { error, attempts }) => {
                cx.span().set_attribute(KeyValue::new("backend.attempts", attempts as i64));
                if let Some(code) = error.status_code() {
                    cx.span().set_attribute(KeyValue::new("http.response.status_code", code as i64));
                }
                Err(error)
            }
        }
    }

    async fn attempt(
        &self,
        req: reqwest::RequestBuilder,
        cx: &Context,
        request_id: &str,
        attempt: u32,
    ) -> Result<Value, AttemptError<UpstreamError>> {
        let res = async {
            let resp = upstream::decorate(req.timeout(self.timeout), request_id, cx)
                .send()
                .await
                .map_err(|e| upstream::from_reqwest(&e, self.timeout))?;
            if !resp.status().is_success() {
                return Err(upstream::from_status(resp.status(), resp.headers()));
            }
            let bytes = resp.bytes().await.map_err(|e| upstream::from_reqwest(&e, self.timeout))?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&bytes).map_err(|e| transient(UpstreamError::Malformed(format!("invalid JSON body: {e}"))))
        }
        .await;
        if let Err(e) = &res {
            tracing::warn!(dependency = "backend", attempt, error = %e.error, "backend call attempt failed");
        }
        res
    }

    fn finish(&self, cx: &Context, out: Result<BackendOutcome, UpstreamError>) -> Result<BackendOutcome, UpstreamError> {
        if let Err(e) = &out {
            self.metrics.error("backend");
            traces::record_failure(cx, e.kind(), &format!("backend call failed: {e}"));
            traces::in_context(cx, || tracing::error!(dependency = "backend", error = %e, kind = e.kind(), "backend call failed"));
        }
        cx.span().end();
        out
    }
}

/// Percent-encodes a path segment (the item id comes from the request body).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_path_safe() {
        assert_eq!(encode_segment("42"), "42");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
