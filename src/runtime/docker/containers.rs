//! The stack as containers: one per service, started through testcontainers
//! on the run's network, its port published on 127.0.0.1 only (same number
//! inside and out, so `{{self.port}}` means one thing), logs followed into
//! the run's `LogStore`, and the container faults: kill, stop, pause,
//! network cut, restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use futures::StreamExt;
use testcontainers::core::{AccessMode, ContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::AsyncWriteExt;

use super::super::logs::{LogLine, LogStore, Stream};
use super::super::process::{allocate_ports, poll_ready};
use super::super::{RuntimeError, StartedService, images, service_vars, tail_note};
use super::DockerEnv;
use crate::clock::RunClock;
use crate::scenario::{ServiceAction, ServicePlan, StackPlan, template};

struct Ctr {
    info: StartedService,
    id: String,
    handle: Option<ContainerAsync<GenericImage>>,
    stop_timeout: Duration,
    follower: Option<tokio::task::JoinHandle<()>>,
    /// Stopped by a fault that does not restart it: not a surprise at teardown.
    expected_down: bool,
}

/// The started containers. Dropping it removes them (testcontainers).
pub struct ContainerStack {
    docker: Docker,
    network: String,
    ctrs: Vec<Ctr>,
    pub logs: LogStore,
    log_dir: PathBuf,
    clock: RunClock,
}

fn docker_err(service: &str, what: &str) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
    let context = format!("service `{service}`: {what}");
    move |e| RuntimeError::Docker(format!("{context}: {e}"))
}

/// `name:tag` split at the tag's colon (a registry may have a `host:port/` prefix).
fn split_reference(reference: &str) -> (String, String) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (reference.to_string(), "latest".to_string()),
    }
}

impl ContainerStack {
    /// Build (or find cached) the images, then start every service in order
    /// and wait until each is ready. `vars` holds what is known before the
    /// stack exists; mocks and the OTLP receiver must already listen on the
    /// network's gateway.
    pub async fn start(
        env: &DockerEnv,
        plan: &StackPlan,
        mut vars: BTreeMap<String, String>,
        dir: &Path,
        run_dir: &Path,
        clock: RunClock,
    ) -> Result<Self, RuntimeError> {
        let log_dir = run_dir.join("logs");
        std::fs::create_dir_all(&log_dir)
            .map_err(|source| RuntimeError::Io { context: format!("create {}", log_dir.display()), source })?;
        let ports = allocate_ports(plan)?;
        for (name, port) in &ports {
            vars.extend(service_vars(name, &env.container_name(name), *port));
        }
        let mut stack = ContainerStack {
            docker: env.docker.clone(),
            network: env.network.clone(),
            ctrs: Vec::new(),
            logs: LogStore::default(),
            log_dir,
            clock,
        };
        let run_dir = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
        for s in &plan.services {
            let reference = image_for(&env.docker, s, dir).await?;
            let ctr = stack.create(env, s, &reference, ports[&s.name], &vars, dir, &run_dir).await?;
            stack.ctrs.push(ctr);
            let i = stack.ctrs.len() - 1;
            stack.follow_logs(i, 0);
            stack.wait_ready(i, s).await?;
            let c = &stack.ctrs[i];
            tracing::info!("service `{}` ready on {} (container {}, image {reference})", s.name, c.info.url, &c.id[..12.min(c.id.len())]);
        }
        Ok(stack)
    }

    // One container's whole context (network, plan, image, port, template vars, mount
    // roots); a struct would only be built here to be taken apart again.
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        env: &DockerEnv,
        s: &ServicePlan,
        reference: &str,
        port: u16,
        vars: &BTreeMap<String, String>,
        dir: &Path,
        run_dir: &Path,
    ) -> Result<Ctr, RuntimeError> {
        let name = env.container_name(&s.name);
        let mut vars = vars.clone();
        vars.insert("self.port".into(), port.to_string());
        vars.insert("self.host".into(), name.clone());
        vars.insert("self.bind".into(), "0.0.0.0".into());
        vars.insert("self.url".into(), format!("http://{name}:{port}"));
        vars.insert("self.name".into(), s.name.clone());
        let render = |t: &str| template::render(t, &vars).map_err(|message| RuntimeError::Template { service: s.name.clone(), message });
        let args = s.args.iter().map(|a| render(a)).collect::<Result<Vec<_>, _>>()?;
        let (image, tag) = split_reference(reference);
        let mut req = GenericImage::new(image, tag)
            .with_cmd(args)
            .with_network(env.network.clone())
            .with_container_name(name.clone())
            .with_labels(env.labels().into_iter().chain([("org.ordeal.service".to_string(), s.name.clone())]))
            .with_mapped_port(port, ContainerPort::Tcp(port))
            // Published on loopback only: load, scrapes and probes never leave the machine.
            .with_host_config_modifier(|hc| {
                for bindings in hc.port_bindings.iter_mut().flat_map(|m| m.values_mut()).flatten() {
                    for b in bindings {
                        b.host_ip = Some("127.0.0.1".into());
                    }
                }
            })
            .with_mount(Mount::bind_mount(run_dir.display().to_string(), run_dir.display().to_string()));
        for (k, v) in &s.env {
            let v = render(v)?;
            crate::secrets::register_env([(k.as_str(), v.as_str())]);
            req = req.with_env_var(k.clone(), v);
        }
        // Paths in a scenario resolve on the host: the same paths work inside.
        let scenario_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let scenario_mount = (scenario_dir != run_dir).then_some(&scenario_dir);
        for m in scenario_mount.into_iter().chain(&s.mounts) {
            let m = m.display().to_string();
            req = req.with_mount(Mount::bind_mount(m.clone(), m).with_access_mode(AccessMode::ReadOnly));
        }
        super::failpoint("hold-before-create", Duration::from_secs(30)).await;
        // Never cancelled half-way (an interrupt): the task registers what it created.
        // (The failpoint holds the window in which the daemon has created the
        // container and ordeal has not registered it yet.)
        let handle = super::uncancelled(async move {
            let handle = req.start().await?;
            super::failpoint("hold-in-create", Duration::from_secs(3)).await;
            super::register_container(handle.id());
            Ok::<_, testcontainers::TestcontainersError>(handle)
        })
        .await
        .map_err(|e| RuntimeError::Docker(format!("service `{}`: cannot start a container from `{reference}`: {e}", s.name)))?;
        let id = handle.id().to_string();
        super::failpoint("hold-after-create", Duration::from_secs(30)).await;
        Ok(Ctr {
            info: StartedService {
                name: s.name.clone(),
                port,
                url: format!("http://127.0.0.1:{port}"),
                internal: format!("{name}:{port}"),
                pid: 0,
                metrics: s.metrics.clone(),
                health: s.health.clone(),
            },
            id,
            handle: Some(handle),
            stop_timeout: s.stop_timeout,
            follower: None,
            expected_down: false,
        })
    }

    /// Follow a container's output from `since` (unix seconds; 0 = all),
    /// appending to `<run>/logs/<service>.<stream>.log`. Lines keep Docker's
    /// own timestamp on the run clock; after a restart, lines older than
    /// the restart are skipped.
    fn follow_logs(&mut self, i: usize, since: i64) {
        let c = &mut self.ctrs[i];
        let (docker, id, service, store, clock) = (self.docker.clone(), c.id.clone(), c.info.name.clone(), self.logs.clone(), self.clock);
        let files = [Stream::Stdout, Stream::Stderr]
            .map(|st| self.log_dir.join(format!("{service}.{}.log", if st == Stream::Stdout { "stdout" } else { "stderr" })));
        let not_before = clock.now();
        let skip_before = (since > 0).then_some(not_before);
        c.follower = Some(tokio::spawn(async move {
            let open = |p: PathBuf| async move { tokio::fs::OpenOptions::new().create(true).append(true).open(p).await };
            let [out_file, err_file] = files;
            let (Ok(out), Ok(err)) = (open(out_file).await, open(err_file).await) else { return };
            let mut writers = [tokio::io::BufWriter::new(out), tokio::io::BufWriter::new(err)];
            let opts = bollard::query_parameters::LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .since(since as i32)
                .build();
            let mut stream = docker.logs(&id, Some(opts));
            while let Some(frame) = stream.next().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        // Both streams come through this one follow request.
                        for st in [Stream::Stdout, Stream::Stderr] {
                            store.lost(&service, st, clock.now(), format!("following the container's logs failed: {e}"));
                        }
                        break;
                    }
                };
                let (st, bytes) = match frame {
                    bollard::container::LogOutput::StdOut { message } | bollard::container::LogOutput::Console { message } => {
                        (Stream::Stdout, message)
                    }
                    bollard::container::LogOutput::StdErr { message } => (Stream::Stderr, message),
                    _ => continue,
                };
                let text = String::from_utf8_lossy(&bytes);
                for raw in text.lines() {
                    let (at, line) = match raw.split_once(' ') {
                        Some((ts, rest)) => (clock.offset_of_rfc3339(ts).unwrap_or_else(|| clock.now()), rest),
                        None => (clock.now(), raw),
                    };
                    if skip_before.is_some_and(|t| at < t) {
                        continue;
                    }
                    let w = &mut writers[if st == Stream::Stdout { 0 } else { 1 }];
                    let _ = w.write_all(crate::secrets::mask(line).as_bytes()).await;
                    let _ = w.write_all(b"\n").await;
                    store.push(LogLine { service: service.clone(), stream: st, at, line: line.to_string() });
                }
            }
            for w in &mut writers {
                let _ = w.flush().await;
            }
        }));
    }

    /// `Some(description)` when the container is not running.
    async fn not_running(docker: &Docker, id: &str) -> Option<String> {
        let state = docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await.ok()?.state?;
        if state.running == Some(true) {
            return None;
        }
        Some(match (state.oom_killed, state.exit_code) {
            (Some(true), _) => "killed: out of memory".into(),
            (_, Some(137)) => "killed (exit code 137, SIGKILL)".into(),
            (_, Some(c)) => format!("exit code {c}"),
            _ => format!("{:?}", state.status),
        })
    }

    async fn wait_ready(&self, i: usize, s: &ServicePlan) -> Result<(), RuntimeError> {
        let c = &self.ctrs[i];
        let Some(ready) = &s.ready else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return match Self::not_running(&self.docker, &c.id).await {
                Some(status) => {
                    Err(RuntimeError::ExitedEarly { service: s.name.clone(), status, tail: tail_note(&self.logs.tail(&s.name, 15)) })
                }
                None => Ok(()),
            };
        };
        let url = format!("{}{}", c.info.url, ready.path);
        poll_ready(&s.name, url, ready.timeout, &self.logs, || Self::not_running(&self.docker, &c.id)).await
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn services(&self) -> Vec<StartedService> {
        self.ctrs.iter().map(|c| c.info.clone()).collect()
    }

    /// `(service, container id)` of every container.
    pub fn containers(&self) -> Vec<(String, String)> {
        self.ctrs.iter().map(|c| (c.info.name.clone(), c.id.clone())).collect()
    }

    /// Containers that are not running although nothing meant them to stop.
    pub async fn exited(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in self.ctrs.iter().filter(|c| !c.expected_down) {
            if let Some(status) = Self::not_running(&self.docker, &c.id).await {
                out.push((c.info.name.clone(), status));
            }
        }
        out
    }

    fn find(&mut self, service: &str) -> Result<usize, RuntimeError> {
        self.ctrs
            .iter()
            .position(|c| c.info.name == service)
            .ok_or_else(|| RuntimeError::Docker(format!("no container for service `{service}`")))
    }

    /// Apply a service fault (`undo: false`, at its window's start) or undo it.
    pub async fn fault(&mut self, service: &str, action: ServiceAction, restart: bool, undo: bool) -> Result<(), RuntimeError> {
        let i = self.find(service)?;
        let (docker, id, t) = (self.docker.clone(), self.ctrs[i].id.clone(), self.ctrs[i].stop_timeout.as_secs().max(1) as i32);
        match (action, undo) {
            (ServiceAction::Kill, false) => {
                let opts = bollard::query_parameters::KillContainerOptionsBuilder::default().signal("SIGKILL").build();
                docker.kill_container(&id, Some(opts)).await.map_err(docker_err(service, "kill"))?;
                self.ctrs[i].expected_down = !restart;
            }
            (ServiceAction::Stop, false) => {
                let opts = bollard::query_parameters::StopContainerOptionsBuilder::default().t(t).build();
                docker.stop_container(&id, Some(opts)).await.map_err(docker_err(service, "stop"))?;
                self.ctrs[i].expected_down = !restart;
            }
            (ServiceAction::Kill | ServiceAction::Stop, true) if restart => {
                let since = chrono::Utc::now().timestamp() - 1;
                docker
                    .start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
                    .await
                    .map_err(docker_err(service, "start again"))?;
                self.follow_logs(i, since);
            }
            (ServiceAction::Pause, false) => docker.pause_container(&id).await.map_err(docker_err(service, "pause"))?,
            (ServiceAction::Pause, true) => docker.unpause_container(&id).await.map_err(docker_err(service, "unpause"))?,
            (ServiceAction::Disconnect, false) => {
                let req = bollard::models::NetworkDisconnectRequest { container: id.clone(), force: Some(true) };
                docker.disconnect_network(&self.network, req).await.map_err(docker_err(service, "disconnect from the network"))?;
            }
            (ServiceAction::Disconnect, true) => {
                let req = bollard::models::NetworkConnectRequest { container: id.clone(), endpoint_config: None };
                docker.connect_network(&self.network, req).await.map_err(docker_err(service, "reconnect to the network"))?;
            }
            (ServiceAction::Restart, false) => {
                let since = chrono::Utc::now().timestamp() - 1;
                let opts = bollard::query_parameters::RestartContainerOptionsBuilder::default().t(t).build();
                docker.restart_container(&id, Some(opts)).await.map_err(docker_err(service, "restart"))?;
                self.follow_logs(i, since);
            }
            _ => {}
        }
        Ok(())
    }

    /// Stop in reverse start order (SIGTERM, SIGKILL after the stop timeout),
    /// record each exit, remove the containers. Returns each exit description.
    pub async fn stop(mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for mut c in std::mem::take(&mut self.ctrs).into_iter().rev() {
            let status = match Self::not_running(&self.docker, &c.id).await {
                Some(s) => format!("had exited: {s}"),
                None => {
                    let _ = self.docker.unpause_container(&c.id).await; // a paused container cannot stop
                    let opts =
                        bollard::query_parameters::StopContainerOptionsBuilder::default().t(c.stop_timeout.as_secs().max(1) as i32).build();
                    match self.docker.stop_container(&c.id, Some(opts)).await {
                        Ok(()) => Self::not_running(&self.docker, &c.id).await.unwrap_or_else(|| "still running".into()),
                        Err(e) => format!("stop failed: {e}"),
                    }
                }
            };
            if let Some(f) = c.follower.take() {
                let _ = tokio::time::timeout(Duration::from_secs(2), f).await;
            }
            if let Some(h) = c.handle.take()
                && let Err(e) = h.rm().await
            {
                tracing::warn!("cannot remove container of `{}`: {e}", c.info.name);
            }
            super::unregister_container(&c.id);
            out.push((c.info.name.clone(), status));
        }
        out
    }
}

impl Drop for ContainerStack {
    fn drop(&mut self) {
        // testcontainers removes each container as its handle drops.
        for c in &mut self.ctrs {
            if let Some(f) = c.follower.take() {
                f.abort();
            }
            super::unregister_container(&c.id);
        }
    }
}

/// The image a service runs: its `image:`, or one built from its program (cached by content).
async fn image_for(docker: &Docker, s: &ServicePlan, dir: &Path) -> Result<String, RuntimeError> {
    if let Some(image) = &s.image {
        return Ok(image.clone());
    }
    let program = images::program_path(dir, s).map_err(|e| RuntimeError::Docker(e.to_string()))?;
    let built = images::build(docker, &images::ImageSpec::for_program(&program)).await.map_err(|e| RuntimeError::Docker(e.to_string()))?;
    if !built.cached {
        tracing::info!("built image {} for service `{}`", built.reference, s.name);
    }
    Ok(built.reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag() {
        assert_eq!(split_reference("ordeal/multiagent:abc"), ("ordeal/multiagent".into(), "abc".into()));
        assert_eq!(split_reference("localhost:5000/app"), ("localhost:5000/app".into(), "latest".into()));
        assert_eq!(split_reference("localhost:5000/app:1.2"), ("localhost:5000/app".into(), "1.2".into()));
    }
}
