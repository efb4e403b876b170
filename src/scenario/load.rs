//! `load:` — the traffic driven at one service: the request mix, rate,
//! users, timeout and canary; raw form, plan, compile step.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::ctx::{Ctx, Scalar};
use super::diag::did_you_mean;
use super::stack::StackPlan;

/// `load:` — the traffic driven at one service through the whole timeline.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// Service that receives the load.
    pub target: String,
    /// Target request rate (requests/second), held through faults whatever the
    /// responses do (an open model; a phase's `rate:` or `ramp:` overrides it);
    /// or `max`: a closed loop of `connections` sending back to back, to measure capacity.
    pub rate: RawRate,
    /// With `rate: max`: how many requests are kept in flight (default 16).
    pub connections: Option<usize>,
    /// The most requests in flight at once; a send due while this many wait is
    /// a missed send (default: the peak rate x `timeout`, at most 10,000).
    pub max_in_flight: Option<usize>,
    /// Older name of `max_in_flight`.
    pub users: Option<usize>,
    /// How sends are spaced: `uniform` (default, 1/rate apart) or `poisson` (seeded).
    #[serde(default)]
    pub arrivals: crate::load::Arrivals,
    /// Client timeout per request (default 10s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub timeout: Option<Duration>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// The request mix.
    pub requests: Vec<RawRequest>,
    /// Rows for `{{data.FIELD}}` in paths, headers and bodies: a `.csv` file
    /// (header row first) or `.jsonl`, relative to the scenario; one row per
    /// send in file order, cycling (`{file: F, order: random}`: seeded rows).
    pub data: Option<RawData>,
    /// Send a canary secret with every request (an `Authorization: Bearer`
    /// header, and `password` / `api_key` fields in JSON object bodies), so
    /// `kind: no_leaks` can prove it is redacted everywhere: `true`, or
    /// `{ header: X-Api-Key }` to carry it in that header instead (as its
    /// whole value), leaving `Authorization` to the gateway's own key.
    #[serde(default)]
    pub canary: RawCanary,
}

/// `canary: true` or `canary: { header: NAME }`.
#[derive(Debug, Clone, Default, schemars::JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum RawCanary {
    #[default]
    #[schemars(skip)]
    Unset,
    On(bool),
    In {
        /// The header that carries the canary.
        header: String,
    },
}

impl<'de> Deserialize<'de> for RawCanary {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct In {
            header: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Null(()),
            On(bool),
            In(In),
        }
        match Any::deserialize(d) {
            Ok(Any::Null(())) => Ok(RawCanary::Unset),
            Ok(Any::On(b)) => Ok(RawCanary::On(b)),
            Ok(Any::In(i)) => Ok(RawCanary::In { header: i.header }),
            Err(_) => Err(serde::de::Error::custom("expected `true`, `false` or `{ header: NAME }` (e.g. `{ header: X-Canary }`)")),
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: String,
    /// Relative weight in the mix (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// HTTP method (default GET).
    pub method: Option<String>,
    /// The path (required unless `steps` is given).
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    /// Inline JSON body.
    pub body: Option<serde_json::Value>,
    /// JSON body from a file, relative to the scenario file.
    pub body_file: Option<String>,
    /// A sequence sent as one unit of load, each step after the previous one
    /// answered 2xx; a step's templates may use `{{steps.NAME.FIELD}}` from
    /// an earlier step's JSON answer. Latency is reported per step
    /// (`request: NAME.STEP`) and for the whole (`request: NAME`).
    pub steps: Option<Vec<RawStep>>,
}

/// One step of a request sequence.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: String,
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, Scalar>,
    pub body: Option<serde_json::Value>,
    pub body_file: Option<String>,
}

/// `data: users.csv` or `data: {file: users.csv, order: random}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RawData {
    File(String),
    Full {
        file: String,
        #[serde(default)]
        order: crate::load::vars::Order,
    },
}

/// `rate: 20` or `rate: max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawRate {
    PerSecond(f64),
    Word(String),
}

hand_schema!(RawRate, "Rate", _g => {
    "description": "Requests per second (an open model), or `max` (a closed loop measuring capacity).",
    "anyOf": [{ "type": "number", "exclusiveMinimum": 0 }, { "const": "max" }],
});

fn one() -> u32 {
    1
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: String,
    /// The load's own rate (requests/s); 0 in capacity mode.
    pub rate: f64,
    /// Capacity mode (`rate: max`): this many connections, back to back.
    pub connections: Option<usize>,
    /// The most requests in flight at once (set by [`LoadPlan::finish`] when not given).
    pub max_in_flight: usize,
    max_in_flight_given: bool,
    pub arrivals: crate::load::Arrivals,
    /// When each request is meant to leave (set by [`LoadPlan::finish`]); None in capacity mode.
    pub schedule: Option<crate::load::Schedule>,
    pub timeout: Duration,
    pub requests: Vec<RequestPlan>,
    /// The header that carries the canary secret (`Authorization` as a bearer
    /// token by default); None: no canary.
    pub canary: Option<String>,
    /// The rows of `data:`.
    pub data: Option<std::sync::Arc<crate::load::vars::DataSet>>,
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
    /// What changes per send (`{{seq}}`, `{{data.F}}`, ...); empty: sent as written.
    pub varying: crate::load::vars::Varying,
    /// A sequence: these are sent one after the other instead (the fields
    /// above are then unused); each step's `name` is `REQUEST.STEP`.
    pub steps: Vec<RequestPlan>,
}

impl RequestPlan {
    /// What is sent: the steps of a sequence, or the request itself.
    pub fn parts(&self) -> &[RequestPlan] {
        if self.steps.is_empty() { std::slice::from_ref(self) } else { &self.steps }
    }
}

pub fn compile_load(cx: &mut Ctx, v: Value, dir: &Path, stack: Option<&StackPlan>) -> Option<LoadPlan> {
    let raw: RawLoad = cx.de("load", v)?;
    if let Some(stack) = stack
        && !stack.services.iter().any(|s| s.name == raw.target)
    {
        let hint = did_you_mean(&raw.target, stack.services.iter().map(|s| s.name.as_str())).map(|s| format!("did you mean `{s}`?"));
        cx.err_value("load.target", format!("no service named `{}`", raw.target), hint);
    }
    let (rate, connections) = compile_rate(cx, &raw);
    let max_in_flight = compile_max_in_flight(cx, raw.max_in_flight, raw.users);
    if raw.requests.is_empty() {
        cx.err("load.requests", "the request mix is empty", Some("add at least one `- { name: ..., method: POST, path: /... }`".into()));
    }
    let timeout = raw.timeout.unwrap_or(Duration::from_secs(10));
    cx.duration("load.timeout", timeout, false);
    check_headers(cx, "load.headers", &raw.headers);
    let data = raw.data.and_then(|d| super::load_vars::compile_data(cx, d, dir));
    let mut requests = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in raw.requests.into_iter().enumerate() {
        let common = Common { headers: &raw.headers, first: i == 0, data: data.as_ref(), dir };
        requests.push(compile_request(cx, i, r, &common, &mut seen));
    }
    Some(LoadPlan {
        target: raw.target,
        rate,
        connections,
        max_in_flight: max_in_flight.unwrap_or(0),
        max_in_flight_given: max_in_flight.is_some(),
        arrivals: raw.arrivals,
        schedule: None,
        timeout,
        requests,
        canary: canary_header(cx, raw.canary),
        data: data.map(std::sync::Arc::new),
    })
}

/// One request of the mix (or sequence) at `load.requests[i]`; `seen`: the
/// names taken so far (requests and `REQUEST.STEP`).
fn compile_request(cx: &mut Ctx, i: usize, r: RawRequest, common: &Common, seen: &mut std::collections::HashSet<String>) -> RequestPlan {
    let path = format!("load.requests[{i}]");
    if r.weight == 0 {
        cx.err_value(&format!("{path}.weight"), "weight must be at least 1", None);
    }
    let step_names: Vec<String> = r.steps.iter().flatten().map(|s| format!("{}.{}", r.name, s.name)).collect();
    if !seen.insert(r.name.clone()) || step_names.iter().any(|n| seen.contains(n)) {
        cx.err_value(
            &format!("{path}.name"),
            format!("two requests are named `{}`", r.name),
            Some("give each request of the mix its own name".into()),
        );
    }
    seen.extend(step_names);
    // A sequence's own headers go with each of its steps.
    let mut shared = common.headers.clone();
    if r.steps.is_some() {
        shared.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    // (Its own header errors are reported with its first step, whatever its place in the mix.)
    let common = Common { headers: &shared, first: common.first || (r.steps.is_some() && !r.headers.is_empty()), ..*common };
    let mut req = match r.steps {
        Some(steps) => {
            let given = [
                ("path", r.path.is_some()),
                ("method", r.method.is_some()),
                ("body", r.body.is_some()),
                ("body_file", r.body_file.is_some()),
            ];
            for (field, given) in given {
                if given {
                    cx.err_value(
                        &format!("{path}.{field}"),
                        format!("request `{}` has `steps`: each step has its own `{field}`", r.name),
                        Some(format!("move `{field}` into a step")),
                    );
                }
            }
            compile_steps(cx, &path, r.name, r.weight, steps, &common)
        }
        None => {
            if r.path.as_deref() == Some("") {
                cx.err_value(&format!("{path}.path"), "the path is empty", Some("start it with `/`, e.g. `path: /`".into()));
            }
            if r.path.is_none() {
                cx.err(&path, format!("request `{}` has no `path`", r.name), Some("add `path: /...`, or `steps:` for a sequence".into()));
            }
            let method = r.method.unwrap_or_else(get);
            let part = Part { method, path: r.path.unwrap_or_default(), headers: r.headers, body: r.body, body_file: r.body_file };
            compile_part(cx, &path, r.name, &part, &common, &[])
        }
    };
    req.weight = r.weight;
    req
}

/// What every request of the mix shares when it compiles.
#[derive(Clone, Copy)]
struct Common<'a> {
    headers: &'a BTreeMap<String, Scalar>,
    /// The first request reports errors in the shared headers.
    first: bool,
    data: Option<&'a crate::load::vars::DataSet>,
    dir: &'a Path,
}

/// The sendable fields of a request or a step.
struct Part {
    method: String,
    path: String,
    headers: BTreeMap<String, Scalar>,
    body: Option<serde_json::Value>,
    body_file: Option<String>,
}

/// One request (or step) at `path`; `steps` are the earlier steps' names,
/// whose answers its templates may use.
fn compile_part(cx: &mut Ctx, path: &str, name: String, r: &Part, common: &Common, steps: &[String]) -> RequestPlan {
    let method = r.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        let hint = did_you_mean(&method, METHODS.iter().copied())
            .map_or_else(|| format!("use one of {}", METHODS.join(", ")), |m| format!("did you mean `{m}`?"));
        cx.err_value(&format!("{path}.method"), format!("`{}` is not an HTTP method", r.method), Some(hint));
    }
    if !r.path.is_empty() && !r.path.starts_with('/') {
        cx.err_value(&format!("{path}.path"), format!("`{}` is not an HTTP path", r.path), Some("start it with `/`".into()));
    }
    let body = compile_body(cx, path, r.body.clone(), r.body_file.clone(), common.dir);
    check_headers(cx, &format!("{path}.headers"), &r.headers);
    let mut headers: Vec<(String, String)> = common.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    headers.extend(r.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())));
    let mut req =
        RequestPlan { name, weight: 1, method, path: r.path.clone(), headers, body, varying: Default::default(), steps: Vec::new() };
    let scope = super::load_vars::Scope { common: common.headers, first: common.first && steps.is_empty(), data: common.data, steps };
    req.varying = super::load_vars::compile_varying(cx, path, &req, &scope);
    req
}

/// A sequence: its steps, each named `REQUEST.STEP`.
fn compile_steps(cx: &mut Ctx, path: &str, name: String, weight: u32, raw: Vec<RawStep>, common: &Common) -> RequestPlan {
    if raw.is_empty() {
        cx.err_value(&format!("{path}.steps"), "a sequence needs at least one step", Some("add `- { name: ..., path: /... }`".into()));
    }
    let mut names: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for (j, st) in raw.into_iter().enumerate() {
        let sp = format!("{path}.steps[{j}]");
        if names.contains(&st.name) {
            cx.err_value(&format!("{sp}.name"), format!("two steps are named `{}`", st.name), Some("give each step its own name".into()));
        }
        let part = Part { method: st.method, path: st.path, headers: st.headers, body: st.body, body_file: st.body_file };
        steps.push(compile_part(cx, &sp, format!("{name}.{}", st.name), &part, common, &names));
        names.push(st.name);
    }
    RequestPlan {
        name,
        weight,
        method: String::new(),
        path: String::new(),
        headers: Vec::new(),
        body: None,
        varying: Default::default(),
        steps,
    }
}

/// `max_in_flight` (or its older name `users`): None when neither is given.
fn compile_max_in_flight(cx: &mut Ctx, max_in_flight: Option<usize>, users: Option<usize>) -> Option<usize> {
    match (max_in_flight, users) {
        (Some(_), Some(_)) => {
            cx.err(
                "load.users",
                "both `max_in_flight` and `users` are set",
                Some("keep `max_in_flight` (`users` is its older name)".into()),
            );
            None
        }
        (Some(n), None) | (None, Some(n)) => {
            let field = if max_in_flight.is_some() { "load.max_in_flight" } else { "load.users" };
            if n == 0 {
                cx.err_value(
                    field,
                    "at least one request must be allowed in flight",
                    Some("e.g. `max_in_flight: 100`, or leave it out".into()),
                );
            } else if n > MAX_IN_FLIGHT {
                cx.err_value(field, format!("at most {MAX_IN_FLIGHT} requests can be in flight"), None);
            }
            Some(n)
        }
        (None, None) => None,
    }
}

/// A request's body: inline JSON, or a JSON file relative to the scenario.
fn compile_body(cx: &mut Ctx, path: &str, body: Option<serde_json::Value>, body_file: Option<String>, dir: &Path) -> Option<Vec<u8>> {
    match (body, body_file) {
        (Some(_), Some(_)) => {
            cx.err(path, "both `body` and `body_file` are set", Some("keep one of them".into()));
            None
        }
        (Some(b), None) => Some(serde_json::to_vec(&b).unwrap_or_default()),
        (None, Some(f)) => {
            let p = dir.join(&f);
            match crate::files::read(&p) {
                Ok(bytes) => {
                    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                        cx.err_value(&format!("{path}.body_file"), format!("{} is not valid JSON: {e}", p.display()), None);
                    }
                    Some(bytes)
                }
                Err(e) => {
                    cx.err_value(
                        &format!("{path}.body_file"),
                        format!("cannot read {}: {e}", p.display()),
                        Some("paths are relative to the scenario file".into()),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// The upper bound of `max_in_flight` (each is a goose user).
pub const MAX_IN_FLIGHT: usize = 10_000;

/// Methods a request may use: the standard ones. Anything else is a typo far
/// more often than an extension method (`PSOT` would reach the target as is).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"];

/// `rate: N` (open model) or `rate: max` with `connections: N` (capacity).
fn compile_rate(cx: &mut Ctx, raw: &RawLoad) -> (f64, Option<usize>) {
    match &raw.rate {
        RawRate::Word(w) if w == "max" => {
            let n = raw.connections.unwrap_or(16);
            if n == 0 || n > MAX_IN_FLIGHT {
                cx.err_value(
                    "load.connections",
                    format!("connections must be between 1 and {MAX_IN_FLIGHT}"),
                    Some("e.g. `connections: 50`".into()),
                );
            }
            if raw.arrivals != crate::load::Arrivals::Uniform {
                cx.err("load.arrivals", "`rate: max` has no schedule to space", Some("remove `arrivals`".into()));
            }
            (0.0, Some(n))
        }
        RawRate::Word(w) => {
            cx.err_value(
                "load.rate",
                format!("`{w}` is not a rate"),
                Some("a number of requests per second, e.g. `rate: 20`, or `max`".into()),
            );
            (0.0, None)
        }
        RawRate::PerSecond(r) => {
            if !(*r > 0.0 && r.is_finite()) {
                cx.err_value("load.rate", "the rate must be a positive number of requests per second", Some("e.g. `rate: 20`".into()));
            } else if *r > MAX_RATE {
                cx.err_value("load.rate", format!("at most {MAX_RATE} requests per second"), None);
            }
            if raw.connections.is_some() {
                cx.err(
                    "load.connections",
                    "`connections` applies to `rate: max` only",
                    Some("use `max_in_flight` to cap a scheduled rate".into()),
                );
            }
            (*r, None)
        }
    }
}

/// The highest rate a scenario may ask for (requests/s).
pub const MAX_RATE: f64 = 1_000_000.0;

impl LoadPlan {
    /// The names a `kind: load` check may pick: the mix's requests and
    /// sequences, and every sequence's steps (`REQUEST.STEP`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.requests.iter().flat_map(|r| std::iter::once(r.name.as_str()).chain(r.steps.iter().map(|s| s.name.as_str())))
    }

    /// How many goose users the load needs: one per request in flight.
    pub fn concurrency(&self) -> usize {
        self.connections.unwrap_or(self.max_in_flight).max(1)
    }

    /// Fix the schedule once the phases (with their own rates) are known, and
    /// the default `max_in_flight`: enough to hold the peak rate while every
    /// request takes the full timeout.
    pub fn finish(&mut self, schedule: Option<crate::load::Schedule>) {
        self.schedule = schedule;
        if !self.max_in_flight_given {
            let peak = self.schedule.as_ref().map_or(self.rate, |s| s.peak());
            self.max_in_flight = ((peak * self.timeout.as_secs_f64()).ceil() as usize).clamp(8, MAX_IN_FLIGHT);
        }
    }

    /// A constant-rate schedule of `duration` (overhead rounds and lint, which have no timeline).
    pub fn constant_schedule(&self, duration: Duration) -> Option<crate::load::Schedule> {
        self.connections.is_none().then(|| crate::load::Schedule::constant(self.rate, duration))
    }
}

/// Header names and values that could not be sent (every request would fail to build).
fn check_headers(cx: &mut Ctx, path: &str, headers: &BTreeMap<String, Scalar>) {
    for (k, v) in headers {
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            cx.err(
                &format!("{path}.{k}"),
                format!("`{k}` is not a valid HTTP header name"),
                Some("letters, digits and `-`, e.g. `X-Tenant`".into()),
            );
        } else if reqwest::header::HeaderValue::from_str(&v.0).is_err() {
            cx.err_value(
                &format!("{path}.{k}"),
                format!("the value of header `{k}` cannot be sent (control characters such as CR or LF)"),
                Some("remove line breaks and control characters".into()),
            );
        }
    }
}

/// `canary:` -> the header that carries it (None: off); a header name that
/// cannot be sent is an error at `load.canary.header`.
fn canary_header(cx: &mut Ctx, raw: RawCanary) -> Option<String> {
    match raw {
        RawCanary::Unset | RawCanary::On(false) => None,
        RawCanary::On(true) => Some("Authorization".into()),
        RawCanary::In { header } => {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                cx.err_value(
                    "load.canary.header",
                    format!("`{header}` cannot name an HTTP header"),
                    Some("letters, digits and `-`, e.g. `X-Api-Key`".into()),
                );
                return None;
            }
            Some(header)
        }
    }
}
