//! The compiled `overhead:` section and `kind: overhead` budgets.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cmp::{Comparison, Op};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decide {
    Bound,
    Point,
}

/// What an overhead delta is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
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
        Ok(Self { metric, cmp: Comparison { op, value }, relative })
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

/// `kind: overhead`.
#[derive(Debug, Clone)]
pub struct OverheadCheck {
    pub variant: String,
    pub source: Option<String>,
    pub budgets: Vec<Budget>,
    pub decide: Decide,
    pub allow_inconclusive: bool,
}
