//! The HTTP backend mock, on wiremock. Mocks mounted, by priority:
//!
//! 1. [`ResetMatcher`] + `respond_with_err`: wiremock fixes at mount time whether a
//!    mock answers or errors, but `reset` is decided per request by ratio. So the
//!    reset decision is this matcher's (it is consulted first for every request and
//!    matches only the requests to reset); its error makes wiremock's hyper server
//!    close the connection without writing a response.
//! 2. One mock per route (`method` + `path_regex` compiled from the template) with a
//!    [`FaultResponder`] that takes the rest of the decision (same RNG sequence as the
//!    LLM mock, see `engine::Stage`).
//! 3. A catch-all [`FaultResponder`] answering 404 (journaled, faults still apply).
//!
//! wiremock limits, and what we do about them:
//! - `Respond` is synchronous: the journal records the request when it is decided,
//!   with `done` = arrival + injected delay (wiremock sends right after the delay).
//! - A hang is a `set_delay(for)` and then a 504; dropping the `MockServer` at
//!   shutdown stops its runtime, which drops hanging connections unanswered.
//! - wiremock keeps every matched request in memory (per mounted mock) for its
//!   verification feature; recording of `received_requests` is disabled here, the
//!   per-mock copy cannot be.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use wiremock::matchers::{any, method, path_regex};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use super::config::{HttpMockConfig, RouteConfig};
use super::engine::{Decisive, Stage};
use super::journal::{JournalEntry, Outcome};
use super::openai::retry_after_secs;
use super::route::{normalize_method, template_to_regex};
use super::{FaultError, MockCore};

/// A route's canned answer, prepared at start.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    fn template(&self) -> ResponseTemplate {
        self.headers
            .iter()
            .fold(ResponseTemplate::new(self.status), |t, (k, v)| t.insert_header(k.clone(), v.clone()))
            .set_body_bytes(self.body.clone())
    }
}

fn json_template(status: StatusCode, body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header(header::CONTENT_TYPE, HeaderValue::from_static("application/json")).set_body_bytes(body)
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn error_template(code: u16, message: &str) -> ResponseTemplate {
    let body = serde_json::json!({ "error": message, "status": code }).to_string();
    json_template(status_of(code), body.into_bytes())
}

async fn prepare(mock: &str, r: &RouteConfig) -> Result<Reply, FaultError> {
    let mut content_type = "text/plain; charset=utf-8";
    let body = match (&r.body, &r.body_file) {
        (Some(serde_json::Value::String(s)), _) => s.clone().into_bytes(),
        (Some(v), _) => {
            content_type = "application/json";
            v.to_string().into_bytes()
        }
        (None, Some(path)) => {
            if path.extension().is_some_and(|e| e == "json") {
                content_type = "application/json";
            }
            crate::files::read(path).map_err(|e| FaultError::File { mock: mock.into(), path: path.clone(), reason: e.to_string() })?
        }
        (None, None) => Vec::new(),
    };
    let mut headers = Vec::new();
    if !body.is_empty() && !r.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
        headers.push((header::CONTENT_TYPE, HeaderValue::from_static(content_type)));
    }
    for (k, v) in &r.headers {
        // Validated by `validate_mock`; skip rather than panic if not.
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            headers.push((k, v));
        }
    }
    Ok(Reply { status: status_of(r.status), body, headers })
}

/// Decides resets (see module docs); journals the requests it matches.
struct ResetMatcher(Arc<MockCore>);

impl Match for ResetMatcher {
    fn matches(&self, req: &Request) -> bool {
        let core = &self.0;
        let d = core.engine.decide(req.method.as_str(), req.url.path(), Stage::ResetOnly, false);
        if d.decisive != Some(Decisive::Reset) {
            return false;
        }
        let mut e = JournalEntry::arriving(core.clock.now(), req.method.as_str(), req.url.path(), &req.headers);
        e.outcome = Outcome::Reset;
        e.fault = d.fault;
        core.journal.record(e);
        true
    }
}

/// Answers one route (or 404 when `reply` is `None`) under the active faults.
struct FaultResponder {
    core: Arc<MockCore>,
    reply: Option<Reply>,
}

impl Respond for FaultResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let core = &self.core;
        let (method, path) = (req.method.as_str(), req.url.path());
        let mut e = JournalEntry::arriving(core.clock.now(), method, path, &req.headers);
        let d = core.engine.decide(method, path, Stage::AfterReset, false);
        e.fault = d.fault.clone();
        let normal = || match &self.reply {
            Some(r) => (r.template(), r.status.as_u16(), Outcome::Ok),
            None => (error_template(404, &format!("no route for {method} {path}")), 404, Outcome::NotFound),
        };
        let (template, status, outcome, delay) = match d.decisive {
            Some(Decisive::Hang(dur)) => (error_template(504, "hang fault elapsed"), 504, Outcome::Hang, dur),
            Some(Decisive::Error(code)) => (error_template(code, "injected fault"), code, Outcome::Error, d.latency),
            Some(Decisive::RateLimit(after)) => (
                error_template(429, "rate limited (injected fault)")
                    .insert_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(after))),
                429,
                Outcome::RateLimited,
                d.latency,
            ),
            Some(Decisive::Malformed) => {
                let status = self.reply.as_ref().map_or(StatusCode::OK, |r| r.status);
                let body = br#"{"id": "x", "items": [{"name": "trunc"#.to_vec();
                (json_template(status, body), status.as_u16(), Outcome::Malformed, d.latency)
            }
            // Resets were decided by `ResetMatcher`; `AfterReset` never yields one.
            Some(Decisive::Reset) | None => {
                let (t, s, o) = normal();
                (t, s, o, d.latency)
            }
        };
        e.status = Some(status);
        e.outcome = outcome;
        e.done = e.at + delay;
        core.journal.record(e);
        if delay.is_zero() { template } else { template.set_delay(delay) }
    }
}

/// A running HTTP backend mock.
pub(crate) struct BackendServer {
    server: MockServer,
}

impl BackendServer {
    pub async fn start(core: Arc<MockCore>, cfg: &HttpMockConfig) -> Result<Self, FaultError> {
        let mut routes = Vec::new();
        for r in &cfg.routes {
            // Both validated by `validate_mock`; errors here are reported, not unwrapped.
            let invalid = |e: super::RouteError| FaultError::InvalidMock { mock: core.name.clone(), problems: vec![e.to_string()] };
            let m = normalize_method(&r.method).map_err(invalid)?;
            let re = template_to_regex(&r.path).map_err(invalid)?;
            routes.push((m, re, prepare(&core.name, r).await?));
        }
        let listener =
            std::net::TcpListener::bind((core.bind, 0)).map_err(|source| FaultError::Bind { mock: core.name.clone(), source })?;
        let server = MockServer::builder().listener(listener).disable_request_recording().start().await;

        Mock::given(ResetMatcher(core.clone()))
            .respond_with_err(|_: &Request| std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset fault"))
            .with_priority(1)
            .named("reset fault")
            .mount(&server)
            .await;
        for (m, re, reply) in routes {
            Mock::given(method(m.as_str()))
                .and(path_regex(re))
                .respond_with(FaultResponder { core: core.clone(), reply: Some(reply) })
                .with_priority(10)
                .mount(&server)
                .await;
        }
        Mock::given(any())
            .respond_with(FaultResponder { core, reply: None })
            .with_priority(u8::MAX)
            .named("not found")
            .mount(&server)
            .await;
        Ok(Self { server })
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Dropping the server stops its thread's runtime, which drops open connections.
    pub fn shutdown(self) {
        drop(self.server);
    }
}

#[cfg(test)]
mod tests {
    //! End-to-end tests of the HTTP (wiremock) mock: a real `MockSet` on loopback, driven with reqwest.

    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use crate::faults::test_util::{client, shutdown_drops_hanging, spec};
    use crate::faults::*;

    const BACKEND: &str = r#"
kind: http
routes:
  - { method: GET, path: "/items/{id}", status: 200, body: {"id": "x"} }
  - { method: POST, path: "/items/{id}/results", status: 201 }
  - { method: GET, path: /hello, body: "hi there", headers: { x-mock: yes } }
"#;

    async fn start(seed: u64) -> (MockSet, String) {
        let mut m = BTreeMap::new();
        m.insert("backend".to_string(), serde_norway::from_str::<MockConfig>(BACKEND).unwrap());
        let set = MockSet::start(&m, RunClock::start(), seed).await.unwrap();
        let url = set.url("backend").unwrap();
        (set, url)
    }

    async fn get(c: &reqwest::Client, url: &str, path: &str) -> reqwest::Result<reqwest::Response> {
        c.get(format!("{url}{path}")).header("x-request-id", "rid-1").send().await
    }

    #[tokio::test]
    async fn routes_answer_and_unmatched_requests_are_404() {
        let (set, url) = start(1).await;
        assert!(!url.ends_with('/'));
        let c = client(Duration::from_secs(5));
        let r = get(&c, &url, "/items/7").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({"id": "x"}));
        let r = c.post(format!("{url}/items/7/results")).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 201);
        let r = get(&c, &url, "/hello").await.unwrap();
        assert_eq!(r.headers()["x-mock"], "yes");
        assert_eq!(r.text().await.unwrap(), "hi there");
        assert_eq!(get(&c, &url, "/items/7/other").await.unwrap().status(), 404);
        assert_eq!(c.delete(format!("{url}/items/7")).send().await.unwrap().status(), 404);

        let j = set.journal("backend");
        let got: Vec<_> = j.iter().map(|e| (e.method.as_str(), e.path.as_str(), e.status, e.outcome)).collect();
        assert_eq!(
            got,
            [
                ("GET", "/items/7", Some(200), Outcome::Ok),
                ("POST", "/items/7/results", Some(201), Outcome::Ok),
                ("GET", "/hello", Some(200), Outcome::Ok),
                ("GET", "/items/7/other", Some(404), Outcome::NotFound),
                ("DELETE", "/items/7", Some(404), Outcome::NotFound),
            ]
        );
        assert_eq!(j[0].request_id.as_deref(), Some("rid-1"));
        assert_eq!(j[1].request_id, None);
        set.shutdown().await;
    }

    #[tokio::test]
    async fn faults_by_route_and_switching() {
        let (set, url) = start(1).await;
        let c = client(Duration::from_secs(5));
        set.apply("backend", "down", Some("GET /items/*".parse().unwrap()), &spec("error: { status: 503 }")).unwrap();
        assert_eq!(get(&c, &url, "/items/1").await.unwrap().status(), 503);
        assert_eq!(c.post(format!("{url}/items/1/results")).send().await.unwrap().status(), 201);
        set.apply("backend", "limit", Some("POST /items/{id}/results".parse().unwrap()), &spec("rate_limit: { retry_after: 3s }")).unwrap();
        let r = c.post(format!("{url}/items/1/results")).send().await.unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()), (429, "3"));
        assert_eq!(set.active_faults("backend").unwrap(), ["down", "limit"]);
        assert!(set.clear("backend", "down").unwrap());
        assert!(set.clear("backend", "limit").unwrap());
        assert_eq!(get(&c, &url, "/items/1").await.unwrap().status(), 200);

        set.apply("backend", "junk", None, &spec("malformed: {}")).unwrap();
        let r = get(&c, &url, "/items/1").await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.json::<Value>().await.is_err());
        set.clear("backend", "junk").unwrap();

        // A hang is bounded: after `for`, a waiting client gets 504.
        set.apply("backend", "brief", None, &spec("hang: { for: 150ms }")).unwrap();
        assert_eq!(get(&c, &url, "/items/1").await.unwrap().status(), 504);
        set.clear("backend", "brief").unwrap();

        // Stream faults are refused on an http mock.
        let e = set.apply("backend", "s", None, &spec("slow_stream: { token_delay: 1s }")).unwrap_err();
        assert!(e.to_string().contains("supported kinds: openai"), "{e}");

        let outcomes: Vec<_> = set.journal("backend").iter().map(|e| (e.outcome, e.fault.clone())).collect();
        let f = |s: &str| Some(s.to_string());
        assert_eq!(
            outcomes,
            [
                (Outcome::Error, f("down")),
                (Outcome::Ok, None),
                (Outcome::RateLimited, f("limit")),
                (Outcome::Ok, None),
                (Outcome::Malformed, f("junk")),
                (Outcome::Hang, f("brief")),
            ]
        );
        set.shutdown().await;
    }

    #[tokio::test]
    async fn latency_distribution_is_applied_and_journaled() {
        let (set, url) = start(1).await;
        let c = client(Duration::from_secs(5));
        set.apply("backend", "slow", None, &spec("latency: { uniform: [100ms, 150ms] }")).unwrap();
        for _ in 0..3 {
            let t = Instant::now();
            assert_eq!(get(&c, &url, "/items/1").await.unwrap().status(), 200);
            assert!(t.elapsed() >= Duration::from_millis(100), "{:?}", t.elapsed());
        }
        for e in set.journal("backend") {
            let d = e.elapsed();
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(150), "{d:?}");
            assert_eq!(e.fault.as_deref(), Some("slow"));
        }
        set.shutdown().await;
    }

    #[tokio::test]
    async fn reset_closes_the_connection_without_a_response() {
        let (set, url) = start(1).await;
        let c = client(Duration::from_secs(5));
        set.apply("backend", "rst", Some("/items/{id}".parse().unwrap()), &spec("reset: {}")).unwrap();
        let err = get(&c, &url, "/items/1").await.unwrap_err();
        assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
        assert_eq!(get(&c, &url, "/hello").await.unwrap().status(), 200);
        let j = set.journal("backend");
        assert_eq!((j[0].outcome, j[0].status, j[0].fault.as_deref()), (Outcome::Reset, None, Some("rst")));
        assert_eq!(j[1].outcome, Outcome::Ok);
        set.shutdown().await;
    }

    #[tokio::test]
    async fn hang_times_out_the_client_and_is_dropped_at_shutdown() {
        let (set, url) = start(1).await;
        set.apply("backend", "stuck", None, &spec("hang: { for: 30s }")).unwrap();
        let t = Instant::now();
        let err = get(&client(Duration::from_millis(300)), &url, "/items/1").await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let request = async move { get(&client(Duration::from_secs(60)), &url, "/items/2").await };
        let j = shutdown_drops_hanging(set, "backend", request).await;
        assert_eq!(j.len(), 2);
        assert!(j.iter().all(|e| e.outcome == Outcome::Hang && e.status.is_none() && e.done < Duration::from_secs(10)));
    }

    /// Outcome of 200 sequential requests under a 50% error fault.
    async fn error_sequence(seed: u64) -> Vec<u16> {
        let (set, url) = start(seed).await;
        let c = client(Duration::from_secs(5));
        set.apply("backend", "flaky", None, &spec("error: { status: 502, ratio: 0.5 }")).unwrap();
        let mut out = Vec::new();
        for i in 0..200 {
            out.push(get(&c, &url, &format!("/items/{i}")).await.unwrap().status().as_u16());
        }
        let journaled: Vec<u16> = set.journal("backend").iter().filter_map(|e| e.status).collect();
        assert_eq!(journaled, out);
        set.shutdown().await;
        out
    }

    #[tokio::test]
    async fn ratio_is_respected_and_reproducible_with_the_seed() {
        let a = error_sequence(42).await;
        let failed = a.iter().filter(|s| **s == 502).count();
        assert!((65..=135).contains(&failed), "{failed} of 200");
        assert!(a.iter().all(|s| *s == 502 || *s == 200));
        assert_eq!(a, error_sequence(42).await, "same seed, same sequence");
        assert_ne!(a, error_sequence(43).await, "another seed, another sequence");
    }
}
