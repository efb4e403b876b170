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

#[cfg(test)]
mod tests;

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    Request { url: String, detail: String },
    #[error("GET {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("body from {url} is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge { url: String },
    #[error("body from {url} is not UTF-8")]
    NotUtf8 { url: String },
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
    let request_failed = |e: reqwest::Error| ScrapeFailure::Request { url: url.to_owned(), detail: error_chain(&e) };
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
                Err(failure) => store.record_error(&target.service, at, failure.to_string()),
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
pub fn spawn_into(targets: Vec<ScrapeTarget>, interval: Duration, clock: RunClock, store: MetricStore) -> ScraperHandle {
    let interval = interval.max(MIN_INTERVAL);
    let client = client(interval).map_err(|e| {
        tracing::error!(error = %e, "scraper has no HTTP client; every scrape will fail");
        e.to_string()
    });
    let shared = Arc::new(Shared { targets, client, clock, store: Mutex::new(store) });
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(Arc::clone(&shared), interval, stop_rx));
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
