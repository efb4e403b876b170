//! Overhead analysis: what each observability pillar costs. Owns the per-round
//! measurements of an overhead run ([`RoundMeasure`], taken by
//! `crate::run::overhead`), their reduction to per-variant statistics and
//! paired bootstrap deltas against the baseline (`stats`), the judgement of
//! `kind: overhead` budgets, and the chart (`chart`).
//!
//! Pure functions of the measurements: unit tested on synthetic rounds.

pub mod chart;
pub mod stats;

use std::collections::BTreeMap;

use crate::expect::Expectation;
use crate::expect::{Checked, Verdict, WindowInfo};
use crate::scenario::{Budget, Decide, OverheadMetric, OverheadPlan, format_confidence, format_value};
use stats::{Deltas, Interval};

/// One variant measured in one round.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct RoundMeasure {
    pub round: usize,
    /// Position of the variant within its round (the order is seeded).
    pub position: usize,
    pub variant: String,
    /// Length of the measured window (seconds).
    pub measured_s: f64,
    /// Requests that started in the measured window.
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// CPU seconds of the measured services over the window.
    pub cpu_seconds: f64,
    pub cpu_by_service: BTreeMap<String, f64>,
    /// Sum over the measured services of their mean / peak RSS in the window.
    pub mean_rss_bytes: f64,
    pub peak_rss_bytes: f64,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
    /// Successful responses per second.
    pub throughput: f64,
    /// CPU seconds the harness itself used over the window (load driver,
    /// mocks, OTLP receiver, scraper): it shares the machine.
    pub harness_cpu_seconds: f64,
}

/// The value of `metric` over a set of rounds of one variant: CPU is a ratio
/// of sums (CPU seconds per request), the others are means of per-round values.
pub fn statistic(metric: OverheadMetric, rounds: &[&RoundMeasure]) -> Option<f64> {
    let mean = |f: &dyn Fn(&RoundMeasure) -> Option<f64>| {
        let v: Vec<f64> = rounds.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    match metric {
        OverheadMetric::Cpu => {
            let req: u64 = rounds.iter().map(|r| r.requests).sum();
            (req > 0).then(|| rounds.iter().map(|r| r.cpu_seconds).sum::<f64>() / req as f64)
        }
        OverheadMetric::Memory => mean(&|r| Some(r.mean_rss_bytes)),
        OverheadMetric::PeakMemory => mean(&|r| Some(r.peak_rss_bytes)),
        OverheadMetric::P50 => mean(&|r| r.p50_s),
        OverheadMetric::P95 => mean(&|r| r.p95_s),
        OverheadMetric::P99 => mean(&|r| r.p99_s),
        OverheadMetric::Throughput => mean(&|r| Some(r.throughput)),
    }
}

/// One variant over all its rounds.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct VariantReport {
    pub name: String,
    pub pillar: Option<String>,
    pub env: BTreeMap<String, String>,
    pub service_env: BTreeMap<String, BTreeMap<String, String>>,
    /// Statistic per metric (units in `OverheadReport::units`).
    pub values: BTreeMap<OverheadMetric, f64>,
    /// Harness CPU seconds per request, reported apart from the stack's.
    pub harness_cpu_per_request: Option<f64>,
    /// Deltas against the baseline (empty for the baseline itself).
    pub deltas: BTreeMap<OverheadMetric, DeltaReport>,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct DeltaReport {
    pub absolute: Interval,
    pub relative: Option<Interval>,
    /// The relative interval (or the absolute one when there is none) excludes zero.
    pub significant: bool,
}

impl From<Deltas> for DeltaReport {
    fn from(d: Deltas) -> Self {
        Self { significant: d.relative.unwrap_or(d.absolute).excludes_zero(), absolute: d.absolute, relative: d.relative }
    }
}

/// The `overhead` section of report.json.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct OverheadReport {
    pub baseline: String,
    pub rounds: usize,
    pub warmup_ms: u64,
    pub measure_ms: u64,
    pub confidence: f64,
    pub resamples: usize,
    pub interval_method: &'static str,
    /// The services whose CPU and memory were measured.
    pub services: Vec<String>,
    pub units: BTreeMap<OverheadMetric, &'static str>,
    /// Variant order of each round.
    pub order: Vec<Vec<String>>,
    pub variants: Vec<VariantReport>,
    pub measurements: Vec<RoundMeasure>,
    /// Claimed budgets (`overhead.claims`), judged on the whole interval; never gating.
    pub claims: Vec<Assessed>,
    /// The chart, relative to the run directory.
    pub chart: Option<String>,
}

/// Reduce the rounds to per-variant statistics and deltas.
pub fn analyze(plan: &OverheadPlan, services: Vec<String>, measures: Vec<RoundMeasure>, seed: u64) -> OverheadReport {
    let of = |name: &str| -> Vec<&RoundMeasure> {
        let mut v: Vec<&RoundMeasure> = measures.iter().filter(|m| m.variant == name).collect();
        v.sort_by_key(|m| m.round);
        v
    };
    let base = of(&plan.baseline);
    let variants: Vec<VariantReport> = plan
        .variants
        .iter()
        .map(|v| {
            let mine = of(&v.name);
            let values = OverheadMetric::ALL.iter().filter_map(|&m| statistic(m, &mine).map(|x| (m, x))).collect();
            let req: u64 = mine.iter().map(|r| r.requests).sum();
            let harness = (req > 0).then(|| mine.iter().map(|r| r.harness_cpu_seconds).sum::<f64>() / req as f64);
            let deltas = if v.name == plan.baseline {
                BTreeMap::new()
            } else {
                // Pair by round: only rounds both variants completed.
                let rounds: Vec<usize> = mine.iter().map(|m| m.round).filter(|r| base.iter().any(|b| b.round == *r)).collect();
                let b: Vec<&RoundMeasure> = rounds.iter().filter_map(|r| base.iter().find(|m| m.round == *r).copied()).collect();
                let x: Vec<&RoundMeasure> = rounds.iter().filter_map(|r| mine.iter().find(|m| m.round == *r).copied()).collect();
                OverheadMetric::ALL
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &m)| {
                        let stat = |rs: &[&&RoundMeasure]| statistic(m, &rs.iter().map(|r| **r).collect::<Vec<_>>());
                        stats::paired_deltas(&b, &x, stat, plan.confidence, plan.resamples, seed.wrapping_add(i as u64))
                            .map(|d| (m, d.into()))
                    })
                    .collect()
            };
            VariantReport {
                name: v.name.clone(),
                pillar: v.pillar.clone(),
                env: v.env.clone(),
                service_env: v.service_env.clone(),
                values,
                harness_cpu_per_request: harness,
                deltas,
            }
        })
        .collect();
    let mut order: Vec<Vec<String>> = vec![Vec::new(); plan.rounds];
    let mut sorted: Vec<&RoundMeasure> = measures.iter().collect();
    sorted.sort_by_key(|m| (m.round, m.position));
    for m in sorted {
        if let Some(o) = order.get_mut(m.round) {
            o.push(m.variant.clone());
        }
    }
    let claims = plan
        .claims
        .iter()
        .flat_map(|c| {
            let v = variants.iter().find(|v: &&VariantReport| v.name == c.variant);
            c.budgets.iter().map(move |b| Assessed { variant: c.variant.clone(), source: c.source.clone(), ..assess(b, v, Decide::Bound) })
        })
        .collect();
    OverheadReport {
        claims,
        baseline: plan.baseline.clone(),
        rounds: plan.rounds,
        warmup_ms: plan.warmup.as_millis() as u64,
        measure_ms: plan.measure.as_millis() as u64,
        confidence: plan.confidence,
        resamples: plan.resamples,
        interval_method: "paired bootstrap over rounds: point ± t(n-1) · sqrt(n/(n-1)) · bootstrap SE",
        services,
        units: OverheadMetric::ALL.iter().map(|m| (*m, m.unit())).collect(),
        order,
        variants,
        measurements: measures,
        chart: None,
    }
}

/// How one budget came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Met,
    Exceeded,
    Inconclusive,
}

/// Judge one budget against a delta interval.
pub fn judge_budget(b: &Budget, d: &DeltaReport, decide: Decide) -> (Outcome, Option<Interval>) {
    let Some(iv) = (if b.relative { d.relative } else { Some(d.absolute) }) else { return (Outcome::Inconclusive, None) };
    let upper = matches!(b.cmp.op, crate::scenario::cmp::Op::Lt | crate::scenario::cmp::Op::Le);
    let outcome = match decide {
        Decide::Point => {
            if b.cmp.holds(iv.point) {
                Outcome::Met
            } else {
                Outcome::Exceeded
            }
        }
        Decide::Bound => {
            // The far end of the interval must meet the budget; when even the
            // near end misses it, the budget is exceeded.
            let (far, near) = if upper { (iv.high, iv.low) } else { (iv.low, iv.high) };
            if b.cmp.holds(far) {
                Outcome::Met
            } else if !b.cmp.holds(near) {
                Outcome::Exceeded
            } else {
                Outcome::Inconclusive
            }
        }
    };
    (outcome, Some(iv))
}

/// One budget or claim held against a variant's delta.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Assessed {
    pub variant: String,
    pub source: Option<String>,
    /// `cpu < 5%`.
    pub budget: String,
    pub decide: Decide,
    pub outcome: Outcome,
    /// The interval the budget was held against (relative or absolute, as the budget is).
    pub interval: Option<Interval>,
    /// `cpu +4.2% [+1.0%, +7.9%] ok`.
    pub shown: String,
}

/// Hold budget `b` against `variant`'s delta.
pub fn assess(b: &Budget, variant: Option<&VariantReport>, decide: Decide) -> Assessed {
    let (outcome, iv) = match variant.and_then(|v| v.deltas.get(&b.metric)) {
        Some(d) => judge_budget(b, d, decide),
        None => (Outcome::Inconclusive, None),
    };
    let shown = iv.map_or(format!("{} no data", b.metric.as_str()), |iv| {
        let f = |x| format_value(b.metric, x, b.relative);
        format!("{} {} [{}, {}]", b.metric.as_str(), f(iv.point), f(iv.low), f(iv.high))
    });
    let mark = match outcome {
        Outcome::Met => "ok",
        Outcome::Exceeded => "EXCEEDS",
        Outcome::Inconclusive => "INCONCLUSIVE",
    };
    Assessed {
        variant: variant.map(|v| v.name.clone()).unwrap_or_default(),
        source: None,
        budget: b.describe(),
        decide,
        outcome,
        interval: iv,
        shown: format!("{shown} {mark}"),
    }
}

/// Judge the `kind: overhead` expectations against the analysis.
pub fn judge(expectations: &[Expectation], report: &OverheadReport) -> Vec<Checked> {
    let pct = format_confidence(report.confidence);
    expectations
        .iter()
        .filter_map(|e| match &e.check {
            crate::expect::Check::Overhead(c) => Some((e, c)),
            _ => None,
        })
        .map(|(e, c)| {
            let variant = report.variants.iter().find(|v| v.name == c.variant);
            let assessed: Vec<Assessed> =
                c.budgets.iter().map(|b| Assessed { source: c.source.clone(), ..assess(b, variant, c.decide) }).collect();
            let parts: Vec<&str> = assessed.iter().map(|a| a.shown.as_str()).collect();
            let outcomes: Vec<Outcome> = assessed.iter().map(|a| a.outcome).collect();
            let evidence = serde_json::to_value(&assessed).unwrap_or_default();
            let verdict = if outcomes.contains(&Outcome::Exceeded) {
                Verdict::Fail
            } else if outcomes.contains(&Outcome::Inconclusive) && !c.allow_inconclusive {
                Verdict::Inconclusive
            } else {
                Verdict::Pass
            };
            let mut observed = parts.join("; ");
            if verdict == Verdict::Inconclusive {
                observed
                    .push_str(" — the interval straddles the budget: add rounds or lengthen `measure`, or set `allow_inconclusive: true`");
            }
            let rule = match c.decide {
                Decide::Bound => format!("the whole {pct} interval"),
                Decide::Point => "the point estimate".to_string(),
            };
            Checked {
                kind: "overhead",
                name: e.name.clone(),
                verdict,
                expected: format!(
                    "{}: {} vs `{}` ({rule})",
                    c.variant,
                    c.budgets.iter().map(|b| b.describe()).collect::<Vec<_>>().join(", "),
                    report.baseline
                ),
                observed,
                window: WindowInfo { expr: format!("{} rounds", report.rounds), start_ms: 0.0, end_ms: 0.0 },
                evidence,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Budget, OverheadMetric, VariantPlan};

    fn plan(rounds: usize) -> OverheadPlan {
        let v = |name: &str| VariantPlan { name: name.into(), pillar: None, env: Default::default(), service_env: Default::default() };
        OverheadPlan {
            baseline: "bare".into(),
            variants: vec![v("bare"), v("logs")],
            rounds,
            warmup: std::time::Duration::from_secs(1),
            measure: std::time::Duration::from_secs(5),
            services: vec![],
            confidence: 0.95,
            resamples: 2000,
            decide: Decide::Bound,
            allow_inconclusive: false,
            claims: vec![],
        }
    }

    /// Rounds where `logs` costs `extra` CPU seconds per request more than `bare`, with noise.
    fn rounds(extra: f64, noise: f64) -> Vec<RoundMeasure> {
        let mut out = Vec::new();
        for round in 0..6 {
            let wobble = [0.0, 1.0, -1.0, 0.5, -0.5, 0.2][round] * noise;
            for (position, (variant, cost)) in [("bare", 0.001), ("logs", 0.001 + extra)].into_iter().enumerate() {
                out.push(RoundMeasure {
                    round,
                    position,
                    variant: variant.into(),
                    measured_s: 5.0,
                    requests: 100,
                    ok: 100,
                    cpu_seconds: 100.0 * (cost + wobble * if variant == "bare" { 1.0 } else { -1.0 }),
                    mean_rss_bytes: 10e6,
                    peak_rss_bytes: 11e6,
                    p50_s: Some(0.01),
                    p95_s: Some(0.02),
                    p99_s: Some(0.03),
                    throughput: 20.0,
                    ..Default::default()
                });
            }
        }
        out
    }

    fn check(budget: &str) -> Expectation {
        Expectation {
            id: "expect[0]".into(),
            name: "b".into(),
            tags: Vec::new(),
            window: crate::scenario::WindowExpr::whole(),
            check: crate::expect::Check::Overhead(Box::new(crate::expect::kinds::overhead::OverheadCheck {
                variant: "logs".into(),
                source: None,
                budgets: vec![Budget::parse(OverheadMetric::Cpu, budget).unwrap()],
                decide: Decide::Bound,
                allow_inconclusive: false,
            })),
        }
    }

    #[test]
    fn cpu_is_per_request_and_the_delta_is_found() {
        let r = analyze(&plan(6), vec![], rounds(0.0002, 0.0), 1);
        let logs = &r.variants[1];
        assert_eq!(r.variants[0].name, "bare");
        assert!((logs.values[&OverheadMetric::Cpu] - 0.0012).abs() < 1e-12);
        let d = &logs.deltas[&OverheadMetric::Cpu];
        assert!((d.absolute.point - 0.0002).abs() < 1e-12 && (d.relative.unwrap().point - 0.2).abs() < 1e-9);
        assert!(d.significant);
        assert!(!logs.deltas[&OverheadMetric::Memory].significant, "no memory change");
        assert_eq!(r.order.len(), 6);
        assert_eq!(r.order[0], vec!["bare", "logs"]);
    }

    #[test]
    fn budgets_are_met_exceeded_or_inconclusive() {
        // A clean +20%: met under 30%, exceeded under 10%.
        let r = analyze(&plan(6), vec![], rounds(0.0002, 0.0), 1);
        assert_eq!(judge(&[check("< 30%")], &r)[0].verdict, Verdict::Pass);
        let c = &judge(&[check("< 10%")], &r)[0];
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.observed.contains("EXCEEDS"), "{}", c.observed);
        assert_eq!(judge(&[check("< 300us")], &r)[0].verdict, Verdict::Pass, "absolute budget: 200us per request");
        // +20% with noise: the interval straddles a 20% budget.
        let r = analyze(&plan(6), vec![], rounds(0.0002, 0.0002), 1);
        let c = &judge(&[check("< 20%")], &r)[0];
        assert_eq!(c.verdict, Verdict::Inconclusive, "{}", c.observed);
        assert!(c.observed.contains("allow_inconclusive"));
        let mut allowed = check("< 20%");
        if let crate::expect::Check::Overhead(o) = &mut allowed.check {
            o.allow_inconclusive = true;
        }
        assert_eq!(judge(&[allowed], &r)[0].verdict, Verdict::Pass);
        // Point decision: 20.0% point estimate against 25%.
        let mut point = check("< 25%");
        if let crate::expect::Check::Overhead(o) = &mut point.check {
            o.decide = Decide::Point;
        }
        assert_eq!(judge(&[point], &r)[0].verdict, Verdict::Pass);
    }

    #[test]
    fn lower_bounds_use_the_low_end() {
        let b = Budget::parse(OverheadMetric::Throughput, "> -5%").unwrap();
        let d = |low: f64, high: f64| DeltaReport {
            absolute: Interval { point: 0.0, low, high },
            relative: Some(Interval { point: (low + high) / 2.0, low, high }),
            significant: false,
        };
        assert_eq!(judge_budget(&b, &d(-0.02, 0.01), Decide::Bound).0, Outcome::Met);
        assert_eq!(judge_budget(&b, &d(-0.08, 0.01), Decide::Bound).0, Outcome::Inconclusive);
        assert_eq!(judge_budget(&b, &d(-0.2, -0.1), Decide::Bound).0, Outcome::Exceeded);
    }

    #[test]
    fn the_chart_is_drawn() {
        let r = analyze(&plan(6), vec![], rounds(0.0002, 0.0001), 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overhead.svg");
        let budgets = vec![
            ("logs".to_string(), Budget::parse(OverheadMetric::Cpu, "< 1%").unwrap(), true),
            ("logs".to_string(), Budget::parse(OverheadMetric::Cpu, "< 1%").unwrap(), false),
        ];
        chart::draw(&r, &budgets, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg") && svg.contains("stack CPU per request") && svg.contains("budget"), "{}", &svg[..svg.len().min(500)]);
    }
}
