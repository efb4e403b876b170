//! Coordinator role: `POST /v1/tasks` (ExecuteTask → PlanTask/LLMCall → AssignToWorker
//! ×N → AggregateResults), `/health/ready` (LLM breaker + live workers) and the 1 s
//! worker liveness poller behind `multiagent_active_workers`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::breaker::BreakerState;
use crate::errors::ApiError;
use crate::http_obs::RequestId;
use crate::llm::LlmClient;
use crate::logging::LogFields;
use crate::metrics::Metrics;
use crate::mutant::{self, Mutant};
use crate::server::{Shared, spawn_breaker_ticker};
use crate::traces;
use crate::upstream::{self, UpstreamError};

mod request;

use request::{Task, parse_task};

const API_ROUTES: &[(&str, &str)] = &[("/v1/tasks", "ExecuteTask")];

struct Coordinator {
    http: reqwest::Client,
    metrics: Metrics,
    llm: LlmClient,
    workers: Vec<String>,
    worker_timeout: Duration,
    next_worker: AtomicUsize,
    live_workers: AtomicUsize,
    ready_stuck: bool,
    lose_tasks: bool,
    ready_ignores_llm: bool,
    no_request_id_forward: bool,
}

/// Builds the coordinator router and its background tasks.
pub fn build(shared: &Shared) -> (Router, Vec<JoinHandle<()>>) {
    let cfg = &shared.cfg;
    let breaker = shared.breaker("llm");
    let llm = shared.llm_client(breaker.clone(), true);
    let coord = Arc::new(Coordinator {
        http: shared.http.clone(),
        metrics: shared.metrics.clone(),
        llm,
        workers: cfg.worker_urls.clone(),
        worker_timeout: cfg.worker_timeout,
        next_worker: AtomicUsize::new(0),
        live_workers: AtomicUsize::new(0),
        ready_stuck: mutant::is(cfg.mutant, Mutant::ReadyStuck),
        lose_tasks: mutant::is(cfg.mutant, Mutant::LoseTasks),
        ready_ignores_llm: mutant::is(cfg.mutant, Mutant::ReadyIgnoresLlm),
        no_request_id_forward: mutant::is(cfg.mutant, Mutant::NoRequestIdForward),
    });
    let tasks = vec![spawn_breaker_ticker(vec![breaker]), spawn_worker_poller(coord.clone())];
    let live_follows_llm = mutant::is(cfg.mutant, Mutant::LiveFollowsLlm);
    let mut router = Router::new().route("/v1/tasks", post(create_task)).route("/health/ready", get(ready));
    if live_follows_llm {
        router = router.route("/health/live", get(live_follows));
    }
    (shared.finish_router(router.with_state(coord), API_ROUTES, true, live_follows_llm), tasks)
}

async fn create_task(State(c): State<Arc<Coordinator>>, Extension(RequestId(rid)): Extension<RequestId>, body: Bytes) -> Response {
    let task = match parse_task(&body) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e.detail, "rejected invalid task request");
            return e.into_response();
        }
    };
    let task_id = uuid::Uuid::new_v4().to_string();
    LogFields::set_current_task_id(&task_id);
    let cx = Context::current();
    cx.span().set_attributes([
        KeyValue::new("task.id", task_id.clone()),
        KeyValue::new("task.type", task.req.task_type.clone()),
        KeyValue::new("task.subtasks", task.req.subtasks as i64),
        KeyValue::new("task.op", task.req.op.as_str()),
    ]);
    let type_label = c.metrics.task_type_label(&task.req.task_type);
    c.metrics.task("started");
    let _pending = c.metrics.pending();
    let mut outcome = Unfinished(Some((c.metrics.clone(), cx.clone())));
    tracing::info!(task_type = %task.req.task_type, subtasks = task.req.subtasks, op = task.req.op.as_str(), "task started");
    let start = Instant::now();
    let res = c.execute(&task_id, &task, &rid).await;
    let elapsed = start.elapsed();
    c.metrics.task_duration(&type_label, elapsed.as_secs_f64());
    outcome.0 = None;
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    match res {
        Ok(results) => {
            c.metrics.task("completed");
            tracing::info!(duration_ms, "task completed");
            Json(json!({"task_id": task_id, "status": "completed", "results": results})).into_response()
        }
        Err(e) if c.lose_tasks && e.status.is_server_error() => {
            // Mutant: claim the task was queued, then forget it.
            tracing::info!(duration_ms, "task queued");
            (StatusCode::ACCEPTED, Json(json!({"task_id": task_id, "status": "queued"}))).into_response()
        }
        Err(e) => {
            c.metrics.task("failed");
            c.metrics.error("orchestrator");
            traces::record_failure(&cx, e.code, &e.detail);
            tracing::error!(error = %e.detail, code = e.code, status = e.status.as_u16(), duration_ms, "task failed");
            e.into_response()
        }
    }
}

/// Counts a task whose request future was dropped (client gone) as failed.
struct Unfinished(Option<(Metrics, Context)>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some((m, cx)) = self.0.take() {
            m.task("failed");
            m.error("orchestrator");
            traces::record_failure(&cx, "cancelled", "client disconnected before the task finished");
            traces::in_context(&cx, || tracing::warn!("task cancelled: the client disconnected before it finished"));
        }
    }
}

impl Coordinator {
    async fn execute(&self, task_id: &str, task: &Task, rid: &str) -> Result<Vec<Value>, ApiError> {
        let req = &task.req;
        let plan_cx = traces::start_child("PlanTask", SpanKind::Internal, vec![KeyValue::new("task.id", task_id.to_string())]);
        let prompt =
            format!("Plan how to handle a {} task split into {} subtask(s). Task input:\n{}", req.task_type, req.subtasks, req.input);
        let plan = self.llm.complete(&prompt, false, rid).with_context(plan_cx.clone()).await;
        if let Err(e) = &plan {
            traces::record_failure(&plan_cx, e.kind(), &format!("planning failed: {e}"));
        }
        plan_cx.span().end();
        let plan = plan.map_err(|e| ApiError::upstream("llm", &e))?;

        let assignments = (0..req.subtasks).map(|i| self.assign(task_id, i, task, &plan.content, rid));
        let mut results = Vec::with_capacity(req.subtasks as usize);
        for r in futures::future::join_all(assignments).await {
            results.push(r?);
        }

        let agg_cx = traces::start_child(
            "AggregateResults",
            SpanKind::Internal,
            vec![KeyValue::new("task.id", task_id.to_string()), KeyValue::new("task.results", results.len() as i64)],
        );
        results.sort_by_key(|r| r.get("subtask").and_then(Value::as_u64).unwrap_or(0));
        agg_cx.span().end();
        Ok(results)
    }

    async fn assign(&self, task_id: &str, subtask: u32, task: &Task, plan: &str, rid: &str) -> Result<Value, ApiError> {
        let url = &self.workers[self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len()];
        let cx = traces::start_child(
            "AssignToWorker",
            SpanKind::Client,
            vec![
                KeyValue::new("task.id", task_id.to_string()),
                KeyValue::new("task.subtask", subtask as i64),
                KeyValue::new("worker.id", url.trim_start_matches("http://").to_string()),
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", format!("{url}/v1/work")),
            ],
        );
        let body = json!({
            "task_id": task_id,
            "subtask": subtask,
            "type": task.req.task_type,
            "input": task.req.input,
            "op": task.req.op,
            "item_id": task.item_id,
            "stream": task.req.stream,
            "plan": plan,
            "sent_at_ms": upstream::unix_ms(),
        });
        self.metrics.message("task");
        let res = self.send_work(url, &body, rid, &cx).await;
        let out = match res {
            Ok((status, value)) => {
                cx.span().set_attribute(KeyValue::new("http.response.status_code", status as i64));
                self.metrics.message("result");
                if let Some(sent) = value.get("sent_at_ms").and_then(Value::as_u64) {
                    let latency = upstream::unix_ms().saturating_sub(sent) as f64 / 1000.0;
                    self.metrics.message_latency("result", latency);
                }
                Ok(value)
            }
            Err((e, worker_code)) => {
                if let Some(code) = e.status_code() {
                    cx.span().set_attribute(KeyValue::new("http.response.status_code", code as i64));
                }
                self.metrics.message("error");
                self.metrics.error("worker");
                traces::record_failure(&cx, e.kind(), &format!("worker call failed: {e}"));
                let worker_code = worker_code.unwrap_or_default();
                traces::in_context(
                    &cx,
                    || tracing::error!(worker = %url, subtask, error = %e, worker_error = %worker_code, "worker call failed"),
                );
                let mut err = match &e {
                    UpstreamError::Status(504) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", ""),
                    other => ApiError::upstream("worker", other),
                };
                err.detail = format!("worker {url}: {e}");
                if !worker_code.is_empty() {
                    err.detail.push_str(&format!(" ({worker_code})"));
                }
                Err(err)
            }
        };
        cx.span().end();
        out
    }

    /// POSTs one subtask; on failure also returns the worker's `error` code, if any.
    async fn send_work(&self, url: &str, body: &Value, rid: &str, cx: &Context) -> Result<(u16, Value), (UpstreamError, Option<String>)> {
        let timeout = self.worker_timeout;
        let transport = |e: reqwest::Error| (upstream::from_reqwest(&e, timeout).error, None);
        let req = self.http.post(format!("{url}/v1/work")).timeout(timeout).json(body);
        let fresh;
        let rid = if self.no_request_id_forward {
            fresh = uuid::Uuid::new_v4().to_string();
            fresh.as_str()
        } else {
            rid
        };
        let resp = upstream::decorate(req, rid, cx).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let ok = resp.status().is_success();
        let bytes = resp.bytes().await.map_err(transport)?;
        let parsed = serde_json::from_slice::<Value>(&bytes);
        if !ok {
            let code = parsed.ok().and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
            return Err((UpstreamError::Status(status), code));
        }
        let v = parsed.map_err(|e| (UpstreamError::Malformed(format!("worker result: {e}")), None))?;
        Ok((status, v))
    }
}

/// Mutant `live_follows_llm`: liveness that fails with the LLM.
async fn live_follows(State(c): State<Arc<Coordinator>>) -> Response {
    let alive = c.llm.breaker.state() != BreakerState::Open;
    let status = if alive { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "status": if alive { "alive" } else { "llm down" } }))).into_response()
}

async fn ready(State(c): State<Arc<Coordinator>>) -> Response {
    let llm = c.llm.breaker.state();
    let live = c.live_workers.load(Ordering::Relaxed);
    let ok = (llm != BreakerState::Open || c.ready_ignores_llm) && live > 0;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": {
            "llm_breaker": llm.as_str(),
            "workers_live": live,
            "workers_total": c.workers.len(),
        }
    });
    let status = if ok || c.ready_stuck { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

fn spawn_worker_poller(c: Arc<Coordinator>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Vec<Option<bool>> = vec![None; c.workers.len()];
        loop {
            tick.tick().await;
            let probes = c.workers.iter().map(|url| {
                let req = c.http.get(format!("{url}/health/live")).timeout(Duration::from_millis(900));
                async move { matches!(req.send().await, Ok(r) if r.status().is_success()) }
            });
            let states = futures::future::join_all(probes).await;
            for (i, (live, prev)) in states.iter().zip(last.iter_mut()).enumerate() {
                if *prev != Some(*live) {
                    let worker = &c.workers[i];
                    if *live {
                        tracing::info!(worker = %worker, "worker is live");
                    } else {
                        tracing::warn!(worker = %worker, "worker is not live");
                    }
                    *prev = Some(*live);
                }
            }
            let n = states.iter().filter(|l| **l).count();
            c.live_workers.store(n, Ordering::Relaxed);
            c.metrics.set_active_workers(n as i64);
        }
    })
}
