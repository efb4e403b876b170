//! The OpenAI-compatible LLM mock: `POST /v1/chat/completions` (JSON or SSE),
//! `GET /v1/models`, everything else 404 — every request journaled and
//! subject to the active faults. It runs its own accept loop (hyper http1 +
//! an axum router) so that it can (a) close one connection without a
//! response for `reset` and (b) drop every connection, hanging ones included,
//! at shutdown — neither is possible with `axum::serve` or wiremock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use super::config::OpenAiMockConfig;
use super::engine::{Decisive, Stage};
use super::journal::{EntryGuard, JournalEntry, Outcome};
use super::openai::{self, ChunkStream, CompletionMeta};
use super::{FaultError, MockCore};

/// Largest request body read (bigger bodies are answered 400).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Lets a handler close its own connection without answering (`reset`).
#[derive(Clone, Default)]
struct ConnKill(Arc<Notify>);

#[derive(Clone)]
struct LlmState {
    core: Arc<MockCore>,
    model: String,
    answers: Arc<Vec<String>>,
    content_rng: Arc<Mutex<StdRng>>,
    next_id: Arc<AtomicU64>,
}

impl LlmState {
    fn pick_answer(&self) -> String {
        let mut rng = self.content_rng.lock().unwrap_or_else(|p| p.into_inner());
        let i = rng.random_range(0..self.answers.len().max(1));
        self.answers.get(i).cloned().unwrap_or_default()
    }

    fn meta(&self, chat: Option<&openai::ChatRequest>) -> CompletionMeta {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        CompletionMeta {
            id: format!("chatcmpl-{}-{n:06}", self.core.name),
            created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            model: chat.and_then(|c| c.model.clone()).unwrap_or_else(|| self.model.clone()),
            prompt_tokens: chat.map_or(0, |c| c.prompt_tokens),
        }
    }
}

/// A running LLM mock.
pub(crate) struct LlmServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn load_answers(name: &str, cfg: &OpenAiMockConfig) -> Result<Vec<String>, FaultError> {
    let Some(path) = &cfg.responses_file else {
        return Ok(openai::DEFAULT_ANSWERS.iter().map(|s| s.to_string()).collect());
    };
    let err = |reason: String| FaultError::File { mock: name.into(), path: path.clone(), reason };
    let bytes = tokio::fs::read(path).await.map_err(|e| err(e.to_string()))?;
    let answers: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| err(format!("expected a JSON array of strings: {e}")))?;
    if answers.iter().all(|a| a.trim().is_empty()) {
        return Err(err("the list of answers is empty".into()));
    }
    Ok(answers)
}

impl LlmServer {
    pub async fn start(core: Arc<MockCore>, cfg: &OpenAiMockConfig, content_seed: u64) -> Result<Self, FaultError> {
        let answers = load_answers(&core.name, cfg).await?;
        let listener = TcpListener::bind((core.bind, 0)).await.map_err(|source| FaultError::Bind { mock: core.name.clone(), source })?;
        let addr = listener.local_addr().map_err(|source| FaultError::Bind { mock: core.name.clone(), source })?;
        let state = LlmState {
            core,
            model: cfg.model.clone(),
            answers: Arc::new(answers),
            content_rng: Arc::new(Mutex::new(StdRng::seed_from_u64(content_seed))),
            next_id: Arc::new(AtomicU64::new(1)),
        };
        let router = Router::new().fallback(handle).with_state(state);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router, stop_rx));
        Ok(Self { addr, stop, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and drops every open connection (hanging requests included).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!("LLM mock accept loop ended abnormally: {e}");
        }
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    while conns.try_join_next().is_some() {}
                    conns.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!("LLM mock accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    // Aborting the tasks drops their connections and in-flight handlers (whose
    // journal guards record the entries).
    conns.shutdown().await;
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let kill = ConnKill::default();
    let ext = kill.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ext.clone());
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        r = conn => if let Err(e) = r {
            tracing::debug!("LLM mock connection ended: {e}");
        },
        // Dropping `conn` closes the socket with nothing written: the client sees
        // the connection closed before any response.
        _ = kill.0.notified() => tracing::debug!("LLM mock connection closed by a reset fault"),
    }
}

enum Endpoint {
    Chat,
    Models,
    Unknown,
}

async fn handle(State(st): State<LlmState>, req: Request) -> Response {
    let core = st.core.clone();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let entry = JournalEntry::arriving(core.clock.now(), &method, &path, req.headers());
    let mut guard = EntryGuard::new(core.journal.clone(), core.clock, entry);
    let kill = req.extensions().get::<ConnKill>().cloned();
    let endpoint = match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "/v1/chat/completions") => Endpoint::Chat,
        ("GET", "/v1/models") => Endpoint::Models,
        _ => Endpoint::Unknown,
    };

    let chat = if let Endpoint::Chat = endpoint {
        let parsed = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
            Ok(body) => openai::parse_chat(&body),
            Err(e) => Err(format!("Could not read the request body: {e}")),
        };
        match parsed {
            Ok(c) => Some(c),
            Err(msg) => {
                guard.finish(Some(400), Outcome::BadRequest);
                return openai::error_response(400, "invalid_request_error", None, &msg);
            }
        }
    } else {
        None
    };
    let stream = chat.as_ref().is_some_and(|c| c.stream);
    guard.entry().stream = stream;

    let d = core.engine.decide(&method, &path, Stage::All, stream);
    guard.entry().fault = d.fault.clone();
    match d.decisive {
        Some(Decisive::Reset) => {
            guard.finish(None, Outcome::Reset);
            if let Some(kill) = kill {
                kill.0.notify_one();
                // The connection task drops this handler together with the connection.
                std::future::pending::<()>().await;
            }
            return openai::error_response(500, "server_error", None, "reset fault without a connection");
        }
        Some(Decisive::Hang(dur)) => {
            // Dropped (and journaled with no status) if the mock shuts down first.
            guard.entry().outcome = Outcome::Hang;
            tokio::time::sleep(dur).await;
            guard.finish(Some(504), Outcome::Hang);
            return openai::error_response(504, "timeout", None, "The mock hung for the configured time (injected fault).");
        }
        _ => {}
    }
    if !d.latency.is_zero() {
        tokio::time::sleep(d.latency).await;
    }
    match (d.decisive, endpoint) {
        (Some(Decisive::Error(status)), _) => {
            guard.finish(Some(status), Outcome::Error);
            openai::injected_error(status)
        }
        (Some(Decisive::RateLimit(after)), _) => {
            guard.finish(Some(429), Outcome::RateLimited);
            openai::rate_limited(after)
        }
        (Some(Decisive::Malformed), _) => {
            guard.finish(Some(200), Outcome::Malformed);
            openai::malformed_response(&st.meta(chat.as_ref()), stream)
        }
        (_, Endpoint::Chat) => {
            let meta = st.meta(chat.as_ref());
            let answer = st.pick_answer();
            if stream {
                guard.entry().status = Some(200);
                ChunkStream::new(meta, &answer, d.token_delay, d.truncate_after, guard).into_response()
            } else {
                guard.finish(Some(200), Outcome::Ok);
                axum::Json(openai::completion(&meta, &answer)).into_response()
            }
        }
        (_, Endpoint::Models) => {
            guard.finish(Some(200), Outcome::Ok);
            axum::Json(openai::models(&st.model)).into_response()
        }
        (_, Endpoint::Unknown) => {
            guard.finish(Some(404), Outcome::NotFound);
            let msg = format!("Unknown request URL: {method} {path}.");
            openai::error_response(404, "invalid_request_error", Some("unknown_url"), &msg)
        }
    }
}
