//! End-to-end test: starts a real worker and coordinator (the `multiagent` binary) against
//! an in-test fake LLM + backend + OTLP/HTTP receiver, and checks a task completes, the
//! LLM breaker opens/recovers (gauge + readiness), metric families, JSON logs without
//! secrets, exported traces and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

const CANARY_PW: &str = "canary-pw-7c1e";
const CANARY_AUTH: &str = "canary-auth-93fa";

#[derive(Default)]
struct Fake {
    llm_fail: AtomicBool,
    llm_calls: AtomicUsize,
    traces: Mutex<Vec<Vec<u8>>>,
}

async fn chat(State(f): State<Arc<Fake>>, body: Bytes) -> Response {
    f.llm_calls.fetch_add(1, Ordering::SeqCst);
    if f.llm_fail.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
    if req["stream"] == true {
        let mut sse = String::new();
        for word in ["stre", "amed"] {
            sse.push_str(&format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": word}}]})));
        }
        sse.push_str(&format!("data: {}\n\ndata: [DONE]\n\n", json!({"choices": [], "usage": usage})));
        return ([("content-type", "text/event-stream")], sse).into_response();
    }
    axum::Json(json!({
        "id": "c1", "object": "chat.completion", "model": req["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": usage,
    }))
    .into_response()
}

async fn start_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/items/{id}", get(|| async { axum::Json(json!({"id": 7, "name": "widget"})) }))
        .route("/items/{id}/results", post(|| async { (StatusCode::CREATED, axum::Json(json!({"stored": true}))) }))
        .route(
            "/v1/traces",
            post(|State(f): State<Arc<Fake>>, body: Bytes| async move {
                f.traces.lock().unwrap().push(body.to_vec());
                StatusCode::OK
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, base)
}

/// A child process killed on drop, with its stdout lines collected.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(role: &str, env: &[(&str, String)]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiagent"));
        cmd.arg(role).stdout(Stdio::piped()).stderr(Stdio::inherit()).env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn multiagent");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn status_of(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

async fn post_task(http: &reqwest::Client, base: &str, body: Value) -> (u16, Value, Option<String>) {
    let resp = http
        .post(format!("{base}/v1/tasks"))
        .header("authorization", format!("Bearer {CANARY_AUTH}"))
        .header("x-request-id", "it-req-1")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let rid = resp.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap_or(Value::Null), rid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_end_to_end() {
    let (fake, fake_base) = start_fake().await;
    let http = reqwest::Client::new();
    let common = |listen: &str, service: &str| {
        vec![
            ("MULTIAGENT_LISTEN", listen.to_string()),
            ("MULTIAGENT_LLM_URL", format!("{fake_base}/v1")),
            ("MULTIAGENT_SERVICE_NAME", service.to_string()),
            ("MULTIAGENT_BREAKER_FAILURE_THRESHOLD", "2".into()),
            ("MULTIAGENT_BREAKER_RESET_TIMEOUT_MS", "1000".into()),
            ("MULTIAGENT_RETRY_MAX_ATTEMPTS", "2".into()),
            ("MULTIAGENT_RETRY_INITIAL_DELAY_MS", "10".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", fake_base.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ]
    };
    let worker_addr = free_addr();
    let mut env = common(&worker_addr, "it-worker");
    env.push(("MULTIAGENT_BACKEND_URL", fake_base.clone()));
    let mut worker = Proc::start("worker", &env);
    let coord_addr = free_addr();
    let mut env = common(&coord_addr, "it-coordinator");
    env.push(("MULTIAGENT_WORKER_URLS", format!("http://{worker_addr}")));
    let mut coord = Proc::start("coordinator", &env);
    let (wbase, cbase) = (format!("http://{worker_addr}"), format!("http://{coord_addr}"));

    wait_for("coordinator ready", Duration::from_secs(15), async || status_of(&http, &format!("{cbase}/health/ready")).await == 200).await;
    assert_eq!(status_of(&http, &format!("{wbase}/health/ready")).await, 200);

    // A task completes (read op, two subtasks, canary secrets in body and header).
    let task = json!({"type": "analysis", "input": "hello", "op": "read", "item_id": "7", "subtasks": 2, "password": CANARY_PW});
    let (status, body, rid) = post_task(&http, &cbase, task).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["results"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(body["results"][0]["backend"]["source"], "backend", "{body}");
    assert_eq!(rid.as_deref(), Some("it-req-1"));
    let streamed = json!({"type": "code_generation", "input": "x", "op": "write", "stream": true});
    let (status, body, _) = post_task(&http, &cbase, streamed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["output"], "streamed", "{body}");

    // LLM outage: the breaker opens (gauge 1), ready goes 503, calls fail fast with 503.
    fake.llm_fail.store(true, Ordering::SeqCst);
    let (status, _, _) = post_task(&http, &cbase, json!({"type": "analysis", "input": "a"})).await;
    assert_eq!(status, 502);
    let calls_before = fake.llm_calls.load(Ordering::SeqCst);
    let (status, body, _) = post_task(&http, &cbase, json!({"type": "analysis", "input": "b"})).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("llm_circuit_open")));
    assert_eq!(fake.llm_calls.load(Ordering::SeqCst), calls_before, "open breaker must not call the LLM");
    assert!(metrics(&http, &cbase).await.contains("multiagent_circuit_breaker_state{dependency=\"llm\"} 1"));
    assert_eq!(status_of(&http, &format!("{cbase}/health/ready")).await, 503);

    // Recovery: half-open after ~1 s, the trial succeeds, the breaker closes.
    fake.llm_fail.store(false, Ordering::SeqCst);
    wait_for("breaker closed again", Duration::from_secs(8), async || {
        let (status, _, _) = post_task(&http, &cbase, json!({"type": "analysis", "input": "c"})).await;
        status == 200 && metrics(&http, &cbase).await.contains("multiagent_circuit_breaker_state{dependency=\"llm\"} 0")
    })
    .await;
    assert_eq!(status_of(&http, &format!("{cbase}/health/ready")).await, 200);

    let cm = metrics(&http, &cbase).await;
    let wm = metrics(&http, &wbase).await;
    for name in [
        "multiagent_tasks_total{status=\"completed\"}",
        "multiagent_tasks_total{status=\"failed\"}",
        "multiagent_task_duration_seconds_bucket",
        "multiagent_active_workers 1",
        "multiagent_llm_calls_total{provider=\"openai\",model=\"gpt-4o-mini\",outcome=\"rejected\"}",
        "multiagent_circuit_breaker_transitions_total{dependency=\"llm\",from=\"half_open\",to=\"closed\"} 1",
        "multiagent_retries_total{dependency=\"llm\"} 1",
        "multiagent_message_latency_seconds_bucket",
        "http_requests_total{method=\"POST\",route=\"/v1/tasks\",status=\"200\"}",
        "http_request_duration_seconds_bucket",
    ] {
        assert!(cm.contains(name), "coordinator metrics lack {name}\n{cm}");
    }
    for name in [
        "multiagent_worker_processing_duration_seconds_bucket",
        "multiagent_cache_hits_total{cache=\"backend\"} 0",
        "multiagent_cache_misses_total{cache=\"backend\"} 0",
        "multiagent_circuit_breaker_state{dependency=\"backend\"} 0",
        "multiagent_messages_total{type=\"task\"}",
        "multiagent_llm_call_duration_seconds_bucket",
    ] {
        assert!(wm.contains(name), "worker metrics lack {name}\n{wm}");
    }

    // Graceful shutdown flushes traces and exits 0.
    assert_eq!(coord.terminate(), Some(0), "coordinator exit code");
    assert_eq!(worker.terminate(), Some(0), "worker exit code");
    let traces = fake.traces.lock().unwrap().concat();
    for span in ["ExecuteTask", "PlanTask", "LLMCall", "AssignToWorker", "AggregateResults", "WorkerProcessTask", "BackendCall"] {
        assert!(traces.windows(span.len()).any(|w| w == span.as_bytes()), "no {span} span exported");
    }
    assert!(traces.windows(9).any(|w| w == b"it-worker"), "service name not exported");

    for (p, is_coord) in [(&coord, true), (&worker, false)] {
        let lines = p.lines.lock().unwrap();
        assert!(lines.iter().any(|l| l.contains("\"message\":\"listening\"")), "no listening line");
        for line in lines.iter() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            for field in ["timestamp", "level", "message", "service"] {
                assert!(v.get(field).is_some(), "{field} missing: {line}");
            }
            assert!(!line.contains(CANARY_PW) && !line.contains(CANARY_AUTH), "secret leaked: {line}");
        }
        let req_line = lines.iter().find(|l| l.contains("request received") && l.contains("/v1/")).expect("request line");
        let v: Value = serde_json::from_str(req_line).unwrap();
        assert_eq!(v["request_id"], "it-req-1", "{req_line}");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{req_line}");
        if is_coord {
            assert_eq!(v["headers"]["authorization"], "[REDACTED]", "{req_line}");
        }
    }
}
