//! The contract lint against a live stack: `ordeal lint` (start the stack,
//! scrape, check, stop) and, inside a run, the gathering `kind: contract`
//! needs while the stack is still up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{GatherError, Live, RunError, RunOptions, preflight, scrape_targets, service_url, start_stack, teardown};
use crate::clock::RunClock;
use crate::collectors::scraper;
use crate::expect::Check;
use crate::lint::promtool::Promtool;
use crate::lint::{ContractInput, ContractSpec, LintReport, collect_raw, gather};
use crate::plan::Plan;
use crate::runtime::StartedService;

/// How long `ordeal lint` drives the scenario's load (no faults) before
/// checking: many families (histograms, labelled counters) have no series
/// until a request has gone through.
const LINT_LOAD: Duration = Duration::from_secs(2);

pub struct LintOutcome {
    pub report: LintReport,
    /// Expressions checked (rules, dashboard targets, scenario queries).
    pub references: usize,
    pub services: Vec<String>,
    pub run_dir: PathBuf,
}

async fn gather_one(spec: &ContractSpec, services: &[StartedService]) -> Result<ContractInput, GatherError> {
    let client = scraper::client(Duration::from_secs(5))?;
    let raw = if spec.naming { collect_raw(&client, &scrape_targets(services)).await } else { BTreeMap::new() };
    Ok(gather(spec, &raw, &Promtool::default()).await?)
}

/// For each `kind: contract` of the plan, by expectation id.
pub(super) async fn gather_for_run(plan: &Plan, services: &[StartedService]) -> crate::expect::ContractInputs {
    let mut out = BTreeMap::new();
    for e in &plan.expectations {
        if let Check::Contract(c) = &e.check {
            out.insert(e.id.clone(), gather_one(&c.spec, services).await.map_err(|e| e.to_string()));
        }
    }
    out
}

/// What `ordeal lint` checks: the scenario's first `kind: contract` if it has
/// one, else everything with default budgets.
pub fn lint_spec(plan: &Plan) -> ContractSpec {
    if let Some(c) = plan.expectations.iter().find_map(|e| match &e.check {
        Check::Contract(c) => Some(c),
        _ => None,
    }) {
        return c.spec.clone();
    }
    ContractSpec {
        rules: plan.alerting.as_ref().map(|a| a.rules.clone()).unwrap_or_default(),
        dashboards: plan.alerting.as_ref().map(|a| a.dashboards.clone()).unwrap_or_default(),
        queries: crate::expect::promql_queries(&plan.expectations),
        naming: true,
        cardinality: Default::default(),
    }
}

/// `ordeal lint`: start the stack, scrape it a few times, check, stop.
pub async fn lint(plan: &Plan, opts: &RunOptions) -> Result<LintOutcome, RunError> {
    let run_dir = opts.report_dir.clone().unwrap_or_else(|| {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        PathBuf::from("reports").join(format!("{}-lint-{stamp}", plan.name))
    });
    std::fs::create_dir_all(&run_dir).map_err(|e| RunError::RunDir(run_dir.clone(), e))?;
    let clock = RunClock::start();
    let mut live = Live::default();
    let result = check_live(plan, opts, &run_dir, clock, &mut live).await;
    // Always stop what was started, then report.
    let _ = teardown(plan, &mut live, clock).await;
    let (report, references) = result?;
    let services = live.services.iter().map(|s| s.name.clone()).collect();
    let _ = std::fs::write(
        run_dir.join("lint.json"),
        crate::secrets::mask(&serde_json::to_string_pretty(&report).unwrap_or_default()).as_bytes(),
    );
    Ok(LintOutcome { report, references, services, run_dir })
}

async fn check_live(
    plan: &Plan,
    opts: &RunOptions,
    run_dir: &std::path::Path,
    clock: RunClock,
    live: &mut Live,
) -> Result<(LintReport, usize), RunError> {
    let spec = lint_spec(plan);
    preflight(plan, true)?;
    if opts.runtime.unwrap_or(plan.runtime) == crate::scenario::RuntimeKind::Docker {
        live.docker = Some(super::interruptible(crate::runtime::docker::DockerEnv::open()).await??);
    }
    super::interruptible(crate::runtime::prepare(&plan.stack.prepare, &plan.dir, run_dir)).await??;
    start_stack(plan, run_dir, opts.seed.unwrap_or(plan.seed), clock, live).await?;
    let scraper = scraper::spawn(scrape_targets(&live.services), plan.stack.scrape_interval, clock);
    if let Some(l) = &plan.load {
        let target = service_url(&live.services, &l.target);
        let load = crate::load::start(
            l,
            crate::load::LoadStart {
                base_url: &target,
                clock,
                run_id: "lint",
                canary: None,
                schedule: l.constant_schedule(LINT_LOAD),
                seed: opts.seed.unwrap_or(plan.seed),
                max_duration: LINT_LOAD + Duration::from_secs(10),
            },
        )
        .await?;
        let waited = super::interruptible(tokio::time::sleep(LINT_LOAD)).await;
        if let Err(e) = load.stop().await {
            tracing::warn!("lint load: {e}");
        }
        waited?;
    }
    scraper.scrape_now().await;
    let input = gather_one(&spec, &live.services).await?;
    let store = scraper.stop().await;
    let report = crate::lint::judge(&input, &store, &spec.cardinality);
    Ok((report, input.sources.references.len()))
}
