//! Redaction of secrets before anything is logged: sensitive JSON keys (any case, any
//! depth) and sensitive HTTP headers are replaced by `[REDACTED]`.

use serde_json::{Map, Value};

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments that mark a value as secret (matched case-insensitively, with `-`
/// treated as `_`, anywhere in the key: `client_secret`, `X-Api-Key`, `refresh_token`...).
const SENSITIVE: [&str; 9] = ["authorization", "password", "passwd", "token", "api_key", "apikey", "secret", "cookie", "credential"];

/// True if a JSON key or header name must never be logged with its value.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    SENSITIVE.iter().any(|s| k.contains(s))
}

/// Returns a copy of `value` with every sensitive key's value redacted, recursively.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_sensitive_key(k) { Value::String(REDACTED.into()) } else { redact_json(v) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// Headers as a JSON object (lower-case names), sensitive ones redacted. With
/// `leak_authorization` (mutant `leak_secret`) the `Authorization` header is kept.
pub fn redact_headers(headers: &axum::http::HeaderMap, leak_authorization: bool) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        let shown = if is_sensitive_key(name) && !(leak_authorization && name == "authorization") {
            REDACTED.to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        match out.get_mut(name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&shown);
            }
            _ => {
                out.insert(name.to_string(), Value::String(shown));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};
    use serde_json::json;

    #[test]
    fn nested_any_case() {
        let body = json!({
            "type": "analysis",
            "Password": "canary-1",
            "nested": {"API_KEY": "canary-2", "list": [{"client_secret": "canary-3"}, {"ok": 1}]},
            "auth": {"Token": {"deep": "canary-4"}},
            "x-api-key": "canary-5"
        });
        let out = redact_json(&body).to_string();
        for i in 1..=5 {
            assert!(!out.contains(&format!("canary-{i}")), "{out}");
        }
        assert!(out.contains("\"type\":\"analysis\"") && out.contains("\"ok\":1"), "{out}");
    }

    #[test]
    fn headers_redacted_unless_leak_mutant() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer canary"));
        h.insert("x-api-key", HeaderValue::from_static("canary2"));
        h.insert("x-request-id", HeaderValue::from_static("r1"));
        let out = redact_headers(&h, false);
        assert_eq!(out["authorization"], REDACTED);
        assert_eq!(out["x-api-key"], REDACTED);
        assert_eq!(out["x-request-id"], "r1");
        let leaked = redact_headers(&h, true);
        assert_eq!(leaked["authorization"], "Bearer canary");
        assert_eq!(leaked["x-api-key"], REDACTED);
    }
}
