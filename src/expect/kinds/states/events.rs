//! Breaker state changes the service reports itself, for `kind: breaker`'s
//! `events:` — JSON log lines (`logs: { where: {...}, from: F, to: T }`) or
//! span events / spans (`spans: { name: N, from: F, to: T }`), whose fields
//! name the old and new state. A half-open that lasts one trial call (10-25 ms
//! in common Python, Java and .NET libraries) falls between two scrapes of a
//! gauge; an event is stamped when it happens (a log line when ordeal read
//! it, a span event at its own time), so it is seen however short the state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Change;
use crate::clock::Window;
use crate::expect::Recorded;
use crate::scenario::field_match::{FieldMatch, RawFieldMatch, all_match, compile_where, lookup};
use crate::scenario::{Ctx, one_of};

/// `events:` — where the service reports its breaker's state changes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    /// JSON log lines of the service: those whose fields match `where`;
    /// `from` / `to` name the fields holding the old and new state.
    pub logs: Option<RawLogEvents>,
    /// Span events (or spans) of the service named `name`; `from` / `to` name
    /// the attributes holding the old and new state.
    pub spans: Option<RawSpanEvents>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLogEvents {
    /// A value to equal, `{ contains: TEXT }` or `{ regex: PATTERN }` per field.
    #[serde(rename = "where", default)]
    pub filter: BTreeMap<String, RawFieldMatch>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSpanEvents {
    pub name: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Events {
    Logs { filter: Vec<(String, FieldMatch)>, from: String, to: String },
    Spans { name: String, from: String, to: String },
}

pub fn compile(cx: &mut Ctx, path: &str, raw: RawEvents) -> Option<Events> {
    let (which, _) = one_of(cx, path, vec![("logs", raw.logs.as_ref().map(|_| &())), ("spans", raw.spans.as_ref().map(|_| &()))])?;
    let (from, to) = match (&raw.logs, &raw.spans) {
        (Some(l), _) if which == "logs" => (&l.from, &l.to),
        (_, Some(s)) => (&s.from, &s.to),
        _ => return None,
    };
    if from.is_empty() || to.is_empty() || from == to {
        cx.err(
            &format!("{path}.{which}"),
            "`from` and `to` name two different fields holding the old and the new state",
            Some("e.g. `from: old_state, to: new_state`".into()),
        );
        return None;
    }
    Some(match (raw.logs, raw.spans) {
        (Some(l), _) => Events::Logs { filter: compile_where(cx, &format!("{path}.logs.where"), l.filter), from: l.from, to: l.to },
        (None, Some(s)) => Events::Spans { name: s.name, from: s.from, to: s.to },
        (None, None) => return None,
    })
}

impl Events {
    /// What the events come from, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Events::Logs { .. } => "log lines",
            Events::Spans { .. } => "span events",
        }
    }
}

/// Lower case, letters and digits only: `HALF_OPEN`, `half-open` and `HalfOpen` are one state.
fn norm(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The scenario's name for a state a service wrote (as written if none matches).
fn state(raw: &Value, states: &[(String, f64)]) -> String {
    let text = match raw {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let n = norm(&text);
    // A number is the gauge encoding of the state.
    if let Some(v) = raw.as_f64()
        && let Some((name, _)) = states.iter().find(|(_, x)| (x - v).abs() < 1e-9)
    {
        return name.clone();
    }
    states.iter().find(|(name, _)| norm(name) == n).map_or(text, |(name, _)| name.clone())
}

/// What the events say, or why they cannot be trusted to be complete.
pub struct Found {
    pub changes: Vec<Change>,
    /// `log events` or `span events`.
    pub source: &'static str,
}

/// The changes the service reported; Err: the source was not fully seen in `w`.
pub fn changes(ev: &Events, service: &str, rec: &Recorded, states: &[(String, f64)], w: Window) -> Result<Found, String> {
    let mut out: Vec<Change> = Vec::new();
    let mut push = |at: Duration, from: &Value, to: &Value| {
        out.push(Change { lo: at, hi: at, from: state(from, states), to: state(to, states) });
    };
    let source = match ev {
        Events::Logs { filter, from, to } => {
            if let Some(g) = rec
                .log_gaps
                .iter()
                .find(|g| g.hides(Some(service), &[crate::runtime::Stream::Stdout, crate::runtime::Stream::Stderr], w.end))
            {
                return Err(format!("log capture of {service} stopped at {} ({})", crate::expect::secs(g.from, rec.origin), g.reason));
            }
            for l in rec.logs.iter().filter(|l| l.service == service) {
                let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&l.line) else { continue };
                if let (true, Some(f), Some(t)) = (all_match(filter, &m), lookup(&m, from), lookup(&m, to)) {
                    push(l.at, f, t);
                }
            }
            "log events"
        }
        Events::Spans { name, from, to } => {
            if rec.traces.dropped_spans > 0 {
                return Err(format!("the OTLP receiver dropped {} spans", rec.traces.dropped_spans));
            }
            for s in rec.traces.spans.iter().filter(|s| s.service == service) {
                if s.name == *name
                    && let (Some(at), Some(f), Some(t)) = (s.start, s.attributes.get(from), s.attributes.get(to))
                {
                    push(at, f, t);
                }
                for e in s.events.iter().filter(|e| e.name == *name) {
                    if let (Some(at), Some(f), Some(t)) = (e.at, e.attributes.get(from), e.attributes.get(to)) {
                        push(at, f, t);
                    }
                }
            }
            "span events"
        }
    };
    out.sort_by_key(|c| c.hi);
    Ok(Found { changes: out, source })
}
