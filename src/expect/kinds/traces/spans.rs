//! `kind: trace_spans` — count, ratio, duration quantiles or attributes of
//! the spans a selector picks (name, service, kind, status, attributes,
//! parent, ancestor, events), started in the window.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::clock::Window;
use crate::collectors::otlp::{SpanKind, SpanRecord, SpanStatus, Trace, TraceStore};
use crate::expect::kind::{Kind, Signals};
use crate::expect::{Judgement, Recorded};
use crate::scenario::cmp::Comparison;
use crate::scenario::{Ctx, Names, Scalar, cmp, one_of};

/// Which spans: every given condition must hold.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSpanSelector {
    pub name: Option<String>,
    /// Resource `service.name`.
    pub service: Option<String>,
    /// `server`, `client`, `internal`, `producer` or `consumer`.
    pub kind: Option<String>,
    /// `ok`, `error` or `unset`.
    pub status: Option<String>,
    /// Attribute values; `"*"` only requires the attribute to be present.
    #[serde(default)]
    pub attributes: BTreeMap<String, Scalar>,
    /// Name of the direct parent span.
    pub parent: Option<String>,
    /// Name of any ancestor span.
    pub ancestor: Option<String>,
    /// The span has events with these names (e.g. `exception`).
    #[serde(default)]
    pub events: Vec<String>,
}

/// `kind: trace_spans` — count, ratio, duration or attributes of selected spans.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraceSpans {
    pub span: RawSpanSelector,
    /// Number of selected spans (started in the window).
    pub count: Option<String>,
    /// Selected spans as a fraction of the `of` spans.
    pub ratio: Option<String>,
    pub of: Option<RawSpanSelector>,
    pub p50: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    /// Every selected span has these attributes.
    pub attributes_present: Option<Vec<String>>,
    /// A count that holds at zero passes even when no span at all (of the
    /// selector's service) was received in the window (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatusSel {
    Ok,
    Error,
    Unset,
}

#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct SpanSelector {
    pub name: Option<String>,
    pub service: Option<String>,
    /// Lower-case OTLP kind name without prefix: `server`, `client`, ...
    pub kind: Option<String>,
    pub status: Option<SpanStatusSel>,
    /// (name, value); value `None` means "present".
    pub attributes: Vec<(String, Option<String>)>,
    pub parent: Option<String>,
    pub ancestor: Option<String>,
    pub events: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum SpanStat {
    Count(Comparison),
    Ratio(Comparison, SpanSelector),
    Quantile(f64, Comparison),
    AttributesPresent(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct TraceSpansCheck {
    pub span: SpanSelector,
    pub stat: SpanStat,
    pub allow_empty: bool,
}

impl Kind for TraceSpansCheck {
    const NAME: &'static str = "trace_spans";
    type Raw = RawTraceSpans;

    fn compile(cx: &mut Ctx, path: &str, r: RawTraceSpans, _names: &Names) -> Option<Self> {
        compile(cx, path, r)
    }

    fn describe(&self) -> String {
        format!("spans {}", self.span.name.as_deref().unwrap_or("*"))
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        spans(self, &rec.traces, w)
    }

    fn signals(&self) -> Signals {
        let s = Signals::default().span(self.span.name.as_deref());
        match &self.stat {
            SpanStat::Ratio(_, of) => s.span(of.name.as_deref()),
            _ => s,
        }
    }
}

const SPAN_KINDS: [&str; 5] = ["server", "client", "internal", "producer", "consumer"];

pub(crate) fn selector(cx: &mut Ctx, path: &str, r: RawSpanSelector) -> SpanSelector {
    if let Some(k) = &r.kind
        && !SPAN_KINDS.contains(&k.as_str())
    {
        cx.err_value(&format!("{path}.kind"), format!("unknown span kind `{k}`"), Some(format!("use one of {}", SPAN_KINDS.join(", "))));
    }
    let status = match r.status.as_deref() {
        None => None,
        Some("ok") => Some(SpanStatusSel::Ok),
        Some("error") => Some(SpanStatusSel::Error),
        Some("unset") => Some(SpanStatusSel::Unset),
        Some(other) => {
            cx.err_value(&format!("{path}.status"), format!("unknown span status `{other}`"), Some("use `ok`, `error` or `unset`".into()));
            None
        }
    };
    SpanSelector {
        name: r.name,
        service: r.service,
        kind: r.kind,
        status,
        attributes: r.attributes.into_iter().map(|(k, v)| (k, (v.0 != "*").then_some(v.0))).collect(),
        parent: r.parent,
        ancestor: r.ancestor,
        events: r.events,
    }
}

fn compile(cx: &mut Ctx, path: &str, r: RawTraceSpans) -> Option<TraceSpansCheck> {
    let span = selector(cx, &format!("{path}.span"), r.span);
    let present = r.attributes_present.as_ref().map(|a| a.join(","));
    let (name, text) = one_of(
        cx,
        path,
        vec![
            ("count", r.count.as_ref()),
            ("ratio", r.ratio.as_ref()),
            ("p50", r.p50.as_ref()),
            ("p95", r.p95.as_ref()),
            ("p99", r.p99.as_ref()),
            ("attributes_present", present.as_ref()),
        ],
    )?;
    let stat = match name {
        "count" => SpanStat::Count(cmp(cx, &format!("{path}.count"), text)?),
        "ratio" => {
            let Some(of) = r.of else {
                cx.err(path, "`ratio` needs `of:` (the spans it is a fraction of)", Some("e.g. `of: { name: LLMCall }`".into()));
                return None;
            };
            let of = selector(cx, &format!("{path}.of"), of);
            SpanStat::Ratio(cmp(cx, &format!("{path}.ratio"), text)?, of)
        }
        "p50" => SpanStat::Quantile(0.5, cmp(cx, &format!("{path}.p50"), text)?),
        "p95" => SpanStat::Quantile(0.95, cmp(cx, &format!("{path}.p95"), text)?),
        "p99" => SpanStat::Quantile(0.99, cmp(cx, &format!("{path}.p99"), text)?),
        _ => SpanStat::AttributesPresent(r.attributes_present.unwrap_or_default()),
    };
    Some(TraceSpansCheck { span, stat, allow_empty: r.allow_empty })
}

fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Unspecified => "unspecified",
    }
}

fn value_str(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn matches(sel: &SpanSelector, s: &SpanRecord, trace: &Trace) -> bool {
    sel.name.as_deref().is_none_or(|n| n == s.name)
        && sel.service.as_deref().is_none_or(|n| n == s.service)
        && sel.kind.as_deref().is_none_or(|k| k == kind_name(s.kind))
        && sel.status.is_none_or(|st| {
            matches!(
                (st, s.status),
                (SpanStatusSel::Ok, SpanStatus::Ok) | (SpanStatusSel::Error, SpanStatus::Error) | (SpanStatusSel::Unset, SpanStatus::Unset)
            )
        })
        && sel.attributes.iter().all(|(k, v)| s.attributes.get(k).is_some_and(|x| v.as_ref().is_none_or(|v| value_str(x) == *v)))
        && sel.events.iter().all(|e| s.events.iter().any(|x| &x.name == e))
        && sel.parent.as_deref().is_none_or(|p| trace.parent(s).is_some_and(|x| x.name == p))
        && sel.ancestor.as_deref().is_none_or(|a| trace.ancestors(&s.span_id).iter().any(|x| x.name == a))
}

pub(crate) fn describe(sel: &SpanSelector) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &sel.name {
        parts.push(n.clone());
    }
    if let Some(s) = &sel.service {
        parts.push(format!("service={s}"));
    }
    if let Some(k) = &sel.kind {
        parts.push(format!("kind={k}"));
    }
    if let Some(st) = sel.status {
        parts.push(format!("status={st:?}").to_lowercase());
    }
    for (k, v) in &sel.attributes {
        parts.push(format!("{k}={}", v.as_deref().unwrap_or("*")));
    }
    if let Some(p) = &sel.parent {
        parts.push(format!("parent={p}"));
    }
    if let Some(a) = &sel.ancestor {
        parts.push(format!("ancestor={a}"));
    }
    for e in &sel.events {
        parts.push(format!("event={e}"));
    }
    if parts.is_empty() { "all spans".into() } else { parts.join(" ") }
}

/// Spans started in the window that match, with their traces.
pub(crate) fn select<'a>(traces: &'a [Trace<'a>], sel: &SpanSelector, w: Window) -> Vec<(&'a SpanRecord, &'a Trace<'a>)> {
    traces
        .iter()
        .flat_map(|t| t.spans.iter().map(move |s| (*s, t)))
        .filter(|(s, t)| s.start.is_some_and(|st| w.contains(st)) && matches(sel, s, t))
        .collect()
}

/// A count with an upper bound that holds proves nothing when spans may be
/// missing: the store was full, or no span at all (of the selector's
/// service) arrived in the window — the exporter may be down or pointed
/// elsewhere. `None` when the count stands.
fn unseen(c: &TraceSpansCheck, store: &TraceStore, w: Window, expected: String, n: usize) -> Option<Judgement> {
    let fail = |observed: String, evidence: serde_json::Value| Judgement { pass: false, expected: expected.clone(), observed, evidence };
    if store.dropped_spans > 0 {
        let why = format!("not judgeable: the span store was full and {} spans were dropped, so {n} may undercount", store.dropped_spans);
        return Some(fail(why, json!({ "dropped_spans": store.dropped_spans })));
    }
    let service = c.span.service.as_deref();
    let sample = store.spans.iter().filter(|s| s.start.is_some_and(|t| w.contains(t)) && service.is_none_or(|v| v == s.service)).count();
    if sample > 0 || c.allow_empty {
        return None;
    }
    let of = service.map(|s| format!(" of service `{s}`")).unwrap_or_default();
    Some(fail(
        format!("no data in the window: no span{of} at all was received in it, so a count of {n} proves nothing"),
        json!({ "spans_received": store.spans.len(), "hint": "check the stack's OTLP exporter (endpoint, protocol, sampling), or set `allow_empty: true` if a window without spans is fine" }),
    ))
}

pub(crate) fn spans(c: &TraceSpansCheck, store: &TraceStore, w: Window) -> Judgement {
    let traces = store.traces();
    let hits = select(&traces, &c.span, w);
    let what = describe(&c.span);
    let examples: Vec<&str> = hits.iter().take(3).map(|(s, _)| s.trace_id.as_str()).collect();
    let received = json!({ "spans_received": store.spans.len(), "matched": hits.len(), "example_trace_ids": examples });
    match &c.stat {
        SpanStat::Count(cmp) if cmp.holds(hits.len() as f64) && !cmp.holds(f64::MAX) => {
            unseen(c, store, w, format!("count({what}) {cmp}"), hits.len()).unwrap_or_else(|| Judgement {
                pass: true,
                expected: format!("count({what}) {cmp}"),
                observed: format!("{} spans", hits.len()),
                evidence: received,
            })
        }
        SpanStat::Count(cmp) => Judgement {
            pass: cmp.holds(hits.len() as f64),
            expected: format!("count({what}) {cmp}"),
            observed: format!("{} spans", hits.len()),
            evidence: received,
        },
        SpanStat::Ratio(cmp, of) => {
            let base = select(&traces, of, w).len();
            let ratio = if base == 0 { 0.0 } else { hits.len() as f64 / base as f64 };
            Judgement {
                pass: base > 0 && cmp.holds(ratio),
                expected: format!("{what} among {} {cmp}", describe(of)),
                observed: format!("{}/{base} = {ratio:.3}", hits.len()),
                evidence: received,
            }
        }
        SpanStat::Quantile(q, cmp) => {
            let mut d: Vec<f64> = hits.iter().map(|(s, _)| s.duration.as_secs_f64()).collect();
            d.sort_by(f64::total_cmp);
            let v = crate::load::quantile(&d, *q);
            Judgement {
                pass: v.is_some_and(|v| cmp.holds(v)),
                expected: format!("p{}({what} duration) {cmp}", (q * 100.0).round()),
                observed: v.map_or_else(|| "no spans in the window".into(), |v| format!("{v:.4}s")),
                evidence: received,
            }
        }
        SpanStat::AttributesPresent(attrs) => {
            let missing: Vec<_> = hits.iter().filter(|(s, _)| attrs.iter().any(|a| !s.attributes.contains_key(a))).collect();
            let example = missing.first().map(|(s, _)| json!({ "trace_id": s.trace_id, "span": s.name, "missing": attrs.iter().filter(|a| !s.attributes.contains_key(*a)).collect::<Vec<_>>() }));
            Judgement {
                pass: !hits.is_empty() && missing.is_empty(),
                expected: format!("every {what} has {}", attrs.join(", ")),
                observed: if hits.is_empty() {
                    "no spans in the window".into()
                } else {
                    format!("{}/{} spans lack an attribute", missing.len(), hits.len())
                },
                evidence: json!({ "matched": hits.len(), "example": example }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    use crate::collectors::otlp::SpanStatus;

    use crate::scenario::cmp::Comparison;

    #[test]
    fn selectors_count_ratio_attributes_and_durations() {
        let mut spans = full("t1");
        spans[2].status = SpanStatus::Error;
        spans[2].events.push(crate::collectors::otlp::SpanEvent { name: "exception".into(), at: None, attributes: Default::default() });
        spans[2].attributes.insert("llm.model".into(), "gpt".into());
        let st = store(spans);
        let sel = |name: &str| SpanSelector { name: Some(name.into()), ..Default::default() };
        let errors = SpanSelector {
            status: Some(SpanStatusSel::Error),
            events: vec!["exception".into()],
            ancestor: Some("ExecuteTask".into()),
            parent: Some("PlanTask".into()),
            ..sel("LLMCall")
        };
        let count = |s: SpanSelector, c: &str| {
            spans_judge(TraceSpansCheck { span: s, stat: SpanStat::Count(Comparison::parse(c).unwrap()), allow_empty: false }, &st)
        };
        assert!(count(errors.clone(), "== 1"));
        assert!(count(SpanSelector { parent: Some("AssignToWorker".into()), ..errors.clone() }, "== 0"));
        assert!(count(SpanSelector { service: Some("worker".into()), ..Default::default() }, "== 1"));
        let ratio =
            TraceSpansCheck { span: errors, stat: SpanStat::Ratio(Comparison::parse("== 1").unwrap(), sel("LLMCall")), allow_empty: false };
        assert!(spans_judge(ratio, &st));
        let attrs =
            |a: &str| TraceSpansCheck { span: sel("LLMCall"), stat: SpanStat::AttributesPresent(vec![a.into()]), allow_empty: false };
        assert!(spans_judge(attrs("llm.model"), &st));
        assert!(!spans_judge(attrs("task.id"), &st));
        let p95 = TraceSpansCheck {
            span: SpanSelector::default(),
            stat: SpanStat::Quantile(0.95, Comparison::parse("< 60ms").unwrap()),
            allow_empty: false,
        };
        assert!(spans_judge(p95, &st));
    }

    #[test]
    fn a_count_of_zero_needs_spans_in_the_window() {
        let st = store(full("t1"));
        let zero = |service: Option<&str>, allow_empty: bool| TraceSpansCheck {
            span: SpanSelector { name: Some("Nope".into()), service: service.map(String::from), ..Default::default() },
            stat: SpanStat::Count(Comparison::parse("== 0").unwrap()),
            allow_empty,
        };
        assert!(spans_judge(zero(None, false), &st), "spans arrived, none matched");
        let j = spans(&zero(None, false), &TraceStore::default(), all());
        assert!(!j.pass && j.observed.starts_with("no data in the window: no span at all"), "{}", j.observed);
        assert!(spans(&zero(None, true), &TraceStore::default(), all()).pass, "allow_empty");
        let j = spans(&zero(Some("ghost"), false), &st, all());
        assert!(!j.pass && j.observed.contains("of service `ghost`"), "{}", j.observed);
        let mut full_store = st.clone();
        full_store.dropped_spans = 3;
        let j = spans(&zero(None, true), &full_store, all());
        assert!(!j.pass && j.observed.contains("3 spans were dropped"), "{}", j.observed);
        // A lower bound that holds stands whatever is missing.
        let some =
            TraceSpansCheck { span: SpanSelector::default(), stat: SpanStat::Count(Comparison::parse("> 0").unwrap()), allow_empty: false };
        assert!(spans(&some, &full_store, all()).pass);
    }
}
