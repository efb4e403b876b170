//! The `overhead:` section and `kind: overhead` budgets as written.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::raw::Scalar;

/// `overhead:` — instead of a timeline, the same load is driven against
/// variants of the stack (differing only by environment switches) in
/// interleaved rounds, and each variant is compared with the baseline.
#[derive(Debug, Deserialize)]
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
    pub warmup: Option<Duration>,
    /// Measured load per round and variant (default 5s).
    #[serde(default, with = "humantime_serde")]
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

/// One variant: `env` goes to every service, `service_env` to the named ones.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub service_env: BTreeMap<String, BTreeMap<String, Scalar>>,
    /// What the variant adds over the baseline, for the report (e.g. `logging`).
    pub pillar: Option<String>,
}

/// `kind: overhead` — budgets for one variant's deltas against the baseline.
/// Each value is a comparison; `%` makes it relative to the baseline
/// (`cpu: "< 5%"`), otherwise it is absolute: CPU time per request
/// (`"< 200us"`), memory (`"< 10MB"`), latency (`"< 5ms"`), throughput
/// in requests/s (`"> -1"`).
#[derive(Debug, Deserialize)]
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
    pub fn given(&self) -> [(super::plan::OverheadMetric, &Option<String>); 7] {
        use super::plan::OverheadMetric as M;
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
