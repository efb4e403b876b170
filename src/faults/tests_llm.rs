//! End-to-end tests of the LLM mock: a real `MockSet` on loopback, driven with reqwest.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::test_util::{client, shutdown_drops_hanging, spec};
use super::*;

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
