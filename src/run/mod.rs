//! One scenario run, end to end: mocks -> prepare -> stack -> alerting
//! (Prometheus, Alertmanager, see `alerting`) -> collectors -> timeline
//! (faults) + load -> teardown -> expectations -> report.
//!
//! Teardown always happens, whatever failed or was interrupted: everything
//! started is held in [`Live`] and stopped in reverse order before the
//! report is built. A run always yields a [`Report`]; infrastructure
//! failures give verdict `error`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::RunClock;
use crate::collectors::health::{HealthProber, HealthSample};
use crate::collectors::otlp::{OtlpReceiver, TraceStore};
use crate::collectors::scraper::{self, ScrapeTarget, ScraperHandle};
use crate::collectors::store::MetricStore;
use crate::expect::{self, Recorded, Verdict};
use crate::faults::{FaultError, JournalEntry, MockSet};
use crate::load::{self, LoadError, LoadHandle, LoadRecord};
use crate::plan::Plan;
use crate::report::*;
use crate::runtime::docker::DockerEnv;
use crate::runtime::{self, LogStore, RunningStack, RuntimeError, StartedService};
use crate::scenario::{FaultPlan, RuntimeKind, ServiceFaultPlan};

mod alerting;
mod lint;
mod overhead;
mod progress;

pub use lint::{LintOutcome, lint};

/// How often each service's CPU and memory are read from /proc.
const RESOURCE_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where report.json / junit.xml / logs go (default `reports/<scenario>-<time>`).
    pub report_dir: Option<PathBuf>,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's `runtime:`.
    pub runtime: Option<RuntimeKind>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("mocks: {0}")]
    Faults(#[from] FaultError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("OTLP receiver: {0}")]
    Otlp(#[from] crate::collectors::otlp::OtlpError),
    #[error("alerting: {0}")]
    Alerting(#[from] AlertingError),
    #[error("lint: {0}")]
    Lint(#[from] GatherError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the run directory {0}: {1}")]
    RunDir(PathBuf, std::io::Error),
}

/// Starting or reaching Prometheus and Alertmanager went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("cannot start the alert webhook receiver: {0}")]
    Webhook(#[source] std::io::Error),
    /// A template in `alerting.external` did not render.
    #[error("alerting.external: {0}")]
    External(String),
    #[error("Prometheus did not scrape every service within {timeout:?}: {}", pending.join(", "))]
    NotScraped { timeout: Duration, pending: Vec<String> },
}

/// Gathering the contract lint's sources while the stack ran went wrong.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Client(#[from] crate::collectors::scraper::ScrapeFailure),
    #[error(transparent)]
    Lint(#[from] crate::lint::LintError),
}

/// The scenario cannot run as configured (found only once running it).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "fault `{id}` (`action: {action}` on service `{service}`) needs the docker runtime: add `runtime: docker` to the scenario or pass `--runtime docker`"
    )]
    ServiceFaultNeedsDocker { id: String, action: &'static str, service: String },
    #[error("variant `{variant}`: {warning}; see {}", logs.display())]
    VariantExited { variant: String, warning: String, logs: PathBuf },
    #[error("the stack did not start")]
    StackNotStarted,
    #[error("an overhead run needs `load:`")]
    NoLoad,
}

/// Everything started so far, so teardown can stop exactly that.
#[derive(Default)]
struct Live {
    mocks: Option<MockSet>,
    /// The run's Docker network and client (docker runtime only).
    docker: Option<DockerEnv>,
    stack: Option<RunningStack>,
    services: Vec<StartedService>,
    scraper: Option<ScraperHandle>,
    prober: Option<HealthProber>,
    resources: Option<crate::collectors::resources::ResourceSampler>,
    /// The harness's own CPU seconds when the stack was up.
    harness_cpu_start: f64,
    otlp: Option<OtlpReceiver>,
    load: Option<LoadHandle>,
    origin: Option<Duration>,
    canary: Option<String>,
    alerting: alerting::LiveAlerting,
}

impl Live {
    /// Where the harness's own servers listen: loopback, or the run network's
    /// gateway so containers reach them.
    fn bind(&self) -> std::net::IpAddr {
        self.docker.as_ref().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |d| d.gateway)
    }
}

/// What teardown collected.
#[derive(Default)]
struct Collected {
    metrics: MetricStore,
    health: Vec<HealthSample>,
    traces: TraceStore,
    traces_end: Duration,
    load: Option<LoadRecord>,
    journals: BTreeMap<String, Vec<JournalEntry>>,
    mock_urls: BTreeMap<String, String>,
    exits: BTreeMap<String, String>,
    logs: LogStore,
    warnings: Vec<String>,
    alerts: Option<crate::collectors::alerts::AlertRecord>,
    resources: Vec<crate::collectors::resources::ResourceSample>,
    harness_cpu_seconds: f64,
    promql: expect::PromqlAnswers,
    contract: expect::ContractInputs,
}

pub fn default_run_dir(plan: &Plan) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("reports").join(format!("{}-{stamp}", plan.name))
}

pub async fn run(plan: &Plan, opts: &RunOptions) -> Report {
    if let Some(o) = &plan.overhead {
        return overhead::run(plan, o, opts).await;
    }
    let started_at = chrono::Local::now().to_rfc3339();
    let run_dir = opts.report_dir.clone().unwrap_or_else(|| default_run_dir(plan));
    let seed = opts.seed.unwrap_or(plan.seed);
    let runtime = opts.runtime.unwrap_or(plan.runtime);
    let clock = RunClock::start();
    let mut live = Live::default();
    let result = match std::fs::create_dir_all(&run_dir) {
        Ok(()) => execute(plan, &run_dir, seed, runtime, clock, &mut live).await,
        Err(e) => Err(RunError::RunDir(run_dir.clone(), e)),
    };
    let collected = teardown(plan, &mut live, clock).await;
    let header = RunHeader { plan, run_dir: &run_dir, seed, runtime, started_at, clock };
    build_report(&header, &live, result, collected)
}

/// What identifies a run in its report, fixed before it starts.
struct RunHeader<'a> {
    plan: &'a Plan,
    run_dir: &'a std::path::Path,
    seed: u64,
    runtime: RuntimeKind,
    started_at: String,
    clock: RunClock,
}

async fn execute(
    plan: &Plan,
    run_dir: &std::path::Path,
    seed: u64,
    runtime: RuntimeKind,
    clock: RunClock,
    live: &mut Live,
) -> Result<(), RunError> {
    preflight(plan, false)?;
    if runtime == RuntimeKind::Process
        && let Some(f) = plan.service_faults.first()
    {
        return Err(ConfigError::ServiceFaultNeedsDocker { id: f.id.clone(), action: f.action.as_str(), service: f.service.clone() }.into());
    }
    if runtime == RuntimeKind::Docker {
        live.docker = Some(interruptible(DockerEnv::open()).await??);
    }
    interruptible(runtime::prepare(&plan.stack.prepare, &plan.dir, run_dir)).await??;
    start_stack(plan, run_dir, seed, clock, live).await?;
    // Test hook: prove that a panic mid-run still kills the stack.
    if std::env::var("ORDEAL_FAILPOINT").as_deref() == Ok("panic-after-start") {
        panic!("ORDEAL_FAILPOINT=panic-after-start");
    }
    if let Some(a) = &plan.alerting {
        interruptible(alerting::start(a, run_dir, clock, live)).await??;
    }

    let scraper = scraper::spawn(scrape_targets(&live.services), plan.stack.scrape_interval, clock);
    scraper.scrape_now().await; // a baseline before the timeline starts
    live.scraper = Some(scraper);
    live.prober = Some(HealthProber::spawn(&live.services, plan.stack.probe_interval, plan.stack.probe_timeout, clock));
    let source = live.stack.as_ref().map(RunningStack::resource_source).unwrap_or(crate::collectors::resources::Source::Groups(Vec::new()));
    live.resources = Some(crate::collectors::resources::ResourceSampler::spawn(source, RESOURCE_INTERVAL, clock));
    live.harness_cpu_start = crate::collectors::resources::own_cpu_seconds();

    interruptible(std::future::ready(())).await?; // no load once the run is stopping
    // The timeline starts when the load's users are up (at once without load).
    let mut origin = clock.now();
    if let Some(l) = &plan.load {
        let target = service_url(&live.services, &l.target);
        let run_id = format!("{:08x}", rand::random::<u32>());
        live.canary = l.canary.is_some().then(|| format!("ordeal-canary-{:016x}", rand::random::<u64>()));
        if let Some(c) = &live.canary {
            crate::secrets::register(c);
        }
        let at = load::LoadStart {
            base_url: &target,
            clock,
            run_id: &run_id,
            canary: live.canary.as_deref(),
            schedule: l.schedule.clone(),
            seed,
            max_duration: plan.duration() + Duration::from_secs(10),
        };
        let handle = interruptible(load::start(l, at)).await??;
        origin = handle.origin;
        live.load = Some(handle);
    }
    live.origin = Some(origin);
    drive_timeline(plan, clock, origin, live).await
}

/// Programs the scenario needs beyond its own stack (and promtool when
/// `lint` says so, or a `kind: contract` needs it), checked before anything starts.
fn preflight(plan: &Plan, lint: bool) -> Result<(), RunError> {
    let mut needed: Vec<(&str, &str, &'static str)> = Vec::new();
    if let Some(m) = plan.alerting.as_ref().and_then(|a| a.managed()) {
        needed.push((&m.prometheus_bin, "prometheus", "alert expectations run a real Prometheus and Alertmanager"));
        needed.push((&m.alertmanager_bin, "prometheus-alertmanager", "alert expectations run a real Prometheus and Alertmanager"));
    }
    if lint {
        needed.push(("promtool", "prometheus", "`ordeal lint` runs promtool"));
    } else if plan.expectations.iter().any(|e| matches!(e.check, crate::expect::Check::Contract(_))) {
        needed.push(("promtool", "prometheus", "`kind: contract` runs promtool"));
    }
    for (program, package, why) in needed {
        if runtime::alerting::find_program(program).is_none() {
            return Err(RuntimeError::tool_missing(program, package, why).into());
        }
    }
    Ok(())
}

/// Base URL of the service named `name` (compile checked that it exists).
fn service_url(services: &[StartedService], name: &str) -> String {
    services.iter().find(|s| s.name == name).map(|s| s.url.clone()).unwrap_or_default()
}

/// Every service's metrics endpoint.
fn scrape_targets(services: &[StartedService]) -> Vec<ScrapeTarget> {
    services
        .iter()
        .filter_map(|s| s.metrics.as_ref().map(|m| ScrapeTarget { service: s.name.clone(), url: format!("{}{}", s.url, m) }))
        .collect()
}

/// Mocks, the OTLP receiver and the stack: up and ready (prepare steps run before).
async fn start_stack(plan: &Plan, run_dir: &std::path::Path, seed: u64, clock: RunClock, live: &mut Live) -> Result<(), RunError> {
    // Containers reach the harness's servers at their network's gateway.
    let bind = live.bind();
    let mocks = MockSet::start_on(&plan.mocks, clock, seed, bind).await?;
    let mut vars = BTreeMap::new();
    for name in plan.mocks.keys() {
        if let Some(url) = mocks.url(name) {
            let port = url.rsplit(':').next().unwrap_or_default().to_string();
            vars.insert(format!("mocks.{name}.url"), url);
            vars.insert(format!("mocks.{name}.host"), bind.to_string());
            vars.insert(format!("mocks.{name}.port"), port);
        }
    }
    live.mocks = Some(mocks);
    let options = crate::collectors::otlp::OtlpOptions { bind, ..Default::default() };
    let otlp = OtlpReceiver::start_with(clock, options)?;
    vars.insert("otlp.grpc".into(), otlp.grpc_endpoint());
    vars.insert("otlp.http".into(), otlp.http_endpoint());
    live.otlp = Some(otlp);
    let abs_run_dir = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    vars.insert("run.dir".into(), abs_run_dir.display().to_string());
    vars.insert("run.seed".into(), seed.to_string());
    vars.insert("scenario.dir".into(), std::path::absolute(&plan.dir).unwrap_or_else(|_| plan.dir.clone()).display().to_string());

    let stack = interruptible(RunningStack::start(live.docker.as_ref(), &plan.stack, vars, &plan.dir, run_dir, clock)).await??;
    live.services = stack.services();
    live.stack = Some(stack);
    Ok(())
}

/// What happens at one instant of the timeline.
enum Step<'a> {
    /// A fault on a mock switched on (`true`) or off.
    Mock(&'a FaultPlan, bool),
    /// A fault on a stack service applied (`true`) or undone.
    Service(&'a ServiceFaultPlan, bool),
    /// A phase starts.
    Phase(&'a crate::scenario::PhaseSpan),
    /// The timeline's end.
    End,
}

impl Step<'_> {
    /// At one instant, faults are cleared before others are applied.
    fn order(&self) -> u8 {
        match self {
            Step::Mock(_, false) | Step::Service(_, false) => 0,
            Step::Phase(_) => 1,
            Step::Mock(_, true) | Step::Service(_, true) => 2,
            Step::End => 3,
        }
    }
}

/// Apply and clear faults at their offsets, then wait for the timeline's end.
async fn drive_timeline(plan: &Plan, clock: RunClock, origin: Duration, live: &mut Live) -> Result<(), RunError> {
    let mut steps: Vec<(Duration, Step)> = Vec::new();
    for f in &plan.faults {
        if let Some(w) = f.window.resolve(&plan.phases).filter(|w| !w.is_empty()) {
            steps.extend([(w.start, Step::Mock(f, true)), (w.end, Step::Mock(f, false))]);
        }
    }
    for f in &plan.service_faults {
        if let Some(w) = f.window.resolve(&plan.phases).filter(|w| !w.is_empty()) {
            steps.extend([(w.start, Step::Service(f, true)), (w.end, Step::Service(f, false))]);
        }
    }
    steps.extend(plan.phases.iter().map(|p| (p.start, Step::Phase(p))));
    steps.push((plan.duration(), Step::End));
    steps.sort_by_key(|(t, step)| (*t, step.order()));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = progress::Progress::start(&plan.phases, clock, origin, live.load.as_ref().map(|l| l.record.clone()), tty);
    for (at, step) in steps {
        interruptible(tokio::time::sleep_until(clock.instant_at(origin + at).into())).await?;
        let t = at.as_secs_f64();
        match step {
            Step::Phase(p) => progress.say(&format!("t={t:.1}s phase `{}` ({:.1}s..{:.1}s)", p.name, t, p.end.as_secs_f64())),
            Step::Service(f, apply) => {
                let Some(stack) = live.stack.as_mut() else { continue };
                let undone = if apply { "" } else { " undone" };
                progress.say(&format!("t={t:.1}s fault `{}`: {} `{}`{undone}", f.id, f.action.as_str(), f.service));
                progress.fault(&f.id, apply);
                stack.fault(&f.service, f.action, f.restart, !apply).await?;
            }
            Step::Mock(f, apply) => {
                let Some(mocks) = live.mocks.as_ref() else { continue };
                progress.fault(&f.id, apply);
                if apply {
                    progress.say(&format!("t={t:.1}s fault `{}` on mock `{}` on", f.id, f.mock));
                    let route = f.route.as_deref().and_then(|r| r.parse().ok());
                    mocks.apply(&f.mock, &f.id, route, &f.spec)?;
                } else {
                    progress.say(&format!("t={t:.1}s fault `{}` off", f.id));
                    mocks.clear(&f.mock, &f.id)?;
                }
            }
            Step::End => {}
        }
    }
    Ok(())
}

/// Run a future unless a SIGINT/SIGTERM arrives first.
async fn interruptible<T>(f: impl std::future::Future<Output = T>) -> Result<T, RuntimeError> {
    let stopped = || crate::signals::fault().map_or(RuntimeError::Interrupted, RuntimeError::HarnessFault);
    if crate::signals::interrupted() || crate::signals::fault().is_some() {
        return Err(stopped());
    }
    tokio::select! {
        v = f => Ok(v),
        _ = crate::signals::wait() => Err(stopped()),
    }
}

async fn teardown(plan: &Plan, live: &mut Live, clock: RunClock) -> Collected {
    let mut c = Collected::default();
    if let Some(l) = live.load.take() {
        match l.stop().await {
            Ok(rec) => c.load = Some(rec),
            Err(e) => c.warnings.push(e.to_string()),
        }
    }
    if live.origin.is_some() && !crate::signals::interrupted() {
        c.contract = lint::gather_for_run(plan, &live.services).await;
    }
    (c.alerts, c.promql) = alerting::stop(plan, live).await;
    if let Some(s) = live.scraper.take() {
        c.metrics = s.stop().await;
    }
    if let Some(p) = live.prober.take() {
        c.health = p.stop().await;
    }
    if let Some(r) = live.resources.take() {
        c.resources = r.stop().await;
        c.harness_cpu_seconds = crate::collectors::resources::own_cpu_seconds() - live.harness_cpu_start;
    }
    if let Some(mut stack) = live.stack.take() {
        for (name, status) in stack.exited().await {
            c.warnings.push(format!("service `{name}` exited during the run ({status})"));
        }
        c.logs = stack.logs();
        c.exits = stack.stop().await.into_iter().collect();
    }
    // After the stack: it flushes its spans when it stops.
    if let Some(o) = live.otlp.take() {
        c.traces = o.stop().await;
        c.traces_end = clock.now();
    }
    if let Some(m) = live.mocks.take() {
        for name in m.names().map(String::from).collect::<Vec<_>>() {
            if let Some(u) = m.url(&name) {
                c.mock_urls.insert(name, u);
            }
        }
        for (name, snap) in m.shutdown().await {
            if snap.dropped > 0 {
                c.warnings.push(format!("mock `{name}` journal overflowed: {} requests not kept", snap.dropped));
            }
            c.journals.insert(name, snap.entries);
        }
    }
    crate::runtime::docker::finish(live.docker.take()).await;
    tracing::debug!("teardown finished at {:?}", clock.now());
    c
}

/// A harness fault at any moment (even in teardown) means the records cannot
/// be trusted: the run's result is that fault.
fn unless_harness_fault<T>(result: Result<T, RunError>) -> Result<T, RunError> {
    match crate::signals::fault() {
        Some(f) => Err(RunError::Runtime(RuntimeError::HarnessFault(f))),
        None => result,
    }
}

/// What the expectations judge: the collected records, on the run clock.
fn recorded(plan: &Plan, live: &Live, c: &mut Collected) -> Recorded {
    use std::mem::take;
    Recorded {
        origin: live.origin.unwrap_or_default(),
        phases: plan.phases.clone(),
        metrics: take(&mut c.metrics),
        journals: take(&mut c.journals),
        health: take(&mut c.health),
        load: c.load.take(),
        logs: c.logs.lines(),
        log_gaps: c.logs.gaps(),
        canary: live.canary.clone(),
        traces: take(&mut c.traces),
        traces_end: c.traces_end,
        alerts: c.alerts.take(),
        promql: take(&mut c.promql),
        contract: take(&mut c.contract),
    }
}

fn build_report(h: &RunHeader, live: &Live, result: Result<(), RunError>, mut c: Collected) -> Report {
    let plan = h.plan;
    let origin = live.origin.unwrap_or_default();
    let recorded = recorded(plan, live, &mut c);
    let result = unless_harness_fault(result);
    let (verdict, error, expectations) = match &result {
        Ok(()) => {
            let checked = expect::evaluate(&plan.expectations, &recorded);
            let v = if checked.iter().all(|c| c.verdict == Verdict::Pass) { RunVerdict::Pass } else { RunVerdict::Fail };
            (v, None, checked)
        }
        Err(e) => (RunVerdict::Error, Some(e.to_string()), Vec::new()),
    };
    let phases = phase_reports(plan, recorded.load.as_ref().filter(|_| live.origin.is_some()), origin);
    let whole = crate::clock::Window::new(origin, origin + plan.duration());
    let load = plan.load.as_ref().zip(recorded.load.as_ref()).map(|(p, l)| LoadReport {
        target: p.target.clone(),
        intended_rate: p.rate,
        max_in_flight: p.concurrency(),
        capacity_mode: p.connections.is_some(),
        first_send_ms: l.first_send().map(|t| t.saturating_sub(origin).as_secs_f64() * 1000.0),
        overall: l.stats(whole, None),
        requests: if l.names.len() > 1 {
            l.names.iter().enumerate().map(|(i, n)| (n.clone(), l.stats(whole, Some(i)))).collect()
        } else {
            Default::default()
        },
    });
    let mocks = mock_reports(&recorded.journals, &c.mock_urls);
    let services = live
        .services
        .iter()
        .map(|s| ServiceReport { name: s.name.clone(), url: s.url.clone(), pid: s.pid, exit: c.exits.get(&s.name).cloned() })
        .collect();
    let collectors = collector_report(&recorded);
    let mut warnings = c.warnings;
    warnings.extend(recorded.metrics.warnings());
    Report {
        schema_version: crate::report::SCHEMA_VERSION,
        ordeal_version: env!("CARGO_PKG_VERSION"),
        kind: "run",
        scenario: plan.name.clone(),
        file: plan.file.clone(),
        description: plan.description.clone(),
        verdict,
        error,
        seed: h.seed,
        overrides: plan.overrides.clone(),
        runtime: h.runtime.as_str(),
        started_at: h.started_at.clone(),
        duration_ms: h.clock.now().as_millis() as u64,
        phases,
        timeline: live.origin.is_some().then(|| crate::report::timeline::build(plan, &recorded)),
        load,
        expectations,
        mocks,
        services,
        collectors,
        resources: (!c.resources.is_empty()).then(|| ResourcesReport {
            services: crate::collectors::resources::summarize(&c.resources),
            harness_cpu_seconds: c.harness_cpu_seconds,
            interval_ms: RESOURCE_INTERVAL.as_millis() as u64,
        }),
        alerting: recorded.alerts.as_ref().map(|a| alerting::report(a, &live.alerting.urls, origin)),
        overhead: None,
        warnings,
        reaped: crate::runtime::reap::take_reaped(),
        run_dir: h.run_dir.to_path_buf(),
    }
}

/// Each phase's window and load figures.
fn phase_reports(plan: &Plan, load: Option<&crate::load::LoadRecord>, origin: std::time::Duration) -> Vec<PhaseReport> {
    plan.phases
        .iter()
        .map(|p| {
            let w = crate::clock::Window::new(origin + p.start, origin + p.end);
            PhaseReport {
                name: p.name.clone(),
                start_ms: p.start.as_millis() as u64,
                end_ms: p.end.as_millis() as u64,
                load: load.map(|l| l.stats(w, None)),
            }
        })
        .collect()
}

/// Requests each mock received, by outcome.
fn mock_reports(journals: &BTreeMap<String, Vec<JournalEntry>>, urls: &BTreeMap<String, String>) -> BTreeMap<String, MockReport> {
    journals
        .iter()
        .map(|(name, entries)| {
            let mut by_outcome = BTreeMap::new();
            for e in entries {
                *by_outcome
                    .entry(serde_json::to_value(e.outcome).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default())
                    .or_insert(0) += 1;
            }
            (name.clone(), MockReport { url: urls.get(name).cloned().unwrap_or_default(), requests: entries.len(), by_outcome })
        })
        .collect()
}

/// How much each collector recorded.
fn collector_report(recorded: &Recorded) -> CollectorReport {
    CollectorReport {
        scrapes: recorded.metrics.services().map(|s| (s.to_string(), recorded.metrics.scrape_times(s).len())).collect(),
        scrape_errors: recorded.metrics.scrape_errors().len(),
        parse_errors: recorded.metrics.parse_errors().len(),
        scrape_findings: recorded.metrics.findings(),
        health_probes: recorded.health.len(),
        log_lines: recorded.logs.len(),
        spans: recorded.traces.spans.len(),
        rejected_otlp_requests: recorded.traces.rejected_requests() as usize,
    }
}
