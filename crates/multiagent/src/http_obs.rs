//! HTTP server middleware shared by both roles: request id (accept/generate/echo), the
//! per-route server span (`ExecuteTask` / `WorkerProcessTask`) continuing the incoming
//! trace, one redacted log line per request, `http_requests_total` /
//! `http_request_duration_seconds`, and the synthetic CPU burn.

use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::errors::ApiError;
use crate::logging::LogFields;
use crate::metrics::Metrics;
use crate::redact;
use crate::traces;

/// Largest request body accepted (and logged).
pub const MAX_BODY: usize = 1024 * 1024;

/// The request id of the current request (request extension).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Middleware configuration.
#[derive(Clone)]
pub struct HttpObs {
    pub metrics: Metrics,
    /// API route template → server span name; these routes are logged at info and burn CPU.
    pub api_routes: &'static [(&'static str, &'static str)],
    /// False for the `no_propagation` mutant: incoming trace context is ignored.
    pub propagate: bool,
    /// True for the `leak_secret` mutant.
    pub leak_authorization: bool,
    /// True for the `drop_logged_headers` mutant.
    pub drop_headers: bool,
    /// Largest request body accepted: [`MAX_BODY`], 2 KiB for the `small_body_limit` mutant.
    pub max_body: usize,
    /// True for the `request_id_label` mutant.
    pub request_id_label: bool,
    pub cpu_burn: Duration,
}

/// The middleware itself (`axum::middleware::from_fn_with_state`).
pub async fn observe(State(obs): State<HttpObs>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let span_name = route.as_deref().and_then(|r| obs.api_routes.iter().find(|(p, _)| *p == r)).map(|(_, n)| *n);
    let info = Served {
        api: span_name.is_some(),
        method: req.method().as_str().to_string(),
        route: route.unwrap_or_else(|| "unmatched".to_string()),
        start: Instant::now(),
        request_id: incoming_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };

    let mut cx = Context::new();
    if let Some(name) = span_name {
        let parent = if obs.propagate { traces::extract(req.headers()) } else { Context::new() };
        let attrs = vec![
            KeyValue::new("http.request.method", info.method.clone()),
            KeyValue::new("http.route", info.route.clone()),
            KeyValue::new("url.path", req.uri().path().to_string()),
            KeyValue::new("request.id", info.request_id.clone()),
        ];
        cx = traces::start(name, SpanKind::Server, &parent, attrs);
    }
    let cx = cx.with_value(LogFields::new(info.request_id.clone()));

    let (mut parts, body) = req.into_parts();
    let bytes = match to_bytes(body, obs.max_body).await {
        Ok(b) => b,
        Err(e) => {
            let detail = format!("request body rejected: {e}");
            let err = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail);
            return finish(&obs, &cx, &info, err.into_response());
        }
    };
    let log_on = if info.api { tracing::enabled!(tracing::Level::INFO) } else { tracing::enabled!(tracing::Level::DEBUG) };
    if log_on {
        traces::in_context(&cx, || log_request(&obs, &parts, &bytes, info.api));
    }
    parts.extensions.insert(RequestId(info.request_id.clone()));
    let req = Request::from_parts(parts, Body::from(bytes));
    if info.api && !obs.cpu_burn.is_zero() {
        burn_cpu(obs.cpu_burn);
    }
    let resp = next.run(req).with_context(cx.clone()).await;
    finish(&obs, &cx, &info, resp)
}

/// A usable incoming `X-Request-ID` (visible ASCII, trimmed, 1..=128 chars).
fn incoming_request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let v = headers.get("x-request-id")?.to_str().ok()?.trim();
    (!v.is_empty() && v.len() <= 128).then(|| v.to_string())
}

/// The one log line per received request: method, path, route, redacted headers and body.
fn log_request(obs: &HttpObs, parts: &axum::http::request::Parts, bytes: &[u8], api: bool) {
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let route = parts.extensions.get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
    let headers = if obs.drop_headers { serde_json::Value::Null } else { redact::redact_headers(&parts.headers, obs.leak_authorization) };
    let headers = headers.to_string();
    if api {
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(v) => redact::redact_json(&v),
                Err(_) => serde_json::json!({"unparsed_bytes": bytes.len()}),
            }
        };
        let body = body.to_string();
        tracing::info!(method, path, route, json_headers = %headers, json_body = %body, "request received");
    } else {
        tracing::debug!(method, path, route, json_headers = %headers, "request received");
    }
}

/// What `finish` needs to know about the request being answered.
struct Served {
    api: bool,
    method: String,
    route: String,
    start: Instant,
    request_id: String,
}

/// Records HTTP metrics, echoes the request id, ends the server span, logs completion.
fn finish(obs: &HttpObs, cx: &Context, info: &Served, mut resp: Response) -> Response {
    let (api, method, route) = (info.api, info.method.as_str(), info.route.as_str());
    let status = resp.status().as_u16();
    let elapsed = info.start.elapsed();
    obs.metrics.http_request(method, route, status, elapsed.as_secs_f64(), obs.request_id_label.then_some(info.request_id.as_str()));
    if let Ok(v) = HeaderValue::from_str(&info.request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    if api {
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.response.status_code", status as i64));
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        traces::in_context(cx, || {
            if status >= 500 {
                tracing::warn!(method, route, status, duration_ms, "request completed");
            } else {
                tracing::info!(method, route, status, duration_ms, "request completed");
            }
        });
        span.end();
    }
    resp
}

/// Burns `d` of this thread's CPU time (synthetic per-request overhead,
/// `MULTIAGENT_CPU_BURN_US`). Counted on the thread's CPU clock, not the wall
/// clock, so the CPU injected is exactly `d` even when the machine is busy and
/// the thread is preempted mid-burn (overhead tests compare against it).
pub fn burn_cpu(d: Duration) {
    let Some(start) = thread_cpu_time() else {
        return burn_wall(d);
    };
    let mut x = 0u64;
    while thread_cpu_time().is_some_and(|now| now.saturating_sub(start) < d) {
        for i in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

/// Fallback where the thread CPU clock is unavailable.
fn burn_wall(d: Duration) {
    let end = Instant::now() + d;
    let mut x = 0u64;
    while Instant::now() < end {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_uses_the_requested_cpu_time() {
        let before = thread_cpu_time().unwrap();
        let t = Instant::now();
        burn_cpu(Duration::from_millis(5));
        let used = thread_cpu_time().unwrap() - before;
        assert!(t.elapsed() >= Duration::from_millis(5));
        assert!(used >= Duration::from_millis(5) && used < Duration::from_millis(7), "{used:?}");
    }
}
