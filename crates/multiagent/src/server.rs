//! Process lifecycle shared by both roles: build telemetry, breakers and the HTTP client,
//! bind, serve with the common routes (`/health/live`, `/metrics`) and middleware, then
//! shut down gracefully on SIGTERM/SIGINT (drain briefly, flush traces).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::breaker::{BreakerConfig, CircuitBreaker, SystemClock};
use crate::config::{Config, Role};
use crate::http_obs::{self, HttpObs};
use crate::llm::{LlmClient, LlmSpanOptions};
use crate::metrics::Metrics;
use crate::mutant::{self, Mutant};
use crate::retry::RetryPolicy;
use crate::{coordinator, traces, worker};

/// How long in-flight requests may finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(2);

/// A failure that stops the process.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Trace(#[from] traces::TraceInitError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

impl RunError {
    /// 2 for configuration problems, 1 for runtime ones.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Trace(_) => 2,
            _ => 1,
        }
    }
}

/// What a role needs from the process to build its router.
pub struct Shared {
    pub cfg: Arc<Config>,
    pub http: reqwest::Client,
    pub metrics: Metrics,
}

impl Shared {
    /// A breaker for `dependency` reporting to metrics/logs, honouring breaker mutants.
    pub fn breaker(&self, dependency: &'static str) -> Arc<CircuitBreaker> {
        let cfg = BreakerConfig {
            failure_threshold: self.cfg.breaker.failure_threshold,
            reset_timeout: self.cfg.breaker.reset_timeout,
            never_opens: mutant::is(self.cfg.mutant, Mutant::BreakerNeverOpens),
            never_closes: mutant::is(self.cfg.mutant, Mutant::BreakerNeverCloses),
            keeps_abandoned_trial: mutant::is(self.cfg.mutant, Mutant::AbandonedTrialKept),
        };
        Arc::new(CircuitBreaker::new(dependency, cfg, Arc::new(SystemClock), Some(Arc::new(self.metrics.clone()))))
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        let mut p = RetryPolicy::new(self.cfg.retry, mutant::is(self.cfg.mutant, Mutant::RetryNoBackoff));
        p.no_jitter = mutant::is(self.cfg.mutant, Mutant::RetryNoJitter);
        p.retry_everything = mutant::is(self.cfg.mutant, Mutant::RetryNonRetryable);
        p
    }

    /// The LLM client of this process (LLM breaker + retry), with span options from the mutant.
    pub fn llm_client(&self, breaker: Arc<CircuitBreaker>, create_span: bool) -> LlmClient {
        LlmClient {
            http: self.http.clone(),
            endpoint: format!("{}/chat/completions", self.cfg.llm_url),
            model: self.cfg.llm_model.clone(),
            timeout: self.cfg.llm_timeout,
            breaker,
            policy: self.retry_policy(),
            metrics: self.metrics.clone(),
            span: LlmSpanOptions { create_span, error_status: !mutant::is(self.cfg.mutant, Mutant::NoErrorStatus) },
            mutant: self.cfg.mutant,
        }
    }

    /// Adds the common routes (`/health/live` unless the role serves its own)
    /// and the observability middleware to a role's router.
    pub fn finish_router(
        &self,
        router: Router,
        api_routes: &'static [(&'static str, &'static str)],
        propagate: bool,
        own_live: bool,
    ) -> Router {
        let mut router = if own_live { router } else { router.route("/health/live", get(|| async { Json(json!({"status": "alive"})) })) };
        if self.metrics.enabled() {
            router = router.route("/metrics", get(metrics_handler).with_state(self.metrics.clone()));
        }
        let obs = HttpObs {
            metrics: self.metrics.clone(),
            api_routes,
            propagate,
            leak_authorization: mutant::is(self.cfg.mutant, Mutant::LeakSecret),
            drop_headers: mutant::is(self.cfg.mutant, Mutant::DropLoggedHeaders),
            max_body: if mutant::is(self.cfg.mutant, Mutant::SmallBodyLimit) { 2048 } else { http_obs::MAX_BODY },
            request_id_label: mutant::is(self.cfg.mutant, Mutant::RequestIdLabel),
            cpu_burn: self.cfg.cpu_burn,
        };
        router
            .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))) })
            .layer(axum::middleware::from_fn_with_state(obs, http_obs::observe))
    }
}

async fn metrics_handler(State(metrics): State<Metrics>) -> Response {
    match metrics.render() {
        Some(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Moves open breakers to half_open on time, even without traffic.
pub fn spawn_breaker_ticker(breakers: Vec<Arc<CircuitBreaker>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            for b in &breakers {
                b.tick();
            }
        }
    })
}

/// Runs one role until a shutdown signal.
pub async fn run(cfg: Config) -> Result<(), RunError> {
    let cfg = Arc::new(cfg);
    let tracing_guard = traces::init(&cfg)?;
    let metrics = if cfg.metrics { Metrics::new(cfg.role, &cfg.llm_model, &cfg.worker_id, cfg.mutant) } else { Metrics::disabled() };
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let shared = Shared { cfg: cfg.clone(), http, metrics };
    let (router, tasks) = match cfg.role {
        Role::Coordinator => coordinator::build(&shared),
        Role::Worker => worker::build(&shared),
    };
    let listener = match tokio::net::TcpListener::bind(cfg.listen).await {
        Ok(l) => l,
        Err(source) => {
            tasks.iter().for_each(JoinHandle::abort);
            tracing_guard.shutdown().await;
            return Err(RunError::Bind { addr: cfg.listen, source });
        }
    };
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(addr = %addr, role = cfg.role.as_str(), "listening");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(());
    });
    let drained = async {
        if stop_rx.await.is_ok() {
            tokio::time::sleep(DRAIN).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = server.into_future() => r.map_err(RunError::Serve),
        _ = drained => {
            tracing::warn!(drain_ms = DRAIN.as_millis() as u64, "in-flight requests did not finish in time");
            Ok(())
        }
    };
    tasks.iter().for_each(JoinHandle::abort);
    tracing::info!("shutting down");
    tracing_guard.shutdown().await;
    result
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown signal received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutdown signal received"),
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT will stop the server")
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!(signal = "SIGINT", "shutdown signal received");
    } else {
        std::future::pending::<()>().await;
    }
}
