//! The scenario file as written: serde types with `deny_unknown_fields`.
//! Each section is deserialized on its own so one bad section does not hide
//! the errors of the others. `///` comments here are the field reference.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// A YAML scalar accepted as a string (`5`, `true` and `"x"` all work), for env
/// values and headers where users naturally write numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            S(String),
            I(i64),
            U(u64),
            F(f64),
            B(bool),
        }
        Ok(Scalar(match Any::deserialize(d).map_err(|_| serde::de::Error::custom("expected a string, number or boolean"))? {
            Any::S(s) => s,
            Any::I(i) => i.to_string(),
            Any::U(u) => u.to_string(),
            Any::F(f) => f.to_string(),
            Any::B(b) => b.to_string(),
        }))
    }
}

/// `stack:` — the services to start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStack {
    /// Commands run once before the services start, from the scenario's
    /// directory, e.g. `[cargo, build, --release, -p, multiagent]`.
    #[serde(default)]
    pub prepare: Vec<Vec<String>>,
    /// Services by name.
    pub services: BTreeMap<String, RawService>,
    /// How often metrics endpoints are scraped (default 250ms).
    #[serde(default, with = "humantime_serde")]
    pub scrape_interval: Option<Duration>,
    /// How often health endpoints are probed (default 250ms).
    #[serde(default, with = "humantime_serde")]
    pub probe_interval: Option<Duration>,
    /// A probe not answered within this counts as down (default 2s).
    #[serde(default, with = "humantime_serde")]
    pub probe_timeout: Option<Duration>,
}

/// One service of the stack, started as a child process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// Program to run; a relative path containing `/` is relative to the scenario file.
    pub command: String,
    /// Docker runtime only: run this image (its own entrypoint, with `args`)
    /// instead of an image ordeal builds from `command`.
    pub image: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables; values may use templates such as `{{mocks.llm.url}}`.
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    /// Fixed loopback port; by default a free one is allocated (`{{self.port}}`).
    pub port: Option<u16>,
    /// Readiness probe: the service is ready when GET `path` answers 2xx.
    /// Without one, a service is ready as soon as it has started.
    pub ready: Option<RawReady>,
    /// Metrics path to scrape (e.g. `/metrics`).
    pub metrics: Option<String>,
    /// Health endpoints to probe continuously, by name (e.g. `live: /health/live`).
    #[serde(default)]
    pub health: BTreeMap<String, String>,
    /// Services that must be ready before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Grace period after SIGTERM before SIGKILL (default 5s).
    #[serde(default, with = "humantime_serde")]
    pub stop_timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    pub path: String,
    /// How long to wait for readiness (default 30s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// `load:` — the traffic driven at one service through the whole timeline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// Service that receives the load.
    pub target: String,
    /// Target request rate (requests/second), held through faults.
    pub rate: f64,
    /// Concurrent users; default is enough to hold `rate` while requests take up to `timeout`.
    pub users: Option<usize>,
    /// Client timeout per request (default 10s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// The request mix.
    pub requests: Vec<RawRequest>,
    /// Send a canary secret with every request (an `Authorization: Bearer`
    /// header, and `password` / `api_key` fields in JSON object bodies), so
    /// `kind: no_leaks` can prove it is redacted everywhere.
    #[serde(default)]
    pub canary: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: String,
    /// Relative weight in the mix (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// HTTP method (default GET).
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// Inline JSON body.
    pub body: Option<serde_json::Value>,
    /// JSON body from a file, relative to the scenario file.
    pub body_file: Option<String>,
}

fn one() -> u32 {
    1
}
fn get() -> String {
    "GET".into()
}

/// `timeline:` — named phases in order, and faults switched on and off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: String,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

/// A fault on a stack service itself (`service:` instead of `mock:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceFault {
    pub name: Option<String>,
    pub service: String,
    /// When: the action at the window's start, its undoing at the end.
    pub during: String,
    pub action: crate::scenario::ServiceAction,
    /// `kill` / `stop`: start the service again at the window's end (default true).
    pub restart: Option<bool>,
}

/// One fault action: active on `mock` (optionally one route) during a window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub name: Option<String>,
    pub mock: String,
    /// Only requests matching `METHOD /path` (templates `{id}` and `*` allowed).
    pub route: Option<String>,
    /// When the fault is active, e.g. `outage` or `outage+1s..outage.end`.
    pub during: String,
    pub fault: crate::faults::FaultSpec,
}

/// Fields every expectation has; the rest depends on `kind`.
#[derive(Debug, Default)]
pub struct RawCommon {
    pub name: Option<String>,
    pub during: Option<String>,
    pub after: Option<String>,
}

/// `kind: metric` — a check on scraped series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// Only this service's scrapes (default: all services).
    pub service: Option<String>,
    pub metric: String,
    /// Label equality matchers; prefix a value with `!` for "not equal".
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    pub increase: Option<String>,
    pub rate: Option<String>,
    pub max: Option<String>,
    pub min: Option<String>,
    pub last: Option<String>,
    pub avg: Option<String>,
    pub p50: Option<String>,
    pub p90: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    /// Expect the family to be present (true) or absent (false).
    pub present: Option<bool>,
}

/// `kind: breaker` — circuit-breaker states and their timing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub service: String,
    /// Gauge holding the state.
    pub gauge: String,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// Gauge value of each state (default closed: 0, open: 1, half_open: 2).
    pub states: Option<BTreeMap<String, f64>>,
    /// Optional transitions counter (labels `from`/`to` hold state names),
    /// which catches states shorter than a scrape interval.
    pub transitions: Option<RawTransitions>,
    /// Window during which the dependency is failing, e.g. `outage`.
    pub fault: String,
    /// Expected order of states (default closed, open, half_open, closed).
    pub sequence: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    pub opens_within: Option<Duration>,
    /// The breaker's reset timeout: first half_open this long after opening.
    #[serde(default, with = "humantime_serde")]
    pub half_open_after: Option<Duration>,
    /// Closed again within this long of the fault's end.
    #[serde(default, with = "humantime_serde")]
    pub closes_within: Option<Duration>,
    /// Timing tolerance (default two scrape intervals).
    #[serde(default, with = "humantime_serde")]
    pub tolerance: Option<Duration>,
    /// No flapping: at most this many transitions in the window.
    pub max_transitions: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransitions {
    pub metric: String,
    #[serde(default = "from_label")]
    pub from_label: String,
    #[serde(default = "to_label")]
    pub to_label: String,
}
fn from_label() -> String {
    "from".into()
}
fn to_label() -> String {
    "to".into()
}

/// `kind: fail_fast` — few calls reach the mock while the breaker is open.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailFast {
    pub mock: String,
    pub route: Option<String>,
    /// At most this many calls per second (averaged over the window).
    pub max_rate: f64,
    /// And at most this many calls in any one-second bucket.
    pub max_per_second: Option<u32>,
}

/// `kind: retries` — attempts and backoff, measured at the mock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub mock: String,
    pub route: Option<String>,
    /// No request (grouped by X-Request-ID) reaches the mock more than this many times.
    pub max_attempts: Option<u32>,
    /// Number of requests that were retried, e.g. `"> 0"`.
    pub retried: Option<String>,
    /// Every gap between a failed attempt and the next is at least this.
    #[serde(default, with = "humantime_serde")]
    pub min_backoff: Option<Duration>,
    /// Gaps do not shrink from one retry to the next (exponential backoff).
    #[serde(default)]
    pub increasing: bool,
    /// The stack's client timeout for this dependency: lets the backoff after
    /// an attempt the client abandoned (e.g. a latency fault) be measured.
    #[serde(default, with = "humantime_serde")]
    pub client_timeout: Option<Duration>,
}

/// `kind: health` — a health endpoint's state over a window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub service: String,
    /// Endpoint name from the service's `health:` map, e.g. `ready`.
    pub endpoint: String,
    /// `up` (2xx) or `down` (anything else, or no answer).
    pub state: String,
    /// `always` (every probe in the window, default) or `eventually` (at least one).
    pub mode: Option<String>,
}

/// `kind: load` — what the load driver saw.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoadCheck {
    /// Only this request of the mix (default all).
    pub request: Option<String>,
    /// Fraction of requests that failed (non-2xx or no answer), e.g. `"== 0"`.
    pub error_ratio: Option<String>,
    /// Achieved request rate relative to the target, e.g. `">= 0.9"`.
    pub achieved_ratio: Option<String>,
    pub p50: Option<String>,
    pub p95: Option<String>,
    pub p99: Option<String>,
    pub requests: Option<String>,
}

/// `kind: no_task_lost` — every task the stack accepted completed or failed,
/// and the load driver saw every completion (counted over the whole run).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoTaskLost {
    /// The service whose counter accounts for tasks (e.g. `coordinator`).
    pub service: String,
    /// Counter with one series per outcome (default `multiagent_tasks_total`).
    pub metric: Option<String>,
    /// The label holding the outcome (default `status`).
    pub label: Option<String>,
    /// Label values (defaults `started`, `completed`, `failed`).
    pub accepted: Option<String>,
    pub completed: Option<String>,
    pub failed: Option<String>,
    /// Mismatch allowed in each comparison (default 0).
    #[serde(default)]
    pub tolerance: u64,
}

/// `kind: logs` — structured-log checks on captured stdout/stderr lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    /// Only this service's output (default: all services).
    pub service: Option<String>,
    /// `stdout` (default), `stderr` or `both`.
    pub stream: Option<String>,
    /// Only JSON lines whose fields equal these values, e.g. `{ message: "task failed" }`.
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Scalar>,
    /// Only lines at this level (compared case-insensitively with `level_field`).
    pub level: Option<String>,
    /// Field holding the level (default `level`).
    pub level_field: Option<String>,
    /// Fraction of lines that are JSON objects, e.g. `"== 1"`.
    pub json_ratio: Option<String>,
    /// Every selected JSON line has all these fields.
    pub required_fields: Option<Vec<String>>,
    /// Number of selected lines, e.g. `"> 0"` for error logs during a fault.
    pub count: Option<String>,
    /// Trace/log correlation: fraction of selected lines with a trace id
    /// (`trace_field`) whose trace the OTLP receiver received, e.g. `">= 0.99"`.
    pub correlated: Option<String>,
    /// Field holding the trace id (default `trace_id`).
    pub trace_field: Option<String>,
}

/// `kind: no_leaks` — the load's canary secret appears nowhere it should not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoLeaks {
    /// Where to look (default all): `logs`, `metrics` (label values), `spans` (attributes).
    #[serde(default, rename = "in")]
    pub places: Vec<String>,
}

/// Which spans: every given condition must hold.
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Deserialize)]
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
}

/// An expected span tree: `{ ExecuteTask: { PlanTask: { LLMCall: } } }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct RawTree(pub Option<BTreeMap<String, RawTree>>);

/// `kind: trace_complete` — the load's requests produced complete traces.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraceComplete {
    /// The span tree each request's trace must contain (direct parent/child links).
    pub tree: RawTree,
    /// Fraction of requests whose trace is complete (default `">= 0.99"`).
    pub ratio: Option<String>,
    /// Which requests of the window: `ok` (default: those that succeeded) or `all`.
    pub requests: Option<String>,
    /// Services every complete trace must cross (one trace id end to end).
    #[serde(default)]
    pub services: Vec<String>,
    /// No span of those traces may point at a parent that never arrived (default true).
    pub no_orphans: Option<bool>,
    /// A trace is final once no span arrived for this long before collection ended (default 2s).
    #[serde(default, with = "humantime_serde")]
    pub quiet: Option<Duration>,
}

/// `kind: trace_sampling` — the fraction of requests that produced a trace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraceSampling {
    /// The configured sampling ratio.
    pub ratio: f64,
    /// Allowed absolute difference (default 0.05).
    pub tolerance: Option<f64>,
}
