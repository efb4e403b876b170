//! `kind: logs` — structured-log checks on captured stdout/stderr lines:
//! the JSON ratio, required fields, counts of selected lines, and
//! trace/log correlation (lines whose trace id the OTLP receiver saw).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clock::Window;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::runtime::{LogLine, Stream};
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, Scalar, cmp, one_of};

/// `kind: logs` — structured-log checks on captured stdout/stderr lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    /// Only this service's output (default: all services).
    pub service: Option<String>,
    /// `stdout` (default), `stderr` or `both`.
    pub stream: Option<String>,
    /// Only JSON lines whose fields equal these values, e.g. `{ message: "task failed" }`.
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Scalar>,
    /// Only lines at this level (compared case-insensitively with `level_field`).
    pub level: Option<String>,
    /// Field holding the level (default `level`).
    pub level_field: Option<String>,
    /// Fraction of lines that are JSON objects, e.g. `"== 1"`.
    pub json_ratio: Option<String>,
    /// Every selected JSON line has all these fields.
    pub required_fields: Option<Vec<String>>,
    /// Number of selected lines, e.g. `"> 0"` for error logs during a fault.
    pub count: Option<String>,
    /// Trace/log correlation: fraction of selected lines with a trace id
    /// (`trace_field`) whose trace the OTLP receiver received, e.g. `">= 0.99"`.
    pub correlated: Option<String>,
    /// Field holding the trace id (default `trace_id`).
    pub trace_field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LogStreams {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub enum LogStat {
    JsonRatio(Comparison),
    Required(Vec<String>),
    Count(Comparison),
    /// Fraction of lines carrying a trace id (in this field) that the receiver saw.
    Correlated(Comparison, String),
}

#[derive(Debug, Clone)]
pub struct LogCheck {
    pub service: Option<String>,
    pub streams: LogStreams,
    pub filter: Vec<(String, String)>,
    pub level: Option<String>,
    pub level_field: String,
    pub stat: LogStat,
}

impl Kind for LogCheck {
    const NAME: &'static str = "logs";
    type Raw = RawLogs;

    fn compile(cx: &mut Ctx, path: &str, r: RawLogs, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        format!("logs of {}", self.service.as_deref().unwrap_or("all services"))
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        let trace_ids: HashSet<&str> = rec.traces.spans.iter().map(|s| s.trace_id.as_str()).collect();
        judge(self, &rec.logs, &trace_ids, w)
    }

    fn signals(&self) -> Signals {
        let mut s = Signals::default().service(self.service.as_deref());
        s.logs = true;
        s.log_fields.extend(self.filter.iter().map(|(k, _)| k.clone()));
        if self.level.is_some() {
            s.log_fields.insert(self.level_field.clone());
        }
        match &self.stat {
            LogStat::Required(fields) => s.log_fields.extend(fields.iter().cloned()),
            LogStat::Correlated(_, field) => {
                s.log_fields.insert(field.clone());
            }
            LogStat::JsonRatio(_) | LogStat::Count(_) => {}
        }
        s
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawLogs, names: &Names) -> Option<LogCheck> {
    if let Some(s) = &r.service {
        names.service(cx, &format!("{path}.service"), s);
    }
    let streams = match r.stream.as_deref() {
        None | Some("stdout") => LogStreams::Stdout,
        Some("stderr") => LogStreams::Stderr,
        Some("both") => LogStreams::Both,
        Some(other) => {
            cx.err_value(&format!("{path}.stream"), format!("unknown stream `{other}`"), Some("use `stdout`, `stderr` or `both`".into()));
            return None;
        }
    };
    let required = r.required_fields.as_ref().map(|f| f.join(","));
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("json_ratio", r.json_ratio.as_ref()),
            ("required_fields", required.as_ref()),
            ("count", r.count.as_ref()),
            ("correlated", r.correlated.as_ref()),
        ],
    )?;
    let stat = match name {
        "json_ratio" => LogStat::JsonRatio(cmp(cx, &format!("{path}.json_ratio"), text)?),
        "count" => LogStat::Count(cmp(cx, &format!("{path}.count"), text)?),
        "correlated" => {
            LogStat::Correlated(cmp(cx, &format!("{path}.correlated"), text)?, r.trace_field.clone().unwrap_or_else(|| "trace_id".into()))
        }
        _ => {
            let fields = r.required_fields.clone().unwrap_or_default();
            if fields.is_empty() {
                cx.err_value(&format!("{path}.required_fields"), "list at least one field", None);
            }
            LogStat::Required(fields)
        }
    };
    Some(LogCheck {
        service: r.service,
        streams,
        filter: r.filter.into_iter().map(|(k, v)| (k, v.0)).collect(),
        level: r.level,
        level_field: r.level_field.unwrap_or_else(|| "level".into()),
        stat,
    })
}

fn field_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The lines of the window, service and stream that pass `level` and `where`, parsed when JSON.
fn select<'a>(c: &LogCheck, lines: &'a [LogLine], w: Window) -> Vec<(&'a LogLine, Option<Map<String, Value>>)> {
    lines
        .iter()
        .filter(|l| w.contains(l.at) && c.service.as_deref().is_none_or(|s| s == l.service))
        .filter(|l| match c.streams {
            LogStreams::Stdout => l.stream == Stream::Stdout,
            LogStreams::Stderr => l.stream == Stream::Stderr,
            LogStreams::Both => true,
        })
        .map(|l| (l, serde_json::from_str::<Map<String, Value>>(&l.line).ok()))
        .filter(|(_, json)| {
            let level_ok = c.level.as_ref().is_none_or(|lvl| {
                json.as_ref().and_then(|j| j.get(&c.level_field)).is_some_and(|v| field_str(v).eq_ignore_ascii_case(lvl))
            });
            let where_ok = c.filter.iter().all(|(k, v)| json.as_ref().and_then(|j| j.get(k)).is_some_and(|x| field_str(x) == *v));
            level_ok && where_ok
        })
        .collect()
}

/// ` where k=v, level=error` for people.
fn filter_note(c: &LogCheck) -> String {
    let mut parts: Vec<String> = c.filter.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(l) = &c.level {
        parts.push(format!("{}={l}", c.level_field));
    }
    if parts.is_empty() { String::new() } else { format!(" where {}", parts.join(", ")) }
}

pub(crate) fn judge(c: &LogCheck, lines: &[LogLine], trace_ids: &std::collections::HashSet<&str>, w: Window) -> Judgement {
    let scope = c.service.as_deref().unwrap_or("all services");
    let selected = select(c, lines, w);
    let filter_note = filter_note(c);
    match &c.stat {
        LogStat::JsonRatio(cmp) => {
            let json = selected.iter().filter(|(_, j)| j.is_some()).count();
            let ratio = if selected.is_empty() { 0.0 } else { json as f64 / selected.len() as f64 };
            let first_bad = selected.iter().find(|(_, j)| j.is_none()).map(|(l, _)| json!({ "service": l.service, "at_ms": l.at.as_millis() as u64, "line": l.line.chars().take(300).collect::<String>() }));
            Judgement {
                pass: !selected.is_empty() && cmp.holds(ratio),
                expected: format!("JSON lines of {scope}{filter_note}: ratio {cmp}"),
                observed: if selected.is_empty() {
                    "no log lines in the window".into()
                } else {
                    format!("{json}/{} lines are JSON objects", selected.len())
                },
                evidence: json!({ "lines": selected.len(), "json": json, "first_non_json": first_bad }),
            }
        }
        LogStat::Required(fields) => {
            let json_lines: Vec<_> = selected.iter().filter_map(|(l, j)| j.as_ref().map(|j| (l, j))).collect();
            let missing: Vec<_> = json_lines.iter().filter(|(_, j)| fields.iter().any(|f| !j.contains_key(f))).collect();
            let example = missing.first().map(|(l, j)| {
                json!({ "service": l.service, "at_ms": l.at.as_millis() as u64, "missing": fields.iter().filter(|f| !j.contains_key(*f)).collect::<Vec<_>>(), "line": l.line.chars().take(300).collect::<String>() })
            });
            Judgement {
                pass: !json_lines.is_empty() && missing.is_empty(),
                expected: format!("every JSON line of {scope}{filter_note} has {}", fields.join(", ")),
                observed: if json_lines.is_empty() {
                    "no JSON lines in the window".into()
                } else {
                    format!("{}/{} lines lack a field", missing.len(), json_lines.len())
                },
                evidence: json!({ "lines": json_lines.len(), "missing": missing.len(), "example": example }),
            }
        }
        LogStat::Correlated(cmp, field) => {
            let with_id: Vec<(&LogLine, String)> =
                selected.iter().filter_map(|(l, j)| j.as_ref().and_then(|j| j.get(field)).map(|v| (*l, field_str(v)))).collect();
            let known = with_id.iter().filter(|(_, id)| trace_ids.contains(id.as_str())).count();
            let ratio = if with_id.is_empty() { 0.0 } else { known as f64 / with_id.len() as f64 };
            let unknown: Vec<&str> =
                with_id.iter().filter(|(_, id)| !trace_ids.contains(id.as_str())).map(|(_, id)| id.as_str()).take(3).collect();
            Judgement {
                pass: !with_id.is_empty() && cmp.holds(ratio),
                expected: format!("lines of {scope}{filter_note} whose `{field}` is a received trace: ratio {cmp}"),
                observed: if with_id.is_empty() {
                    format!("no lines with `{field}`")
                } else {
                    format!("{known}/{} lines point at a received trace", with_id.len())
                },
                evidence: json!({ "lines_with_trace_id": with_id.len(), "known": known, "traces_received": trace_ids.len(), "unknown_examples": unknown }),
            }
        }
        LogStat::Count(cmp) => Judgement {
            pass: cmp.holds(selected.len() as f64),
            expected: format!("count of lines of {scope}{filter_note} {cmp}"),
            observed: format!("{} lines", selected.len()),
            evidence: json!({ "lines": selected.len(), "first": selected.first().map(|(l, _)| l.line.chars().take(300).collect::<String>()) }),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::cmp::Comparison;

    pub(crate) fn line(service: &str, at_ms: u64, text: &str) -> LogLine {
        LogLine { service: service.into(), stream: Stream::Stdout, at: Duration::from_millis(at_ms), line: text.into() }
    }

    /// JSON and plain lines of two services, at 100-400 ms.
    pub(crate) fn lines() -> Vec<LogLine> {
        vec![
            line("a", 100, r#"{"level":"info","message":"started","timestamp":"t"}"#),
            line("a", 200, r#"{"level":"ERROR","message":"task failed","timestamp":"t","request_id":"r1"}"#),
            line("b", 300, "plain text panic"),
            line("b", 400, r#"{"level":"error","message":"task failed","timestamp":"t"}"#),
        ]
    }

    fn check(stat: LogStat) -> LogCheck {
        LogCheck { service: None, streams: LogStreams::Stdout, filter: vec![], level: None, level_field: "level".into(), stat }
    }

    fn all() -> Window {
        Window::new(Duration::ZERO, Duration::from_secs(1))
    }

    #[test]
    fn json_ratio_counts_non_json_lines() {
        let j = judge(&check(LogStat::JsonRatio(Comparison::parse("== 1").unwrap())), &lines(), &Default::default(), all());
        assert!(!j.pass);
        assert_eq!(j.observed, "3/4 lines are JSON objects");
        assert_eq!(j.evidence["first_non_json"]["service"], "b");
    }

    #[test]
    fn required_fields_with_level_filter() {
        let mut c = check(LogStat::Required(vec!["request_id".into()]));
        c.level = Some("error".into());
        let j = judge(&c, &lines(), &Default::default(), all());
        assert!(!j.pass, "the second error line lacks request_id");
        assert_eq!(j.observed, "1/2 lines lack a field");
        c.service = Some("a".into());
        assert!(judge(&c, &lines(), &Default::default(), all()).pass);
    }

    #[test]
    fn count_with_where_and_window() {
        let mut c = check(LogStat::Count(Comparison::parse("== 1").unwrap()));
        c.filter = vec![("message".into(), "task failed".into())];
        assert!(judge(&c, &lines(), &Default::default(), Window::new(Duration::ZERO, Duration::from_millis(300))).pass);
        assert!(!judge(&c, &lines(), &Default::default(), all()).pass, "two in the whole window");
    }

    #[test]
    fn correlation_counts_lines_whose_trace_arrived() {
        let ls = vec![
            line("a", 100, r#"{"level":"info","trace_id":"t1"}"#),
            line("a", 200, r#"{"level":"info","trace_id":"t2"}"#),
            line("a", 300, r#"{"level":"info"}"#),
        ];
        let c = check(LogStat::Correlated(Comparison::parse(">= 0.5").unwrap(), "trace_id".into()));
        let ids: std::collections::HashSet<&str> = ["t1"].into();
        let j = judge(&c, &ls, &ids, all());
        assert!(j.pass, "{}", j.observed);
        assert_eq!(j.observed, "1/2 lines point at a received trace");
        assert_eq!(j.evidence["unknown_examples"][0], "t2");
        assert!(!judge(&c, &ls, &Default::default(), all()).pass);
    }
}
