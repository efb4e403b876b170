//! Worker role: `POST /v1/work` (WorkerProcessTask → LLMCall → BackendCall → SendResult)
//! and `/health/ready` (not ready while the LLM or backend breaker is open).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::backend::{BackendClient, BackendOutcome, Op};
use crate::breaker::BreakerState;
use crate::cache::TtlCache;
use crate::errors::ApiError;
use crate::http_obs::RequestId;
use crate::llm::LlmClient;
use crate::logging::LogFields;
use crate::metrics::Metrics;
use crate::mutant::{self, Mutant};
use crate::server::{Shared, spawn_breaker_ticker};
use crate::traces;
use crate::upstream;

const API_ROUTES: &[(&str, &str)] = &[("/v1/work", "WorkerProcessTask")];

struct Worker {
    id: String,
    metrics: Metrics,
    llm: LlmClient,
    backend: BackendClient,
    ready_stuck: bool,
}

/// The body of `POST /v1/work`.
#[derive(Debug, serde::Deserialize)]
struct WorkRequest {
    task_id: String,
    #[serde(default)]
    subtask: u32,
    #[serde(rename = "type")]
    task_type: String,
    input: String,
    #[serde(default)]
    op: Op,
    #[serde(default = "default_item")]
    item_id: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    sent_at_ms: Option<u64>,
}

fn default_item() -> String {
    "1".into()
}

/// Builds the worker router and its background tasks.
pub fn build(shared: &Shared) -> (Router, Vec<JoinHandle<()>>) {
    let cfg = &shared.cfg;
    let llm_breaker = shared.breaker("llm");
    let backend_breaker = shared.breaker("backend");
    let llm = shared.llm_client(llm_breaker.clone(), !mutant::is(cfg.mutant, Mutant::DropSpan));
    let backend = BackendClient {
        http: shared.http.clone(),
        base: cfg.backend_url.clone().unwrap_or_default(),
        timeout: cfg.backend_timeout,
        breaker: backend_breaker.clone(),
        policy: shared.retry_policy(),
        metrics: shared.metrics.clone(),
        cache: TtlCache::new(cfg.cache_ttl),
    };
    let worker = Arc::new(Worker {
        id: cfg.worker_id.clone(),
        metrics: shared.metrics.clone(),
        llm,
        backend,
        ready_stuck: mutant::is(cfg.mutant, Mutant::ReadyStuck),
    });
    let tasks = vec![spawn_breaker_ticker(vec![llm_breaker, backend_breaker])];
    let router = Router::new().route("/v1/work", post(handle_work)).route("/health/ready", get(ready)).with_state(worker);
    let propagate = !mutant::is(cfg.mutant, Mutant::NoPropagation);
    (shared.finish_router(router, API_ROUTES, propagate, false), tasks)
}

async fn handle_work(State(w): State<Arc<Worker>>, Extension(RequestId(rid)): Extension<RequestId>, body: Bytes) -> Response {
    let req: WorkRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let err = ApiError::bad_request(format!("invalid work JSON: {e}"));
            tracing::warn!(error = %err.detail, "rejected invalid work request");
            return err.into_response();
        }
    };
    LogFields::set_current_task_id(&req.task_id);
    let cx = Context::current();
    cx.span().set_attributes([
        KeyValue::new("task.id", req.task_id.clone()),
        KeyValue::new("task.type", req.task_type.clone()),
        KeyValue::new("task.subtask", req.subtask as i64),
        KeyValue::new("task.op", req.op.as_str()),
        KeyValue::new("worker.id", w.id.clone()),
    ]);
    w.metrics.message("task");
    if let Some(sent) = req.sent_at_ms {
        w.metrics.message_latency("task", upstream::unix_ms().saturating_sub(sent) as f64 / 1000.0);
    }
    let pending = w.metrics.pending();
    tracing::info!(subtask = req.subtask, op = req.op.as_str(), stream = req.stream, "work started");
    let start = Instant::now();
    let res = w.process(&req, &rid).await;
    drop(pending);
    let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let resp = match res {
        Ok((output, usage, attempts, backend)) => {
            let send_cx = traces::start_child("SendResult", SpanKind::Internal, vec![KeyValue::new("task.id", req.task_id.clone())]);
            w.metrics.message("result");
            let body = json!({
                "task_id": req.task_id,
                "subtask": req.subtask,
                "status": "completed",
                "worker_id": w.id,
                "output": output,
                "usage": usage,
                "llm_attempts": attempts,
                "backend": backend,
                "sent_at_ms": upstream::unix_ms(),
            });
            send_cx.span().end();
            tracing::info!(duration_ms, "work completed");
            Json(body).into_response()
        }
        Err(e) => {
            w.metrics.message("error");
            w.metrics.error("worker");
            traces::record_failure(&cx, e.code, &e.detail);
            tracing::error!(error = %e.detail, code = e.code, status = e.status.as_u16(), duration_ms, "work failed");
            e.into_response()
        }
    };
    w.metrics.worker_duration(&w.id, start.elapsed().as_secs_f64());
    resp
}

impl Worker {
    async fn process(&self, req: &WorkRequest, rid: &str) -> Result<(String, crate::llm::Usage, u32, Option<BackendOutcome>), ApiError> {
        let plan = req.plan.as_deref().unwrap_or("");
        let prompt = format!(
            "You are worker {} handling subtask {} of a {} task.\nPlan:\n{}\nInput:\n{}",
            self.id, req.subtask, req.task_type, plan, req.input
        );
        let completion = self.llm.complete(&prompt, req.stream, rid).await.map_err(|e| ApiError::upstream("llm", &e))?;
        let backend = match req.op {
            Op::None => None,
            Op::Read => Some(self.backend.read(&req.item_id, rid).await),
            Op::Write => {
                let payload = json!({
                    "task_id": req.task_id,
                    "subtask": req.subtask,
                    "worker_id": self.id,
                    "result": completion.content,
                });
                Some(self.backend.write(&req.item_id, &payload, rid).await)
            }
        };
        let backend = backend.transpose().map_err(|e| ApiError::upstream("backend", &e))?;
        Ok((completion.content, completion.usage, completion.attempts, backend))
    }
}

async fn ready(State(w): State<Arc<Worker>>) -> Response {
    let llm = w.llm.breaker.state();
    let backend = w.backend.breaker.state();
    let ok = llm != BreakerState::Open && backend != BreakerState::Open;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": { "llm_breaker": llm.as_str(), "backend_breaker": backend.as_str() }
    });
    let status = if ok || w.ready_stuck { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_request_defaults() {
        let r: WorkRequest = serde_json::from_str(r#"{"task_id":"t","type":"analysis","input":"x"}"#).unwrap();
        assert_eq!((r.subtask, r.op, r.item_id.as_str(), r.stream), (0, Op::None, "1", false));
        assert!(serde_json::from_str::<WorkRequest>(r#"{"task_id":"t","type":"a","input":"x","op":"bad"}"#).is_err());
    }
}
