//! OpenAI-compatible chat-completions client (plain JSON or SSE streaming), run through
//! the `llm` circuit breaker and retry policy, with the `LLMCall` span, per-attempt
//! `multiagent_llm_calls_total` / duration metrics and failure logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use opentelemetry::context::FutureExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::{Value, json};

use crate::breaker::CircuitBreaker;
use crate::metrics::Metrics;
use crate::mutant::{self, Mutant};
use crate::retry::{self, AttemptError, CallError, RetryPolicy};
use crate::sse::SseAccumulator;
use crate::traces;
use crate::upstream::{self, UpstreamError, transient};

/// Token usage reported by the provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn from_json(v: &Value) -> Self {
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Usage { prompt_tokens: n("prompt_tokens"), completion_tokens: n("completion_tokens"), total_tokens: n("total_tokens") }
    }
}

/// A successful completion.
#[derive(Clone, Debug)]
pub struct Completion {
    pub content: String,
    pub usage: Usage,
    pub attempts: u32,
}

/// Span behaviour switches (mutants `drop_span`, `no_error_status`).
#[derive(Clone, Copy, Debug)]
pub struct LlmSpanOptions {
    pub create_span: bool,
    pub error_status: bool,
}

/// The LLM dependency of one process.
pub struct LlmClient {
    pub http: reqwest::Client,
    /// `{MULTIAGENT_LLM_URL}/chat/completions`.
    pub endpoint: String,
    pub model: String,
    pub timeout: Duration,
    pub breaker: Arc<CircuitBreaker>,
    pub policy: RetryPolicy,
    pub metrics: Metrics,
    pub span: LlmSpanOptions,
    pub mutant: Option<Mutant>,
}

impl LlmClient {
    /// One logical completion (all attempts) inside an `LLMCall` span, child of the current context.
    pub async fn complete(&self, prompt: &str, stream: bool, request_id: &str) -> Result<Completion, UpstreamError> {
        let parent = Context::current();
        let cx = if self.span.create_span {
            let attrs = vec![
                KeyValue::new("llm.provider", "openai"),
                KeyValue::new("llm.model", self.model.clone()),
                KeyValue::new("llm.stream", stream),
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", self.endpoint.clone()),
            ];
            traces::start("LLMCall", SpanKind::Client, &parent, attrs)
        } else {
            // Mutant `drop_span`: a non-recording stand-in with the parent's ids, so the
            // outgoing traceparent and log correlation still work but no span is exported.
            let ids = parent.span().span_context().clone();
            parent.with_remote_span_context(ids)
        };
        let result = retry::call(
            &self.breaker,
            &self.policy,
            |attempt| self.attempt(prompt, stream, request_id, &cx, attempt),
            upstream::retry_hook("llm", "LLM", &self.metrics, &cx),
        )
        .with_context(cx.clone())
        .await;
        let span = cx.span();
        let out = match result {
            Ok((completion, attempts)) => {
                self.metrics.llm_tokens(completion.usage.prompt_tokens, completion.usage.completion_tokens);
                span.set_attributes([
                    KeyValue::new("llm.usage.prompt_tokens", completion.usage.prompt_tokens as i64),
                    KeyValue::new("llm.usage.completion_tokens", completion.usage.completion_tokens as i64),
                    KeyValue::new("llm.usage.total_tokens", completion.usage.total_tokens as i64),
                    KeyValue::new("llm.attempts", attempts as i64),
                    KeyValue::new("http.response.status_code", 200),
                ]);
                Ok(Completion { attempts, ..completion })
            }
            Err(CallError::Rejected { attempts, last }) => {
                self.metrics.llm_call("rejected", None);
                if let Some(prev) = last {
                    traces::in_context(
                        &cx,
                        || tracing::warn!(dependency = "llm", attempts, error = %prev, "LLM breaker opened during retries"),
                    );
                }
                span.set_attribute(KeyValue::new("llm.attempts", attempts as i64));
                Err(UpstreamError::CircuitOpen)
            }
            Err(CallError::Failed { error, attempts }) => {
                span.set_attribute(KeyValue::new("llm.attempts", attempts as i64));
                if let Some(code) = error.status_code() {
                    span.set_attribute(KeyValue::new("http.response.status_code", code as i64));
                }
                Err(error)
            }
        };
        if let Err(e) = &out {
            self.metrics.error("llm");
            traces::in_context(&cx, || tracing::error!(dependency = "llm", error = %e, kind = e.kind(), "LLM call failed"));
            if self.span.error_status {
                traces::record_failure(&cx, e.kind(), &format!("LLM call failed: {e}"));
            } else {
                span.set_status(Status::Ok);
            }
        }
        span.end();
        out
    }

    async fn attempt(
        &self,
        prompt: &str,
        stream: bool,
        request_id: &str,
        cx: &Context,
        attempt: u32,
    ) -> Result<Completion, AttemptError<UpstreamError>> {
        let start = Instant::now();
        // One HTTP client span per call sent (OpenTelemetry's HTTP client
        // convention), a child of LLMCall; mutant `span_per_task_not_per_call`:
        // retries go out without one.
        let own = self.span.create_span && (attempt == 1 || !mutant::is(self.mutant, Mutant::SpanPerTaskNotPerCall));
        let call_cx = if own {
            let mut attrs = vec![KeyValue::new("http.request.method", "POST"), KeyValue::new("url.full", self.endpoint.clone())];
            if attempt > 1 {
                attrs.push(KeyValue::new("http.request.resend_count", i64::from(attempt - 1)));
            }
            traces::start("POST", SpanKind::Client, cx, attrs)
        } else {
            cx.clone()
        };
        let res = self.send(prompt, stream, request_id, &call_cx).await;
        let secs = start.elapsed().as_secs_f64();
        match &res {
            Ok(_) => self.metrics.llm_call("success", Some(secs)),
            Err(e) => {
                // Mutant `undercount_llm_errors`: a failed retry goes uncounted.
                if attempt == 1 || !mutant::is(self.mutant, Mutant::UndercountLlmErrors) {
                    self.metrics.llm_call("error", Some(secs));
                }
                tracing::warn!(dependency = "llm", attempt, error = %e.error, "LLM call attempt failed");
            }
        }
        if own {
            let span = call_cx.span();
            match &res {
                Ok(_) => span.set_attribute(KeyValue::new("http.response.status_code", 200)),
                Err(e) => {
                    if let Some(code) = e.error.status_code() {
                        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
                    }
                    span.set_status(Status::error(e.error.to_string()));
                }
            }
            span.end();
        }
        res
    }

    async fn send(&self, prompt: &str, stream: bool, request_id: &str, cx: &Context) -> Result<Completion, AttemptError<UpstreamError>> {
        let body = json!({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
        });
        let req = self.http.post(&self.endpoint).timeout(self.timeout).json(&body);
        let resp = upstream::decorate(req, request_id, cx).send().await.map_err(|e| upstream::from_reqwest(&e, self.timeout))?;
        if !resp.status().is_success() {
            return Err(upstream::from_status(resp.status(), resp.headers()));
        }
        if stream {
            let mut acc = SseAccumulator::default();
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| upstream::from_reqwest(&e, self.timeout))?;
                acc.feed(&chunk).map_err(|m| transient(UpstreamError::Malformed(m)))?;
                if acc.is_done() {
                    break;
                }
            }
            let (content, usage) = acc.finish().map_err(|m| transient(UpstreamError::Malformed(m)))?;
            return Ok(Completion { content, usage, attempts: 0 });
        }
        let bytes = resp.bytes().await.map_err(|e| upstream::from_reqwest(&e, self.timeout))?;
        parse_completion(&bytes).map_err(|m| transient(UpstreamError::Malformed(m)))
    }
}

/// Parses a non-streaming chat-completions body.
pub fn parse_completion(bytes: &[u8]) -> Result<Completion, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON body: {e}"))?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| "no choices[0].message.content in body".to_string())?;
    let usage = v.get("usage").map(Usage::from_json).unwrap_or_default();
    Ok(Completion { content: content.to_string(), usage, attempts: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_completion_and_usage() {
        let body = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],
            "usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#;
        let c = parse_completion(body).unwrap();
        assert_eq!(c.content, "hi");
        assert_eq!(c.usage, Usage { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
    }

    #[test]
    fn rejects_truncated_or_shapeless_bodies() {
        assert!(parse_completion(br#"{"choices":[{"message":{"content":"hi"#).is_err());
        assert!(parse_completion(br#"{"choices":[]}"#).is_err());
    }
}
