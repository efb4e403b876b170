//! `kind: logs` (structured-log checks on captured output) and
//! `kind: no_leaks` (the load's canary secret appears in no log line, metric
//! label or span attribute). Evidence never contains the canary itself.

use serde_json::{Map, Value, json};

use super::Judgement;
use crate::clock::Window;
use crate::collectors::store::MetricStore;
use crate::runtime::{LogLine, Stream};
use crate::scenario::{LeakPlace, LogCheck, LogStat, LogStreams, NoLeaksCheck};

fn field_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mask(line: &str, canary: &str) -> String {
    let masked = line.replace(canary, "[CANARY]");
    if masked.chars().count() > 400 { format!("{}…", masked.chars().take(400).collect::<String>()) } else { masked }
}

pub(crate) fn judge(c: &LogCheck, lines: &[LogLine], trace_ids: &std::collections::HashSet<&str>, w: Window) -> Judgement {
    let scope = c.service.as_deref().unwrap_or("all services");
    let selected: Vec<(&LogLine, Option<Map<String, Value>>)> = lines
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
        .collect();
    let filter_note = {
        let mut parts: Vec<String> = c.filter.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(l) = &c.level {
            parts.push(format!("{}={l}", c.level_field));
        }
        if parts.is_empty() { String::new() } else { format!(" where {}", parts.join(", ")) }
    };
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

/// Where the canary was found, as evidence.
pub(crate) fn no_leaks(
    c: &NoLeaksCheck,
    canary: Option<&str>,
    lines: &[LogLine],
    metrics: &MetricStore,
    spans: &[(String, String, Value)],
) -> Judgement {
    let Some(canary) = canary else {
        return Judgement {
            pass: false,
            expected: "no canary leaks".into(),
            observed: "no canary was sent (load did not run)".into(),
            evidence: json!(null),
        };
    };
    let mut found = Vec::new();
    let mut looked = Vec::new();
    if c.places.contains(&LeakPlace::Logs) {
        looked.push(format!("{} log lines", lines.len()));
        for l in lines.iter().filter(|l| l.line.contains(canary)).take(3) {
            found.push(json!({ "place": "logs", "service": l.service, "at_ms": l.at.as_millis() as u64, "line": mask(&l.line, canary) }));
        }
        let n = lines.iter().filter(|l| l.line.contains(canary)).count();
        if n > 3 {
            found.push(json!({ "place": "logs", "more_lines": n - 3 }));
        }
    }
    if c.places.contains(&LeakPlace::Metrics) {
        let series: Vec<_> = metrics.all_series().collect();
        looked.push(format!("{} series", series.len()));
        for (k, _) in series.into_iter().filter(|(k, _)| k.labels.values().any(|v| v.contains(canary)) || k.name.contains(canary)).take(3) {
            let labels: Vec<String> = k.labels.iter().map(|(n, v)| format!("{n}={}", mask(v, canary))).collect();
            found.push(json!({ "place": "metrics", "service": k.service, "series": format!("{}{{{}}}", k.name, labels.join(",")) }));
        }
    }
    if c.places.contains(&LeakPlace::Spans) {
        looked.push(format!("{} span attributes", spans.len()));
        for (span, key, v) in spans.iter().filter(|(_, _, v)| v.to_string().contains(canary)).take(3) {
            found.push(json!({ "place": "spans", "span": span, "attribute": key, "value": mask(&v.to_string(), canary) }));
        }
    }
    Judgement {
        pass: found.is_empty(),
        expected: "the canary secret appears in no log line, metric label or span attribute".into(),
        observed: if found.is_empty() {
            format!("not found in {}", looked.join(", "))
        } else {
            format!("canary leaked ({} places, first in {})", found.len(), found[0]["place"])
        },
        evidence: json!({ "searched": looked, "found": found }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::cmp::Comparison;

    fn line(service: &str, at_ms: u64, text: &str) -> LogLine {
        LogLine { service: service.into(), stream: Stream::Stdout, at: Duration::from_millis(at_ms), line: text.into() }
    }

    fn lines() -> Vec<LogLine> {
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

    #[test]
    fn leaks_are_found_and_masked() {
        let mut ls = lines();
        ls.push(line("a", 500, r#"{"headers":{"authorization":"Bearer ordeal-canary-x"}}"#));
        let c = NoLeaksCheck { places: vec![LeakPlace::Logs, LeakPlace::Metrics, LeakPlace::Spans] };
        let spans = vec![("LLMCall".to_string(), "http.request.header.authorization".to_string(), Value::String("ordeal-canary-x".into()))];
        let j = no_leaks(&c, Some("ordeal-canary-x"), &ls, &MetricStore::new(), &spans);
        assert!(!j.pass);
        let found = j.evidence["found"].as_array().unwrap();
        assert_eq!(found.len(), 2);
        assert!(!j.evidence.to_string().contains("ordeal-canary-x"), "evidence must not contain the canary");
        assert!(no_leaks(&c, Some("ordeal-canary-x"), &lines(), &MetricStore::new(), &[]).pass);
    }
}
