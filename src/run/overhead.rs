//! An overhead run (`overhead:` in the scenario): every round starts a fresh
//! stack for each variant in a seeded random order, drives the scenario's
//! load, discards the warm-up and measures the stack's CPU and memory, the
//! client-side latency and throughput, and the harness's own CPU. The rounds
//! go to `crate::overhead` for the statistics, the budgets and the chart.
//!
//! Each round is a small run with the same teardown as a timeline run, so a
//! failure or Ctrl-C in any round stops exactly what that round started.

use std::time::Duration;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::{ConfigError, Live, RunError, RunOptions, interruptible, preflight, scrape_targets, service_url, start_stack, teardown};
use crate::clock::{RunClock, Window};
use crate::collectors::resources::{self, ResourceSampler};
use crate::collectors::scraper;
use crate::collectors::store::MetricStore;
use crate::expect::Check;
use crate::overhead::{self, RoundMeasure};
use crate::plan::Plan;
use crate::report::{Report, RunVerdict};
use crate::runtime::docker::DockerEnv;
use crate::scenario::{OverheadPlan, RuntimeKind, VariantPlan};

/// RSS is sampled this often within the measured window.
const RSS_INTERVAL: Duration = Duration::from_millis(250);

pub(super) async fn run(plan: &Plan, o: &OverheadPlan, opts: &RunOptions) -> Report {
    let started_at = chrono::Local::now().to_rfc3339();
    let run_dir = opts.report_dir.clone().unwrap_or_else(|| super::default_run_dir(plan));
    let seed = opts.seed.unwrap_or(plan.seed);
    let runtime = opts.runtime.unwrap_or(plan.runtime);
    let clock = RunClock::start();
    let mut docker: Option<DockerEnv> = None;
    let mut measures = Vec::new();
    let result = Rounds { plan, o, seed, clock }.run_all(&run_dir, runtime, &mut docker, &mut measures).await;
    crate::runtime::docker::finish(docker.take()).await;
    // The measured services, as every round read them.
    let services = measures.first().map(|m| m.cpu_by_service.keys().cloned().collect()).unwrap_or_default();
    let mut report = overhead::analyze(o, services, measures, seed);
    let result = super::unless_harness_fault(result);
    let (verdict, error, expectations) = match &result {
        Ok(()) => {
            let checked = overhead::judge(&plan.expectations, &report);
            let v = if checked.iter().all(|c| c.verdict == crate::expect::Verdict::Pass) { RunVerdict::Pass } else { RunVerdict::Fail };
            (v, None, checked)
        }
        Err(e) => (RunVerdict::Error, Some(e.to_string()), Vec::new()),
    };
    let mut warnings = Vec::new();
    if !report.measurements.is_empty() {
        let gates = plan.expectations.iter().filter_map(|e| match &e.check {
            Check::Overhead(c) => Some((&c.variant, &c.budgets, true)),
            _ => None,
        });
        let claims = o.claims.iter().map(|c| (&c.variant, &c.budgets, false));
        let budgets: Vec<overhead::chart::Mark> =
            gates.chain(claims).flat_map(|(v, bs, gate)| bs.iter().map(move |b| (v.clone(), *b, gate))).collect();
        match overhead::chart::draw(&report, &budgets, &run_dir.join("overhead.svg")) {
            Ok(()) => report.chart = Some("overhead.svg".into()),
            Err(e) => warnings.push(format!("overhead chart not drawn: {e}")),
        }
    }
    Report {
        schema_version: crate::report::SCHEMA_VERSION,
        ordeal_version: env!("CARGO_PKG_VERSION"),
        kind: "overhead",
        scenario: plan.name.clone(),
        file: plan.file.clone(),
        description: plan.description.clone(),
        verdict,
        error,
        seed,
        overrides: plan.overrides.clone(),
        runtime: runtime.as_str(),
        started_at,
        duration_ms: clock.now().as_millis() as u64,
        timeline: None,
        phases: Vec::new(),
        load: None,
        expectations,
        mocks: Default::default(),
        services: Vec::new(),
        collectors: Default::default(),
        resources: None,
        alerting: None,
        overhead: Some(report),
        warnings,
        reaped: crate::runtime::reap::take_reaped(),
        run_dir,
    }
}

/// What every round of one overhead run shares.
struct Rounds<'a> {
    plan: &'a Plan,
    o: &'a OverheadPlan,
    seed: u64,
    clock: RunClock,
}

impl Rounds<'_> {
    /// Prepare once, then every round; measurements go to `measures` as they come.
    async fn run_all(
        &self,
        run_dir: &std::path::Path,
        runtime: RuntimeKind,
        docker: &mut Option<DockerEnv>,
        measures: &mut Vec<RoundMeasure>,
    ) -> Result<(), RunError> {
        let (plan, o) = (self.plan, self.o);
        std::fs::create_dir_all(run_dir).map_err(|e| RunError::RunDir(run_dir.to_path_buf(), e))?;
        preflight(plan, false)?;
        if runtime == RuntimeKind::Docker {
            *docker = Some(interruptible(DockerEnv::open()).await??);
        }
        interruptible(crate::runtime::prepare(&plan.stack.prepare, &plan.dir, run_dir)).await??;
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let mut unscraped = std::collections::BTreeSet::new();
        for round in 0..o.rounds {
            let mut order: Vec<&VariantPlan> = o.variants.iter().collect();
            order.shuffle(&mut rng);
            for (position, v) in order.into_iter().enumerate() {
                let dir = run_dir.join("rounds").join(format!("{round}-{}", v.name));
                std::fs::create_dir_all(&dir).map_err(|e| RunError::RunDir(dir.clone(), e))?;
                let (m, scrape_error) = self.one(v, &dir, docker).await?;
                if let Some(e) = scrape_error.filter(|_| unscraped.insert(v.name.clone())) {
                    tracing::warn!(
                        "variant `{}`: scrapes fail ({e}); expected if it switches its metrics off (not repeated for its other rounds)",
                        v.name
                    );
                }
                tracing::info!(
                    "round {}/{} `{}`: {} requests, {:.3} CPU-s ({:.0} µs/request), RSS {:.1} MB, p99 {}",
                    round + 1,
                    o.rounds,
                    v.name,
                    m.requests,
                    m.cpu_seconds,
                    m.cpu_seconds / m.requests.max(1) as f64 * 1e6,
                    m.mean_rss_bytes / 1e6,
                    m.p99_s.map_or("-".into(), |p| format!("{:.1} ms", p * 1e3)),
                );
                measures.push(RoundMeasure { round, position, ..m });
            }
        }
        Ok(())
    }

    /// One variant in one round: start, warm up, measure, tear down. Also the
    /// first failed scrape, if any (the run warns once per variant).
    async fn one(
        &self,
        v: &VariantPlan,
        dir: &std::path::Path,
        docker: &mut Option<DockerEnv>,
    ) -> Result<(RoundMeasure, Option<String>), RunError> {
        let mut variant = self.plan.clone();
        for s in &mut variant.stack.services {
            s.env.extend(v.env_for(&s.name));
        }
        let mut live = Live { docker: docker.take(), ..Default::default() };
        let result = self.measure(&variant, v, dir, &mut live).await;
        *docker = live.docker.take(); // shared by every round; closed at the end
        let collected = teardown(&variant, &mut live, self.clock).await;
        let m = result?;
        if let Some(w) = collected.warnings.iter().find(|w| w.contains("exited during the run")) {
            return Err(ConfigError::VariantExited { variant: v.name.clone(), warning: w.clone(), logs: dir.join("logs") }.into());
        }
        Ok((m, collected.metrics.scrape_errors().first().map(|e| format!("{}: {}", e.service, e.message))))
    }

    async fn measure(&self, plan: &Plan, v: &VariantPlan, dir: &std::path::Path, live: &mut Live) -> Result<RoundMeasure, RunError> {
        let (o, clock) = (self.o, self.clock);
        start_stack(plan, dir, self.seed, clock, live).await?;
        let source = live.stack.as_ref().map(|s| s.resource_source().only(&o.services)).ok_or(ConfigError::StackNotStarted)?;
        live.scraper =
            Some(scraper::spawn_into(scrape_targets(&live.services), plan.stack.scrape_interval, clock, MetricStore::with_quiet_errors()));
        let Some(l) = &plan.load else { return Err(ConfigError::NoLoad.into()) };
        let target = service_url(&live.services, &l.target);
        let run_id = format!("{}-{:08x}", v.name, rand::random::<u32>());
        let handle = crate::load::start(
            l,
            crate::load::LoadStart {
                base_url: &target,
                clock,
                run_id: &run_id,
                canary: None,
                schedule: l.constant_schedule(o.warmup + o.measure + Duration::from_secs(10)),
                seed: self.seed,
                max_duration: o.warmup + o.measure + Duration::from_secs(10),
            },
        )
        .await?;
        let record = handle.record.clone();
        live.load = Some(handle);
        interruptible(tokio::time::sleep(o.warmup)).await?;

        let (t0, cpu0, h0) = (clock.now(), source.cpu_snapshot().await, resources::own_cpu_seconds());
        let sampler = ResourceSampler::spawn(source.clone(), RSS_INTERVAL, clock);
        let slept = interruptible(tokio::time::sleep(o.measure)).await;
        let (t1, cpu1, h1) = (clock.now(), source.cpu_snapshot().await, resources::own_cpu_seconds());
        let samples = sampler.stop().await;
        slept?;

        let cpu_by_service = cpu1.since(&cpu0);
        let usage = resources::summarize(&samples);
        let stats = record.stats(Window::new(t0, t1), None);
        let secs = (t1 - t0).as_secs_f64();
        Ok(RoundMeasure {
            round: 0,
            position: 0,
            variant: v.name.clone(),
            measured_s: secs,
            requests: stats.requests,
            ok: stats.ok,
            failed: stats.failed,
            cpu_seconds: cpu_by_service.values().sum(),
            cpu_by_service,
            mean_rss_bytes: usage.values().map(|u| u.mean_rss_bytes as f64).sum(),
            peak_rss_bytes: usage.values().map(|u| u.peak_rss_bytes as f64).sum(),
            p50_s: stats.p50_ms.map(|x| x / 1e3),
            p95_s: stats.p95_ms.map(|x| x / 1e3),
            p99_s: stats.p99_ms.map(|x| x / 1e3),
            throughput: stats.ok as f64 / secs.max(1e-9),
            harness_cpu_seconds: h1 - h0,
        })
    }
}
