//! The alerting part of a run: ordeal's webhook receiver, the managed
//! Prometheus + Alertmanager (or the external ones' URLs), the alert poller,
//! and the PromQL queries asked before Prometheus stops.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AlertingError, Live, RunError};
use crate::clock::RunClock;
use crate::collectors::alerts::AlertRecord;
use crate::collectors::alerts::poller::AlertPoller;
use crate::collectors::alerts::promapi::PromApi;
use crate::collectors::alerts::webhook::{WebhookSink, receiver_urls};
use crate::expect::kinds::promql::PromqlMode;
use crate::expect::{Check, PromqlAnswers};
use crate::plan::Plan;
use crate::runtime::alerting::AlertingServers;
use crate::scenario::{AlertingMode, AlertingPlan, template};

/// What the alerting part holds while the run goes on.
#[derive(Default)]
pub(super) struct LiveAlerting {
    webhook: Option<WebhookSink>,
    servers: Option<AlertingServers>,
    poller: Option<AlertPoller>,
    prometheus: Option<PromApi>,
    pub urls: BTreeMap<&'static str, String>,
}

/// Start (managed) or connect to (external) Prometheus and Alertmanager, and
/// start polling their alerts. Called once the stack is up.
pub(super) async fn start(a: &AlertingPlan, run_dir: &Path, clock: RunClock, live: &mut Live) -> Result<(), RunError> {
    let (prom_url, am_url) = match &a.mode {
        AlertingMode::Managed(m) => {
            let sink = WebhookSink::start_on(clock, live.bind()).map_err(AlertingError::Webhook)?;
            let hooks = receiver_urls(&sink, &m.receivers);
            live.alerting.webhook = Some(sink);
            let servers = AlertingServers::start(a, m, &live.services, &hooks, run_dir, clock, live.docker.as_ref()).await?;
            let urls = (servers.prometheus_url.clone(), Some(servers.alertmanager_url.clone()));
            live.alerting.servers = Some(servers);
            let jobs = live.services.iter().filter(|s| s.metrics.is_some()).map(|s| s.name.clone()).collect::<Vec<_>>();
            wait_scraped(&PromApi::new(&urls.0, clock), &jobs).await?;
            urls
        }
        AlertingMode::External { prometheus, alertmanager } => {
            let vars: BTreeMap<String, String> =
                live.services.iter().flat_map(|s| crate::runtime::service_vars(&s.name, "127.0.0.1", s.port)).collect();
            let render = |t: &str| template::render(t, &vars).map_err(AlertingError::External);
            (render(prometheus)?, alertmanager.as_deref().map(render).transpose()?)
        }
    };
    let mode = if matches!(a.mode, AlertingMode::Managed(_)) { "managed" } else { "external" };
    let prom = PromApi::new(&prom_url, clock);
    let am = am_url.as_deref().map(|u| PromApi::new(u, clock));
    live.alerting.urls.insert("prometheus", prom_url.clone());
    if let Some(u) = &am_url {
        live.alerting.urls.insert("alertmanager", u.clone());
    }
    live.alerting.poller = Some(AlertPoller::spawn(prom.clone(), am, mode, a.poll_interval, clock));
    live.alerting.prometheus = Some(prom);
    Ok(())
}

/// Prometheus applies new targets only every 5 s and scrapes at a jittered
/// offset: wait until every job has been scraped, so the timeline starts
/// with data (otherwise `rate()` has nothing for the first seconds).
async fn wait_scraped(api: &PromApi, jobs: &[String]) -> Result<(), RunError> {
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let started = tokio::time::Instant::now();
    loop {
        let targets = api.targets().await.unwrap_or_default();
        let pending: Vec<String> = jobs
            .iter()
            .filter(|j| !targets.iter().any(|(job, health, _)| job == *j && health == "up"))
            .map(|j| match targets.iter().find(|(job, _, _)| job == j) {
                Some((_, health, err)) if !err.is_empty() => format!("{j} ({health}: {err})"),
                Some((_, health, _)) => format!("{j} ({health})"),
                None => format!("{j} (not a target yet)"),
            })
            .collect();
        if pending.is_empty() {
            tracing::info!("alerting: Prometheus scraped every service after {:.1}s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AlertingError::NotScraped { timeout: TIMEOUT, pending }.into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Ask Prometheus every `kind: promql` query of the plan, over its window.
async fn queries(plan: &Plan, api: &PromApi, origin: std::time::Duration) -> PromqlAnswers {
    let mut out = BTreeMap::new();
    let step_default = plan.alerting.as_ref().map_or(std::time::Duration::from_secs(1), |a| a.interval);
    for e in &plan.expectations {
        let Check::Promql(q) = &e.check else { continue };
        let Some(w) = e.window.resolve_at(&plan.phases, origin) else { continue };
        let answer = match q.mode {
            PromqlMode::AtEnd => api.query(&q.query, w.end).await,
            _ => api.query_range(&q.query, w.start, w.end, q.step.unwrap_or(step_default)).await,
        };
        out.insert(e.id.clone(), answer.map_err(|e| e.to_string()));
    }
    out
}

/// Stop in order: queries and a last poll while Prometheus still runs, then
/// the servers, then the webhook (which may still get resolved notifications).
pub(super) async fn stop(plan: &Plan, live: &mut Live) -> (Option<AlertRecord>, PromqlAnswers) {
    let l = &mut live.alerting;
    let promql = match (&l.prometheus, live.origin) {
        (Some(api), Some(origin)) if !crate::signals::interrupted() => queries(plan, api, origin).await,
        _ => BTreeMap::new(),
    };
    let mut record = match l.poller.take() {
        Some(p) => Some(p.stop().await),
        None => None,
    };
    if let Some(s) = l.servers.take() {
        for (name, status) in s.stop().await {
            tracing::debug!("alerting server `{name}` stopped: {status}");
        }
    }
    if let Some(w) = l.webhook.take() {
        let deliveries = w.stop().await;
        if let Some(r) = record.as_mut() {
            r.deliveries = deliveries;
        }
    }
    (record, promql)
}

/// The alerting section of report.json: every alert's timings (ms from the
/// timeline's start) and every delivery.
pub(super) fn report(
    rec: &AlertRecord,
    urls: &BTreeMap<&'static str, String>,
    origin: std::time::Duration,
) -> crate::report::AlertingReport {
    use crate::report::{AlertReport, DeliveryReport};
    let rel = |t: std::time::Duration| (t.as_secs_f64() - origin.as_secs_f64()) * 1000.0;
    crate::report::AlertingReport {
        mode: rec.mode.clone(),
        urls: urls.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        polls: rec.prometheus.len(),
        poll_errors: rec.poll_errors,
        first_poll_error: rec.first_poll_error.clone(),
        alerts: rec
            .timeline()
            .into_iter()
            .map(|t| AlertReport {
                name: t.name,
                labels: t.labels,
                pending_at_ms: t.active_at.map(rel),
                firing_at_ms: t.firing_at.map(rel),
                resolved_at_ms: t.resolved_at.map(rel),
            })
            .collect(),
        deliveries: rec
            .deliveries
            .iter()
            .map(|d| DeliveryReport {
                at_ms: rel(d.at),
                receiver: d.receiver.clone(),
                status: d.status.clone(),
                alerts: d.alerts.iter().map(|a| format!("{} ({})", a.name, a.status)).collect(),
            })
            .collect(),
    }
}
