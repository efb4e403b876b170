//! Secret values ordeal knows, masked in everything it writes: the load's
//! canary, and the values of service environment variables whose names look
//! secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, any case) as the
//! runtime rendered them. Registered where they come to exist (the runtime,
//! the load); masked at the edges — report.json, junit.xml, lint.json, the
//! service log files, results on stdout, messages and logs on stderr. What
//! the collectors keep in memory stays raw: `no_leaks` must find the canary
//! to report a leak (and masks it in its own evidence).
//!
//! Process-wide, because the edges are many and far from where the values
//! are known; a value is never removed (a later run in the same process
//! masks it too, which is harmless).

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a masked value is replaced with.
pub const MASK: &str = "[MASKED]";

/// Shorter values are not masked: masking `1` or `true` would garble every output.
const MIN_LEN: usize = 6;

/// Whether an environment variable of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|p| upper.contains(p))
}

/// Mask `value` from now on (and its JSON-escaped form, as it appears in report.json).
pub fn register(value: &str) {
    if value.chars().count() < MIN_LEN {
        return;
    }
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let escaped = escaped.trim_matches('"').to_string();
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for v in [value.to_string(), escaped] {
        if !all.contains(&v) {
            all.push(v);
        }
    }
    // Longest first: a secret containing another is masked whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Register the values of `env` whose names look secret.
pub fn register_env<'a>(env: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (k, v) in env {
        if is_secret_name(k) {
            register(v);
        }
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn mask(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// [`mask`] for bytes that are UTF-8 (others are returned unchanged: the
/// writers here only write text).
pub fn mask_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    match std::str::from_utf8(bytes) {
        Ok(text) => match mask(text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        },
        Err(_) => Cow::Borrowed(bytes),
    }
}

/// A writer that masks each write (for stderr logs: tracing writes whole events).
pub struct Masked<W>(pub W);

impl<W: std::io::Write> std::io::Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&mask_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_raw_and_json_escaped() {
        register("sk-live-\"quoted\"-9f3a");
        register_env([("OPENAI_API_KEY", "sk-test-1234567"), ("LOG_LEVEL", "debug-verbose"), ("DB_PASSWORD", "abc")]);
        assert_eq!(mask("auth: sk-test-1234567!"), "auth: [MASKED]!");
        assert_eq!(mask("level debug-verbose"), "level debug-verbose", "not a secret name");
        assert_eq!(mask("pw abc"), "pw abc", "too short to mask");
        let json = serde_json::to_string(&serde_json::json!({ "line": "k=sk-live-\"quoted\"-9f3a" })).unwrap();
        assert_eq!(mask(&json), r#"{"line":"k=[MASKED]"}"#);
        assert!(matches!(mask("nothing here"), Cow::Borrowed(_)));
        assert!(is_secret_name("x-api-key") && is_secret_name("GITHUB_TOKEN") && !is_secret_name("LOG_LEVEL"));
    }
}
