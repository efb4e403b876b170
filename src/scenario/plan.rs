//! The compiled, validated scenario: what every later stage consumes.
//! A `Plan` only exists if the file had no errors; names it holds are known
//! to refer to declared services, mocks and phases.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::cmp::Comparison;
pub use super::plan_alerting::*;
pub use super::plan_overhead::*;
use super::window::{PhaseSpan, WindowExpr};
use crate::faults::{FaultSpec, MockConfig};

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    /// Directory of the scenario file; relative paths resolve against it.
    pub dir: PathBuf,
    pub seed: u64,
    /// Where the stack runs: child processes (default) or containers.
    pub runtime: RuntimeKind,
    pub stack: StackPlan,
    pub mocks: BTreeMap<String, MockConfig>,
    pub load: Option<LoadPlan>,
    /// Phases in order, relative to the timeline origin.
    pub phases: Vec<PhaseSpan>,
    pub faults: Vec<FaultPlan>,
    /// Faults on the stack's services themselves (kill, pause, network cut).
    pub service_faults: Vec<ServiceFaultPlan>,
    pub expectations: Vec<Expectation>,
    /// A real Prometheus / Alertmanager, when the scenario has `alerting:`.
    pub alerting: Option<AlertingPlan>,
    /// An overhead comparison instead of a timeline (`overhead:`).
    pub overhead: Option<OverheadPlan>,
}

impl Plan {
    /// Length of the whole timeline.
    pub fn duration(&self) -> Duration {
        self.phases.last().map(|p| p.end).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct StackPlan {
    pub prepare: Vec<Vec<String>>,
    /// In start order (dependencies first).
    pub services: Vec<ServicePlan>,
    pub scrape_interval: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub name: String,
    /// Program (a template); after rendering, a relative path containing `/`
    /// resolves against the scenario directory.
    pub command: String,
    /// Docker runtime: a named image to run instead of one built from `command`.
    pub image: Option<String>,
    /// Docker runtime: host files or directories the container needs at the
    /// same path, read-only (the harness's own servers use this).
    pub mounts: Vec<PathBuf>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub port: Option<u16>,
    pub ready: Option<ReadyProbe>,
    pub metrics: Option<String>,
    pub health: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
    pub stop_timeout: Duration,
}

/// `runtime:` in a scenario, `--runtime` on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Child processes on loopback ports.
    #[default]
    Process,
    /// One container per service on a private Docker network.
    Docker,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Process => "process",
            RuntimeKind::Docker => "docker",
        }
    }
}

/// What a service fault does at its window's start (and undoes at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAction {
    /// SIGKILL; started again at the window's end when `restart` (default).
    Kill,
    /// SIGTERM, then SIGKILL after the stop timeout; started again at the end.
    Stop,
    /// Frozen (SIGSTOP / docker pause) until the window's end.
    Pause,
    /// Docker only: cut from the network until the window's end.
    Disconnect,
    /// A graceful restart at the window's start (the end is not used).
    Restart,
}

impl ServiceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAction::Kill => "kill",
            ServiceAction::Stop => "stop",
            ServiceAction::Pause => "pause",
            ServiceAction::Disconnect => "disconnect",
            ServiceAction::Restart => "restart",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceFaultPlan {
    pub id: String,
    pub service: String,
    pub window: WindowExpr,
    pub action: ServiceAction,
    pub restart: bool,
}

#[derive(Debug, Clone)]
pub struct ReadyProbe {
    pub path: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: String,
    pub rate: f64,
    pub users: usize,
    pub timeout: Duration,
    pub requests: Vec<RequestPlan>,
    pub canary: bool,
}

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    pub weight: u32,
    pub method: String,
    pub path: String,
    /// Scenario-wide headers merged with the request's own.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub id: String,
    pub mock: String,
    pub route: Option<String>,
    pub window: WindowExpr,
    pub spec: FaultSpec,
}

#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub window: WindowExpr,
    pub check: Check,
}

impl Expectation {
    pub fn kind(&self) -> &'static str {
        match &self.check {
            Check::Metric(_) => "metric",
            Check::Breaker(_) => "breaker",
            Check::FailFast(_) => "fail_fast",
            Check::Retries(_) => "retries",
            Check::Health(_) => "health",
            Check::Load(_) => "load",
            Check::Logs(_) => "logs",
            Check::NoLeaks(_) => "no_leaks",
            Check::TraceSpans(_) => "trace_spans",
            Check::TraceComplete(_) => "trace_complete",
            Check::TraceSampling(_) => "trace_sampling",
            Check::Alert(_) => "alert",
            Check::NoAlert(_) => "no_alert",
            Check::AlertDelivered(_) => "alert_delivered",
            Check::Promql(_) => "promql",
            Check::Contract(_) => "contract",
            Check::NoTaskLost(_) => "no_task_lost",
            Check::Overhead(_) => "overhead",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Check {
    Metric(MetricCheck),
    Breaker(Box<BreakerCheck>),
    FailFast(FailFastCheck),
    Retries(RetriesCheck),
    Health(HealthCheck),
    Load(LoadCheck),
    Logs(LogCheck),
    NoLeaks(NoLeaksCheck),
    TraceSpans(Box<TraceSpansCheck>),
    TraceComplete(TraceCompleteCheck),
    TraceSampling(TraceSamplingCheck),
    Alert(Box<AlertCheck>),
    NoAlert(NoAlertCheck),
    AlertDelivered(AlertDeliveredCheck),
    Promql(PromqlCheck),
    Contract(Box<ContractCheck>),
    NoTaskLost(NoTaskLostCheck),
    Overhead(OverheadCheck),
}

/// Task accounting: `accepted == completed + failed` on the stack's counter,
/// and the driver's 2xx answers `== completed`.
#[derive(Debug, Clone)]
pub struct NoTaskLostCheck {
    pub service: String,
    pub metric: String,
    pub label: String,
    pub accepted: String,
    pub completed: String,
    pub failed: String,
    pub tolerance: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelMatcher {
    pub name: String,
    pub value: String,
    pub negate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum MetricStat {
    Increase,
    Rate,
    Max,
    Min,
    Last,
    Avg,
    Quantile(f64),
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct MetricCheck {
    pub service: Option<String>,
    pub metric: String,
    pub matchers: Vec<LabelMatcher>,
    pub stat: MetricStat,
    /// None only for `present`.
    pub cmp: Option<Comparison>,
}

#[derive(Debug, Clone)]
pub struct BreakerCheck {
    pub service: String,
    pub gauge: String,
    pub matchers: Vec<LabelMatcher>,
    /// State name -> gauge value.
    pub states: Vec<(String, f64)>,
    pub transitions: Option<TransitionsSpec>,
    pub fault: WindowExpr,
    pub sequence: Vec<String>,
    pub opens_within: Option<Duration>,
    pub half_open_after: Option<Duration>,
    pub closes_within: Option<Duration>,
    pub tolerance: Duration,
    pub max_transitions: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct TransitionsSpec {
    pub metric: String,
    pub from_label: String,
    pub to_label: String,
}

#[derive(Debug, Clone)]
pub struct FailFastCheck {
    pub mock: String,
    pub route: Option<String>,
    pub max_rate: f64,
    pub max_per_second: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct RetriesCheck {
    pub mock: String,
    pub route: Option<String>,
    pub max_attempts: Option<u32>,
    pub retried: Option<Comparison>,
    pub min_backoff: Option<Duration>,
    pub increasing: bool,
    pub client_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HealthState {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub service: String,
    pub endpoint: String,
    pub state: HealthState,
    /// true: every probe in the window; false: at least one.
    pub always: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum LoadStat {
    ErrorRatio,
    AchievedRatio,
    Quantile(f64),
    Requests,
}

#[derive(Debug, Clone)]
pub struct LoadCheck {
    pub request: Option<String>,
    pub stat: LoadStat,
    pub cmp: Comparison,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LogStreams {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub enum LogStat {
    JsonRatio(Comparison),
    Required(Vec<String>),
    Count(Comparison),
    /// Fraction of lines carrying a trace id (in this field) that the receiver saw.
    Correlated(Comparison, String),
}

#[derive(Debug, Clone)]
pub struct LogCheck {
    pub service: Option<String>,
    pub streams: LogStreams,
    pub filter: Vec<(String, String)>,
    pub level: Option<String>,
    pub level_field: String,
    pub stat: LogStat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatusSel {
    Ok,
    Error,
    Unset,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
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
}

/// Expected span tree node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpanTree {
    pub name: String,
    pub children: Vec<SpanTree>,
}

#[derive(Debug, Clone)]
pub struct TraceCompleteCheck {
    pub roots: Vec<SpanTree>,
    pub ratio: Comparison,
    pub only_ok: bool,
    pub services: Vec<String>,
    pub no_orphans: bool,
    pub quiet: Duration,
}

#[derive(Debug, Clone)]
pub struct TraceSamplingCheck {
    pub ratio: f64,
    pub tolerance: f64,
}
