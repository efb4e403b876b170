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
    openai::read_answers(path).map_err(|reason| FaultError::File { mock: name.into(), path: path.clone(), reason })
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
        let task = tokio::spawn(crate::signals::component("LLM mock", accept_loop(listener, router, stop_rx)));
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

impl Endpoint {
    fn of(method: &str, path: &str) -> Self {
        match (method, path.trim_end_matches('/')) {
            ("POST", "/v1/chat/completions") => Endpoint::Chat,
            ("GET", "/v1/models") => Endpoint::Models,
            _ => Endpoint::Unknown,
        }
    }
}

/// The chat request of `POST /v1/chat/completions` (none for other endpoints).
async fn read_chat(endpoint: &Endpoint, req: Request) -> Result<Option<openai::ChatRequest>, String> {
    let Endpoint::Chat = endpoint else { return Ok(None) };
    match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(body) => openai::parse_chat(&body).map(Some),
        Err(e) => Err(format!("Could not read the request body: {e}")),
    }
}

async fn handle(State(st): State<LlmState>, req: Request) -> Response {
    let core = st.core.clone();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let entry = JournalEntry::arriving(core.clock.now(), &method, &path, req.headers());
    let mut guard = EntryGuard::new(core.journal.clone(), core.clock, entry);
    let kill = req.extensions().get::<ConnKill>().cloned();
    let endpoint = Endpoint::of(&method, &path);

    let chat = match read_chat(&endpoint, req).await {
        Ok(chat) => chat,
        Err(msg) => {
            guard.finish(Some(400), Outcome::BadRequest);
            return openai::error_response(400, "invalid_request_error", None, &msg);
        }
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
                guard.entry().tokens = Some(meta.tokens(openai::count_tokens(&answer)));
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

#[cfg(test)]
mod tests {
    //! End-to-end tests of the LLM mock: a real `MockSet` on loopback, driven with reqwest.

    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use futures::StreamExt;
    use serde_json::{Value, json};

    use crate::faults::test_util::{client, shutdown_drops_hanging, spec};
    use crate::faults::*;

    async fn start_llm(cfg: &str) -> (MockSet, String) {
        let mut m = BTreeMap::new();
        m.insert("llm".to_string(), serde_norway::from_str::<MockConfig>(cfg).unwrap());
        let set = MockSet::start(&m, RunClock::start(), 7).await.unwrap();
        let url = set.url("llm").unwrap();
        (set, url)
    }

    fn chat_body(stream: bool) -> Value {
        json!({ "model": "gpt-test", "stream": stream, "messages": [{ "role": "user", "content": "say three words" }] })
    }

    async fn chat(c: &reqwest::Client, url: &str, stream: bool) -> reqwest::Result<reqwest::Response> {
        c.post(format!("{url}/v1/chat/completions"))
            .header("x-request-id", "req-42")
            .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .json(&chat_body(stream))
            .send()
            .await
    }

    /// Reads an SSE body; returns the `data:` payloads and whether the body ended cleanly.
    async fn sse(resp: reqwest::Response) -> (Vec<String>, bool) {
        let mut text = String::new();
        let mut body = resp.bytes_stream();
        let mut clean = true;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(b) => text.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    clean = false;
                    break;
                }
            }
        }
        let data = text.lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_string).collect();
        (data, clean)
    }

    #[tokio::test]
    async fn completion_models_404_and_400_are_journaled() {
        let (set, url) = start_llm("kind: openai").await;
        let c = client(Duration::from_secs(5));
        let r = chat(&c, &url, false).await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt-test");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(openai::DEFAULT_ANSWERS.contains(&content));
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["completion_tokens"], content.split_whitespace().count());

        let m: Value = c.get(format!("{url}/v1/models")).send().await.unwrap().json().await.unwrap();
        assert_eq!(m["data"][0]["id"], "gpt-4o-mini");
        let r = c.get(format!("{url}/v2/nothing")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = c.post(format!("{url}/v1/chat/completions")).body("{not json").send().await.unwrap();
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error");

        let j = set.journal("llm");
        let outcomes: Vec<_> = j.iter().map(|e| (e.outcome, e.status)).collect();
        assert_eq!(
            outcomes,
            [(Outcome::Ok, Some(200)), (Outcome::Ok, Some(200)), (Outcome::NotFound, Some(404)), (Outcome::BadRequest, Some(400))]
        );
        assert_eq!(j[0].request_id.as_deref(), Some("req-42"));
        assert!(j[0].traceparent.as_deref().unwrap().starts_with("00-0af7"));
        assert!(j.iter().all(|e| e.done >= e.at && e.fault.is_none()));
        set.shutdown().await;
    }

    #[tokio::test]
    async fn streams_one_word_per_chunk_then_usage_and_done() {
        let (set, url) = start_llm("kind: openai\nresponses_file: ${FILE}".replace("${FILE}", &fixture()).as_str()).await;
        let c = client(Duration::from_secs(5));
        let r = chat(&c, &url, true).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let (data, clean) = sse(r).await;
        assert!(clean);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        let answers: Vec<String> = serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
        assert!(answers.contains(&text), "{text}");
        assert_eq!(chunks.len(), text.split_whitespace().count() + 1);
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["usage"]["completion_tokens"], text.split_whitespace().count());
        let j = set.journal("llm");
        assert_eq!((j[0].outcome, j[0].status, j[0].stream), (Outcome::Ok, Some(200), true));
        set.shutdown().await;
    }

    fn fixture() -> String {
        format!("{}/fixtures/llm/completions.json", env!("CARGO_MANIFEST_DIR"))
    }

    #[tokio::test]
    async fn error_rate_limit_and_malformed_are_visible_to_clients() {
        let (set, url) = start_llm("kind: openai").await;
        let c = client(Duration::from_secs(5));
        set.apply("llm", "outage", None, &spec("error: { status: 503 }")).unwrap();
        let r = chat(&c, &url, false).await.unwrap();
        assert_eq!(r.status(), 503);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "server_error");
        // Error beats rate_limit while both are active.
        set.apply("llm", "limit", None, &spec("rate_limit: { retry_after: 1500ms }")).unwrap();
        assert_eq!(chat(&c, &url, false).await.unwrap().status(), 503);
        set.clear("llm", "outage").unwrap();
        let r = chat(&c, &url, true).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "2");
        set.clear("llm", "limit").unwrap();

        set.apply("llm", "garbage", None, &spec("malformed: {}")).unwrap();
        let r = chat(&c, &url, false).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.json::<Value>().await.is_err());
        let (data, _) = sse(chat(&c, &url, true).await.unwrap()).await;
        assert!(serde_json::from_str::<Value>(&data[0]).is_err());
        set.clear("llm", "garbage").unwrap();
        assert_eq!(chat(&c, &url, false).await.unwrap().status(), 200);
        // A hang is bounded: after `for`, a waiting client gets 504.
        set.apply("llm", "brief", None, &spec("hang: { for: 150ms }")).unwrap();
        assert_eq!(chat(&c, &url, false).await.unwrap().status(), 504);

        let j = set.journal("llm");
        let got: Vec<_> = j.iter().map(|e| (e.outcome, e.fault.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Outcome::Error, Some("outage")),
                (Outcome::Error, Some("outage")),
                (Outcome::RateLimited, Some("limit")),
                (Outcome::Malformed, Some("garbage")),
                (Outcome::Malformed, Some("garbage")),
                (Outcome::Ok, None),
                (Outcome::Hang, Some("brief")),
            ]
        );
        assert_eq!(j.last().unwrap().status, Some(504));
        set.shutdown().await;
    }

    #[tokio::test]
    async fn latency_and_slow_stream_are_timed() {
        let (set, url) = start_llm("kind: openai\nlatency: 20ms").await;
        let c = client(Duration::from_secs(10));
        set.apply("llm", "slow", Some("POST /v1/chat/*".parse().unwrap()), &spec("latency: 200ms")).unwrap();
        let t = Instant::now();
        assert_eq!(c.get(format!("{url}/v1/models")).send().await.unwrap().status(), 200);
        assert!(t.elapsed() < Duration::from_millis(200), "route filter must spare /v1/models");
        let t = Instant::now();
        assert_eq!(chat(&c, &url, false).await.unwrap().status(), 200);
        assert!(t.elapsed() >= Duration::from_millis(220), "{:?}", t.elapsed());
        set.clear("llm", "slow").unwrap();

        set.apply("llm", "drip", None, &spec("slow_stream: { token_delay: 60ms }")).unwrap();
        let t = Instant::now();
        let (data, clean) = sse(chat(&c, &url, true).await.unwrap()).await;
        let words = data.len() - 2; // minus final chunk and [DONE]
        assert!(clean && words >= 3);
        assert!(t.elapsed() >= Duration::from_millis(60 * (words as u64 - 1)), "{:?} for {words}", t.elapsed());
        let j = set.journal("llm");
        assert!(j[1].elapsed() >= Duration::from_millis(220));
        assert_eq!(j[1].fault.as_deref(), Some("slow"));
        assert!(j[2].elapsed() >= Duration::from_millis(60 * (words as u64 - 1)));
        assert_eq!((j[2].fault.as_deref(), j[2].stream), (Some("drip"), true));
        set.shutdown().await;
    }

    #[tokio::test]
    async fn truncated_stream_stops_without_done() {
        let (set, url) = start_llm("kind: openai").await;
        let c = client(Duration::from_secs(5));
        set.apply("llm", "cut", None, &spec("truncate_stream: { after_tokens: 2 }")).unwrap();
        let r = chat(&c, &url, true).await.unwrap();
        assert_eq!(r.status(), 200);
        let (data, clean) = sse(r).await;
        assert!(!clean, "the body must end with an error");
        assert!(!data.iter().any(|d| d == "[DONE]"));
        assert_eq!(data.len(), 2, "{data:?}");
        // A non-streaming request is not affected.
        assert_eq!(chat(&c, &url, false).await.unwrap().status(), 200);
        let j = set.journal("llm");
        assert_eq!((j[0].outcome, j[0].status), (Outcome::Truncated, Some(200)));
        assert_eq!(j[1].outcome, Outcome::Ok);
        set.shutdown().await;
    }

    #[tokio::test]
    async fn reset_is_a_connection_error() {
        let (set, url) = start_llm("kind: openai").await;
        let c = client(Duration::from_secs(5));
        set.apply("llm", "rst", Some("POST".parse().unwrap()), &spec("reset: {}")).unwrap();
        let err = chat(&c, &url, false).await.unwrap_err();
        assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
        assert_eq!(c.get(format!("{url}/v1/models")).send().await.unwrap().status(), 200);
        let j = set.journal("llm");
        assert_eq!((j[0].outcome, j[0].status, j[0].fault.as_deref()), (Outcome::Reset, None, Some("rst")));
        set.shutdown().await;
    }

    #[tokio::test]
    async fn hang_times_out_the_client_and_shutdown_is_prompt() {
        let (set, url) = start_llm("kind: openai").await;
        set.apply("llm", "stuck", None, &spec("hang: { for: 30s }")).unwrap();
        let err = chat(&client(Duration::from_millis(300)), &url, false).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        // A second client waits without a timeout: shutdown must not wait for it.
        let request = async move { chat(&client(Duration::from_secs(60)), &url, true).await };
        let j = shutdown_drops_hanging(set, "llm", request).await;
        assert_eq!(j.len(), 2);
        assert!(j.iter().all(|e| e.outcome == Outcome::Hang && e.status.is_none()));
    }

    #[tokio::test]
    async fn bad_configs_and_faults_are_errors() {
        let mut m = BTreeMap::new();
        m.insert("llm".to_string(), serde_norway::from_str::<MockConfig>("kind: openai\nresponses_file: /nonexistent.json").unwrap());
        assert!(matches!(MockSet::start(&m, RunClock::start(), 1).await, Err(FaultError::InvalidMock { .. })));
        let (set, _) = start_llm("kind: openai").await;
        assert!(matches!(set.apply("nope", "f", None, &spec("reset: {}")), Err(FaultError::UnknownMock(_))));
        let e = set.apply("llm", "f", None, &spec("error: { ratio: 2 }")).unwrap_err();
        assert!(e.to_string().contains("ratio"), "{e}");
        assert!(!set.clear("llm", "never").unwrap());
        set.shutdown().await;
    }

    #[tokio::test]
    async fn one_set_runs_both_kinds_with_separate_journals() {
        let mut m = BTreeMap::new();
        m.insert("llm".to_string(), serde_norway::from_str::<MockConfig>("kind: openai").unwrap());
        m.insert("api".to_string(), serde_norway::from_str::<MockConfig>("kind: http\nroutes: [{method: GET, path: /ok}]").unwrap());
        let set = MockSet::start(&m, RunClock::start(), 3).await.unwrap();
        assert_eq!(set.names().collect::<Vec<_>>(), ["api", "llm"]);
        let (llm, api) = (set.url("llm").unwrap(), set.url("api").unwrap());
        assert_ne!(llm, api);
        assert_eq!(set.url("nope"), None);
        let c = client(Duration::from_secs(5));
        set.apply("api", "down", None, &spec("error: { status: 502 }")).unwrap();
        assert_eq!(c.get(format!("{api}/ok")).send().await.unwrap().status(), 502);
        assert_eq!(chat(&c, &llm, false).await.unwrap().status(), 200);
        let journals = set.shutdown().await;
        assert_eq!(journals["api"].entries[0].outcome, Outcome::Error);
        assert_eq!(journals["llm"].entries[0].outcome, Outcome::Ok);
        assert_eq!(journals["llm"].dropped, 0);
    }
}
