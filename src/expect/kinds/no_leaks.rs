//! `kind: no_leaks` — the load's canary secret appears in no log line,
//! metric label or span attribute. Evidence never contains the canary itself.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::Window;
use crate::collectors::store::MetricStore;
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::runtime::LogLine;
use crate::scenario::{Ctx, Names};

/// `kind: no_leaks` — the load's canary secret appears nowhere it should not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoLeaks {
    /// Where to look (default all): `logs`, `metrics` (label values), `spans` (attributes).
    #[serde(default, rename = "in")]
    pub places: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakPlace {
    Logs,
    Metrics,
    Spans,
}

#[derive(Debug, Clone)]
pub struct NoLeaksCheck {
    pub places: Vec<LeakPlace>,
}

impl Kind for NoLeaksCheck {
    const NAME: &'static str = "no_leaks";
    type Raw = RawNoLeaks;

    fn compile(cx: &mut Ctx, path: &str, r: RawNoLeaks, names: &Names) -> Option<Self> {
        compile(cx, path, r, names)
    }

    fn describe(&self) -> String {
        "canary secret never leaks".to_string()
    }

    fn judge(&self, rec: &Recorded, _w: Window, _id: &str) -> Judgement {
        let attrs: Vec<(String, String, Value)> =
            rec.traces.spans.iter().flat_map(|s| s.attributes.iter().map(move |(k, v)| (s.name.clone(), k.clone(), v.clone()))).collect();
        no_leaks(self, rec.canary.as_deref(), &rec.logs, &rec.metrics, &attrs)
    }

    /// The canary the load sent, searched in the places asked for.
    fn signals(&self) -> Signals {
        let mut s = Signals::default().load();
        s.logs = self.places.contains(&LeakPlace::Logs);
        s
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawNoLeaks, names: &Names) -> Option<NoLeaksCheck> {
    if !names.load.is_some_and(|l| l.canary) {
        cx.err(path, "`no_leaks` needs a canary secret in the load", Some("add `canary: true` under `load:`".into()));
    }
    let mut places = Vec::new();
    for (i, p) in r.places.iter().enumerate() {
        match p.as_str() {
            "logs" => places.push(LeakPlace::Logs),
            "metrics" => places.push(LeakPlace::Metrics),
            "spans" => places.push(LeakPlace::Spans),
            other => cx.err_value(
                &format!("{path}.in[{i}]"),
                format!("unknown place `{other}`"),
                Some("use `logs`, `metrics` or `spans`".into()),
            ),
        }
    }
    if places.is_empty() {
        places = vec![LeakPlace::Logs, LeakPlace::Metrics, LeakPlace::Spans];
    }
    Some(NoLeaksCheck { places })
}

fn mask(line: &str, canary: &str) -> String {
    let masked = line.replace(canary, "[CANARY]");
    if masked.chars().count() > 400 { format!("{}…", masked.chars().take(400).collect::<String>()) } else { masked }
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
    use super::*;
    use crate::expect::kinds::logs::tests::{line, lines};

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
