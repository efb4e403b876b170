//! Incremental parser for OpenAI-style SSE chat-completion streams: accumulates
//! `choices[0].delta.content` from `data:` lines until `data: [DONE]`; a stream that
//! ends without `[DONE]` or carries malformed JSON is an error.

use serde_json::Value;

use crate::llm::Usage;

/// Feed it the body chunks as they arrive; call [`SseAccumulator::finish`] at the end.
#[derive(Default, Debug)]
pub struct SseAccumulator {
    pending: Vec<u8>,
    content: String,
    usage: Option<Usage>,
    done: bool,
    chunks: u64,
}

impl SseAccumulator {
    /// True once `data: [DONE]` has been seen (the caller may stop reading).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Consumes one body chunk; `Err` describes the first malformed event.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = String::from_utf8(line).map_err(|_| "stream is not valid UTF-8".to_string())?;
            self.line(line.trim_end_matches(['\n', '\r']))?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(()); // blank separators, comments, event:/id:/retry: fields
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| format!("malformed stream chunk: {e}"))?;
        if let Some(err) = v.get("error") {
            return Err(format!("error event in stream: {err}"));
        }
        self.chunks += 1;
        if let Some(text) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
            self.content.push_str(text);
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(Usage::from_json(u));
        }
        Ok(())
    }

    /// The assembled text and usage (zero usage if the server sent none).
    pub fn finish(mut self) -> Result<(String, Usage), String> {
        if !self.done && !self.pending.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            self.line(rest.trim_end_matches('\r'))?;
        }
        if !self.done {
            return Err(format!("stream ended without [DONE] after {} chunks", self.chunks));
        }
        Ok((self.content, self.usage.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> String {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    }

    #[test]
    fn assembles_split_chunks() {
        let body = format!(
            "{}{}data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}}}\n\ndata: [DONE]\n\n",
            chunk("Hel"),
            chunk("lo")
        );
        let mut acc = SseAccumulator::default();
        for piece in body.as_bytes().chunks(7) {
            acc.feed(piece).unwrap();
        }
        assert!(acc.is_done());
        let (text, usage) = acc.finish().unwrap();
        assert_eq!(text, "Hello");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (3, 2, 5));
    }

    #[test]
    fn truncated_stream_fails() {
        let mut acc = SseAccumulator::default();
        acc.feed(chunk("partial").as_bytes()).unwrap();
        assert!(acc.finish().unwrap_err().contains("without [DONE]"));
    }

    #[test]
    fn malformed_json_fails() {
        let mut acc = SseAccumulator::default();
        assert!(acc.feed(b"data: {\"choices\": [\n").unwrap_err().contains("malformed"));
    }

    #[test]
    fn done_without_trailing_newline() {
        let mut acc = SseAccumulator::default();
        acc.feed(chunk("x").as_bytes()).unwrap();
        acc.feed(b"data: [DONE]").unwrap();
        assert_eq!(acc.finish().unwrap().0, "x");
    }
}
