//! The OpenAI wire format as the LLM mock speaks it: parsing chat requests,
//! building completions, SSE chunk streams (slow and truncated variants),
//! error bodies and deliberately malformed bodies.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::journal::{EntryGuard, Outcome};

/// Answers used when no `responses_file` is configured.
pub const DEFAULT_ANSWERS: &[&str] = &[
    "The task has been analysed and split into three independent steps.",
    "Here is a concise summary of the requested information.",
    "I recommend retrying the operation after checking the input data.",
    "The result is ready: all items were processed successfully.",
    "Based on the context, the most likely answer is forty-two.",
];

/// Reads a `responses_file`: a JSON array of strings, at least one of them
/// not blank. The error says what is wrong with the file, for `validate` and
/// for the mock's start alike.
pub fn read_answers(path: &std::path::Path) -> Result<Vec<String>, String> {
    let bytes = crate::files::read(path).map_err(|e| e.to_string())?;
    let answers: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| format!("expected a JSON array of strings: {e}"))?;
    if answers.iter().all(|a| a.trim().is_empty()) {
        return Err("the list of answers is empty".into());
    }
    Ok(answers)
}

/// The parts of a chat completion request the mock uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub stream: bool,
    /// Words in all message contents (our stand-in for prompt tokens).
    pub prompt_tokens: usize,
}

/// Parses a chat request body; the error is an OpenAI-style message.
pub fn parse_chat(body: &[u8]) -> Result<ChatRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("We could not parse the JSON body of your request: {e}"))?;
    let obj = v.as_object().ok_or("The request body must be a JSON object.")?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("'messages' is required and must be a non-empty array.")?;
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("'model' must be a string.".into()),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("'stream' must be a boolean.".into()),
    };
    let mut prompt_tokens = 0;
    for m in messages {
        match m.get("content") {
            Some(Value::String(s)) => prompt_tokens += count_tokens(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    prompt_tokens += p.get("text").and_then(Value::as_str).map_or(0, count_tokens);
                }
            }
            _ => {}
        }
    }
    Ok(ChatRequest { model, stream, prompt_tokens })
}

/// Token count of the mock: whitespace-separated words.
pub fn count_tokens(s: &str) -> usize {
    s.split_whitespace().count()
}

/// Identity of one completion, shared by all its chunks.
#[derive(Debug, Clone)]
pub struct CompletionMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub prompt_tokens: usize,
}

impl CompletionMeta {
    /// What an answer of `completion_tokens` tokens reports in its `usage`, for the journal.
    pub fn tokens(&self, completion_tokens: usize) -> crate::faults::TokenCount {
        crate::faults::TokenCount { prompt: self.prompt_tokens as u64, completion: completion_tokens as u64 }
    }

    fn usage(&self, completion_tokens: usize) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        })
    }
}

/// A non-streaming `chat.completion` body.
pub fn completion(meta: &CompletionMeta, answer: &str) -> Value {
    json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": answer },
            "finish_reason": "stop",
        }],
        "usage": meta.usage(count_tokens(answer)),
    })
}

fn chunk(meta: &CompletionMeta, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    })
}

/// `/v1/models` body.
pub fn models(model: &str) -> Value {
    json!({
        "object": "list",
        "data": [{ "id": model, "object": "model", "created": 0, "owned_by": "ordeal-mock" }],
    })
}

/// An OpenAI-style error response.
pub fn error_response(status: u16, kind: &str, code: Option<&str>, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, axum::Json(body)).into_response()
}

/// The error body for an injected status.
pub fn injected_error(status: u16) -> Response {
    let kind = if status >= 500 { "server_error" } else { "invalid_request_error" };
    error_response(status, kind, None, &format!("The server had an error while processing your request (injected fault, status {status})."))
}

/// 429 with `Retry-After` in whole seconds (rounded up).
pub fn rate_limited(retry_after: Duration) -> Response {
    let mut r = error_response(
        429,
        "requests",
        Some("rate_limit_exceeded"),
        "Rate limit reached for requests (injected fault). Please try again later.",
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(retry_after)));
    r
}

/// Seconds for a `Retry-After` header, rounded up.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Start of a valid completion, cut in the middle: not parseable JSON.
pub fn malformed_body(meta: &CompletionMeta) -> String {
    format!(
        "{{\"id\":\"{}\",\"object\":\"chat.completion\",\"created\":{},\"choices\":[{{\"index\":0,\"message\":{{\"content\":\"",
        meta.id, meta.created
    )
}

pub fn malformed_response(meta: &CompletionMeta, stream: bool) -> Response {
    if stream {
        let events = [
            format!("{{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":", meta.id),
            "[DONE]".to_string(),
        ];
        let s = futures::stream::iter(events.map(|d| Ok::<_, Infallible>(Event::default().data(d))));
        return Sse::new(s).into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], malformed_body(meta)).into_response()
}

/// The stream was cut by a `truncate_stream` fault (ends the HTTP body with an error).
#[derive(Debug, thiserror::Error)]
#[error("stream truncated by an injected fault")]
pub struct StreamCut;

/// State of an SSE completion stream; the journal entry is recorded when it ends.
pub struct ChunkStream {
    meta: CompletionMeta,
    words: Vec<String>,
    /// Next position: 0..len are tokens, len is the final chunk, len+1 is `[DONE]`.
    pos: usize,
    token_delay: Duration,
    truncate_after: Option<usize>,
    guard: EntryGuard,
    ended: bool,
}

impl ChunkStream {
    pub fn new(meta: CompletionMeta, answer: &str, token_delay: Duration, truncate_after: Option<usize>, guard: EntryGuard) -> Self {
        let words = answer.split_whitespace().map(str::to_string).collect();
        Self { meta, words, pos: 0, token_delay, truncate_after, guard, ended: false }
    }

    async fn step(mut self) -> Option<(Result<Event, StreamCut>, Self)> {
        if self.ended {
            return None;
        }
        let len = self.words.len();
        if self.truncate_after.is_some_and(|n| self.pos >= n.min(len)) {
            // Let hyper flush the chunks sent so far before the body errors out.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.ended = true;
            self.guard.finish(Some(200), Outcome::Truncated);
            return Some((Err(StreamCut), self));
        }
        let data = if self.pos < len {
            if self.pos > 0 && !self.token_delay.is_zero() {
                tokio::time::sleep(self.token_delay).await;
            }
            let text = if self.pos == 0 { self.words[0].clone() } else { format!(" {}", self.words[self.pos]) };
            let delta = if self.pos == 0 { json!({ "role": "assistant", "content": text }) } else { json!({ "content": text }) };
            chunk(&self.meta, delta, None).to_string()
        } else if self.pos == len {
            let mut c = chunk(&self.meta, json!({}), Some("stop"));
            c["usage"] = self.meta.usage(len);
            self.guard.entry().tokens = Some(self.meta.tokens(len));
            c.to_string()
        } else {
            self.ended = true;
            self.guard.finish(Some(200), Outcome::Ok);
            "[DONE]".to_string()
        };
        self.pos += 1;
        Some((Ok(Event::default().data(data)), self))
    }

    pub fn into_response(self) -> Response {
        Sse::new(futures::stream::unfold(self, Self::step)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chat_requests() {
        let r = parse_chat(
            br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c"},
            {"role":"user","content":[{"type":"text","text":"d e"}]}]}"#,
        )
        .unwrap();
        assert_eq!(r, ChatRequest { model: Some("m".into()), stream: true, prompt_tokens: 5 });
        assert!(!parse_chat(br#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap().stream);
        for bad in [&b"not json"[..], b"[]", b"{}", br#"{"messages":[]}"#, br#"{"messages":[{}],"stream":"yes"}"#] {
            assert!(parse_chat(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bodies_have_the_openai_shape() {
        let meta = CompletionMeta { id: "chatcmpl-1".into(), created: 1, model: "m".into(), prompt_tokens: 4 };
        let c = completion(&meta, "one two three");
        assert_eq!(c["choices"][0]["message"]["content"], "one two three");
        assert_eq!(c["usage"]["total_tokens"], 7);
        assert!(serde_json::from_str::<Value>(&malformed_body(&meta)).is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
