//! `stack:` — the services to start (or run as containers): their raw form,
//! their plan, and the compile step (templates, ports, paths, start order).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_norway::Value;

use super::ctx::{Ctx, Scalar};
use super::diag::did_you_mean;
use super::template::{self, Scope};

/// Default scrape and probe interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);

/// `stack:` — the services to start.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub scrape_interval: Option<Duration>,
    /// How often health endpoints are probed (default 250ms).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub probe_interval: Option<Duration>,
    /// A probe not answered within this counts as down (default 2s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub probe_timeout: Option<Duration>,
}

/// One service of the stack, started as a child process.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub stop_timeout: Option<Duration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    pub path: String,
    /// How long to wait for readiness (default 30s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::faults::Hd>")]
    pub timeout: Option<Duration>,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum, schemars::JsonSchema)]
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

#[derive(Debug, Clone)]
pub struct ReadyProbe {
    pub path: String,
    pub timeout: Duration,
}

pub fn compile_stack(cx: &mut Ctx, v: Value, mocks: &BTreeMap<String, crate::faults::MockConfig>) -> Option<StackPlan> {
    let raw: RawStack = cx.de("stack", v)?;
    if raw.services.is_empty() {
        cx.err("stack.services", "declare at least one service", None);
    }
    let scope = Scope {
        services: raw.services.keys().cloned().collect(),
        // A mock that failed to compile was reported: templates naming it are not.
        mocks: mocks.keys().cloned().chain(cx.broken.iter().filter_map(|b| b.strip_prefix("mocks.").map(String::from))).collect(),
        any_mock: cx.broken.contains("mocks"),
        // The built-in OTLP receiver's endpoints (gRPC, and HTTP base URL).
        extra: vec!["otlp.grpc".into(), "otlp.http".into()],
    };
    for (i, cmd) in raw.prepare.iter().enumerate() {
        if cmd.is_empty() {
            cx.err_value(
                &format!("stack.prepare[{i}]"),
                "empty command",
                Some("write the program and its arguments, e.g. `[make, build]`".into()),
            );
        }
    }
    for (field, d) in
        [("scrape_interval", raw.scrape_interval), ("probe_interval", raw.probe_interval), ("probe_timeout", raw.probe_timeout)]
    {
        if let Some(d) = d {
            cx.duration(&format!("stack.{field}"), d, false);
        }
    }
    let mut services = Vec::new();
    let mut ports = BTreeSet::new();
    for (name, s) in &raw.services {
        check_service(cx, name, s, &raw.services, &scope, &mut ports);
        services.push(ServicePlan {
            name: name.clone(),
            command: s.command.clone(),
            image: s.image.clone(),
            mounts: Vec::new(),
            args: s.args.clone(),
            env: s.env.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            port: s.port,
            ready: s.ready.as_ref().map(|r| ReadyProbe { path: r.path.clone(), timeout: r.timeout.unwrap_or(Duration::from_secs(30)) }),
            metrics: s.metrics.clone(),
            health: s.health.clone(),
            depends_on: s.depends_on.clone(),
            stop_timeout: s.stop_timeout.unwrap_or(Duration::from_secs(5)),
        });
    }
    let services = match start_order(services) {
        Ok(s) => s,
        Err(cycle) => {
            cx.err(
                "stack.services",
                format!("dependency cycle: {}", cycle.join(" -> ")),
                Some("remove one `depends_on` entry of the cycle".into()),
            );
            return None;
        }
    };
    Some(StackPlan {
        prepare: raw.prepare,
        services,
        scrape_interval: raw.scrape_interval.unwrap_or(DEFAULT_INTERVAL),
        probe_interval: raw.probe_interval.unwrap_or(DEFAULT_INTERVAL),
        probe_timeout: raw.probe_timeout.unwrap_or(Duration::from_secs(2)),
    })
}

/// One service's templates, command, dependencies, port and HTTP paths.
fn check_service(cx: &mut Ctx, name: &str, s: &RawService, all: &BTreeMap<String, RawService>, scope: &Scope, ports: &mut BTreeSet<u16>) {
    let path = format!("stack.services.{name}");
    if let Some(t) = s.ready.as_ref().and_then(|r| r.timeout) {
        cx.duration(&format!("{path}.ready.timeout"), t, false);
    }
    if let Some(t) = s.stop_timeout {
        cx.duration(&format!("{path}.stop_timeout"), t, true);
    }
    for k in s.env.keys().filter(|k| k.is_empty() || k.contains(['=', '\0'])) {
        cx.err(
            &format!("{path}.env.{k}"),
            format!("`{k}` cannot name an environment variable"),
            Some("a name is non-empty, without `=` or NUL".into()),
        );
    }
    let check_templates = |cx: &mut Ctx, field: String, text: &str| match template::refs(text) {
        Ok(refs) => {
            for r in refs {
                if let Err(e) = scope.check(&r) {
                    cx.err_value(&field, e, None);
                }
            }
        }
        Err(e) => cx.err_value(&field, e, None),
    };
    check_templates(cx, format!("{path}.command"), &s.command);
    for (i, a) in s.args.iter().enumerate() {
        check_templates(cx, format!("{path}.args[{i}]"), a);
    }
    for (k, v) in &s.env {
        check_templates(cx, format!("{path}.env.{k}"), &v.0);
    }
    if s.command.trim().is_empty() {
        cx.err_value(&format!("{path}.command"), "empty command", None);
    }
    for d in &s.depends_on {
        if !all.contains_key(d) {
            let hint = did_you_mean(d, all.keys().map(String::as_str)).map(|s| format!("did you mean `{s}`?"));
            cx.err(&format!("{path}.depends_on"), format!("no service named `{d}`"), hint);
        }
    }
    if let Some(p) = s.port
        && !ports.insert(p)
    {
        cx.err_value(&format!("{path}.port"), format!("port {p} is used by another service"), None);
    }
    let http_paths = s
        .ready
        .iter()
        .map(|r| ("ready.path".to_string(), r.path.clone()))
        .chain(s.metrics.iter().map(|m| ("metrics".to_string(), m.clone())))
        .chain(s.health.iter().map(|(k, v)| (format!("health.{k}"), v.clone())));
    for (field, p) in http_paths {
        if !p.starts_with('/') {
            cx.err_value(&format!("{path}.{field}"), format!("`{p}` is not an HTTP path"), Some(format!("start it with `/`, e.g. `/{p}`")));
        }
    }
}

/// Topological order by `depends_on` (unknown names ignored: reported elsewhere).
pub fn start_order(mut pending: Vec<ServicePlan>) -> Result<Vec<ServicePlan>, Vec<String>> {
    let names: BTreeSet<String> = pending.iter().map(|s| s.name.clone()).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|s| s.depends_on.iter().all(|d| done.contains(d) || !names.contains(d)));
        match ready {
            Some(i) => {
                let s = pending.remove(i);
                done.insert(s.name.clone());
                out.push(s);
            }
            None => return Err(pending.iter().map(|s| s.name.clone()).collect()),
        }
    }
    Ok(out)
}
