//! `kind: logs` — structured-log checks on captured stdout/stderr lines:
//! the JSON ratio, required fields, counts of selected lines, and
//! trace/log correlation (lines whose trace id the OTLP receiver saw).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clock::Window;
use crate::expect::kind::{Kind, Signals, no_data};
use crate::expect::{Judgement, Recorded};
use crate::runtime::{LogGap, LogLine, Stream};
use crate::scenario::cmp::Comparison;
use crate::scenario::field_match::{FieldMatch, RawFieldMatch, all_match, compile_where, field_names, lookup, normalize_level};
use crate::scenario::{Ctx, Names, cmp, one_of};

/// `kind: logs` — structured-log checks on captured stdout/stderr lines.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    /// Only this service's output (default: all services).
    pub service: Option<String>,
    /// `stdout` (default), `stderr` or `both`.
    pub stream: Option<String>,
    /// Only JSON lines whose fields match: a value to equal (`{ message: "task
    /// failed" }`), `{ contains: TEXT }` or `{ regex: PATTERN }`. A field
    /// name here and in `required_fields` / `field_types` is a key as written,
    /// else a dotted path into nested objects (`headers.authorization`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, RawFieldMatch>,
    /// Only lines at this level; levels are normalised (`WARN`, `warning`,
    /// `W` and pino's `40` are all `warn`; README, "Log levels").
    pub level: Option<String>,
    /// Field holding the level (default `level`).
    pub level_field: Option<String>,
    /// Fraction of lines that are JSON objects, e.g. `"== 1"`.
    pub json_ratio: Option<String>,
    /// Every selected JSON line has all these fields.
    pub required_fields: Option<Vec<String>>,
    /// Every selected JSON line has these fields with these JSON types:
    /// `number`, `string`, `boolean`, `object`, `array` or `null`, e.g.
    /// `{ status: number, duration_ms: number }` (a logger that drops or
    /// stringifies numeric fields fails).
    pub field_types: Option<BTreeMap<String, String>>,
    /// Number of selected lines, e.g. `"> 0"` for error logs during a fault.
    pub count: Option<String>,
    /// Trace/log correlation: fraction of selected lines with a trace id
    /// (`trace_field`) whose trace the OTLP receiver received, e.g. `">= 0.99"`.
    pub correlated: Option<String>,
    /// Field holding the trace id (default `trace_id`).
    pub trace_field: Option<String>,
    /// Request/log correlation: fraction of selected lines with a request id
    /// (`request_field`) that is an X-Request-ID the load sent, e.g. `">= 0.99"`
    /// (a service that makes up its own id instead of propagating it fails).
    pub request_ids: Option<String>,
    /// Field holding the request id (default `request_id`).
    pub request_field: Option<String>,
    /// A ratio over no line passes (default: fails, "no data"); a `count` is measured on any window.
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub enum LogStreams {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub enum LogStat {
    JsonRatio(Comparison),
    Required(Vec<String>),
    /// Field -> JSON type name.
    Types(Vec<(String, String)>),
    Count(Comparison),
    /// Fraction of lines carrying an id (in this field) that is known: a
    /// trace the receiver saw, or a request the load sent.
    Correlated(Comparison, String, Against),
}

/// What a correlated id must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    Traces,
    Requests,
}

#[derive(Debug, Clone)]
pub struct LogCheck {
    pub service: Option<String>,
    pub streams: LogStreams,
    pub filter: Vec<(String, FieldMatch)>,
    /// Normalised (`field_match::normalize_level`).
    pub level: Option<String>,
    pub level_field: String,
    pub stat: LogStat,
    pub allow_empty: bool,
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
        let samples = rec.load.as_ref().map(|l| l.samples()).unwrap_or_default();
        let known: HashSet<&str> = match self.stat {
            LogStat::Correlated(_, _, Against::Requests) => samples.iter().map(|s| s.request_id.as_str()).collect(),
            _ => rec.traces.spans.iter().map(|s| s.trace_id.as_str()).collect(),
        };
        let j = judge(self, &rec.logs, &known, w);
        unseen(self, j, &rec.logs, &rec.log_gaps, w)
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
            LogStat::Types(fields) => s.log_fields.extend(fields.iter().map(|(f, _)| f.clone())),
            LogStat::Correlated(_, field, _) => {
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
    let types = r.field_types.as_ref().map(|t| t.keys().cloned().collect::<Vec<_>>().join(","));
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("json_ratio", r.json_ratio.as_ref()),
            ("required_fields", required.as_ref()),
            ("field_types", types.as_ref()),
            ("count", r.count.as_ref()),
            ("correlated", r.correlated.as_ref()),
            ("request_ids", r.request_ids.as_ref()),
        ],
    )?;
    if name == "request_ids" && names.load.is_none() {
        cx.err(&format!("{path}.request_ids"), "`request_ids` compares log lines with the requests the load sent", Some("add a `load:` section".into()));
    }
    let stat = match name {
        "json_ratio" => LogStat::JsonRatio(cmp(cx, &format!("{path}.json_ratio"), text)?),
        "count" => LogStat::Count(cmp(cx, &format!("{path}.count"), text)?),
        "correlated" => LogStat::Correlated(
            cmp(cx, &format!("{path}.correlated"), text)?,
            r.trace_field.clone().unwrap_or_else(|| "trace_id".into()),
            Against::Traces,
        ),
        "request_ids" => LogStat::Correlated(
            cmp(cx, &format!("{path}.request_ids"), text)?,
            r.request_field.clone().unwrap_or_else(|| "request_id".into()),
            Against::Requests,
        ),
        "field_types" => LogStat::Types(field_types(cx, &format!("{path}.field_types"), r.field_types.clone().unwrap_or_default())?),
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
        filter: compile_where(cx, &format!("{path}.where"), r.filter),
        level: r.level.as_deref().map(normalize_level),
        level_field: r.level_field.unwrap_or_else(|| "level".into()),
        stat,
        allow_empty: r.allow_empty,
    })
}

const JSON_TYPES: &[&str] = &["number", "string", "boolean", "object", "array", "null"];

fn field_types(cx: &mut Ctx, path: &str, t: BTreeMap<String, String>) -> Option<Vec<(String, String)>> {
    if t.is_empty() {
        cx.err_value(path, "name at least one field and its type", Some("e.g. `{ status: number }`".into()));
        return None;
    }
    for (f, ty) in &t {
        if !JSON_TYPES.contains(&ty.as_str()) {
            cx.err_value(&format!("{path}.{f}"), format!("`{ty}` is not a JSON type"), Some(format!("use one of {}", JSON_TYPES.join(", "))));
            return None;
        }
    }
    Some(t.into_iter().collect())
}

/// The JSON type name of `v`, as `field_types` writes it.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
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
                json.as_ref().and_then(|j| lookup(j, &c.level_field)).is_some_and(|v| normalize_level(&field_str(v)) == *lvl)
            });
            let where_ok = json.as_ref().is_some_and(|j| all_match(&c.filter, j)) || c.filter.is_empty();
            level_ok && where_ok
        })
        .collect()
}

/// A pass that lines ordeal did not see could undo is no verdict: when capture
/// of the scope stopped before the window ended (a [`LogGap`]), or when a
/// field the check filters on appears in no JSON line of the scope at all
/// (a misspelt `where:` key selects nothing, and `count: "== 0"` would hold).
fn unseen(c: &LogCheck, j: Judgement, lines: &[LogLine], gaps: &[LogGap], w: Window) -> Judgement {
    let undoable = match &c.stat {
        LogStat::Count(cmp) => !cmp.holds(f64::MAX),
        _ => true,
    };
    if !j.pass || !undoable {
        return j;
    }
    let streams = match c.streams {
        LogStreams::Stdout => vec![Stream::Stdout],
        LogStreams::Stderr => vec![Stream::Stderr],
        LogStreams::Both => vec![Stream::Stdout, Stream::Stderr],
    };
    let not_judgeable = |why: String, evidence: Value| Judgement { pass: false, expected: j.expected.clone(), observed: format!("not judgeable: {why}"), evidence };
    if let Some(g) = gaps.iter().find(|g| g.hides(c.service.as_deref(), &streams, w.end)) {
        let why = format!("log capture of {} stopped at {:.2}s ({}), so lines after it were not seen", g.service, g.from.as_secs_f64(), g.reason);
        return not_judgeable(why, json!({ "gap": g, "judged": j.observed }));
    }
    let mut keys: Vec<&str> = c.filter.iter().map(|(k, _)| k.as_str()).collect();
    if c.level.is_some() {
        keys.push(&c.level_field);
    }
    if keys.is_empty() {
        return j;
    }
    // Seen: `lookup` finds it in some line of the scope (the names feed "did you mean").
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut found: HashSet<&str> = HashSet::new();
    for l in lines.iter().filter(|l| c.service.as_deref().is_none_or(|s| s == l.service) && streams.contains(&l.stream)) {
        if let Ok(m) = serde_json::from_str::<Map<String, Value>>(&l.line) {
            found.extend(keys.iter().filter(|k| lookup(&m, k).is_some()));
            for k in field_names(&m, 4) {
                *seen.entry(k).or_default() += 1;
            }
        }
    }
    match keys.iter().find(|k| !found.contains(**k)) {
        None => j,
        Some(k) => {
            let scope = c.service.as_deref().unwrap_or("any service");
            let mut common: Vec<(&String, &usize)> = seen.iter().collect();
            common.sort_by(|a, b| b.1.cmp(a.1));
            let fields: Vec<&str> = common.iter().take(12).map(|(f, _)| f.as_str()).collect();
            let hint = crate::scenario::diag::did_you_mean(k, seen.keys().map(String::as_str));
            let why = format!(
                "no JSON line of {scope} in the whole run has a `{k}` field, so the filter selects nothing and the absence proves nothing{}",
                hint.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default()
            );
            not_judgeable(why, json!({ "fields_seen": fields, "judged": j.observed }))
        }
    }
}

/// ` where k=v, level=error` for people.
fn filter_note(c: &LogCheck) -> String {
    let mut parts: Vec<String> = c.filter.iter().map(|(k, v)| format!("{k}{v}")).collect();
    if let Some(l) = &c.level {
        parts.push(format!("{}={l}", c.level_field));
    }
    if parts.is_empty() { String::new() } else { format!(" where {}", parts.join(", ")) }
}

/// `field_types`: every selected JSON line has each field with its type.
fn judge_types(c: &LogCheck, selected: &[(&LogLine, Option<Map<String, Value>>)], types: &[(String, String)], scope: &str) -> Judgement {
    let json_lines: Vec<_> = selected.iter().filter_map(|(l, j)| j.as_ref().map(|j| (l, j))).collect();
    let wrong = |j: &Map<String, Value>| -> Vec<String> {
        types
            .iter()
            .filter(|(f, ty)| lookup(j, f).map(type_of) != Some(ty.as_str()))
            .map(|(f, ty)| format!("{f}: {} (want {ty})", lookup(j, f).map_or("absent", type_of)))
            .collect()
    };
    let bad: Vec<_> = json_lines.iter().filter(|(_, j)| !wrong(j).is_empty()).collect();
    let example = bad.first().map(|(l, j)| json!({ "service": l.service, "at_ms": l.at.as_millis() as u64, "wrong": wrong(j), "line": l.line.chars().take(300).collect::<String>() }));
    let want: Vec<String> = types.iter().map(|(f, ty)| format!("{f}: {ty}")).collect();
    let expected = format!("every JSON line of {scope} has {}", want.join(", "));
    if json_lines.is_empty() {
        return no_data(c.allow_empty, expected, "no JSON line of it was captured", json!({ "lines": selected.len() }));
    }
    Judgement {
        pass: bad.is_empty(),
        expected,
        observed: format!("{}/{} lines have a field absent or of another type", bad.len(), json_lines.len()),
        evidence: json!({ "lines": json_lines.len(), "wrong": bad.len(), "example": example }),
    }
}

/// `known`: the ids a `Correlated` stat accepts (received traces, or the load's request ids).
pub(crate) fn judge(c: &LogCheck, lines: &[LogLine], known: &std::collections::HashSet<&str>, w: Window) -> Judgement {
    let scope = c.service.as_deref().unwrap_or("all services");
    let selected = select(c, lines, w);
    let filter_note = filter_note(c);
    match &c.stat {
        LogStat::JsonRatio(cmp) => {
            let expected = format!("JSON lines of {scope}{filter_note}: ratio {cmp}");
            if selected.is_empty() {
                return no_data(c.allow_empty, expected, "no log line of it was captured", json!({ "lines": 0 }));
            }
            let json = selected.iter().filter(|(_, j)| j.is_some()).count();
            let ratio = json as f64 / selected.len() as f64;
            let first_bad = selected.iter().find(|(_, j)| j.is_none()).map(|(l, _)| json!({ "service": l.service, "at_ms": l.at.as_millis() as u64, "line": l.line.chars().take(300).collect::<String>() }));
            Judgement {
                pass: cmp.holds(ratio),
                expected,
                observed: format!("{json}/{} lines are JSON objects", selected.len()),
                evidence: json!({ "lines": selected.len(), "json": json, "first_non_json": first_bad }),
            }
        }
        LogStat::Required(fields) => {
            let json_lines: Vec<_> = selected.iter().filter_map(|(l, j)| j.as_ref().map(|j| (l, j))).collect();
            let missing: Vec<_> = json_lines.iter().filter(|(_, j)| fields.iter().any(|f| lookup(j, f).is_none())).collect();
            let example = missing.first().map(|(l, j)| {
                json!({ "service": l.service, "at_ms": l.at.as_millis() as u64, "missing": fields.iter().filter(|f| lookup(j, f).is_none()).collect::<Vec<_>>(), "line": l.line.chars().take(300).collect::<String>() })
            });
            let expected = format!("every JSON line of {scope}{filter_note} has {}", fields.join(", "));
            if json_lines.is_empty() {
                return no_data(c.allow_empty, expected, "no JSON line of it was captured", json!({ "lines": selected.len() }));
            }
            Judgement {
                pass: missing.is_empty(),
                expected,
                observed: format!("{}/{} lines lack a field", missing.len(), json_lines.len()),
                evidence: json!({ "lines": json_lines.len(), "missing": missing.len(), "example": example }),
            }
        }
        LogStat::Types(types) => judge_types(c, &selected, types, &format!("{scope}{filter_note}")),
        LogStat::Correlated(cmp, field, against) => {
            let with_id: Vec<(&LogLine, String)> =
                selected.iter().filter_map(|(l, j)| j.as_ref().and_then(|j| lookup(j, field)).map(|v| (*l, field_str(v)))).collect();
            let hits = with_id.iter().filter(|(_, id)| known.contains(id.as_str())).count();
            let unknown: Vec<&str> = with_id.iter().filter(|(_, id)| !known.contains(id.as_str())).map(|(_, id)| id.as_str()).take(3).collect();
            let (what, point) = match against {
                Against::Traces => ("a received trace", "point at a received trace"),
                Against::Requests => ("a request the load sent", "carry a request id the load sent"),
            };
            let expected = format!("lines of {scope}{filter_note} whose `{field}` is {what}: ratio {cmp}");
            if with_id.is_empty() {
                return no_data(c.allow_empty, expected, format!("no line with `{field}` was captured"), json!({ "lines": selected.len() }));
            }
            let ratio = hits as f64 / with_id.len() as f64;
            Judgement {
                pass: cmp.holds(ratio),
                expected,
                observed: format!("{hits}/{} lines {point}", with_id.len()),
                evidence: json!({ "lines_with_id": with_id.len(), "known": hits, "ids_known": known.len(), "unknown_examples": unknown }),
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
        LogCheck { service: None, streams: LogStreams::Stdout, filter: vec![], level: None, level_field: "level".into(), stat, allow_empty: false }
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
    fn where_contains_and_regex_and_levels_as_services_write_them() {
        let lines = vec![
            line("gw", 100, r#"{"level":"WARN","message":"litellm.ServiceUnavailableError: 503 from upstream","code":"503"}"#),
            line("gw", 200, r#"{"level":"warning","message":"ServiceUnavailable again","code":"502"}"#),
            line("gw", 300, r#"{"level":"INFO","message":"ServiceUnavailable cleared","code":"200"}"#),
            line("gw", 400, r#"{"level":40,"message":"timeout","code":"504"}"#),
        ];
        let raw: BTreeMap<String, RawFieldMatch> =
            serde_norway::from_str("message: { contains: ServiceUnavailable }\ncode: { regex: '^50[23]$' }\n").unwrap();
        let mut cx = Ctx::new(std::path::Path::new("s.yaml"), "");
        let mut c = check(LogStat::Count(Comparison::parse("== 2").unwrap()));
        c.filter = compile_where(&mut cx, "expect[0].where", raw);
        c.level = Some(normalize_level("warning"));
        let j = judge(&c, &lines, &Default::default(), all());
        assert!(j.pass, "WARN and warning lines with the text and a 502/503 code: {}", j.observed);
        c.filter.clear();
        c.stat = LogStat::Count(Comparison::parse("== 3").unwrap());
        assert!(judge(&c, &lines, &Default::default(), all()).pass, "WARN, warning and pino's 40 are warn");
        c.level = Some(normalize_level("info"));
        c.stat = LogStat::Count(Comparison::parse("== 1").unwrap());
        assert!(judge(&c, &lines, &Default::default(), all()).pass);
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
    fn field_types_fail_on_a_dropped_or_stringified_number() {
        let types = || LogStat::Types(vec![("duration_ms".into(), "number".into()), ("status".into(), "number".into())]);
        let ok = vec![line("a", 100, r#"{"status":200,"duration_ms":12}"#), line("a", 200, r#"{"status":503,"duration_ms":3.5}"#)];
        assert!(judge(&check(types()), &ok, &Default::default(), all()).pass);
        let bad = vec![line("a", 100, r#"{"status":"200","duration_ms":12}"#), line("a", 200, r#"{"message":"request completed"}"#)];
        let j = judge(&check(types()), &bad, &Default::default(), all());
        assert!(!j.pass && j.observed == "2/2 lines have a field absent or of another type", "{}", j.observed);
        assert_eq!(j.evidence["example"]["wrong"], json!(["status: string (want number)"]));
        assert!(!judge(&check(types()), &[], &Default::default(), all()).pass, "no line is no data");
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
        let c = check(LogStat::Correlated(Comparison::parse(">= 0.5").unwrap(), "trace_id".into(), Against::Traces));
        let ids: std::collections::HashSet<&str> = ["t1"].into();
        let j = judge(&c, &ls, &ids, all());
        assert!(j.pass, "{}", j.observed);
        assert_eq!(j.observed, "1/2 lines point at a received trace");
        assert_eq!(j.evidence["unknown_examples"][0], "t2");
        assert!(!judge(&c, &ls, &Default::default(), all()).pass);
    }

    #[test]
    fn request_correlation_counts_lines_with_a_request_id_the_load_sent() {
        // The worker made up its own id instead of propagating the caller's.
        let ls = vec![
            line("coordinator", 100, r#"{"message":"request received","request_id":"ordeal-r-1"}"#),
            line("worker", 110, r#"{"message":"request received","request_id":"5c1e-uuid"}"#),
        ];
        let c = check(LogStat::Correlated(Comparison::parse(">= 0.99").unwrap(), "request_id".into(), Against::Requests));
        let ids: std::collections::HashSet<&str> = ["ordeal-r-1"].into();
        let j = judge(&c, &ls, &ids, all());
        assert!(!j.pass && j.observed == "1/2 lines carry a request id the load sent", "{}", j.observed);
        assert_eq!(j.evidence["unknown_examples"][0], "5c1e-uuid");
        assert!(!judge(&c, &[], &ids, all()).pass, "no line: no data");
    }

    #[test]
    fn a_ratio_over_no_line_is_no_data_unless_allowed() {
        let ids = Default::default();
        let ratio = Comparison::parse(">= 0.99").unwrap();
        for stat in [
            LogStat::JsonRatio(ratio),
            LogStat::Required(vec!["message".into()]),
            LogStat::Correlated(ratio, "trace_id".into(), Against::Traces),
        ] {
            let j = judge(&check(stat.clone()), &[], &ids, all());
            assert!(!j.pass && j.observed.starts_with("no data in the window: no"), "{stat:?}: {}", j.observed);
            let j = judge(&LogCheck { allow_empty: true, ..check(stat.clone()) }, &[], &ids, all());
            assert!(j.pass, "{stat:?} with allow_empty: {}", j.observed);
        }
        // A count of nothing is a measurement.
        assert!(judge(&check(LogStat::Count(Comparison::parse("== 0").unwrap())), &[], &ids, all()).pass);
    }

    fn quiet(c: &LogCheck, lines: &[LogLine], gaps: &[LogGap]) -> Judgement {
        unseen(c, judge(c, lines, &Default::default(), all()), lines, gaps, all())
    }

    #[test]
    fn an_absence_after_capture_stopped_is_not_judgeable() {
        let mut c = check(LogStat::Count(Comparison::parse("== 0").unwrap()));
        c.level = Some("fatal".into());
        assert!(quiet(&c, &lines(), &[]).pass, "no fatal line, capture intact");
        let gap = LogGap { service: "b".into(), stream: Some(Stream::Stdout), from: Duration::from_millis(350), reason: "read error".into() };
        let j = quiet(&c, &lines(), std::slice::from_ref(&gap));
        assert!(!j.pass && j.observed.starts_with("not judgeable: log capture of b stopped at 0.35s"), "{}", j.observed);
        // A gap of another service, of the other stream, or after the window does not matter.
        c.service = Some("a".into());
        assert!(quiet(&c, &lines(), std::slice::from_ref(&gap)).pass);
        c.service = None;
        let mut err = check(LogStat::Count(Comparison::parse("== 0").unwrap()));
        err.streams = LogStreams::Stderr;
        assert!(quiet(&err, &lines(), std::slice::from_ref(&gap)).pass);
        let late = LogGap { from: Duration::from_secs(5), ..gap };
        assert!(quiet(&c, &lines(), &[late]).pass);
        // A lower bound that holds cannot be undone by unseen lines.
        let mut more = check(LogStat::Count(Comparison::parse("> 1").unwrap()));
        more.filter = vec![("message".into(), "task failed".into())];
        let full = LogGap { service: "*".into(), stream: None, from: Duration::ZERO, reason: "full".into() };
        assert!(quiet(&more, &lines(), &[full]).pass);
    }

    #[test]
    fn a_filter_on_a_field_no_line_has_is_not_judgeable() {
        let mut c = check(LogStat::Count(Comparison::parse("== 0").unwrap()));
        c.filter = vec![("mesage".into(), "panic".into())];
        let j = quiet(&c, &lines(), &[]);
        assert!(!j.pass && j.observed.contains("has a `mesage` field") && j.observed.contains("did you mean `message`"), "{}", j.observed);
        c.filter = vec![("message".into(), "panic".into())];
        assert!(quiet(&c, &lines(), &[]).pass, "the field exists; no line says panic");
    }
}
