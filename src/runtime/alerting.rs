//! Managed alerting: Debian's `prometheus` and `prometheus-alertmanager` run
//! as two more child processes (same process groups, cleanup and log capture
//! as the stack), on loopback ports, with a throwaway TSDB and configs that
//! ordeal writes into `<run>/alerting/`:
//!
//! - Prometheus scrapes every stack service that has a metrics path, at the
//!   scenario's interval, evaluates the scenario's rule files as written, and
//!   sends alerts to the Alertmanager;
//! - Alertmanager routes with the scenario's route, and every receiver it
//!   names is a webhook on ordeal's own receiver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::docker::DockerEnv;
use super::{RunningStack, RuntimeError, StartedService};
use crate::clock::RunClock;
use crate::scenario::{AlertingPlan, ManagedAlerting, ReadyProbe, ServicePlan, StackPlan};

/// The running Prometheus + Alertmanager pair.
pub struct AlertingServers {
    stack: RunningStack,
    pub prometheus_url: String,
    pub alertmanager_url: String,
    _tsdb: tempfile::TempDir,
}

/// `prometheus` → `/usr/bin/prometheus`; a path with `/` is taken as is.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn program(name: &str, package: &'static str) -> Result<String, RuntimeError> {
    find_program(name)
        .map(|p| p.display().to_string())
        .ok_or_else(|| RuntimeError::tool_missing(name, package, "alert expectations run a real Prometheus and Alertmanager"))
}

fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

fn free_port() -> Result<u16, RuntimeError> {
    super::process::free_port().map_err(|source| RuntimeError::Io { context: "allocate a loopback port".into(), source })
}

/// prometheus.yml: scrape every service with a metrics path (at its address
/// as other services see it), rules as written; alerts go to `alertmanager`.
pub fn prometheus_config(plan: &AlertingPlan, services: &[StartedService], alertmanager: &str) -> serde_json::Value {
    let jobs: Vec<serde_json::Value> = services
        .iter()
        .filter_map(|s| {
            let path = s.metrics.as_ref()?;
            Some(serde_json::json!({
                "job_name": s.name,
                "metrics_path": path,
                "static_configs": [{ "targets": [s.internal] }],
            }))
        })
        .collect();
    serde_json::json!({
        "global": {
            "scrape_interval": dur(plan.interval),
            "scrape_timeout": dur(plan.interval),
            "evaluation_interval": dur(plan.interval),
        },
        "rule_files": plan.rules,
        "alerting": { "alertmanagers": [{ "static_configs": [{ "targets": [alertmanager] }] }] },
        "scrape_configs": jobs,
    })
}

/// alertmanager.yml: the scenario's route; each receiver a webhook to ordeal.
/// A top-level route without timings gets scenario-scale ones (Alertmanager's
/// defaults, 30s group_wait and 5m group_interval, outlast any scenario).
pub fn alertmanager_config(m: &ManagedAlerting, webhooks: &BTreeMap<String, String>) -> serde_json::Value {
    let mut route = m.route.clone();
    if let Some(obj) = route.as_object_mut() {
        for (k, v) in [("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")] {
            obj.entry(k).or_insert_with(|| v.into());
        }
    }
    let receivers: Vec<serde_json::Value> = m
        .receivers
        .iter()
        .map(|r| serde_json::json!({ "name": r, "webhook_configs": [{ "url": webhooks.get(r), "send_resolved": true }] }))
        .collect();
    let mut cfg = serde_json::json!({ "route": route, "receivers": receivers });
    if !m.inhibit_rules.is_null() {
        cfg["inhibit_rules"] = m.inhibit_rules.clone();
    }
    cfg
}

fn server(name: &str, command: String, args: Vec<String>, port: u16) -> ServicePlan {
    ServicePlan {
        name: name.to_string(),
        command,
        args,
        env: BTreeMap::new(),
        port: Some(port),
        ready: Some(ReadyProbe { path: "/-/ready".into(), timeout: Duration::from_secs(30) }),
        image: None,
        mounts: Vec::new(),
        metrics: None,
        health: BTreeMap::new(),
        depends_on: Vec::new(),
        stop_timeout: Duration::from_secs(5),
    }
}

/// Prometheus and Alertmanager explain a bad config or rule file in a
/// `level=error` line well before the last lines of their output: show those.
fn with_errors_logged(e: RuntimeError, dir: &Path) -> RuntimeError {
    let RuntimeError::ExitedEarly { service, status, tail } = e else { return e };
    let log = std::fs::read_to_string(dir.join("logs").join(format!("{service}.stderr.log"))).unwrap_or_default();
    let errors: Vec<String> =
        log.lines().filter(|l| l.contains("level=error")).map(|l| l.split_once("err=").map_or(l, |(_, err)| err).to_string()).collect();
    let tail = if errors.is_empty() { tail } else { super::tail_note(&errors) };
    RuntimeError::ExitedEarly { service, status, tail }
}

impl AlertingServers {
    /// Writes both configs and starts Alertmanager, then Prometheus (as
    /// processes, or as containers on `docker`'s network); returns once both
    /// answer `/-/ready`.
    pub async fn start(
        plan: &AlertingPlan,
        m: &ManagedAlerting,
        services: &[StartedService],
        webhooks: &BTreeMap<String, String>,
        run_dir: &Path,
        clock: RunClock,
        docker: Option<&DockerEnv>,
    ) -> Result<Self, RuntimeError> {
        let prometheus = program(&m.prometheus_bin, "prometheus")?;
        let alertmanager = program(&m.alertmanager_bin, "prometheus-alertmanager")?;
        let dir = std::path::absolute(run_dir.join("alerting")).unwrap_or_else(|_| run_dir.join("alerting"));
        let io = |context: String| move |source| RuntimeError::Io { context, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let tsdb = super::reap::temp_dir("tsdb").map_err(io("create a temporary TSDB directory".into()))?;
        let (am_port, prom_port) = (free_port()?, free_port()?);
        let write = |name: &str, v: &serde_json::Value| -> Result<PathBuf, RuntimeError> {
            let path = dir.join(name);
            // JSON is YAML: both servers read it as their YAML config.
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
            Ok(path)
        };
        let am_address = match docker {
            Some(env) => format!("{}:{am_port}", env.container_name("alertmanager")),
            None => format!("127.0.0.1:{am_port}"),
        };
        let am_cfg = write("alertmanager.yml", &alertmanager_config(m, webhooks))?;
        let prom_cfg = write("prometheus.yml", &prometheus_config(plan, services, &am_address))?;
        // In a container, data stays in the container's own /tmp.
        let data = |sub: &str| match docker {
            Some(_) => format!("/tmp/{sub}"),
            None => tsdb.path().join(sub).display().to_string(),
        };
        let mut servers = StackPlan {
            prepare: Vec::new(),
            services: vec![
                server(
                    "alertmanager",
                    alertmanager,
                    vec![
                        format!("--config.file={}", am_cfg.display()),
                        format!("--storage.path={}", data("alertmanager")),
                        "--web.listen-address={{self.bind}}:{{self.port}}".into(),
                        // No gossip: a lone instance needs no cluster port (default 9094).
                        "--cluster.listen-address=".into(),
                    ],
                    am_port,
                ),
                server(
                    "prometheus",
                    prometheus,
                    vec![
                        format!("--config.file={}", prom_cfg.display()),
                        format!("--storage.tsdb.path={}", data("prometheus")),
                        "--web.listen-address={{self.bind}}:{{self.port}}".into(),
                        // Send firing and resolved alerts every evaluation, not once a minute.
                        format!("--rules.alert.resend-delay={}", dur(plan.interval)),
                    ],
                    prom_port,
                ),
            ],
            scrape_interval: plan.interval,
            probe_interval: plan.interval,
            probe_timeout: plan.interval,
        };
        servers.services[1].mounts = plan.rules.clone(); // Prometheus reads the rule files where they are
        let stack =
            RunningStack::start(docker, &servers, BTreeMap::new(), &dir, &dir, clock).await.map_err(|e| with_errors_logged(e, &dir))?;
        tracing::info!("alerting: Prometheus on 127.0.0.1:{prom_port}, Alertmanager on 127.0.0.1:{am_port}; configs in {}", dir.display());
        Ok(Self {
            stack,
            prometheus_url: format!("http://127.0.0.1:{prom_port}"),
            alertmanager_url: format!("http://127.0.0.1:{am_port}"),
            _tsdb: tsdb,
        })
    }

    /// Stops both (SIGTERM, then SIGKILL after the grace) and drops the TSDB.
    pub async fn stop(self) -> Vec<(String, String)> {
        self.stack.stop().await
    }
}
