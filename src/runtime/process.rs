//! Child processes: port allocation, template rendering, spawn in a fresh
//! process group, readiness probing, graceful stop (SIGTERM, then SIGKILL).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::logs::{self, LogStore, Stream};
use super::{RuntimeError, cleanup, tail_note};
use crate::clock::RunClock;
use crate::scenario::{ServicePlan, StackPlan, template};

/// A running service as the rest of the pipeline sees it.
#[derive(Debug, Clone)]
pub struct StartedService {
    pub name: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// `host:port` at which other services (and Prometheus) reach it: the
    /// same loopback address for processes, `<container>:<port>` on the
    /// run's network for containers.
    pub internal: String,
    pub pid: u32,
    pub metrics: Option<String>,
    pub health: BTreeMap<String, String>,
}

struct Proc {
    info: StartedService,
    child: Child,
    pgid: i32,
    stop_timeout: Duration,
    capture: Vec<tokio::task::JoinHandle<()>>,
}

/// The started stack. Dropping it without `stop` SIGKILLs every process.
pub struct Stack {
    procs: Vec<Proc>,
    pub logs: LogStore,
    /// The owner mark every process of this stack inherits (`reap`).
    mark: String,
}

/// A port nothing listens on (loopback or any address), never one this
/// process handed out before, and *below the kernel's ephemeral range*: a
/// port the kernel hands out (port 0 binds, the source port of every outgoing
/// connection) can be taken by anyone between this check and the child's own
/// bind — a Prometheus once found its port taken that way. Picked at random
/// (seeded by the clock and pid) so concurrent runs rarely try the same one.
pub(super) fn free_port() -> std::io::Result<u16> {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_start.max(12_000));
    let bindable =
        |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok();
    for _ in 0..1024 {
        let port = low + (rand::random::<u32>() % u32::from(high - low)) as u16;
        if bindable(port) && GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no free port below the ephemeral range after 1024 tries"))
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let context = context.into();
    move |source| RuntimeError::Io { context, source }
}

/// The template values `{{services.NAME.url|host|port}}` of a service other
/// services reach at `host:port` (loopback, or a container name).
pub fn service_vars(name: &str, host: &str, port: u16) -> [(String, String); 3] {
    [
        (format!("services.{name}.url"), format!("http://{host}:{port}")),
        (format!("services.{name}.host"), host.to_string()),
        (format!("services.{name}.port"), port.to_string()),
    ]
}

/// A port for every service: its fixed `port:` (checked free on 127.0.0.1)
/// or a free loopback one, decided before any starts so they can refer to
/// each other in any order.
pub(super) fn allocate_ports(plan: &StackPlan) -> Result<BTreeMap<String, u16>, RuntimeError> {
    let mut ports = BTreeMap::new();
    for s in &plan.services {
        let port = match s.port {
            Some(p) => {
                std::net::TcpListener::bind(("127.0.0.1", p)).map_err(|_| RuntimeError::PortInUse { service: s.name.clone(), port: p })?;
                p
            }
            None => free_port().map_err(io("allocate a loopback port"))?,
        };
        ports.insert(s.name.clone(), port);
    }
    Ok(ports)
}

/// Variables cargo sets for the program it runs (`cargo run`, `cargo test`,
/// nextest), which a nested `cargo build` must not inherit: build scripts
/// such as ring's watch `CARGO_MANIFEST_DIR` (`rerun-if-env-changed`), so a
/// prepare step run under `cargo run` saw it set, a later one from a shell
/// saw it unset, and each rebuilt half the workspace (measured: 2.5 min).
fn cargo_run_var(k: &str) -> bool {
    k.starts_with("CARGO_PKG_")
        || k.starts_with("CARGO_BIN_")
        || matches!(k, "CARGO_MANIFEST_DIR" | "CARGO_MANIFEST_PATH" | "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR")
}

/// Run the scenario's prepare commands (e.g. a build) in the scenario directory,
/// without the variables of an enclosing `cargo run` (see [`cargo_run_var`]).
pub async fn prepare(commands: &[Vec<String>], dir: &Path, run_dir: &Path) -> Result<(), RuntimeError> {
    for argv in commands {
        let shown = argv.join(" ");
        tracing::info!("prepare: {shown}");
        let log = run_dir.join("prepare.log");
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(dir).stdin(Stdio::null()).kill_on_drop(true);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(cargo_run_var) {
                cmd.env_remove(&k);
            }
        }
        let out = cmd.output().await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                RuntimeError::Prepare { command: shown.clone(), status: "command not found".into(), log: log.clone(), tail: String::new() }
            }
            _ => RuntimeError::Io { context: format!("prepare `{shown}`"), source: e },
        })?;
        let mut text = out.stdout.clone();
        text.extend_from_slice(&out.stderr);
        let _ = std::fs::write(&log, &text);
        if !out.status.success() {
            let s = String::from_utf8_lossy(&text);
            let tail: Vec<String> = s.lines().rev().take(15).map(String::from).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(RuntimeError::Prepare { command: shown, status: out.status.to_string(), log, tail: tail_note(&tail) });
        }
    }
    Ok(())
}

/// The service's command line and environment, rendered, in its own process
/// group, killed with ordeal (`PR_SET_PDEATHSIG`); and the program's path.
fn command(s: &ServicePlan, port: u16, vars: &BTreeMap<String, String>, dir: &Path, mark: &str) -> Result<(Command, String), RuntimeError> {
    let mut vars = vars.clone();
    vars.insert("self.port".into(), port.to_string());
    vars.insert("self.host".into(), "127.0.0.1".into());
    vars.insert("self.bind".into(), "127.0.0.1".into());
    vars.insert("self.url".into(), format!("http://127.0.0.1:{port}"));
    vars.insert("self.name".into(), s.name.clone());
    let render = |t: &str| template::render(t, &vars).map_err(|message| RuntimeError::Template { service: s.name.clone(), message });
    let mut command = render(&s.command)?;
    if command.contains('/') && Path::new(&command).is_relative() {
        // Absolute: the child is exec'd after chdir into `dir`.
        let joined = dir.join(&command);
        command = std::path::absolute(&joined).unwrap_or(joined).to_string_lossy().into_owned();
    }
    let mut cmd = Command::new(&command);
    for a in &s.args {
        cmd.arg(render(a)?);
    }
    for (k, v) in &s.env {
        let v = render(v)?;
        crate::secrets::register_env([(k.as_str(), v.as_str())]);
        cmd.env(k, v);
    }
    cmd.env(super::reap::OWNER_ENV, mark);
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    // SAFETY: prctl only sets a flag on the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Ok((cmd, command))
}

impl Stack {
    /// Start every service in order. `vars` holds the template values known
    /// before the stack exists (`mocks.*`, `run.*`, `scenario.dir`).
    pub async fn start(
        plan: &StackPlan,
        mut vars: BTreeMap<String, String>,
        dir: &Path,
        run_dir: &Path,
        clock: RunClock,
    ) -> Result<Stack, RuntimeError> {
        let log_dir = run_dir.join("logs");
        std::fs::create_dir_all(&log_dir).map_err(io(format!("create {}", log_dir.display())))?;
        let ports = allocate_ports(plan)?;
        for (name, port) in &ports {
            vars.extend(service_vars(name, "127.0.0.1", *port));
        }
        let mut stack = Stack { procs: Vec::new(), logs: LogStore::default(), mark: super::reap::stack_mark() };
        for s in &plan.services {
            let port = ports[&s.name];
            let proc = stack.spawn(s, port, &vars, dir, &log_dir, clock)?;
            stack.procs.push(proc);
            let proc = stack.procs.last_mut().expect("just pushed");
            wait_ready(proc, s, &stack.logs).await?;
            tracing::info!("service `{}` ready on {} (pid {})", s.name, proc.info.url, proc.info.pid);
        }
        Ok(stack)
    }

    fn spawn(
        &self,
        s: &ServicePlan,
        port: u16,
        vars: &BTreeMap<String, String>,
        dir: &Path,
        log_dir: &Path,
        clock: RunClock,
    ) -> Result<Proc, RuntimeError> {
        let (mut cmd, command) = command(s, port, vars, dir, &self.mark)?;
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RuntimeError::CommandNotFound {
                service: s.name.clone(),
                command: command.clone(),
                hint: if command.contains('/') {
                    " (is it built? a `stack.prepare` step can build it)".into()
                } else {
                    " (not on PATH)".into()
                },
            },
            _ => RuntimeError::Spawn { service: s.name.clone(), command: command.clone(), source: e },
        })?;
        let pid = child.id().unwrap_or(0);
        let pgid = pid as i32;
        cleanup::register(pgid);
        let mut capture = Vec::new();
        if let Some(out) = child.stdout.take() {
            capture.push(logs::capture(
                out,
                s.name.clone(),
                Stream::Stdout,
                log_dir.join(format!("{}.stdout.log", s.name)),
                self.logs.clone(),
                clock,
            ));
        }
        if let Some(err) = child.stderr.take() {
            capture.push(logs::capture(
                err,
                s.name.clone(),
                Stream::Stderr,
                log_dir.join(format!("{}.stderr.log", s.name)),
                self.logs.clone(),
                clock,
            ));
        }
        Ok(Proc {
            info: StartedService {
                name: s.name.clone(),
                port,
                url: format!("http://127.0.0.1:{port}"),
                internal: format!("127.0.0.1:{port}"),
                pid,
                metrics: s.metrics.clone(),
                health: s.health.clone(),
            },
            child,
            pgid,
            stop_timeout: s.stop_timeout,
            capture,
        })
    }

    pub fn services(&self) -> Vec<StartedService> {
        self.procs.iter().map(|p| p.info.clone()).collect()
    }

    /// Services that have exited on their own so far, with their status.
    pub fn exited(&mut self) -> Vec<(String, String)> {
        self.procs
            .iter_mut()
            .filter_map(|p| match p.child.try_wait() {
                Ok(Some(st)) => Some((p.info.name.clone(), describe(st))),
                _ => None,
            })
            .collect()
    }

    /// Stop in reverse start order: SIGTERM, wait `stop_timeout`, then SIGKILL.
    /// Returns each service's exit description.
    pub async fn stop(mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let procs = std::mem::take(&mut self.procs);
        for mut p in procs.into_iter().rev() {
            let status = match p.child.try_wait() {
                Ok(Some(st)) => format!("had exited: {}", describe(st)),
                _ => {
                    cleanup::signal_group(p.pgid, libc::SIGTERM);
                    match tokio::time::timeout(p.stop_timeout, p.child.wait()).await {
                        Ok(Ok(st)) => describe(st),
                        _ => {
                            cleanup::signal_group(p.pgid, libc::SIGKILL);
                            let st = p.child.wait().await.map(describe).unwrap_or_else(|e| e.to_string());
                            format!("killed after {:?} grace: {st}", p.stop_timeout)
                        }
                    }
                }
            };
            // Any grandchildren left in the group go too.
            cleanup::signal_group(p.pgid, libc::SIGKILL);
            cleanup::unregister(p.pgid);
            for c in p.capture {
                let _ = tokio::time::timeout(Duration::from_secs(2), c).await;
            }
            out.push((p.info.name.clone(), status));
        }
        // Descendants that left their group (setsid, a daemon's double fork).
        let stray = super::reap::kill_marked(&self.mark);
        if stray > 0 {
            tracing::info!(processes = stray, "killed processes the services left outside their process groups");
        }
        out
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for p in &mut self.procs {
            cleanup::signal_group(p.pgid, libc::SIGKILL);
            let _ = p.child.start_kill();
            let _ = p.child.try_wait();
            cleanup::unregister(p.pgid);
        }
        super::reap::kill_marked(&self.mark);
    }
}

fn describe(st: std::process::ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => st.to_string(),
    }
}

async fn wait_ready(p: &mut Proc, s: &ServicePlan, logs: &LogStore) -> Result<(), RuntimeError> {
    let Some(ready) = &s.ready else {
        // No readiness probe: ready once started, unless it exits at once.
        tokio::time::sleep(Duration::from_millis(200)).await;
        return match p.child.try_wait().ok().flatten() {
            Some(st) => {
                Err(RuntimeError::ExitedEarly { service: s.name.clone(), status: describe(st), tail: tail_note(&logs.tail(&s.name, 15)) })
            }
            None => Ok(()),
        };
    };
    let url = format!("{}{}", p.info.url, ready.path);
    poll_ready(&s.name, url, ready.timeout, logs, || std::future::ready(p.child.try_wait().ok().flatten().map(describe))).await
}

/// GET `url` every 100 ms until it answers 2xx; fails when `exited` reports
/// the service gone (with its exit description) or after `timeout`.
pub(super) async fn poll_ready<F, Fut>(
    service: &str,
    url: String,
    timeout: Duration,
    logs: &LogStore,
    mut exited: F,
) -> Result<(), RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let client = reqwest::Client::builder().timeout(Duration::from_secs(1)).no_proxy().build().expect("static client config");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(status) = exited().await {
            tokio::time::sleep(Duration::from_millis(100)).await; // let output capture catch up
            return Err(RuntimeError::ExitedEarly { service: service.to_string(), status, tail: tail_note(&logs.tail(service, 15)) });
        }
        let last = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => short_reqwest_error(&e),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::NotReady {
                service: service.to_string(),
                url,
                timeout,
                last,
                tail: tail_note(&logs.tail(service, 15)),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A reqwest error without its URL noise: "connection refused", "timed out".
pub fn short_reqwest_error(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_port_never_hands_out_a_port_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let port = super::free_port().unwrap();
            assert!(seen.insert(port), "a port was handed out twice");
            assert!((10_000..32_768).contains(&port), "{port} is not below the ephemeral range");
        }
    }
}
