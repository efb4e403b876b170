//! Compiles the `overhead:` section and `kind: overhead` budgets.

use serde_norway::Value;

use super::compile::Ctx;
use super::diag::did_you_mean;
use super::plan::*;
use super::raw_overhead::*;

fn decide(cx: &mut Ctx, path: &str, text: Option<&str>, default: Decide) -> Decide {
    match text {
        None => default,
        Some("bound") => Decide::Bound,
        Some("point") => Decide::Point,
        Some(other) => {
            cx.err_value(
                path,
                format!("unknown decision rule `{other}`"),
                Some("use `bound` (the whole confidence interval must meet the budget) or `point`".into()),
            );
            default
        }
    }
}

/// The budgets among the given fields; errors name `<path>.<metric>`.
fn budgets(cx: &mut Ctx, path: &str, given: [(OverheadMetric, &Option<String>); 7]) -> Vec<Budget> {
    let mut out = Vec::new();
    for (metric, text) in given {
        let Some(text) = text else { continue };
        match Budget::parse(metric, text) {
            Ok(b) => out.push(b),
            Err(e) => cx.err_value(
                &format!("{path}.{}", metric.as_str()),
                e,
                Some("e.g. `cpu: \"< 5%\"`, `memory: \"< 10MB\"`, `p99: \"< 10%\"`, `throughput: \"> -5%\"`".into()),
            ),
        }
    }
    if given.iter().all(|(_, t)| t.is_none()) {
        cx.err(path, "no budget given", Some("add one or more of: cpu, memory, peak_memory, p50, p95, p99, throughput".into()));
    }
    out
}

/// Check that `variant` names a variant other than the baseline.
fn compared_variant(cx: &mut Ctx, path: &str, variant: &str, names: &[&str], baseline: &str) -> bool {
    if !names.contains(&variant) {
        let hint = did_you_mean(variant, names.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(path, format!("no variant named `{variant}`"), hint);
        return false;
    }
    if variant == baseline {
        cx.err_value(path, format!("`{variant}` is the baseline: its delta is zero by definition"), Some("budget another variant".into()));
        return false;
    }
    true
}

/// The fewest paired rounds whose range covers the true delta with
/// probability `confidence` (`1 - 2^(1-n)`, the best any interval built from
/// them can do): 6 for 95%, 8 for 99%; at least 3.
pub fn min_rounds(confidence: f64) -> usize {
    (3..64).find(|n| 1.0 - 2f64.powi(1 - *n as i32) >= confidence - 1e-12).unwrap_or(64)
}

pub(super) fn section(cx: &mut Ctx, v: Value, services: &[String]) -> Option<OverheadPlan> {
    let r = cx.de::<RawOverhead>("overhead", v)?;
    let mut ok = true;
    if !r.variants.contains_key(&r.baseline) {
        let hint = did_you_mean(&r.baseline, r.variants.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
        cx.err_value(
            "overhead.baseline",
            format!("no variant named `{}`", r.baseline),
            hint.or(Some("declare it under `overhead.variants`".into())),
        );
        ok = false;
    }
    if r.variants.len() < 2 {
        cx.err(
            "overhead.variants",
            "an overhead run compares at least two variants",
            Some("add the baseline (e.g. `bare`) and a variant to compare with it".into()),
        );
        ok = false;
    }
    for (name, v) in &r.variants {
        for svc in v.service_env.keys() {
            if !services.contains(svc) {
                let hint = did_you_mean(svc, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
                cx.err(&format!("overhead.variants.{name}.service_env.{svc}"), format!("no service named `{svc}`"), hint);
                ok = false;
            }
        }
    }
    for (i, svc) in r.services.iter().flatten().enumerate() {
        if !services.contains(svc) {
            let hint = did_you_mean(svc, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(&format!("overhead.services[{i}]"), format!("no service named `{svc}`"), hint);
            ok = false;
        }
    }
    let confidence = r.confidence.unwrap_or(0.95);
    if !(0.5..1.0).contains(&confidence) {
        cx.err_value("overhead.confidence", format!("confidence {confidence} is not in [0.5, 1)"), Some("e.g. `0.95`".into()));
        ok = false;
    }
    let needed = min_rounds(confidence);
    let rounds = r.rounds.unwrap_or(needed.max(6));
    if rounds < needed && (0.5..1.0).contains(&confidence) {
        let cover = (1.0 - 2f64.powi(1 - rounds as i32)) * 100.0;
        cx.err_value(
            "overhead.rounds",
            format!("{rounds} rounds cannot support a {} confidence interval: without assuming how the rounds are distributed, {rounds} paired rounds bound a delta with at most {:.1}% confidence (the chance that it lies within their range)", format_confidence(confidence), cover),
            Some(format!("use `rounds: {needed}` or more, or lower `confidence`")),
        );
        ok = false;
    }
    let resamples = r.resamples.unwrap_or(4000);
    if !(100..=1_000_000).contains(&resamples) {
        cx.err_value("overhead.resamples", format!("{resamples} resamples"), Some("use between 100 and 1000000 (default 4000)".into()));
        ok = false;
    }
    let measure = r.measure.unwrap_or(std::time::Duration::from_secs(5));
    if measure < std::time::Duration::from_secs(1) {
        cx.err_value("overhead.measure", "the measured window must be at least 1s", Some("e.g. `measure: 5s`".into()));
        ok = false;
    }
    let decide = decide(cx, "overhead.decide", r.decide.as_deref(), Decide::Bound);
    let names: Vec<&str> = r.variants.keys().map(String::as_str).collect();
    let mut claims = Vec::new();
    for (i, c) in r.claims.iter().enumerate() {
        let path = format!("overhead.claims[{i}]");
        ok &= compared_variant(cx, &format!("{path}.variant"), &c.variant, &names, &r.baseline);
        if c.decide.is_some() || c.allow_inconclusive.is_some() {
            cx.err(
                &path,
                "a claim is always held against the whole interval and never fails the run",
                Some("remove `decide` / `allow_inconclusive`; to gate on a budget, write a `kind: overhead` expectation".into()),
            );
        }
        let b = budgets(cx, &path, c.given());
        claims.push(Claim { variant: c.variant.clone(), source: c.source.clone(), budgets: b });
    }
    let strings = |m: std::collections::BTreeMap<String, super::raw::Scalar>| m.into_iter().map(|(k, v)| (k, v.0)).collect();
    let mut variants: Vec<VariantPlan> = r
        .variants
        .into_iter()
        .map(|(name, v)| VariantPlan {
            name,
            pillar: v.pillar,
            env: strings(v.env),
            service_env: v.service_env.into_iter().map(|(s, e)| (s, strings(e))).collect(),
        })
        .collect();
    variants.sort_by_key(|v| v.name != r.baseline); // stable: baseline first, then by name
    ok.then(|| OverheadPlan {
        baseline: r.baseline,
        variants,
        rounds,
        warmup: r.warmup.unwrap_or(std::time::Duration::from_secs(2)),
        measure,
        services: r.services.unwrap_or_default(),
        confidence,
        resamples,
        decide,
        allow_inconclusive: r.allow_inconclusive,
        claims,
    })
}

pub(super) fn budget(cx: &mut Ctx, path: &str, r: RawOverheadBudget, plan: Option<&OverheadPlan>) -> Option<Check> {
    let Some(plan) = plan else {
        cx.err(path, "`kind: overhead` needs an `overhead:` section", Some("declare the variants and rounds under `overhead:`".into()));
        return None;
    };
    let names: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
    if !compared_variant(cx, &format!("{path}.variant"), &r.variant, &names, &plan.baseline) {
        return None;
    }
    let budgets = budgets(cx, path, r.given());
    if budgets.is_empty() {
        return None;
    }
    let decide = decide(cx, &format!("{path}.decide"), r.decide.as_deref(), plan.decide);
    Some(Check::Overhead(OverheadCheck {
        variant: r.variant,
        source: r.source,
        budgets,
        decide,
        allow_inconclusive: r.allow_inconclusive.unwrap_or(plan.allow_inconclusive),
    }))
}
