//! Serde types the scenario embeds: [`MockConfig`] (what each mock serves,
//! tagged by `kind: openai | http`) and [`FaultSpec`] (what a fault action
//! switches on). Durations are humantime strings; unknown fields are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::latency::{Latency, dur};

/// One mock placed in front of the stack, keyed by a user-chosen name in `mocks:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MockConfig {
    /// An OpenAI-compatible LLM provider (`/v1/chat/completions`, `/v1/models`), with SSE streaming.
    Openai(OpenAiMockConfig),
    /// A plain HTTP backend API with fixed routes (served by wiremock).
    Http(HttpMockConfig),
}

impl MockConfig {
    /// The `kind` tag as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            MockConfig::Openai(_) => "openai",
            MockConfig::Http(_) => "http",
        }
    }
}

/// Settings of an OpenAI-compatible LLM mock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAiMockConfig {
    /// Model name reported by `/v1/models` and in responses when the request names none.
    #[serde(default = "default_model")]
    pub model: String,
    /// Absolute path of a JSON array of canned answers (strings); a built-in list when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses_file: Option<PathBuf>,
    /// Baseline latency added to every request, before any fault latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

fn default_model() -> String {
    "gpt-4o-mini".to_string()
}

impl Default for OpenAiMockConfig {
    fn default() -> Self {
        Self { model: default_model(), responses_file: None, latency: None }
    }
}

/// Settings of an HTTP backend mock. Requests matching no route get 404 (and are journaled).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpMockConfig {
    /// Routes, tried in order; the first that matches method and path answers.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Baseline latency added to every request, before any fault latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// One canned route of an HTTP mock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// HTTP method (`GET`, `POST`, ...; case-insensitive).
    pub method: String,
    /// Path template: `{name}` matches one path segment, `*` any rest of the path.
    pub path: String,
    /// Response status when no fault applies (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Response body: a JSON value (sent as `application/json`) or a string (sent as `text/plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Absolute path of a file sent as the body (alternative to `body`); `.json` files go out as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    /// Extra response headers (a `content-type` here overrides the default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn default_status() -> u16 {
    200
}

fn one() -> f64 {
    1.0
}

fn is_one(r: &f64) -> bool {
    *r == 1.0
}

/// What a fault action switches on for a mock (all parts optional, ratios default to 1.0).
/// Several active faults combine: latencies add; the first decisive fault that fires
/// by its ratio wins, in the order reset > hang > error > rate_limit > malformed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Extra delay before the response starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Answer with an error status (JSON error body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorFault>,
    /// Answer 429 with a `Retry-After` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitFault>,
    /// Give no answer for a (bounded) while; the client is expected to time out first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangFault>,
    /// LLM streaming only: delay between streamed tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_stream: Option<SlowStreamFault>,
    /// LLM streaming only: abort the stream after some tokens, without `[DONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate_stream: Option<TruncateStreamFault>,
    /// Answer with a body that is not valid JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed: Option<RatioFault>,
    /// Close the connection without any response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<RatioFault>,
}

/// `error: { status: 503, ratio: 0.5 }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    /// Status to answer with (default 500).
    #[serde(default = "default_error_status")]
    pub status: u16,
    /// Share of matching requests that fail, 0.0..=1.0 (default 1.0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ratio: f64,
}

fn default_error_status() -> u16 {
    500
}

/// `rate_limit: { ratio: 1.0, retry_after: 1s }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFault {
    /// Share of matching requests answered 429, 0.0..=1.0 (default 1.0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ratio: f64,
    /// Value of the `Retry-After` header, sent in whole seconds rounded up (default 1s).
    #[serde(default = "default_retry_after", with = "dur")]
    #[schemars(with = "crate::faults::Hd")]
    pub retry_after: Duration,
}

fn default_retry_after() -> Duration {
    Duration::from_secs(1)
}

/// `hang: { ratio: 1.0, for: 60s }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HangFault {
    /// Share of matching requests that hang, 0.0..=1.0 (default 1.0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ratio: f64,
    /// How long the request hangs (default 60s); afterwards the mock answers 504, as a
    /// gateway would. Hanging requests are dropped without an answer at shutdown.
    #[serde(rename = "for", default = "default_hang", with = "dur")]
    #[schemars(with = "crate::faults::Hd")]
    pub duration: Duration,
}

fn default_hang() -> Duration {
    Duration::from_secs(60)
}

/// `slow_stream: { token_delay: 200ms }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowStreamFault {
    /// Delay before each streamed token after the first (delays of several faults add).
    #[serde(with = "dur")]
    #[schemars(with = "crate::faults::Hd")]
    pub token_delay: Duration,
}

/// `truncate_stream: { after_tokens: 3 }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TruncateStreamFault {
    /// Number of content tokens streamed before the connection is cut.
    pub after_tokens: usize,
    /// Share of matching streams that are cut, 0.0..=1.0 (default 1.0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ratio: f64,
}

/// A fault with only a ratio: `malformed: { ratio: 0.5 }`, `reset: {}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioFault {
    /// Share of matching requests affected, 0.0..=1.0 (default 1.0).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ratio: f64,
}

impl Default for RatioFault {
    fn default() -> Self {
        Self { ratio: 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOCKS: &str = r#"
llm:
  kind: openai
  model: gpt-4o-mini
  responses_file: /abs/path/fixtures/llm/completions.json
  latency: 20ms
backend:
  kind: http
  routes:
    - { method: GET, path: "/items/{id}", status: 200, body: {"id": "x"} }
    - { method: POST, path: "/items/{id}/results", status: 201 }
    - { method: GET, path: /text, body: hello, headers: { x-a: b } }
"#;

    #[test]
    fn parses_the_documented_mock_yaml() {
        let m: BTreeMap<String, MockConfig> = serde_norway::from_str(MOCKS).unwrap();
        let MockConfig::Openai(llm) = &m["llm"] else { panic!("llm kind") };
        assert_eq!(llm.model, "gpt-4o-mini");
        assert_eq!(llm.latency, Some(Latency::Fixed(Duration::from_millis(20))));
        let MockConfig::Http(b) = &m["backend"] else { panic!("backend kind") };
        assert_eq!(b.routes.len(), 3);
        assert_eq!(b.routes[0].body, Some(serde_json::json!({"id": "x"})));
        assert_eq!(b.routes[1].status, 201);
        assert_eq!(b.routes[2].body, Some(serde_json::json!("hello")));
        let d: MockConfig = serde_norway::from_str("kind: openai").unwrap();
        assert_eq!(d, MockConfig::Openai(OpenAiMockConfig::default()));
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        assert!(serde_norway::from_str::<MockConfig>("kind: openai\nmodle: x").is_err());
        assert!(serde_norway::from_str::<MockConfig>("kind: grpc").is_err());
        assert!(serde_norway::from_str::<MockConfig>("kind: http\nroutes: [{method: GET, path: /a, stauts: 1}]").is_err());
        assert!(serde_norway::from_str::<FaultSpec>("error: { status: 503, ration: 0.5 }").is_err());
        assert!(serde_norway::from_str::<FaultSpec>("outage: {}").is_err());
    }

    #[test]
    fn parses_every_fault_shape_with_defaults() {
        let s: FaultSpec = serde_norway::from_str(
            r#"
latency: { uniform: [100ms, 500ms] }
error: { status: 503, ratio: 0.5 }
rate_limit: { ratio: 1.0, retry_after: 1s }
hang: { ratio: 1.0, for: 60s }
slow_stream: { token_delay: 200ms }
truncate_stream: { after_tokens: 3 }
malformed: { ratio: 1.0 }
reset: {}
"#,
        )
        .unwrap();
        assert_eq!(s.error, Some(ErrorFault { status: 503, ratio: 0.5 }));
        assert_eq!(s.hang.as_ref().unwrap().duration, Duration::from_secs(60));
        assert_eq!(s.truncate_stream.as_ref().unwrap().ratio, 1.0);
        assert_eq!(s.reset, Some(RatioFault { ratio: 1.0 }));
        let d: FaultSpec = serde_norway::from_str("error: {}\nrate_limit: {}\nhang: {}").unwrap();
        assert_eq!(d.error.unwrap().status, 500);
        assert_eq!(d.rate_limit.unwrap().retry_after, Duration::from_secs(1));
        assert_eq!(d.hang.unwrap().duration, Duration::from_secs(60));
        // JSON round trip keeps everything.
        let back: FaultSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
