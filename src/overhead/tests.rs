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
