//! Fault-injecting mocks placed in front of the stack under test: an
//! OpenAI-compatible LLM provider (own axum/hyper server, SSE streaming) and
//! HTTP backend APIs (wiremock). Faults are switched at runtime per mock
//! ([`MockSet::apply`] / [`MockSet::clear`]), drawn from an RNG seeded with the
//! run seed and the mock name, and every request lands in a timestamped
//! [`JournalEntry`].
//!
//! ```text
//! MockSet ── name ──> Running { MockCore { FaultEngine, Journal }, server }
//!                      server = llm::LlmServer | backend::BackendServer
//! ```

mod backend;
mod config;
mod engine;
mod journal;
mod latency;
mod llm;
mod openai;
mod route;
mod validate;

#[cfg(test)]
mod test_util;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use config::{
    ErrorFault, FaultSpec, HangFault, HttpMockConfig, MockConfig, OpenAiMockConfig, RateLimitFault, RatioFault, RouteConfig,
    SlowStreamFault, TruncateStreamFault,
};
pub use engine::derive_seed;
pub use journal::{DEFAULT_JOURNAL_CAPACITY, JournalEntry, JournalSnapshot, Outcome, TokenCount};
pub use latency::{Hd, Latency, parse_duration};
pub use route::{PathPattern, RouteError, RouteFilter};
pub use validate::{validate, validate_mock, validate_route};

use crate::clock::RunClock;
use engine::FaultEngine;
use journal::Journal;

/// Why a mock could not be started or a fault not applied.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("unknown mock {0:?}")]
    UnknownMock(String),
    #[error("mock {mock:?}: invalid configuration: {}", problems.join("; "))]
    InvalidMock { mock: String, problems: Vec<String> },
    #[error("mock {mock:?}: fault {fault:?} is invalid: {}", problems.join("; "))]
    InvalidFault { mock: String, fault: String, problems: Vec<String> },
    #[error("mock {mock:?}: cannot listen on 127.0.0.1: {source}")]
    Bind {
        mock: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mock {mock:?}: cannot use {}: {reason}", path.display())]
    File { mock: String, path: PathBuf, reason: String },
}

/// What every mock shares with its request handlers.
#[derive(Debug)]
pub(crate) struct MockCore {
    pub name: String,
    /// Address the mock listens on (loopback, or the Docker network's gateway).
    pub bind: std::net::IpAddr,
    pub clock: RunClock,
    pub engine: FaultEngine,
    pub journal: Arc<Journal>,
}

enum Server {
    Llm(llm::LlmServer),
    Http(backend::BackendServer),
}

struct Running {
    config: MockConfig,
    core: Arc<MockCore>,
    url: String,
    server: Server,
}

/// All mocks of a run. Dropping it stops them too, but [`MockSet::shutdown`]
/// also returns the final journals.
pub struct MockSet {
    clock: RunClock,
    mocks: BTreeMap<String, Running>,
}

impl MockSet {
    /// Starts every mock on 127.0.0.1 with an OS-assigned port.
    pub async fn start(configs: &BTreeMap<String, MockConfig>, clock: RunClock, seed: u64) -> Result<MockSet, FaultError> {
        Self::start_on(configs, clock, seed, std::net::Ipv4Addr::LOCALHOST.into()).await
    }

    /// Starts every mock on `bind` (containers reach the host at their
    /// network's gateway) with an OS-assigned port.
    pub async fn start_on(
        configs: &BTreeMap<String, MockConfig>,
        clock: RunClock,
        seed: u64,
        bind: std::net::IpAddr,
    ) -> Result<MockSet, FaultError> {
        let mut set = MockSet { clock, mocks: BTreeMap::new() };
        for (name, config) in configs {
            let problems = validate_mock(config);
            if !problems.is_empty() {
                return Err(FaultError::InvalidMock { mock: name.clone(), problems });
            }
            let baseline = match config {
                MockConfig::Openai(c) => c.latency,
                MockConfig::Http(c) => c.latency,
            };
            let core = Arc::new(MockCore {
                name: name.clone(),
                bind,
                clock,
                engine: FaultEngine::new(derive_seed(seed, name), baseline),
                journal: Arc::new(Journal::new(DEFAULT_JOURNAL_CAPACITY)),
            });
            // On error `set` drops and stops the mocks started so far.
            let (server, url) = match config {
                MockConfig::Openai(c) => {
                    let content_seed = derive_seed(seed, &format!("{name}/content"));
                    let s = llm::LlmServer::start(core.clone(), c, content_seed).await?;
                    let url = format!("http://{}", s.addr());
                    (Server::Llm(s), url)
                }
                MockConfig::Http(c) => {
                    let s = backend::BackendServer::start(core.clone(), c).await?;
                    let url = s.uri();
                    (Server::Http(s), url)
                }
            };
            tracing::info!(mock = %name, kind = config.kind(), %url, "mock started");
            set.mocks.insert(name.clone(), Running { config: config.clone(), core, url, server });
        }
        Ok(set)
    }

    fn get(&self, mock: &str) -> Result<&Running, FaultError> {
        self.mocks.get(mock).ok_or_else(|| FaultError::UnknownMock(mock.to_string()))
    }

    /// Names of the running mocks.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.mocks.keys().map(String::as_str)
    }

    /// Base URL of a mock, without trailing slash (`http://127.0.0.1:PORT`); an
    /// OpenAI client of the stack should get `{url}/v1`.
    pub fn url(&self, mock: &str) -> Option<String> {
        self.mocks.get(mock).map(|r| r.url.clone())
    }

    /// Activates fault `fault_id` on `mock` for requests matching `route` (all when `None`);
    /// re-applying an id replaces it.
    pub fn apply(&self, mock: &str, fault_id: &str, route: Option<RouteFilter>, spec: &FaultSpec) -> Result<(), FaultError> {
        let r = self.get(mock)?;
        let problems = validate(&r.config, spec);
        if !problems.is_empty() {
            return Err(FaultError::InvalidFault { mock: mock.into(), fault: fault_id.into(), problems });
        }
        if let Some(f) = &route {
            for warning in validate_route(&r.config, f) {
                tracing::warn!(mock, fault = fault_id, "{warning}");
            }
        }
        tracing::info!(mock, fault = fault_id, route = ?route.as_ref().map(ToString::to_string), at = ?self.clock.now(), "fault applied");
        r.core.engine.apply(fault_id, route, spec.clone());
        Ok(())
    }

    /// Deactivates a fault; `Ok(false)` when it was not active.
    pub fn clear(&self, mock: &str, fault_id: &str) -> Result<bool, FaultError> {
        let was = self.get(mock)?.core.engine.clear(fault_id);
        tracing::info!(mock, fault = fault_id, was_active = was, at = ?self.clock.now(), "fault cleared");
        Ok(was)
    }

    /// Ids of the faults active on a mock, in the order they were applied.
    pub fn active_faults(&self, mock: &str) -> Result<Vec<String>, FaultError> {
        Ok(self.get(mock)?.core.engine.active())
    }

    /// The mock's journal so far, ordered by arrival (empty for an unknown mock).
    pub fn journal(&self, mock: &str) -> Vec<JournalEntry> {
        self.journal_snapshot(mock).map(|s| s.entries).unwrap_or_default()
    }

    /// Requests that reached the mock so far, answered or in flight (0 for an unknown mock).
    pub fn arrived(&self, mock: &str) -> u64 {
        self.mocks.get(mock).map_or(0, |r| r.core.journal.arrived())
    }

    /// The journal with its drop count.
    pub fn journal_snapshot(&self, mock: &str) -> Option<JournalSnapshot> {
        self.mocks.get(mock).map(|r| r.core.journal.snapshot())
    }

    /// Stops every mock promptly: in-flight requests (hangs included) are dropped
    /// without an answer. Returns the final journals.
    pub async fn shutdown(self) -> BTreeMap<String, JournalSnapshot> {
        let mut out = BTreeMap::new();
        for (name, r) in self.mocks {
            match r.server {
                Server::Llm(s) => s.shutdown().await,
                Server::Http(s) => s.shutdown(),
            }
            r.core.journal.close_pending(self.clock.now());
            tracing::info!(mock = %name, "mock stopped");
            out.insert(name, r.core.journal.snapshot());
        }
        out
    }
}
