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
    assert!(matches!(refused, Err(ScrapeFailure::Request { .. })), "{refused:?}");
    let slow = scrape_once(&client, &target("t", format!("http://{addr}/slow"))).await;
    assert!(matches!(slow, Err(ScrapeFailure::Request { .. })), "{slow:?}");
}

#[tokio::test]
async fn zero_interval_and_no_targets_do_not_panic() {
    let handle = spawn(Vec::new(), Duration::ZERO, RunClock::start());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let store = handle.stop().await;
    assert_eq!(store.services().count(), 0);
}
