//! `kind: accounting` — does the telemetry tell the truth? The stack's claim
//! about events (a counter's increase, or a number of spans) against what
//! ordeal saw happen (the calls that reached a mock, the tokens an LLM mock
//! served, the answers the load driver got) over the same window, within a
//! stated tolerance; the evidence lists both sides.
//!
//! Both sides count over the window. When it runs to the end of the timeline
//! (the default, or `after:`), the claim also takes the final scrape after the
//! load stopped and the truth every call after the timeline, so events in
//! flight at the end are counted on both sides. A window that ends inside the
//! run cuts both sides at slightly different points (a scrape interval); give
//! it a `tolerance`.
//!
//! A latency claim (`histogram` + `quantile`) is one-sided instead: the
//! stack cannot report less than the mock made it wait (see `latency`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

mod latency;
pub mod no_task_lost;

use super::journal::{StatusSel, answered, journal};
use super::traces::spans::{RawSpanSelector, SpanSelector, describe as describe_spans, select, selector as span_selector};
use crate::clock::Window;
use crate::collectors::store::LabelMatcher;
use crate::expect::kind::{Kind, Signals};
use crate::expect::series::{describe, fmt_num, missing, selector};
use crate::expect::{Judgement, Recorded};
use crate::scenario::{Ctx, Names, Scalar, matchers, route};

/// What the stack says happened: a counter (`metric`) or spans (`spans`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClaim {
    /// A counter whose increase over the window is the claim (summed over the selected series).
    pub metric: Option<String>,
    /// Only this service's scrapes (default: every service).
    pub service: Option<String>,
    /// Label matchers of `metric`; prefix a value with `!` for "not equal".
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// The spans matching this selector, started in the window, are the claim.
    pub spans: Option<RawSpanSelector>,
    /// A latency histogram (the family name, or its `_bucket` series) whose
    /// `quantile` over the window must not be below the mock's (`truth: { latency: true }`).
    pub histogram: Option<String>,
    /// With `histogram`: the quantile compared, e.g. `0.95`.
    pub quantile: Option<f64>,
    /// With `histogram`: the unit of its buckets, `s` (default) or `ms`.
    pub unit: Option<String>,
}

/// What ordeal saw happen: calls to a mock (`mock`), or the load driver's answers (`load: true`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTruth {
    /// The calls that reached this mock.
    pub mock: Option<String>,
    /// Only calls matching `METHOD /path`.
    pub route: Option<String>,
    /// Only answers with this status: `503`, a class such as `5xx`, or `none`
    /// (no answer: a reset, a hang cut short). Mock calls or load answers. It is
    /// the HTTP status sent: a `malformed` body or a cut stream went out as 200.
    pub status: Option<Scalar>,
    /// Count the tokens the LLM mock served in its answers' `usage` instead of
    /// calls: `prompt`, `completion` or `total`.
    pub tokens: Option<String>,
    /// The load driver's answers.
    #[serde(default)]
    pub load: bool,
    /// The time the mock took to answer each call (with `claim.histogram`):
    /// calls that got an answer, their `quantile` by nearest rank.
    #[serde(default)]
    pub latency: bool,
}

/// `kind: accounting` — a stack signal against ordeal's ground truth.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAccounting {
    pub claim: RawClaim,
    pub truth: RawTruth,
    /// The largest difference allowed, in events (default 0).
    pub tolerance: Option<f64>,
    /// A difference allowed relative to the truth (`0.05`: 5 %); the larger of
    /// `tolerance` and this applies.
    pub relative: Option<f64>,
    /// Nothing on either side passes (default: fails, "no data").
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Clone)]
pub enum Claim {
    Counter { service: Option<String>, metric: String, matchers: Vec<LabelMatcher> },
    Spans(SpanSelector),
    Latency { service: Option<String>, histogram: String, matchers: Vec<LabelMatcher>, quantile: f64, unit_ms: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    Prompt,
    Completion,
    Total,
}

#[derive(Debug, Clone)]
pub enum Truth {
    Mock { mock: String, route: Option<String>, status: Option<StatusSel>, tokens: Option<Tokens> },
    Load { status: Option<StatusSel> },
    Latency { mock: String, route: Option<String>, status: Option<StatusSel> },
}

#[derive(Debug, Clone)]
pub struct AccountingCheck {
    pub claim: Claim,
    pub truth: Truth,
    pub tolerance: f64,
    pub relative: f64,
    pub allow_empty: bool,
}

impl Kind for AccountingCheck {
    const NAME: &'static str = "accounting";
    type Raw = RawAccounting;

    fn compile(cx: &mut Ctx, path: &str, r: RawAccounting, names: &Names) -> Option<Self> {
        let claim = compile_claim(cx, &format!("{path}.claim"), r.claim, names)?;
        let truth = compile_truth(cx, &format!("{path}.truth"), r.truth, names)?;
        if matches!(claim, Claim::Latency { .. }) != matches!(truth, Truth::Latency { .. }) {
            let hint = "a latency claim (`claim: { histogram: H, quantile: 0.95 }`) goes with `truth: { mock: M, latency: true }`";
            cx.err(path, "a latency is compared with a latency, a count with a count", Some(hint.into()));
            return None;
        }
        if matches!(claim, Claim::Latency { .. }) && (r.tolerance.is_some() || r.relative.is_some()) {
            cx.err(path, "a latency claim takes no `tolerance` or `relative`", Some("it passes when the stack's quantile is not below the mock's".into()));
            return None;
        }
        for (field, v) in [("tolerance", r.tolerance), ("relative", r.relative)] {
            if v.is_some_and(|v| !(v >= 0.0 && v.is_finite())) {
                cx.err_value(&format!("{path}.{field}"), format!("`{field}` must be a number >= 0"), None);
                return None;
            }
        }
        Some(AccountingCheck { claim, truth, tolerance: r.tolerance.unwrap_or(0.0), relative: r.relative.unwrap_or(0.0), allow_empty: r.allow_empty })
    }

    fn describe(&self) -> String {
        format!("{} accounts for {}", claim_text(&self.claim), truth_text(&self.truth))
    }

    fn judge(&self, rec: &Recorded, w: Window, _id: &str) -> Judgement {
        judge(self, rec, w)
    }

    fn signals(&self) -> Signals {
        let s = match &self.claim {
            Claim::Counter { service, metric, matchers } => Signals::default().service(service.as_deref()).metric(describe(None, metric, matchers)),
            Claim::Spans(sel) => Signals::default().span(sel.name.as_deref()),
            Claim::Latency { service, histogram, matchers, .. } => {
                Signals::default().service(service.as_deref()).metric(describe(None, histogram, matchers))
            }
        };
        match &self.truth {
            Truth::Mock { mock, .. } | Truth::Latency { mock, .. } => s.mock(mock),
            Truth::Load { .. } => s.load(),
        }
    }
}

fn compile_claim(cx: &mut Ctx, path: &str, r: RawClaim, names: &Names) -> Option<Claim> {
    if r.histogram.is_some() || r.quantile.is_some() || r.unit.is_some() {
        return latency::compile_claim(cx, path, r, names);
    }
    match (r.metric, r.spans) {
        (Some(metric), None) => {
            if let Some(s) = &r.service {
                names.service(cx, &format!("{path}.service"), s);
            }
            crate::scenario::ctx::metric_names(cx, path, "metric", &metric, &r.labels);
            Some(Claim::Counter { service: r.service, metric, matchers: matchers(&r.labels) })
        }
        (None, Some(spans)) => {
            if r.service.is_some() || !r.labels.is_empty() {
                let hint = "a span's service goes in the selector: `spans: { name: X, service: Y }`";
                cx.err(path, "`service` and `labels` go with `metric`, not `spans`", Some(hint.into()));
                return None;
            }
            Some(Claim::Spans(span_selector(cx, &format!("{path}.spans"), spans)))
        }
        (m, _) => {
            let message = if m.is_some() { "give one of `metric` and `spans`, not both" } else { "say what the stack claims: `metric` or `spans`" };
            cx.err(path, message, Some("e.g. `claim: { metric: llm_calls_total, labels: { outcome: error } }`".into()));
            None
        }
    }
}

fn compile_truth(cx: &mut Ctx, path: &str, r: RawTruth, names: &Names) -> Option<Truth> {
    let status = StatusSel::compile(cx, &format!("{path}.status"), r.status.as_ref())?;
    let tokens = match r.tokens.as_deref() {
        None => None,
        Some("prompt") => Some(Tokens::Prompt),
        Some("completion") => Some(Tokens::Completion),
        Some("total") => Some(Tokens::Total),
        Some(other) => {
            cx.err_value(&format!("{path}.tokens"), format!("unknown token count `{other}`"), Some("use `prompt`, `completion` or `total`".into()));
            return None;
        }
    };
    if r.latency {
        return latency::compile_truth(cx, path, r, status, tokens, names);
    }
    match (r.mock, r.load) {
        (Some(mock), false) => {
            names.mock(cx, &format!("{path}.mock"), &mock);
            route(cx, path, r.route.as_deref());
            if tokens.is_some() && names.mocks.get(&mock).is_some_and(|m| m.kind() != "openai") {
                cx.err(&format!("{path}.tokens"), format!("mock `{mock}` serves no tokens"), Some("`tokens` counts what an `openai` mock served".into()));
            }
            Some(Truth::Mock { mock, route: r.route, status, tokens })
        }
        (None, true) => {
            if names.load.is_none() {
                cx.err(&format!("{path}.load"), "the scenario drives no load", Some("add a `load:` section, or count a mock's calls".into()));
            }
            if r.route.is_some() || tokens.is_some() {
                cx.err(path, "`route` and `tokens` go with `mock`, not `load`", None);
                return None;
            }
            Some(Truth::Load { status })
        }
        (m, _) => {
            let message = if m.is_some() { "give one of `mock` and `load`, not both" } else { "say what ordeal counts: `mock` or `load: true`" };
            cx.err(path, message, Some("e.g. `truth: { mock: llm, status: 5xx }`".into()));
            None
        }
    }
}

fn claim_text(c: &Claim) -> String {
    match c {
        Claim::Counter { service, metric, matchers } => format!("increase({})", describe(service.as_deref(), metric, matchers)),
        Claim::Spans(sel) => format!("count(spans {})", describe_spans(sel)),
        Claim::Latency { service, histogram, matchers, quantile, .. } => {
            format!("the q{} bucket of {}", quantile, describe(service.as_deref(), histogram, matchers))
        }
    }
}

fn truth_text(t: &Truth) -> String {
    let status = |s: &Option<StatusSel>| s.map(|s| format!(" answered {}", s.text())).unwrap_or_default();
    match t {
        Truth::Mock { mock, route, status: st, tokens } => {
            let what = match tokens {
                Some(Tokens::Prompt) => "prompt tokens served by",
                Some(Tokens::Completion) => "completion tokens served by",
                Some(Tokens::Total) => "tokens served by",
                None => "calls to",
            };
            let route = route.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
            format!("{what} mock {mock}{route}{}", status(st))
        }
        Truth::Load { status: st } => format!("load answers{}", status(st)),
        Truth::Latency { mock, route, status: st } => {
            format!("the time mock {mock}{} took to answer{}", route.as_ref().map(|r| format!(" {r}")).unwrap_or_default(), status(st))
        }
    }
}

/// The window both sides count over: to the end of everything when it runs to the timeline's end.
fn counted(rec: &Recorded, w: Window) -> Window {
    let timeline_end = rec.origin + rec.phases.last().map_or(Duration::ZERO, |p| p.end);
    if w.end >= timeline_end { Window::new(w.start, Duration::from_secs(u32::MAX as u64)) } else { w }
}

/// The claim's value and its evidence, or why there is none.
/// `w` is the counted window; `given` the window as the scenario wrote it,
/// over which an absent counter's service must have been scraped.
fn claim_value(c: &Claim, rec: &Recorded, w: Window, given: Window) -> Result<(f64, serde_json::Value), (String, serde_json::Value)> {
    match c {
        Claim::Counter { service, metric, matchers } => {
            let sel = selector(service.as_deref(), metric, matchers);
            match rec.metrics.increase(&sel, w) {
                Some(i) => Ok((i.value, json!({ "series": i.series, "resets": i.resets }))),
                None => match rec.metrics.scraped_in(service.as_deref(), given) {
                    // A counter not created yet counts as 0 from a scraper that looked.
                    Ok(()) => Ok((0.0, json!({ "series": 0, "absent": missing(&rec.metrics, service.as_deref(), metric) }))),
                    Err(why) => Err((format!("not judgeable: {} is absent and {why}", describe(service.as_deref(), metric, matchers)), json!({}))),
                },
            }
        }
        Claim::Spans(sel) => {
            if rec.traces.dropped_spans > 0 {
                let why = format!("not judgeable: the span store was full and {} spans were dropped", rec.traces.dropped_spans);
                return Err((why, json!({ "dropped_spans": rec.traces.dropped_spans })));
            }
            let traces = rec.traces.traces();
            let hits: Vec<&str> = select(&traces, sel, w).into_iter().map(|(s, _)| s.trace_id.as_str()).collect();
            Ok((hits.len() as f64, json!({ "spans_received": rec.traces.spans.len(), "example_trace_ids": hits.iter().take(3).collect::<Vec<_>>() })))
        }
        Claim::Latency { .. } => Err(("a latency claim is judged by `latency::judge`".into(), json!({}))),
    }
}

/// The truth's value and its evidence.
fn truth_value(t: &Truth, rec: &Recorded, w: Window) -> (f64, serde_json::Value) {
    match t {
        Truth::Mock { mock, route, status, tokens } => {
            let calls = answered(journal(rec, mock), route.as_deref(), *status, w);
            let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
            for e in &calls {
                *by_status.entry(e.status.map_or("none".into(), |s| s.to_string())).or_default() += 1;
            }
            let examples: Vec<&str> = calls.iter().filter_map(|e| e.request_id.as_deref()).take(3).collect();
            let value = match tokens {
                None => calls.len() as f64,
                Some(kind) => calls
                    .iter()
                    .filter_map(|e| e.tokens)
                    .map(|t| match kind {
                        Tokens::Prompt => t.prompt,
                        Tokens::Completion => t.completion,
                        Tokens::Total => t.prompt + t.completion,
                    } as f64)
                    .sum(),
            };
            (value, json!({ "calls": calls.len(), "by_status": by_status, "example_request_ids": examples }))
        }
        Truth::Load { status } => {
            let stats = rec.load.as_ref().map(|l| l.stats(w, None));
            let statuses = stats.map(|s| s.statuses).unwrap_or_default();
            let value: u64 = statuses.iter().filter(|(k, _)| status.is_none_or(|s| s.holds_key(k))).map(|(_, n)| n).sum();
            (value as f64, json!({ "load_answers_by_status": statuses }))
        }
        Truth::Latency { .. } => (0.0, json!({})),
    }
}

pub(crate) fn judge(c: &AccountingCheck, rec: &Recorded, given: Window) -> Judgement {
    let w = counted(rec, given);
    if let (Claim::Latency { .. }, Truth::Latency { .. }) = (&c.claim, &c.truth) {
        return latency::judge(c, rec, w);
    }
    let allowed_text = match (c.tolerance, c.relative) {
        (t, r) if r > 0.0 => format!("within max({}, {} x truth)", fmt_num(t), fmt_num(r)),
        (t, _) => format!("within {}", fmt_num(t)),
    };
    let expected = format!("{} == {} {allowed_text}", claim_text(&c.claim), truth_text(&c.truth));
    let (truth, truth_ev) = truth_value(&c.truth, rec, w);
    let (claim, claim_ev) = match claim_value(&c.claim, rec, w, given) {
        Ok(v) => v,
        Err((observed, ev)) => return Judgement { pass: false, expected, observed, evidence: json!({ "claim": ev, "truth": truth_ev }) },
    };
    let allowed = c.tolerance.max(c.relative * truth);
    let diff = claim - truth;
    let evidence = json!({
        "claim": { "what": claim_text(&c.claim), "value": claim, "detail": claim_ev },
        "truth": { "what": truth_text(&c.truth), "value": truth, "detail": truth_ev },
        "difference": diff,
        "allowed": allowed,
    });
    if claim == 0.0 && truth == 0.0 {
        return crate::expect::kind::no_data(c.allow_empty, expected, "the stack claims nothing and ordeal saw nothing", evidence);
    }
    Judgement {
        pass: diff.abs() <= allowed + 1e-9,
        expected,
        observed: format!("the stack says {}, ordeal saw {} (difference {:+})", fmt_num(claim), fmt_num(truth), diff),
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use crate::expect::kinds::journal::fixtures::e;
    use crate::expect::vacuous::nothing;
    use crate::faults::{JournalEntry, Outcome, TokenCount};
    use crate::scenario::PhaseSpan;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    /// A 10 s timeline from 1 s; `calls_total{outcome="error"}` counts `counted`
    /// of the mock's `failed` 503 answers (one a second from 2 s), and one call succeeds.
    fn run(counted: u64, failed: u64) -> Recorded {
        let phases = vec![PhaseSpan { name: "all".into(), start: s(0), end: s(10), rate: None }];
        let mut rec = nothing(phases);
        for t in 0..=12u64 {
            let n = counted.min(t.saturating_sub(2));
            rec.metrics.record("svc", s(t), parse(&format!("calls_total{{outcome=\"error\"}} {n}\n"), Format::PrometheusText));
        }
        let mut entries: Vec<JournalEntry> = (0..failed).map(|i| e(&format!("r{i}"), 2000 + i * 1000, 2010 + i * 1000, Outcome::Error)).collect();
        let mut ok = e("ok", 1500, 1510, Outcome::Ok);
        ok.tokens = Some(TokenCount { prompt: 7, completion: 3 });
        entries.push(ok);
        rec.journals.insert("llm".into(), entries);
        rec
    }

    fn check(truth_status: Option<&str>, tokens: Option<Tokens>, tolerance: f64) -> AccountingCheck {
        AccountingCheck {
            claim: Claim::Counter {
                service: Some("svc".into()),
                metric: "calls_total".into(),
                matchers: matchers(&[("outcome".to_string(), Scalar("error".into()))].into_iter().collect()),
            },
            truth: Truth::Mock { mock: "llm".into(), route: None, status: truth_status.and_then(StatusSel::parse), tokens },
            tolerance,
            relative: 0.0,
            allow_empty: false,
        }
    }

    fn whole(rec: &Recorded) -> Window {
        Window::new(rec.origin, rec.origin + s(10))
    }

    #[test]
    fn a_counter_that_counts_every_failed_call_passes_and_one_that_misses_some_fails() {
        let rec = run(5, 5);
        let j = judge(&check(Some("5xx"), None, 0.0), &rec, whole(&rec));
        assert!(j.pass, "{} / {}", j.observed, j.evidence);
        let rec = run(4, 6);
        let j = judge(&check(Some("5xx"), None, 0.0), &rec, whole(&rec));
        assert!(!j.pass);
        assert_eq!(j.observed, "the stack says 4, ordeal saw 6 (difference -2)");
        assert_eq!((j.evidence["claim"]["value"].as_f64(), j.evidence["truth"]["value"].as_f64()), (Some(4.0), Some(6.0)));
        assert_eq!(j.evidence["truth"]["detail"]["by_status"]["503"], 6);
        assert!(judge(&check(Some("5xx"), None, 2.0), &rec, whole(&rec)).pass, "within the tolerance");
        let j = judge(&check(Some("503"), None, 0.0), &run(5, 5), whole(&rec));
        assert!(j.pass, "an exact status");
        assert!(!judge(&check(None, None, 0.0), &run(5, 5), whole(&rec)).pass, "every call (6) is not every failed one (5)");
    }

    #[test]
    fn tokens_served_are_summed_from_the_journal() {
        let rec = run(10, 0);
        let mut c = check(None, Some(Tokens::Total), 0.0);
        assert!(judge(&c, &rec, whole(&rec)).pass, "10 tokens served, 10 counted");
        c.truth = Truth::Mock { mock: "llm".into(), route: None, status: None, tokens: Some(Tokens::Completion) };
        let j = judge(&c, &rec, whole(&rec));
        assert!(!j.pass && j.observed.contains("ordeal saw 3"), "{}", j.observed);
    }

    #[test]
    fn nothing_on_either_side_is_no_data() {
        let rec = nothing(vec![PhaseSpan { name: "all".into(), start: s(0), end: s(10), rate: None }]);
        let j = judge(&check(Some("5xx"), None, 0.0), &rec, whole(&rec));
        assert!(!j.pass && j.observed.starts_with("not judgeable"), "no scrape at all: {}", j.observed);
        let mut rec = run(0, 0);
        rec.journals.clear();
        let j = judge(&check(Some("5xx"), None, 0.0), &rec, whole(&rec));
        assert!(!j.pass && j.observed.starts_with("no data in the window"), "{}", j.observed);
        let mut c = check(Some("5xx"), None, 0.0);
        c.allow_empty = true;
        assert!(judge(&c, &rec, whole(&rec)).pass);
    }

    #[test]
    fn a_counter_not_created_yet_counts_as_zero_from_a_scraper_that_looked() {
        let mut rec = run(0, 0);
        rec.metrics = crate::collectors::store::MetricStore::new();
        rec.metrics.set_interval(Duration::from_millis(250));
        for t in 0..=48u64 {
            rec.metrics.record("svc", Duration::from_millis(t * 250), parse("up 1\n", Format::PrometheusText));
        }
        let j = judge(&check(None, None, 0.0), &rec, whole(&rec));
        assert!(!j.pass && j.observed == "the stack says 0, ordeal saw 1 (difference -1)", "{}", j.observed);
        rec.journals.clear();
        let mut c = check(None, None, 0.0);
        c.allow_empty = true;
        assert!(judge(&c, &rec, whole(&rec)).pass, "nothing on both sides, allowed");
    }

    #[test]
    fn status_selectors() {
        assert_eq!(StatusSel::parse("5xx"), Some(StatusSel::Class(5)));
        assert_eq!(StatusSel::parse("503"), Some(StatusSel::Exact(503)));
        assert_eq!(StatusSel::parse("none"), Some(StatusSel::NoAnswer));
        assert_eq!(StatusSel::parse("6xx"), None);
        assert_eq!(StatusSel::parse("99"), None);
        assert!(StatusSel::Class(2).holds_key("204") && !StatusSel::Class(2).holds_key("no response"));
        assert!(StatusSel::NoAnswer.holds_key("no response") && StatusSel::NoAnswer.holds(None));
        assert!(!StatusSel::NoAnswer.holds_key("unfinished") && !StatusSel::Class(5).holds_key("unfinished"));
    }

    #[test]
    fn mistakes_are_refused_at_compile() {
        let doc = r#"
name: acc
stack:
  services:
    api: { command: api, metrics: /metrics }
mocks:
  backend: { kind: http }
timeline:
  phases: [{ name: steady, duration: 2s }]
expect:
  - { kind: accounting, claim: { metric: a_total, spans: { name: X } }, truth: { mock: backend } }
  - { kind: accounting, claim: { metric: a_total }, truth: { mock: backend, status: 6xx } }
  - { kind: accounting, claim: { metric: a_total }, truth: { mock: backend, tokens: total } }
  - { kind: accounting, claim: { metric: a_total }, truth: { load: true } }
  - { kind: accounting, claim: { metric: a_total }, truth: { mock: nope }, tolerance: -1 }
"#;
        let errs = crate::plan::compile(doc, std::path::Path::new("s.yaml")).unwrap_err().0;
        let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            got,
            vec!["expect[0].claim", "expect[1].truth.status", "expect[2].truth.tokens", "expect[3].truth.load", "expect[4].truth.mock", "expect[4].tolerance"],
            "{errs:#?}"
        );
    }
}
