//! Latency accounting: the stack's latency histogram against the time the
//! mock took to answer. A stack that measures a call from before it sends to
//! after it reads the answer cannot report less than the mock made it wait,
//! so the check is one-sided: the q-quantile of the mock's answer times
//! (nearest rank over the calls answered in the window) must not exceed the
//! upper bound of the histogram bucket that holds the stack's q-quantile —
//! the most a histogram can say for sure (interpolating inside a bucket, as
//! `histogram_quantile` does, could put a faithful histogram below the truth).
//! A histogram whose lowest bucket already lies above the truth cannot show
//! a smaller value, so it is not judgeable rather than passing; a call the
//! mock held back (a hang) is left out, since the stack gave up on it.

use serde_json::json;

use super::{AccountingCheck, Claim, RawClaim, RawTruth, Tokens, Truth, claim_text, truth_text};
use crate::clock::Window;
use crate::collectors::store::bucket_bound;
use crate::expect::kinds::journal::{StatusSel, answered, journal};
use crate::expect::series::{describe, missing, selector};
use crate::expect::{Judgement, Recorded};
use crate::scenario::{Ctx, Names, matchers, route};

pub(super) fn compile_claim(cx: &mut Ctx, path: &str, r: RawClaim, names: &Names) -> Option<Claim> {
    let (Some(histogram), Some(quantile)) = (r.histogram, r.quantile) else {
        cx.err(path, "a latency claim needs `histogram` and `quantile`", Some("e.g. `claim: { histogram: llm_call_seconds, quantile: 0.95 }`".into()));
        return None;
    };
    if r.metric.is_some() || r.spans.is_some() {
        cx.err(path, "give one of `metric`, `spans` and `histogram`", None);
        return None;
    }
    if !(quantile > 0.0 && quantile <= 1.0) {
        cx.err_value(&format!("{path}.quantile"), "a quantile is above 0 and at most 1", Some("e.g. `0.95`".into()));
        return None;
    }
    let unit_ms = match r.unit.as_deref() {
        None | Some("s") => false,
        Some("ms") => true,
        Some(other) => {
            cx.err_value(&format!("{path}.unit"), format!("unknown unit `{other}`"), Some("`s` (Prometheus' convention) or `ms`".into()));
            return None;
        }
    };
    if let Some(s) = &r.service {
        names.service(cx, &format!("{path}.service"), s);
    }
    crate::scenario::ctx::metric_names(cx, path, "histogram", &histogram, &r.labels);
    Some(Claim::Latency { service: r.service, histogram, matchers: matchers(&r.labels), quantile, unit_ms })
}

pub(super) fn compile_truth(
    cx: &mut Ctx,
    path: &str,
    r: RawTruth,
    status: Option<StatusSel>,
    tokens: Option<Tokens>,
    names: &Names,
) -> Option<Truth> {
    let Some(mock) = r.mock.filter(|_| !r.load && tokens.is_none()) else {
        cx.err(path, "`latency: true` is the time a mock took: it goes with `mock`, not `load` or `tokens`", None);
        return None;
    };
    names.mock(cx, &format!("{path}.mock"), &mock);
    route(cx, path, r.route.as_deref());
    Some(Truth::Latency { mock, route: r.route, status })
}

/// Nearest-rank q-quantile of the mock's answer times (seconds) and the number of calls.
fn truth_quantile(rec: &Recorded, mock: &str, route: Option<&str>, status: Option<StatusSel>, q: f64, w: Window) -> (Option<f64>, usize) {
    let mut times: Vec<f64> = answered(journal(rec, mock), route, status, w)
        .into_iter()
        // An answer the mock held back (a hang) outlasts the stack's timeout: not a wait it could see.
        .filter(|e| e.status.is_some() && e.outcome != crate::faults::Outcome::Hang)
        .map(|e| e.elapsed().as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    (crate::load::quantile(&times, q), times.len())
}

pub(super) fn judge(c: &AccountingCheck, rec: &Recorded, w: Window) -> Judgement {
    let (Claim::Latency { service, histogram, matchers, quantile, unit_ms }, Truth::Latency { mock, route, status }) = (&c.claim, &c.truth) else {
        unreachable!("judged only for a latency claim and truth")
    };
    let q = *quantile;
    let expected = format!("{} >= the q{} of {}", claim_text(&c.claim), q, truth_text(&c.truth));
    let (truth, calls) = truth_quantile(rec, mock, route.as_deref(), *status, q, w);
    let sel = selector(service.as_deref(), histogram, matchers);
    let scale = if *unit_ms { 0.001 } else { 1.0 };
    let buckets = rec.metrics.histogram_buckets(&sel, w);
    let lowest = buckets.iter().map(|b| b.0 * scale).fold(f64::INFINITY, f64::min);
    let claim = bucket_bound(q, buckets).map(|(le, n)| (le * scale, n));
    let interpolated = rec.metrics.histogram_quantile(q, &sel, w).map(|v| v * scale);
    let ms = |v: f64| if v.is_finite() { json!((v * 1e6).round() / 1e3) } else { json!("+Inf") };
    let mut evidence = json!({
        "claim": { "what": claim_text(&c.claim), "bucket_le_ms": claim.map(|c| ms(c.0)), "observations": claim.map(|c| c.1), "interpolated_ms": interpolated.map(ms) },
        "truth": { "what": truth_text(&c.truth), "quantile_ms": truth.map(ms), "calls": calls },
    });
    let (Some((bound, _)), Some(truth)) = (claim, truth) else {
        if claim.is_none() {
            evidence["claim"]["absent"] = missing(&rec.metrics, service.as_deref(), histogram);
        }
        let what = match (claim, truth) {
            (None, None) => "the histogram has no observation and no call was answered".to_string(),
            (None, _) => format!("{} has no observation in it", describe(service.as_deref(), histogram, matchers)),
            _ => format!("no call to mock `{mock}` was answered in it"),
        };
        return crate::expect::kind::no_data(c.allow_empty, expected, what, evidence);
    };
    let text = |v: f64| if v.is_finite() { format!("{}", (v * 1e6).round() / 1e3) } else { "+Inf ".into() };
    if lowest >= truth {
        let observed = format!(
            "not judgeable: the histogram's lowest bucket (up to {}ms) is not below the mock's {}ms, so it could not show a smaller value",
            text(lowest),
            text(truth)
        );
        return Judgement { pass: false, expected, observed, evidence };
    }
    let pass = bound >= truth;
    let observed = if pass {
        format!("the stack's q{q} is in the bucket up to {}ms; the mock took {}ms", text(bound), text(truth))
    } else {
        format!(
            "the stack says its q{q} is at most {}ms, but the mock alone took {}ms at that quantile: the histogram reports less than the wait",
            text(bound),
            text(truth)
        )
    };
    Judgement { pass, expected, observed, evidence }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collectors::exposition::{Format, parse};
    use crate::expect::kinds::journal::fixtures::e;
    use crate::expect::vacuous::nothing;
    use crate::faults::Outcome;
    use crate::scenario::PhaseSpan;

    /// 20 calls the mock answered in 6..=25 ms; the stack's histogram holds
    /// `counts` (cumulative, le 5 ms, 10 ms, 25 ms, 50 ms, +Inf) at 10 s.
    fn run(counts: [u64; 5]) -> Recorded {
        let mut rec = nothing(vec![PhaseSpan { name: "all".into(), start: Duration::ZERO, end: Duration::from_secs(10), rate: None }]);
        let text = |c: [u64; 5]| {
            ["0.005", "0.01", "0.025", "0.05", "+Inf"].iter().zip(c).map(|(le, n)| format!("h_bucket{{le=\"{le}\"}} {n}\n")).collect::<String>()
        };
        rec.metrics.record("svc", Duration::from_secs(1), parse(&text([0; 5]), Format::PrometheusText));
        rec.metrics.record("svc", Duration::from_secs(10), parse(&text(counts), Format::PrometheusText));
        let calls = (0..20u64).map(|i| e(&format!("r{i}"), 2000 + i * 100, 2000 + i * 100 + 6 + i, Outcome::Ok)).collect();
        rec.journals.insert("llm".into(), calls);
        rec
    }

    fn check(q: f64) -> AccountingCheck {
        AccountingCheck {
            claim: Claim::Latency { service: None, histogram: "h".into(), matchers: vec![], quantile: q, unit_ms: false },
            truth: Truth::Latency { mock: "llm".into(), route: None, status: None },
            tolerance: 0.0,
            relative: 0.0,
            allow_empty: false,
        }
    }

    #[test]
    fn a_histogram_at_or_above_the_mocks_wait_passes_and_one_below_it_fails() {
        let w = Window::new(Duration::ZERO, Duration::from_secs(11));
        // Faithful: each call took the mock's time plus ~1 ms: 4 up to 10 ms, 16 up to 25 ms.
        let j = judge(&check(0.9), &run([0, 4, 20, 20, 20]), w);
        assert!(j.pass, "{} {}", j.observed, j.evidence);
        assert_eq!(j.evidence["truth"]["quantile_ms"], 23.0, "nearest rank: the 18th of 6..=25 ms");
        // Timing only the read of the answer: everything under 5 ms.
        let j = judge(&check(0.9), &run([20, 20, 20, 20, 20]), w);
        assert!(!j.pass && j.observed.contains("at most 5ms, but the mock alone took 23ms"), "{}", j.observed);
        // q0.5: the 10th call took 15 ms; a histogram with half its calls up to 10 ms says at most 10 ms.
        assert!(!judge(&check(0.5), &run([0, 10, 20, 20, 20]), w).pass);
        // A histogram whose lowest bucket (50 ms) lies above the mock's 23 ms could not show less.
        let mut coarse = run([0; 5]);
        coarse.metrics = crate::collectors::store::MetricStore::new();
        for (t, n) in [(1, 0), (10, 20)] {
            let text = format!("h_bucket{{le=\"0.05\"}} {n}\nh_bucket{{le=\"+Inf\"}} {n}\n");
            coarse.metrics.record("svc", Duration::from_secs(t), parse(&text, Format::PrometheusText));
        }
        let j = judge(&check(0.9), &coarse, w);
        assert!(!j.pass && j.observed.starts_with("not judgeable: the histogram's lowest bucket (up to 50ms)"), "{}", j.observed);
    }

    #[test]
    fn no_observation_or_no_call_is_no_data() {
        let w = Window::new(Duration::ZERO, Duration::from_secs(11));
        let j = judge(&check(0.9), &run([0; 5]), w);
        assert!(!j.pass && j.observed == "no data in the window: h has no observation in it", "{}", j.observed);
        let mut rec = run([0, 4, 20, 20, 20]);
        rec.journals.clear();
        let j = judge(&check(0.9), &rec, w);
        assert!(!j.pass && j.observed.starts_with("no data in the window: no call to mock `llm`"), "{}", j.observed);
    }

    #[test]
    fn mistakes_are_refused_at_compile() {
        let doc = r#"
name: lat
stack:
  services:
    api: { command: api, metrics: /metrics }
mocks:
  llm: { kind: openai }
timeline:
  phases: [{ name: steady, duration: 2s }]
expect:
  - { kind: accounting, claim: { histogram: h }, truth: { mock: llm, latency: true } }
  - { kind: accounting, claim: { histogram: h, quantile: 1.5 }, truth: { mock: llm, latency: true } }
  - { kind: accounting, claim: { histogram: h, quantile: 0.9, unit: us }, truth: { mock: llm, latency: true } }
  - { kind: accounting, claim: { histogram: h, quantile: 0.9 }, truth: { mock: llm } }
  - { kind: accounting, claim: { histogram: h, quantile: 0.9 }, truth: { mock: llm, latency: true }, tolerance: 1 }
  - { kind: accounting, claim: { histogram: h, quantile: 0.9 }, truth: { load: true, latency: true } }
"#;
        let errs = crate::plan::compile(doc, std::path::Path::new("s.yaml")).unwrap_err().0;
        let got: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(got, vec!["expect[0].claim", "expect[1].claim.quantile", "expect[2].claim.unit", "expect[3]", "expect[4]", "expect[5].truth"], "{errs:#?}");
    }
}
