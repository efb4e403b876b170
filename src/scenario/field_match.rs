//! Matching a JSON log line's fields as services really write them: `where:`
//! values that equal, contain or match a regex (`{ contains: TEXT }`,
//! `{ regex: PATTERN }`), and log levels normalised across conventions
//! (`WARN`, `warning`, `W`, pino's `40` are all `warn`). Used by `kind: logs`
//! and the log events of `kind: breaker`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Ctx, Scalar};

/// One `where:` value as written: a value the field must equal, or an operator.
#[derive(Debug, Clone)]
pub enum RawFieldMatch {
    Equals(Scalar),
    Op { contains: Option<String>, regex: Option<String> },
}

impl<'de> Deserialize<'de> for RawFieldMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Op {
            contains: Option<String>,
            regex: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Value(Scalar),
            Op(Op),
        }
        match Any::deserialize(d) {
            Ok(Any::Value(v)) => Ok(RawFieldMatch::Equals(v)),
            Ok(Any::Op(o)) => Ok(RawFieldMatch::Op { contains: o.contains, regex: o.regex }),
            Err(_) => Err(serde::de::Error::custom("expected a value to equal, `{ contains: TEXT }` or `{ regex: PATTERN }`")),
        }
    }
}

hand_schema!(RawFieldMatch, "FieldMatch", _g => {
    "description": "The field equals this value, or `{ contains: TEXT }` (a substring), or `{ regex: PATTERN }` (Rust regex syntax, unanchored).",
    "anyOf": [
        { "type": ["string", "number", "boolean"] },
        {
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": { "contains": { "type": "string" }, "regex": { "type": "string" } },
        },
    ],
});

/// A compiled `where:` value.
#[derive(Debug, Clone)]
pub enum FieldMatch {
    Equals(String),
    Contains(String),
    Regex(regex::Regex),
}

impl FieldMatch {
    /// Whether a field's value (a string, or any JSON value as written) matches.
    pub fn matches(&self, v: &Value) -> bool {
        let text = match v {
            Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(other.to_string()),
        };
        match self {
            FieldMatch::Equals(want) => *text == *want,
            FieldMatch::Contains(part) => text.contains(part.as_str()),
            FieldMatch::Regex(re) => re.is_match(&text),
        }
    }
}

impl From<&str> for FieldMatch {
    /// The field equals this text.
    fn from(v: &str) -> Self {
        FieldMatch::Equals(v.to_string())
    }
}

impl PartialEq for FieldMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FieldMatch::Equals(a), FieldMatch::Equals(b)) | (FieldMatch::Contains(a), FieldMatch::Contains(b)) => a == b,
            (FieldMatch::Regex(a), FieldMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl std::fmt::Display for FieldMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldMatch::Equals(v) => write!(f, "={v}"),
            FieldMatch::Contains(v) => write!(f, " contains {v:?}"),
            FieldMatch::Regex(re) => write!(f, " =~ /{}/", re.as_str()),
        }
    }
}

/// `where:` -> (field, match) pairs; a bad operator or regex is reported under `path.FIELD`.
pub fn compile_where(cx: &mut Ctx, path: &str, raw: BTreeMap<String, RawFieldMatch>) -> Vec<(String, FieldMatch)> {
    let mut out = Vec::new();
    for (field, m) in raw {
        let at = format!("{path}.{field}");
        let compiled = match m {
            RawFieldMatch::Equals(v) => Some(FieldMatch::Equals(v.0)),
            RawFieldMatch::Op { contains: Some(c), regex: None } => Some(FieldMatch::Contains(c)),
            RawFieldMatch::Op { contains: None, regex: Some(r) } => match regex::RegexBuilder::new(&r).size_limit(1 << 20).build() {
                Ok(re) => Some(FieldMatch::Regex(re)),
                Err(e) => {
                    let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                    cx.err_value(
                        &format!("{at}.regex"),
                        format!("not a valid regex: {first}"),
                        Some("Rust regex syntax; escape `.` `(` `[` etc. with `\\`".into()),
                    );
                    None
                }
            },
            RawFieldMatch::Op { .. } => {
                cx.err(&at, "give one of `contains` and `regex`", Some("e.g. `message: { contains: ServiceUnavailable }`".into()));
                None
            }
        };
        out.extend(compiled.map(|c| (field, c)));
    }
    out
}

/// Every (field, match) holds on the JSON object `m`.
pub fn all_match(filter: &[(String, FieldMatch)], m: &Map<String, Value>) -> bool {
    filter.iter().all(|(k, want)| lookup(m, k).is_some_and(|v| want.matches(v)))
}

/// A field of a JSON log line by name: the key as written (`http.status_code`
/// as one flat key), else a dotted path into nested objects
/// (`headers.authorization` inside `{"headers": {"authorization": ...}}`).
pub fn lookup<'a>(m: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    if let Some(v) = m.get(field) {
        return Some(v);
    }
    // Every split at a dot, the longest key first: `{"a.b": {"c": 1}}` has `a.b.c`.
    field.char_indices().rev().filter(|(_, ch)| *ch == '.').find_map(|(i, _)| match m.get(&field[..i])? {
        Value::Object(inner) => lookup(inner, &field[i + 1..]),
        _ => None,
    })
}

/// The field names of `m` to suggest for a misspelt one: its keys and the
/// dotted paths of nested objects' keys (to `depth` levels).
pub fn field_names(m: &Map<String, Value>, depth: usize) -> Vec<String> {
    fn walk(m: &Map<String, Value>, prefix: &str, depth: usize, out: &mut Vec<String>) {
        for (k, v) in m {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if let (Value::Object(inner), true) = (v, depth > 1) {
                walk(inner, &name, depth - 1, out);
            }
            out.push(name);
        }
    }
    let mut out = Vec::new();
    walk(m, "", depth, &mut out);
    out
}

/// A log level as services write it, normalised: `trace`, `debug`, `info`,
/// `warn`, `error` or `fatal`; any other text lower-cased as is.
///
/// | written | normalised |
/// |---|---|
/// | `TRACE`, `trace`, `TRC`, `10` (pino) | `trace` |
/// | `DEBUG`, `debug`, `DBG`, `D`, `20` | `debug` |
/// | `INFO`, `info`, `information`, `informational`, `notice`, `I`, `30` | `info` |
/// | `WARN`, `warn`, `warning`, `WRN`, `W`, `40` | `warn` |
/// | `ERROR`, `error`, `err`, `ERR`, `E`, `50` | `error` |
/// | `FATAL`, `fatal`, `critical`, `crit`, `CRITICAL`, `panic`, `emerg`, `alert`, `F`, `60` | `fatal` |
pub fn normalize_level(written: &str) -> String {
    let l = written.trim().to_ascii_lowercase();
    let level = match l.as_str() {
        "trace" | "trc" | "10" => "trace",
        "debug" | "dbg" | "d" | "20" => "debug",
        "info" | "information" | "informational" | "notice" | "i" | "30" => "info",
        "warn" | "warning" | "wrn" | "w" | "40" => "warn",
        "error" | "err" | "e" | "50" => "error",
        "fatal" | "critical" | "crit" | "panic" | "emerg" | "emergency" | "alert" | "f" | "60" => "fatal",
        _ => return l,
    };
    level.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(yaml: &str) -> (Vec<(String, FieldMatch)>, Vec<String>) {
        let raw: BTreeMap<String, RawFieldMatch> = serde_norway::from_str(yaml).unwrap();
        let mut cx = Ctx::new(std::path::Path::new("s.yaml"), yaml);
        let out = compile_where(&mut cx, "expect[0].where", raw);
        (out, cx.diags.iter().map(|d| d.path.clone()).collect())
    }

    #[test]
    fn values_contains_and_regex() {
        let (f, errs) = compile("message: { contains: ServiceUnavailable }\ncode: { regex: '^5\\d\\d$' }\nretry: true\n");
        assert!(errs.is_empty(), "{errs:?}");
        let line = json!({ "message": "upstream said ServiceUnavailable (503)", "code": 503, "retry": true });
        assert!(all_match(&f, line.as_object().unwrap()));
        let other = json!({ "message": "upstream said ServiceUnavailable", "code": 429, "retry": true });
        assert!(!all_match(&f, other.as_object().unwrap()), "429 is not 5xx");
        assert!(!all_match(&f, json!({ "code": 503, "retry": true }).as_object().unwrap()), "no message field");
    }

    #[test]
    fn bad_operators_are_errors_at_the_field() {
        assert_eq!(compile("m: { regex: '(' }\n").1, vec!["expect[0].where.m.regex"]);
        assert_eq!(compile("m: { contains: a, regex: b }\n").1, vec!["expect[0].where.m"]);
        assert_eq!(compile("m: {}\n").1, vec!["expect[0].where.m"]);
        assert!(serde_norway::from_str::<BTreeMap<String, RawFieldMatch>>("m: { startswith: a }\n").is_err());
    }

    #[test]
    fn dotted_fields_reach_into_nested_objects_and_flat_keys_win() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"headers":{"authorization":"[REDACTED]","x":{"y":1}},"http.status_code":503,"msg":"a"}"#).unwrap();
        assert_eq!(lookup(&m, "headers.authorization"), Some(&Value::String("[REDACTED]".into())));
        assert_eq!(lookup(&m, "headers.x.y"), Some(&serde_json::json!(1)));
        assert_eq!(lookup(&m, "http.status_code"), Some(&serde_json::json!(503)));
        assert_eq!(lookup(&m, "msg.len"), None);
        assert_eq!(lookup(&m, "headers.cookie"), None);
        let ecs: Map<String, Value> = serde_json::from_str(r#"{"log.origin":{"file.line":12},"log":{"level":"info"}}"#).unwrap();
        assert_eq!(lookup(&ecs, "log.origin.file.line"), Some(&serde_json::json!(12)));
        assert_eq!(lookup(&ecs, "log.level"), Some(&serde_json::json!("info")));
        let names = field_names(&m, 4);
        for want in ["headers", "headers.authorization", "headers.x", "headers.x.y", "http.status_code", "msg"] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
    }

    #[test]
    fn levels_are_normalised() {
        for w in ["WARN", "warning", "Warning", "W", "40", " wrn "] {
            assert_eq!(normalize_level(w), "warn", "{w}");
        }
        assert_eq!(normalize_level("ERR"), "error");
        assert_eq!(normalize_level("CRITICAL"), "fatal");
        assert_eq!(normalize_level("Verbose"), "verbose");
    }
}
