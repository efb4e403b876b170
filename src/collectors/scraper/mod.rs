//! The metrics scraper: a background task that scrapes every target each
//! interval, concurrently, and records into a shared [`MetricStore`].
//!
//! - All targets of one round are recorded at the round's start offset (as
//!   Prometheus stamps a scrape with its start), so series of different
//!   services line up per round.
//! - A failed scrape (refused, timeout, HTTP status, bad body) is recorded in
//!   the store and never stops the task.
//! - The store sits behind a std `Mutex`: it is locked only to record a
//!   parsed round or to copy it out, never across an `.await`.
//! - [`ScraperHandle::stop`] scrapes one last time, ends the task and hands the
//!   store back. Dropping the handle also ends the task (after that last scrape).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::exposition::{self, Exposition, Format};
use super::store::MetricStore;
use crate::clock::RunClock;

/// What we ask for: OpenMetrics first, Prometheus text 0.0.4 as fallback.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

/// Largest body read from a target; a larger one is a scrape error.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Shortest interval the scraper accepts; shorter ones are raised to it.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One `/metrics` endpoint and the service name its series are stored under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ScrapeTarget {
    pub service: String,
    pub url: String,
}

/// Why a scrape failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeFailure {
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    #[error("GET {url} failed: {detail}")]
    Request { url: String, detail: String, timeout: bool },
    #[error("GET {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("body from {url} is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge { url: String },
    #[error("body from {url} is not UTF-8")]
    NotUtf8 { url: String },
}

impl ScrapeFailure {
    /// A short class for counting failures by cause in the report.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Client(_) => "client",
            Self::Request { timeout: true, .. } => "timeout",
            Self::Request { .. } => "connection",
            Self::Status { .. } => "http_status",
            Self::TooLarge { .. } => "size_cap",
            Self::NotUtf8 { .. } => "not_utf8",
        }
    }
}

/// An HTTP client for scraping: whole-request timeout, no proxies (targets are
/// local; an environment proxy must not intercept them).
pub fn client(timeout: Duration) -> Result<reqwest::Client, ScrapeFailure> {
    reqwest::Client::builder().timeout(timeout).no_proxy().build().map_err(|e| ScrapeFailure::Client(error_chain(&e)))
}

/// Scrapes one target once and parses the body (lines that do not parse are
/// in [`Exposition::errors`]). For on-demand use such as `lint`.
pub async fn scrape_once(client: &reqwest::Client, target: &ScrapeTarget) -> Result<Exposition, ScrapeFailure> {
    let (text, content_type) = fetch_text(client, &target.url, ACCEPT).await?;
    let format = content_type.as_deref().and_then(Format::from_content_type).unwrap_or_else(|| Format::sniff(&text));
    Ok(exposition::parse(&text, format))
}

/// GETs `url` asking for `accept` and returns the body (at most
/// [`MAX_BODY_BYTES`], UTF-8) with its `Content-Type`, if any.
pub async fn fetch_text(client: &reqwest::Client, url: &str, accept: &str) -> Result<(String, Option<String>), ScrapeFailure> {
    let request_failed =
        |e: reqwest::Error| ScrapeFailure::Request { url: url.to_owned(), detail: error_chain(&e), timeout: e.is_timeout() };
    let mut response = client.get(url).header("accept", accept).send().await.map_err(request_failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ScrapeFailure::Status { url: url.to_owned(), status: status.as_u16() });
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ScrapeFailure::TooLarge { url: url.to_owned() });
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| ScrapeFailure::NotUtf8 { url: url.to_owned() })?;
    Ok((text, content_type))
}

/// `e` and its sources, joined: reqwest's own message alone hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// State shared by the background task and the handle.
struct Shared {
    targets: Vec<ScrapeTarget>,
    client: Result<reqwest::Client, String>,
    clock: RunClock,
    store: Mutex<MetricStore>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, MetricStore> {
        // A panic elsewhere while recording must not cost the run its metrics.
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Scrapes every target concurrently and records the round at its start offset.
    async fn round(&self) {
        let at = self.clock.now();
        let results = match &self.client {
            Ok(client) => futures::future::join_all(self.targets.iter().map(|t| scrape_once(client, t))).await,
            Err(e) => self.targets.iter().map(|_| Err(ScrapeFailure::Client(e.clone()))).collect(),
        };
        let mut store = self.store();
        for (target, result) in self.targets.iter().zip(results) {
            match result {
                Ok(exposition) => {
                    tracing::trace!(service = %target.service, samples = exposition.samples.len(), "scraped");
                    store.record(&target.service, at, exposition);
                }
                Err(failure) => store.record_error(&target.service, at, failure.reason(), failure.to_string()),
            }
        }
    }
}

/// Controls a running scraper; see the module doc.
pub struct ScraperHandle {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts scraping `targets` every `interval` (at least [`MIN_INTERVAL`]),
/// with a request timeout equal to the interval. Must be called inside a
/// tokio runtime. The first round starts immediately.
pub fn spawn(targets: Vec<ScrapeTarget>, interval: Duration, clock: RunClock) -> ScraperHandle {
    spawn_into(targets, interval, clock, MetricStore::new())
}

/// [`spawn`], recording into `store` (e.g. [`MetricStore::with_quiet_errors`]).
pub fn spawn_into(targets: Vec<ScrapeTarget>, interval: Duration, clock: RunClock, mut store: MetricStore) -> ScraperHandle {
    let interval = interval.max(MIN_INTERVAL);
    store.set_interval(interval);
    let client = client(interval).map_err(|e| {
        tracing::error!(error = %e, "scraper has no HTTP client; every scrape will fail");
        e.to_string()
    });
    let shared = Arc::new(Shared { targets, client, clock, store: Mutex::new(store) });
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(crate::signals::component("metrics scraper", run(Arc::clone(&shared), interval, stop_rx)));
    ScraperHandle { shared, stop: Some(stop_tx), task: Some(task) }
}

async fn run(shared: Arc<Shared>, interval: Duration, mut stop: oneshot::Receiver<()>) {
    tracing::debug!(targets = shared.targets.len(), ?interval, "scraper started");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // Stop requested, or the handle was dropped.
            _ = &mut stop => break,
            _ = ticker.tick() => shared.round().await,
        }
    }
    shared.round().await;
    tracing::debug!("scraper stopped");
}

impl ScraperHandle {
    /// Scrapes every target once now, recorded like a scheduled round.
    pub async fn scrape_now(&self) {
        self.shared.round().await;
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> MetricStore {
        self.shared.store().clone()
    }

    pub fn targets(&self) -> &[ScrapeTarget] {
        &self.shared.targets
    }

    /// Scrapes one final time, stops the task and returns the store.
    pub async fn stop(mut self) -> MetricStore {
        if let Some(stop) = self.stop.take() {
            // Err means the task already ended; nothing to signal.
            let _ = stop.send(());
        }
        let joined = match self.task.take() {
            Some(task) => task.await,
            None => Ok(()),
        };
        if let Err(e) = joined {
            tracing::error!(error = %e, "scraper task failed");
        }
        std::mem::take(&mut *self.shared.store())
    }
}

#[cfg(test)]
mod tests {
    //! Scraper tests against a tiny axum server on port 0 serving corpus files,
    //! a counter, an HTTP 500, a slow endpoint and a body with a bad line.

    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;

    use super::*;
    use crate::clock::Window;
    use crate::collectors::store::Selector;

    const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    const RUST_CLIENT: &str = include_str!("../../../fixtures/expositions/rust-prometheus-client.txt");
    const PROMETHEUS: &str = include_str!("../../../fixtures/expositions/prometheus-self.txt");
    const PYTHON_OM: &str = include_str!("../../../fixtures/expositions/python-client-openmetrics.txt");

    #[derive(Default)]
    struct Seen {
        accepts: Mutex<Vec<String>>,
        hits: AtomicU64,
    }

    fn remember(seen: &Seen, headers: &HeaderMap) {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        seen.accepts.lock().unwrap().push(accept);
    }

    async fn serve() -> (SocketAddr, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route(
                "/om",
                get(|State(s): State<Arc<Seen>>, h: HeaderMap| async move {
                    remember(&s, &h);
                    ([(header::CONTENT_TYPE, OM)], RUST_CLIENT)
                }),
            )
            .route("/text", get(|| async { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], PROMETHEUS) }))
            .route("/untyped-body", get(|| async { PYTHON_OM.as_bytes() }))
            .route(
                "/count",
                get(|State(s): State<Arc<Seen>>| async move {
                    let n = s.hits.fetch_add(1, Ordering::SeqCst) + 1;
                    ([(header::CONTENT_TYPE, OM)], format!("# TYPE hits counter\nhits_total {n}\n# EOF\n"))
                }),
            )
            .route("/garbage", get(|| async { "ok 1\nbad{ 2\n" }))
            .route("/status500", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late 1\n"
                }),
            )
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, seen)
    }

    /// A loopback port with nothing listening on it.
    async fn refused_port() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }

    fn target(service: &str, url: String) -> ScrapeTarget {
        ScrapeTarget { service: service.into(), url }
    }

    fn series_of(store: &MetricStore, service: &str) -> usize {
        store.all_series().filter(|(k, _)| k.service == service).count()
    }

    #[tokio::test]
    async fn scrapes_all_targets_each_round_records_failures_and_stops_with_a_final_scrape() {
        let (addr, seen) = serve().await;
        let dead = refused_port().await;
        let url = |path: &str| format!("http://{addr}{path}");
        let targets = vec![
            target("om", url("/om")),
            target("text", url("/text")),
            target("sniffed", url("/untyped-body")),
            target("count", url("/count")),
            target("garbage", url("/garbage")),
            target("broken", url("/status500")),
            target("slow", url("/slow")),
            target("refused", format!("http://127.0.0.1:{dead}/metrics")),
        ];
        let clock = RunClock::start();
        let handle = spawn(targets, Duration::from_millis(100), clock);
        tokio::time::sleep(Duration::from_millis(250)).await;
        handle.scrape_now().await;
        let live = handle.snapshot();
        let store = handle.stop().await;

        let rounds = store.scrape_times("om").len();
        assert!(rounds >= 4, "{rounds} rounds");
        assert!(rounds > live.scrape_times("om").len(), "stop() scraped once more");
        // One offset per round, shared by every service.
        assert_eq!(store.scrape_times("om"), store.scrape_times("text"));
        // Whole corpus files arrive intact, whatever the content type said.
        assert_eq!(series_of(&store, "om"), 25);
        assert_eq!(series_of(&store, "text"), 324);
        assert_eq!(series_of(&store, "sniffed"), 55);
        assert!(store.family_present("om", "multiagent_tasks"));
        // Each scrape bumped the counter once: increase = rounds - 1.
        let hits = store.scrape_times("count").len() as f64;
        let all = Window::new(Duration::ZERO, clock.now());
        assert_eq!(store.increase(&Selector::new("hits_total"), all).unwrap().value, hits - 1.0);
        // Failures are recorded per round, never fatal.
        let errors = |svc: &str| store.scrape_errors().iter().filter(|e| e.service == svc).count();
        assert_eq!(errors("broken"), rounds);
        assert_eq!(errors("slow"), rounds);
        assert_eq!(errors("refused"), rounds);
        assert_eq!(errors("om"), 0);
        assert!(store.scrape_errors().iter().any(|e| e.message.contains("HTTP 500")));
        // The bad line is reported each round; the good one is kept.
        let bad: Vec<_> = store.parse_errors().iter().filter(|e| e.service == "garbage").collect();
        assert_eq!(bad.len(), rounds);
        assert_eq!(bad[0].error.line, 2);
        assert_eq!(series_of(&store, "garbage"), 1);
        // We asked for OpenMetrics with a text fallback.
        let accepts = seen.accepts.lock().unwrap();
        assert_eq!(accepts.len(), rounds);
        assert!(accepts.iter().all(|a| a == ACCEPT));
    }

    #[tokio::test]
    async fn scrape_once_returns_the_exposition_or_a_typed_failure() {
        let (addr, _) = serve().await;
        let client = client(Duration::from_millis(300)).unwrap();
        let ok = scrape_once(&client, &target("t", format!("http://{addr}/text"))).await.unwrap();
        assert_eq!((ok.samples.len(), ok.errors.len()), (324, 0));
        let status = scrape_once(&client, &target("t", format!("http://{addr}/status500"))).await;
        assert!(matches!(status, Err(ScrapeFailure::Status { status: 500, .. })), "{status:?}");
        let dead = refused_port().await;
        let refused = scrape_once(&client, &target("t", format!("http://127.0.0.1:{dead}/"))).await;
        assert!(matches!(refused, Err(ScrapeFailure::Request { timeout: false, .. })), "{refused:?}");
        let slow = scrape_once(&client, &target("t", format!("http://{addr}/slow"))).await;
        assert!(matches!(slow, Err(ScrapeFailure::Request { timeout: true, .. })), "{slow:?}");
        assert_eq!(slow.unwrap_err().reason(), "timeout");
    }

    #[tokio::test]
    async fn zero_interval_and_no_targets_do_not_panic() {
        let handle = spawn(Vec::new(), Duration::ZERO, RunClock::start());
        tokio::time::sleep(Duration::from_millis(30)).await;
        let store = handle.stop().await;
        assert_eq!(store.services().count(), 0);
    }
}
