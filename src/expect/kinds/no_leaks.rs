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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoLeaks {
    /// Where to look (default all): `logs`, `metrics` (label values), `spans` (attributes).
    #[serde(default, rename = "in")]
    pub places: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
        let j = no_leaks(self, rec.canary.as_deref(), &rec.logs, &rec.metrics, &attrs);
        match (j.pass, blind(self, rec)) {
            (true, Some(why)) => Judgement { pass: false, observed: format!("not judgeable: {why}, so finding no canary proves nothing"), ..j },
            _ => j,
        }
    }

    /// The canary the load sent, searched in the places asked for.
    fn signals(&self) -> Signals {
        let mut s = Signals::default().load();
        s.logs = self.places.contains(&LeakPlace::Logs);
        s
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawNoLeaks, names: &Names) -> Option<NoLeaksCheck> {
    if names.load.is_none_or(|l| l.canary.is_none()) {
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

/// Why the search could not have found a leak: the canary never reached the
/// stack (no request answered), or a place searched held nothing to search.
fn blind(c: &NoLeaksCheck, rec: &Recorded) -> Option<String> {
    let whole = Window::new(std::time::Duration::ZERO, std::time::Duration::from_secs(u32::MAX as u64));
    let answered = rec.load.as_ref().map_or(0, |l| l.stats(whole, None).statuses.iter().filter(|(s, _)| s.parse::<u16>().is_ok()).map(|(_, n)| n).sum());
    if answered == 0 {
        return Some("no request carrying the canary was answered by the stack".into());
    }
    let mut why = Vec::new();
    if c.places.contains(&LeakPlace::Logs) {
        if rec.logs.is_empty() {
            why.push("no log line was captured".to_string());
        } else if let Some(g) = rec.log_gaps.first() {
            why.push(format!("log capture of {} stopped at {:.2}s ({})", g.service, g.from.as_secs_f64(), g.reason));
        }
    }
    if c.places.contains(&LeakPlace::Metrics)
        && let Err(e) = rec.metrics.scraped_once_in(None, whole)
    {
        why.push(format!("metrics: {e}"));
    }
    if c.places.contains(&LeakPlace::Spans) {
        if rec.traces.spans.is_empty() {
            why.push("no span was received".into());
        } else if rec.traces.dropped_spans > 0 {
            why.push(format!("{} spans were dropped (the span store was full)", rec.traces.dropped_spans));
        }
    }
    (!why.is_empty()).then(|| format!("{} (name the places to search with `in:`)", why.join("; ")))
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

    #[test]
    fn nothing_searched_is_not_judgeable() {
        use crate::collectors::exposition::{Format, parse};
        use crate::expect::kinds::traces::fixtures;
        let c = NoLeaksCheck { places: vec![LeakPlace::Logs, LeakPlace::Metrics, LeakPlace::Spans] };
        let mut rec = crate::expect::vacuous::nothing(Vec::new());
        rec.canary = Some("ordeal-canary-x".into());
        let w = Window::new(std::time::Duration::ZERO, std::time::Duration::from_secs(10));
        let j = c.judge(&rec, w, "");
        assert!(!j.pass && j.observed.contains("no request carrying the canary was answered"), "{}", j.observed);
        rec.load = Some(fixtures::load(&["t1"]));
        let j = c.judge(&rec, w, "");
        assert!(
            !j.pass && j.observed.contains("no log line was captured; metrics: no service was scraped; no span was received"),
            "{}",
            j.observed
        );
        rec.logs = lines();
        rec.metrics.record("a", std::time::Duration::from_millis(5), parse("up 1\n", Format::PrometheusText));
        rec.traces = fixtures::store(fixtures::full("t1"));
        let j = c.judge(&rec, w, "");
        assert!(j.pass, "{}", j.observed);
        rec.logs.push(line("a", 500, "token=ordeal-canary-x"));
        assert!(!c.judge(&rec, w, "").pass, "a leak is a leak");
    }
}
