//! `overhead:` — instead of a timeline, the same load against variants of the
//! stack in interleaved rounds. Raw form, plan, compile step, and the budget
//! syntax shared by the section's claims and `kind: overhead` budgets
//! (`expect::kinds::overhead`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::cmp::{Comparison, Op};
use super::ctx::{Ctx, Scalar};
use super::diag::did_you_mean;

/// `overhead:` — instead of a timeline, the same load is driven against
/// variants of the stack (differing only by environment switches) in
/// interleaved rounds, and each variant is compared with the baseline.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOverhead {
    /// The variant the others are compared with (e.g. `bare`).
    pub baseline: String,
    /// Variants by name: environment added to the stack's services.
    pub variants: BTreeMap<String, RawVariant>,
    /// Measured rounds per variant (default 6; at least 6 for a 95% interval,
    /// 8 for 99%). Each round starts a fresh stack; within a round the
    /// variants run in a seeded random order.
    pub rounds: Option<usize>,
    /// Load before measuring, discarded (default 2s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub warmup: Option<Duration>,
    /// Measured load per round and variant (default 5s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub measure: Option<Duration>,
    /// Services whose CPU and memory count (default: every service).
    pub services: Option<Vec<String>>,
    /// Confidence level of the intervals (default 0.95).
    pub confidence: Option<f64>,
    /// Bootstrap resamples (default 4000).
    pub resamples: Option<usize>,
    /// How budgets are judged by default: `bound` (the whole interval must
    /// meet the budget; default) or `point` (the point estimate must).
    pub decide: Option<String>,
    /// A budget the data cannot decide passes instead of failing (default false).
    #[serde(default)]
    pub allow_inconclusive: bool,
    /// What design documents promise, in the budget syntax: reported beside
    /// the measurements (met, exceeded or undecided) and drawn on the chart,
    /// but never failing the run (gates are `kind: overhead` expectations).
    /// Each is a budget as in `kind: overhead`, with an optional `source:`;
    /// `decide` and `allow_inconclusive` do not apply.
    #[serde(default)]
    pub claims: Vec<RawOverheadBudget>,
}

/// `kind: overhead` — budgets for one variant's deltas against the baseline.
/// Each value is a comparison; `%` makes it relative to the baseline
/// (`cpu: "< 5%"`), otherwise it is absolute: CPU time per request
/// (`"< 200us"`), memory (`"< 10MB"`), latency (`"< 5ms"`), throughput
/// in requests/s (`"> -1"`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOverheadBudget {
    pub variant: String,
    /// Where the budget comes from (a design document, an SLO).
    pub source: Option<String>,
    /// Stack CPU time per request.
    pub cpu: Option<String>,
    /// Mean RSS of the measured services.
    pub memory: Option<String>,
    /// Peak RSS of the measured services.
    pub peak_memory: Option<String>,
    pub p50: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    /// Successful responses per second.
    pub throughput: Option<String>,
    /// `bound` or `point` (default: the section's `decide`).
    pub decide: Option<String>,
    /// Overrides the section's `allow_inconclusive`.
    pub allow_inconclusive: Option<bool>,
}

impl RawOverheadBudget {
    /// Every budget field with its metric.
    pub fn given(&self) -> [(OverheadMetric, &Option<String>); 7] {
        use OverheadMetric as M;
        [
            (M::Cpu, &self.cpu),
            (M::Memory, &self.memory),
            (M::PeakMemory, &self.peak_memory),
            (M::P50, &self.p50),
            (M::P95, &self.p95),
            (M::P99, &self.p99),
            (M::Throughput, &self.throughput),
        ]
    }
}

/// One variant: `env` goes to every service, `service_env` to the named ones.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub service_env: BTreeMap<String, BTreeMap<String, Scalar>>,
    /// What the variant adds over the baseline, for the report (e.g. `logging`).
    pub pillar: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OverheadPlan {
    pub baseline: String,
    /// Baseline first, then the others by name.
    pub variants: Vec<VariantPlan>,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Services whose CPU and memory count; empty: all.
    pub services: Vec<String>,
    pub confidence: f64,
    pub resamples: usize,
    pub decide: Decide,
    pub allow_inconclusive: bool,
    /// Claimed budgets: reported and charted, never gating.
    pub claims: Vec<Claim>,
}

impl OverheadPlan {
    /// About how long the rounds take: every variant's warm-up and measured
    /// time in every round, plus a tenth for starting and stopping stacks.
    pub fn estimated_duration(&self) -> Duration {
        (self.warmup + self.measure).mul_f64((self.variants.len() * self.rounds) as f64 * 1.1)
    }

    /// "5 variants x 6 rounds of 2.0s warm-up + 6.0s measured".
    pub fn describe(&self) -> String {
        format!(
            "{} variants x {} rounds of {:.1}s warm-up + {:.1}s measured",
            self.variants.len(),
            self.rounds,
            self.warmup.as_secs_f64(),
            self.measure.as_secs_f64()
        )
    }
}

#[derive(Debug, Clone)]
pub struct Claim {
    pub variant: String,
    pub source: Option<String>,
    pub budgets: Vec<Budget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantPlan {
    pub name: String,
    pub pillar: Option<String>,
    /// Added to every service's environment.
    pub env: BTreeMap<String, String>,
    /// Added to the named service's environment (after `env`).
    pub service_env: BTreeMap<String, BTreeMap<String, String>>,
}

impl VariantPlan {
    /// The variables this variant sets for `service`.
    pub fn env_for(&self, service: &str) -> BTreeMap<String, String> {
        let mut e = self.env.clone();
        if let Some(s) = self.service_env.get(service) {
            e.extend(s.clone());
        }
        e
    }
}

/// Judge a budget on the whole confidence interval or on the point estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decide {
    Bound,
    Point,
}

/// What an overhead delta is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverheadMetric {
    /// Stack CPU seconds per request.
    Cpu,
    /// Mean RSS bytes of the measured services.
    Memory,
    PeakMemory,
    P50,
    P95,
    P99,
    /// Successful responses per second.
    Throughput,
}

impl OverheadMetric {
    pub const ALL: [OverheadMetric; 7] = [Self::Cpu, Self::Memory, Self::PeakMemory, Self::P50, Self::P95, Self::P99, Self::Throughput];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::PeakMemory => "peak_memory",
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Throughput => "throughput",
        }
    }

    /// Unit of absolute values and deltas.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Cpu => "CPU s/request",
            Self::Memory | Self::PeakMemory => "bytes",
            Self::P50 | Self::P95 | Self::P99 => "s",
            Self::Throughput => "requests/s",
        }
    }

    /// Parse an absolute budget value in this metric's unit.
    pub fn parse_value(self, s: &str) -> Result<f64, String> {
        match self {
            Self::Memory | Self::PeakMemory => parse_bytes(s),
            Self::Throughput => s.trim().parse().map_err(|_| format!("`{s}` is not a number of requests/s (or a percentage)")),
            _ => super::cmp::parse_number(s),
        }
    }
}

/// `10MB` (10^6), `10MiB` (2^20), `512KB`, `1GB`, `1024` (bytes).
pub fn parse_bytes(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a memory size (write e.g. `10MB`, `512KiB`)"))?;
    let mul = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown memory unit `{other}` (use B, KB, MB, GB, KiB, MiB, GiB)")),
    };
    Ok(n * mul)
}

/// One budget: `cpu: "< 5%"` (relative) or `memory: "< 10MB"` (absolute).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Budget {
    pub metric: OverheadMetric,
    pub cmp: Comparison,
    /// The value is a fraction of the baseline (`5%` -> 0.05).
    pub relative: bool,
}

impl Budget {
    pub fn parse(metric: OverheadMetric, text: &str) -> Result<Self, String> {
        let (op, rest) = Comparison::split_op(text)?;
        if matches!(op, Op::Eq | Op::Ne) {
            return Err(format!("`{text}`: a budget is a bound; use <, <=, > or >="));
        }
        let rest = rest.trim();
        let (value, relative) = match rest.strip_suffix('%') {
            Some(p) => (p.trim().parse::<f64>().map_err(|_| format!("`{rest}` is not a percentage"))? / 100.0, true),
            None => (metric.parse_value(rest)?, false),
        };
        Ok(Self { metric, cmp: Comparison::new(op, value), relative })
    }

    /// `cpu < 5%`, `memory < 10.0 MB`.
    pub fn describe(&self) -> String {
        let op = self.cmp.op.as_str();
        let value = format_value(self.metric, self.cmp.value, self.relative);
        format!("{} {op} {}", self.metric.as_str(), value.strip_prefix('+').unwrap_or(&value))
    }
}

/// A delta or budget value for people: `+4.2%`, `+1.3 MB`, `+180 µs`.
pub fn format_value(metric: OverheadMetric, v: f64, relative: bool) -> String {
    if relative {
        return format!("{:+.1}%", v * 100.0);
    }
    match metric {
        OverheadMetric::Memory | OverheadMetric::PeakMemory => format!("{:+.2} MB", v / 1e6),
        OverheadMetric::Cpu => format!("{:+.0} µs", v * 1e6),
        OverheadMetric::Throughput => format!("{v:+.2} req/s"),
        _ => format!("{:+.2} ms", v * 1e3),
    }
}

/// A confidence level for people: `95%`, `99%`, `99.9%`.
pub fn format_confidence(confidence: f64) -> String {
    format!("{}%", (confidence * 1000.0).round() / 10.0)
}

pub fn decide(cx: &mut Ctx, path: &str, text: Option<&str>, default: Decide) -> Decide {
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
pub fn budgets(cx: &mut Ctx, path: &str, given: [(OverheadMetric, &Option<String>); 7]) -> Vec<Budget> {
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
pub fn compared_variant(cx: &mut Ctx, path: &str, variant: &str, names: &[&str], baseline: &str) -> bool {
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

/// The baseline, at least two variants, and the services named exist.
fn check_names(cx: &mut Ctx, r: &RawOverhead, services: &[String]) -> bool {
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
            if !services.contains(svc) && !cx.is_broken("services", svc) {
                let hint = did_you_mean(svc, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
                cx.err(&format!("overhead.variants.{name}.service_env.{svc}"), format!("no service named `{svc}`"), hint);
                ok = false;
            }
        }
    }
    for (i, svc) in r.services.iter().flatten().enumerate() {
        if !services.contains(svc) && !cx.is_broken("services", svc) {
            let hint = did_you_mean(svc, services.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err_value(&format!("overhead.services[{i}]"), format!("no service named `{svc}`"), hint);
            ok = false;
        }
    }
    ok
}

/// `claims:` — budgets reported and charted, never gating.
fn claims(cx: &mut Ctx, r: &RawOverhead, ok: &mut bool) -> Vec<Claim> {
    let names: Vec<&str> = r.variants.keys().map(String::as_str).collect();
    let mut claims = Vec::new();
    for (i, c) in r.claims.iter().enumerate() {
        let path = format!("overhead.claims[{i}]");
        *ok &= compared_variant(cx, &format!("{path}.variant"), &c.variant, &names, &r.baseline);
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
    claims
}

pub fn section(cx: &mut Ctx, v: Value, services: &[String]) -> Option<OverheadPlan> {
    let r = cx.de::<RawOverhead>("overhead", v)?;
    let mut ok = check_names(cx, &r, services);
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
    ok &= cx.durations("overhead", &[("warmup", r.warmup), ("measure", r.measure)], true);
    let measure = r.measure.unwrap_or(std::time::Duration::from_secs(5));
    if measure < std::time::Duration::from_secs(1) {
        cx.err_value("overhead.measure", "the measured window must be at least 1s", Some("e.g. `measure: 5s`".into()));
        ok = false;
    }
    let decide = decide(cx, "overhead.decide", r.decide.as_deref(), Decide::Bound);
    let claims = claims(cx, &r, &mut ok);
    let strings = |m: std::collections::BTreeMap<String, Scalar>| m.into_iter().map(|(k, v)| (k, v.0)).collect();
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
