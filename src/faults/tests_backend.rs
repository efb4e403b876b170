//! End-to-end tests of the HTTP (wiremock) mock: a real `MockSet` on loopback, driven with reqwest.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::test_util::{client, shutdown_drops_hanging, spec};
use super::*;

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
