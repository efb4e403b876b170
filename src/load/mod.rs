//! Load: drives the scenario's request mix at the target service on an open
//! model — each request leaves at its scheduled time (`schedule`), whatever
//! the responses do — and records every request on the run clock with its own
//! X-Request-ID and W3C traceparent so the other signals can be joined to it.
//!
//! goose runs the users; ordeal owns the schedule. Each goose user is one
//! slot of concurrency (`max_in_flight` of them): a free user claims the next
//! scheduled send, sleeps until its time, sends it through goose's request
//! path (one client shared by every user: no per-user TLS set-up), and
//! records it. A send whose time passed while every user was busy is a
//! *missed send* (k6's dropped iteration), counted against the achieved rate
//! and never sent late as if on time. goose's own throttle is not used: it
//! releases tokens on >= 10 ms ticks and never pays back oversleep (measured
//! 0.86-0.89 of the target at 1,000 req/s; ARCHITECTURE.md).
//!
//! Capacity mode (`rate: max`) is a closed loop instead: `connections` users
//! send back to back, and latency is the service time.
//!
//! goose runs on a thread of its own (`spawn_thread`): one event loop for an
//! open-model load, as wrk does, and a worker per core in capacity mode. The
//! schedule's zero is set once goose has started every user, so launching
//! thousands of them never makes the first sends late.
//!
//! goose is configured entirely in code (never from argv); ordeal owns
//! SIGINT (see `crate::signals`), so goose's own Ctrl-C handler backs off and
//! the load is stopped through goose's killswitch.

mod record;
pub mod schedule;
mod send;
pub mod vars;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::clock::RunClock;
use crate::scenario::{LoadPlan, RequestPlan};
pub use record::{LoadRecord, LoadSample, LoadStats, Missed, Part, quantile};
pub use schedule::{Arrivals, Schedule};

/// A send later than this behind its schedule is missed, not sent: every
/// allowed request was in flight (a busy machine's scheduling jitter stays below it).
pub const MISS_AFTER: Duration = Duration::from_millis(100);

/// How long the load's end waits for requests still in flight to answer
/// before recording them as unfinished.
const DRAIN: Duration = Duration::from_secs(1);

/// The longest wait for goose to start every user before the schedule starts anyway.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a user with nothing left to send sleeps between looks.
const IDLE: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// goose refused the configuration or failed while running.
    #[error("load driver: {0}")]
    Goose(#[source] GooseError),
    /// The task driving goose panicked or was cancelled.
    #[error("load driver: the load thread panicked")]
    Task,
    /// The load's own runtime or thread could not be started.
    #[error("load driver: cannot start the load thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The users did not stop after the killswitch.
    #[error("load driver: load did not stop within {0:?}")]
    StopTimeout(Duration),
    /// The target's URL cannot be joined with a request's path.
    #[error("load driver: `{0}` is not a URL a request can be sent to")]
    Url(String),
}

/// One request of the mix, ready to send.
struct Prepared {
    name: String,
    path: String,
    method: reqwest::Method,
    goose_method: GooseMethod,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    body: Option<bytes::Bytes>,
    /// What changes per send.
    varying: vars::Varying,
}

/// A unit of the mix: one request, or a sequence's steps.
struct Unit {
    steps: Vec<Prepared>,
    /// A sequence: the record's index of its first step.
    first_step: Option<usize>,
}

/// A send the engine handed to a user.
#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u64,
    /// Intended send time (run offset).
    at: Duration,
    /// Index into the record's names (a unit of the mix, or a step).
    request: usize,
}

/// A request on the wire (or a sequence under way), for the record if the
/// load stops before it answers.
struct InFlight {
    slot: Slot,
    sent: Duration,
    /// Where its latency runs from: the intended send time, or for a later
    /// step of a sequence, its actual send.
    from: Duration,
    part: Part,
    request_id: String,
    trace_id: String,
    span_id: String,
}

/// Key of the in-flight table: the send's number and 0 (a request, a whole
/// sequence) or 1 + a step's index.
type Key = (u64, usize);

struct Cursor {
    /// The schedule's remaining sends; None in capacity mode.
    slots: Option<schedule::Slots>,
    seq: u64,
}

struct Engine {
    units: Vec<Unit>,
    /// Request indices in a weighted cycle (smooth weighted round robin).
    mix: Vec<usize>,
    cursor: Mutex<Cursor>,
    clock: RunClock,
    /// Run offset of the schedule's zero: set once every user is up.
    origin: std::sync::OnceLock<Duration>,
    /// Users that reached their first transaction, and the wake-up when all have.
    arrived: std::sync::atomic::AtomicUsize,
    users: usize,
    all_arrived: tokio::sync::Notify,
    /// Set with `origin`: the users may start claiming sends.
    go: CancellationToken,
    record: LoadRecord,
    run_id: String,
    /// Rows for `{{data.F}}`, and the seed of per-send random values.
    data: Option<Arc<vars::DataSet>>,
    seed: u64,
    base: reqwest::Url,
    inflight: Mutex<HashMap<Key, InFlight>>,
    /// No new sends.
    stop: CancellationToken,
    /// Abandon the requests still in flight.
    cancel: CancellationToken,
}

/// A running load; `stop` ends it and returns what was recorded.
pub struct LoadHandle {
    /// Run offset of the schedule's zero: the timeline starts here.
    pub origin: Duration,
    /// The load thread's result (dropped unsent if it panicked).
    task: tokio::sync::oneshot::Receiver<Result<(), LoadError>>,
    engine: Arc<Engine>,
    pub record: LoadRecord,
}

fn goose_method(m: &str) -> GooseMethod {
    match m {
        "POST" => GooseMethod::Post,
        "PUT" => GooseMethod::Put,
        "DELETE" => GooseMethod::Delete,
        "PATCH" => GooseMethod::Patch,
        "HEAD" => GooseMethod::Head,
        _ => GooseMethod::Get,
    }
}

/// Weights as an interleaved cycle: weights 3 and 1 give a a b a, not a a a b.
fn weighted_cycle(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += i64::from(*w);
        }
        let Some((best, _)) = current.iter().enumerate().max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i))) else { break };
        current[best] -= total;
        out.push(best);
    }
    out
}

fn prepare(req: &RequestPlan, base: &reqwest::Url) -> Result<Prepared, LoadError> {
    let url = base.join(req.path.trim_start_matches('/')).map_err(|_| LoadError::Url(format!("{base}{}", req.path)))?;
    let mut headers = reqwest::header::HeaderMap::new();
    if req.body.is_some() {
        headers.insert(reqwest::header::CONTENT_TYPE, reqwest::header::HeaderValue::from_static("application/json"));
    }
    for (k, v) in &req.headers {
        // Compile rejected names and values that cannot be sent.
        if let (Ok(k), Ok(v)) = (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(v)) {
            headers.insert(k, v);
        }
    }
    Ok(Prepared {
        name: req.name.clone(),
        path: req.path.clone(),
        method: reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET),
        goose_method: goose_method(&req.method),
        url,
        headers,
        body: req.body.clone().map(bytes::Bytes::from),
        varying: req.varying.clone(),
    })
}

impl Engine {
    /// The next send for a free user, skipping (and recording) sends whose
    /// time passed while every user was busy. None: the schedule is over.
    fn claim(&self) -> Option<Slot> {
        if self.stop.is_cancelled() {
            return None;
        }
        let now = self.clock.now();
        let mut c = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let Cursor { slots, seq } = &mut *c;
        loop {
            let request = self.mix[(*seq % self.mix.len() as u64) as usize];
            let at = match slots {
                Some(s) => self.origin.get().copied().unwrap_or_default() + s.next()?,
                None => now,
            };
            let slot = Slot { seq: *seq, at, request };
            *seq += 1;
            if now <= at + MISS_AFTER {
                return Some(slot);
            }
            self.record.push_missed(Missed { at, request });
        }
    }
}

/// Where and when the load runs.
pub struct LoadStart<'a> {
    pub base_url: &'a str,
    pub clock: RunClock,
    pub run_id: &'a str,
    pub canary: Option<&'a str>,
    /// When the scenario's rate applies; None in capacity mode (`rate: max`).
    pub schedule: Option<Schedule>,
    /// Seed of the per-send random values (`{{rand.int(A,B)}}`, `order: random` rows).
    pub seed: u64,
    /// goose's own run-time limit: the caller normally stops the load earlier.
    pub max_duration: Duration,
}

/// Start goose's users and, once they are all up, the schedule: its zero
/// (the timeline's origin) is `LoadHandle::origin`, and the first send leaves then.
pub async fn start(plan: &LoadPlan, at: LoadStart<'_>) -> Result<LoadHandle, LoadError> {
    let base = reqwest::Url::parse(&format!("{}/", at.base_url.trim_end_matches('/'))).map_err(|_| LoadError::Url(at.base_url.into()))?;
    let (units, names, shares) = units(plan, &base, at.canary)?;
    let weights: Vec<u32> = plan.requests.iter().map(|r| r.weight.max(1)).collect();
    let record = LoadRecord::new(names).with_schedule(at.schedule.clone(), plan.timeout).with_shares(shares);
    let engine = Arc::new(Engine {
        units,
        mix: weighted_cycle(&weights),
        cursor: Mutex::new(Cursor { slots: at.schedule.as_ref().map(Schedule::slots), seq: 0 }),
        clock: at.clock,
        origin: std::sync::OnceLock::new(),
        arrived: Default::default(),
        users: plan.concurrency(),
        all_arrived: tokio::sync::Notify::new(),
        go: CancellationToken::new(),
        record: record.clone(),
        run_id: at.run_id.to_string(),
        data: plan.data.clone(),
        seed: at.seed,
        base,
        inflight: Mutex::default(),
        stop: CancellationToken::new(),
        cancel: CancellationToken::new(),
    });
    let users = plan.concurrency();
    let attack = attack(engine.clone(), users, plan.timeout, at.max_duration, at.base_url)?;
    let mut task = spawn_thread(attack, plan.connections.is_some())?;
    // Dropped before the schedule starts (Ctrl-C): release the waiting users.
    let guard = engine.cancel.clone().drop_guard();
    // Users up (bounded: a goose that fails before launching them ends the wait too).
    tokio::select! {
        _ = engine.all_arrived.notified() => {}
        r = &mut task => return Err(match r { Ok(Err(e)) => e, _ => LoadError::Task }),
        _ = tokio::time::sleep(LAUNCH_TIMEOUT) => tracing::warn!("not every load user started within {LAUNCH_TIMEOUT:?}; starting the schedule anyway"),
    }
    let origin = at.clock.now();
    let _ = engine.origin.set(origin);
    engine.go.cancel();
    guard.disarm();
    let mut record = record;
    record.origin = origin;
    Ok(LoadHandle { task, engine, record, origin })
}

/// The units, the record's names, their shares of the target rate.
type Mix = (Vec<Unit>, Vec<String>, Vec<f64>);

/// The mix's units ready to send, and the record's names and shares of the
/// target rate: the units first (in the mix's order), then every sequence's
/// steps (`REQUEST.STEP`, each with its sequence's share).
fn units(plan: &LoadPlan, base: &reqwest::Url, canary: Option<&str>) -> Result<Mix, LoadError> {
    let total: f64 = plan.requests.iter().map(|r| f64::from(r.weight.max(1))).sum::<f64>().max(1.0);
    let mut names: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    let mut shares: Vec<f64> = plan.requests.iter().map(|r| f64::from(r.weight.max(1)) / total).collect();
    let mut units = Vec::new();
    for (i, r) in plan.requests.iter().enumerate() {
        let steps = r
            .parts()
            .iter()
            .map(|p| {
                prepare(&canary.map_or_else(|| p.clone(), |c| with_canary(p, c, plan.canary.as_deref().unwrap_or("Authorization"))), base)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let first_step = (!r.steps.is_empty()).then_some(names.len());
        for st in &r.steps {
            names.push(st.name.clone());
            shares.push(shares[i]);
        }
        units.push(Unit { steps, first_step });
    }
    Ok((units, names, shares))
}

/// goose runs on a thread of its own with a single-threaded runtime, as wrk
/// runs one event loop per thread: every user, timer and connection of the
/// load on one loop, with no cross-thread wake-ups (on the shared two-worker
/// runtime they were a third of the load's CPU, in the kernel's task switches)
/// and no contention with the collectors measuring the run.
fn spawn_thread(attack: Box<GooseAttack>, capacity: bool) -> Result<tokio::sync::oneshot::Receiver<Result<(), LoadError>>, LoadError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rt = if capacity {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread().worker_threads(n).thread_name("ordeal-load").enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }
    .map_err(LoadError::Thread)?;
    std::thread::Builder::new()
        .name("ordeal-load".into())
        .spawn(move || {
            let r = rt.block_on(crate::signals::component("load driver", async move {
                attack.execute().await.map(|_| ()).map_err(LoadError::Goose)
            }));
            let _ = tx.send(r);
        })
        .map_err(LoadError::Thread)?;
    Ok(rx)
}

/// goose, set up in code: `users` users sharing one client, all started at
/// once, none of goose's own output, throttle, telnet or metric resets.
fn attack(engine: Arc<Engine>, users: usize, timeout: Duration, max_duration: Duration, host: &str) -> Result<Box<GooseAttack>, LoadError> {
    let g = LoadError::Goose;
    let scenario = scenario!("ordeal").register_transaction(Transaction::new(send::transaction(engine)).set_name("send"));
    let client = goose::client::GooseClientBuilder::new().without_cookies().timeout(timeout).gzip(false).user_agent("ordeal");
    GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(g)?
        .set_client_builder_without_cookies(client)
        .map_err(g)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, host)
        .map_err(g)?
        .set_default(GooseDefault::Users, users)
        .map_err(g)?
        .set_default(GooseDefault::IncreaseRate, "1000000")
        .map_err(g)?
        .set_default(GooseDefault::RunTime, max_duration.as_secs() as usize + 1)
        .map_err(g)?
        .set_default(GooseDefault::Timeout, timeout.as_secs_f64().to_string().as_str())
        .map_err(g)?
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(g)?
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(g)?
        .set_default(GooseDefault::NoErrorSummary, true)
        .map_err(g)?
        .set_default(GooseDefault::NoResetMetrics, true)
        .map_err(g)?
        // ordeal records every request itself; goose's per-request metrics
        // channel would only cost CPU.
        .set_default(GooseDefault::NoMetrics, true)
        .map_err(g)?
        .set_default(GooseDefault::Quiet, 1)
        .map_err(g)
}

/// The request with the canary secret where secrets usually travel: a header
/// (`Authorization` as a bearer token, any other as its whole value), and
/// `password` / `api_key` fields of a JSON object body.
pub fn with_canary(req: &RequestPlan, canary: &str, header: &str) -> RequestPlan {
    let mut r = req.clone();
    r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header));
    let value = if header.eq_ignore_ascii_case("authorization") { format!("Bearer {canary}") } else { canary.to_string() };
    r.headers.push((header.to_string(), value));
    if let Some(body) = &r.body
        && let Ok(serde_json::Value::Object(mut m)) = serde_json::from_slice::<serde_json::Value>(body)
    {
        m.insert("password".into(), canary.into());
        m.insert("api_key".into(), canary.into());
        r.body = serde_json::to_vec(&m).ok();
    }
    if let Some(vars::Body::Object(items)) = &mut r.varying.body {
        items.retain(|(k, _)| k != "password" && k != "api_key");
        items.push(("password".into(), vars::Body::Static(canary.into())));
        items.push(("api_key".into(), vars::Body::Static(canary.into())));
    }
    r.varying.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header));
    r
}

impl LoadHandle {
    /// Stop sending, give requests in flight a moment to answer, record the
    /// rest as unfinished, then stop goose's users (its killswitch, pulled
    /// again every half second: one pulled while goose is still starting its
    /// attack is reset by it and would be lost).
    pub async fn stop(mut self) -> Result<LoadRecord, LoadError> {
        const STOP_TIMEOUT: Duration = Duration::from_secs(30);
        self.engine.stop.cancel();
        let drain = tokio::time::Instant::now() + DRAIN.min(self.record.timeout);
        while self.engine.in_flight() > 0 && tokio::time::Instant::now() < drain {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.engine.record_unfinished();
        self.engine.cancel.cancel();
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        loop {
            goose::trigger_killswitch("ordeal: timeline finished");
            match tokio::time::timeout(Duration::from_millis(500), &mut self.task).await {
                Ok(Ok(r)) => break r?,
                Ok(Err(_)) => return Err(LoadError::Task),
                Err(_) if tokio::time::Instant::now() >= deadline => return Err(LoadError::StopTimeout(STOP_TIMEOUT)),
                Err(_) => {}
            }
        }
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_goes_in_the_header_and_json_body() {
        let req = RequestPlan {
            name: "a".into(),
            weight: 1,
            method: "POST".into(),
            path: "/".into(),
            headers: vec![("authorization".into(), "Bearer real".into())],
            body: Some(br#"{"type":"x"}"#.to_vec()),
            varying: Default::default(),
            steps: Vec::new(),
        };
        let r = with_canary(&req, "ordeal-canary-1", "Authorization");
        assert_eq!(r.headers, vec![("Authorization".to_string(), "Bearer ordeal-canary-1".to_string())]);
        // In a header of its own, the gateway's own key stays.
        let r2 = with_canary(&req, "ordeal-canary-1", "X-Api-Key");
        let want = [("authorization", "Bearer real"), ("X-Api-Key", "ordeal-canary-1")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(r2.headers, want);
        let body: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["password"], "ordeal-canary-1");
        assert_eq!(body["api_key"], "ordeal-canary-1");
        assert_eq!(body["type"], "x");
    }

    #[test]
    fn weights_interleave() {
        assert_eq!(weighted_cycle(&[3, 1]), vec![0, 0, 1, 0]);
        let c = weighted_cycle(&[3, 1]);
        assert_eq!(c.iter().filter(|i| **i == 0).count(), 3);
        assert_eq!(c.len(), 4);
        assert_ne!(c, vec![0, 0, 0, 1], "interleaved, not in a block");
        assert_eq!(weighted_cycle(&[1]), vec![0]);
    }
}
